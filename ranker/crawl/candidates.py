"""Who the crawl considers: each architecture's candidates, from its listings or from one
model's own listing, with the architecture they claim and how they were found.

Two kinds of listing find them: the lineage tag `base_model:finetune:<id>` for every spelling
of the base id (only repos whose card declares `base_model` carry it), and the model_type tag
(shared by architectures of one type), which also finds older models with no lineage. The
2023 ranking's members (`Store.legacy_models`) are known members of their architecture.
"""

from __future__ import annotations

from ranker.crawl.classifier import Candidate
from ranker.crawl.listings import Lister
from ranker.errors import HubFailure
from ranker.hub import Hub, Listing
from ranker.records import Architecture
from ranker.store import Store


def lineage_tag(hub_id: str) -> str:
    """The hub's tag on the finetunes whose card names `hub_id` as their base model."""
    return f"base_model:finetune:{hub_id}"


def listing_tags(arch: Architecture) -> list[str]:
    """The listings that find an architecture's models: its lineage tags, then its type."""
    return [*(lineage_tag(h) for h in arch.hub_ids), arch.model_type]


def legacy_homes(store: Store) -> dict[str, str]:
    """The 2023 ranking's members: model id -> architecture id ({} without the 2023 data)."""
    if not store.has_legacy():
        return {}
    return {m.model_id: m.architecture for m in store.legacy_models()}


def gather(
    lister: Lister,
    archs: list[Architecture],
    legacy: dict[str, str],
    found: dict[str, Candidate],
) -> None:
    """Lineage listings first, then model_type listings, into `found` (kept on a stop)."""
    by_id = {a.id: a for a in archs}
    bases = {h: a for a in archs for h in a.hub_ids}
    for arch in archs:
        for hub_id in arch.hub_ids:
            for row in lister(lineage_tag(hub_id)):
                found.setdefault(row.model_id, Candidate(row, arch, "lineage"))
    for model_type in dict.fromkeys(a.model_type for a in archs):
        for row in lister(model_type):
            base = bases.get(row.model_id)
            if base is not None and base.model_type == model_type:
                found[row.model_id] = Candidate(row, base, "config", base=True)
                continue
            if row.model_id in found:
                continue
            home = by_id.get(legacy.get(row.model_id, ""))
            if home is not None and home.model_type == model_type:
                found[row.model_id] = Candidate(row, home, "legacy")
            elif row.model_type in (None, model_type):
                found[row.model_id] = Candidate(row, None, "config")


def find_bases(hub: Hub, archs: list[Architecture], found: dict[str, Candidate]) -> None:
    """Ask for each base no listing had (its listing failed before it, or it lacks the
    model_type tag): the base is what every finetune is measured against."""
    for arch in archs:
        if any(h in found for h in arch.hub_ids):
            continue
        try:
            row = hub.listing(arch.hub_ids[0])
        except HubFailure:
            continue  # not there, or not answering: the listings found what they could
        if row.model_id in arch.hub_ids and row.model_id not in found:
            found[row.model_id] = Candidate(row, arch, "config", base=True)


def candidate_of(listing: Listing, archs: list[Architecture], store: Store) -> Candidate:
    """One model as the crawl would consider it, from its own listing: an architecture's base,
    a lineage-tagged finetune, a 2023 member (the 2023 data is read only when needed), or a
    model_type candidate that must show it belongs."""
    for arch in archs:
        if listing.model_id in arch.hub_ids and listing.model_type == arch.model_type:
            return Candidate(listing, arch, "config", base=True)
        if any(lineage_tag(h) in listing.tags for h in arch.hub_ids):
            return Candidate(listing, arch, "lineage")
    legacy = legacy_homes(store)
    home = next((a for a in archs if a.id == legacy.get(listing.model_id)), None)
    if home is not None and home.model_type == listing.model_type:
        return Candidate(listing, home, "legacy")
    return Candidate(listing, None, "config")
