"""The build's first half: one read of the store, gathered into one typed site context.

Everything the pages need that is not per architecture is decided here, from a single read of
each kind of record (the changelog included, so the results are never read twice); the
per-architecture tables are made from this context one architecture at a time
(ranker.build.views), so memory holds one architecture's table, never the site.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

from ranker import __version__
from ranker.build.inputs import (
    usable_baselines,
    usable_catalog,
    usable_legacy,
    usable_meta,
    usable_results,
)
from ranker.build.missing import missing_rows
from ranker.build.ranks import RESAMPLES
from ranker.build.tables import HUB_URL, rankable, result_history
from ranker.build.verified import Verified, verified_gains
from ranker.protocol import PROTOCOL_VERSION
from ranker.records import (
    Architecture,
    CatalogEntry,
    EvalResult,
    FinetuneResult,
    LegacyBaseline,
    LegacyModel,
)

# How the pages show the build's time (to the minute, in UTC).
BUILT_AT = "%Y-%m-%d %H:%M UTC"


class StoreReader(Protocol):
    """What the build reads from the store (ranker.store.Store): records only, never files."""

    def architectures(self) -> list[Architecture]: ...
    def has_legacy(self) -> bool: ...
    def legacy_models(self) -> list[LegacyModel]: ...
    def legacy_baselines(self) -> list[LegacyBaseline]: ...
    def legacy_meta(self) -> dict[str, Any]: ...
    def results(self) -> list[EvalResult]: ...
    def catalog(self) -> list[CatalogEntry]: ...
    def finetunes(self) -> list[FinetuneResult]: ...


@dataclass
class SiteContext:
    """What the whole site is made from: the store's records through the build's rules
    (ranker.build.inputs), grouped per architecture, and the site-wide facts."""

    now: dt.datetime
    archs: list[Architecture]
    meta: dict[str, Any]
    baselines: list[LegacyBaseline]
    # every 2023 row (dates and the per-task gains); the ranked ones leave out removed models
    legacy_of: dict[str, list[LegacyModel]]
    ranked_legacy_of: dict[str, list[LegacyModel]]
    ranked_results_of: dict[str, list[EvalResult]]
    ranked_catalog_of: dict[str, list[CatalogEntry]]
    base_results: list[EvalResult]  # the pretrained bases' own results
    probe_history: dict[tuple[str, str], list[EvalResult]]  # every protocol, newest first
    missing: list[list[Any]]  # the "why is my model not here?" rows
    changelog: list[dict[str, Any]]
    updated: dict[str, str]  # architecture id -> its newest data's day, or "never"
    common: dict[str, Any] = field(default_factory=dict)  # what every page is given
    # `ranker verify`'s finetuning, per model id (bases included): see ranker.build.verified
    verified: dict[str, Verified] = field(default_factory=dict)

    @property
    def last_updated(self) -> str:
        return str(self.common["last_updated"])


def gather(store: StoreReader, now: dt.datetime) -> SiteContext:
    """Read the store once and gather the site context; `now` dates the build."""
    archs = store.architectures()
    legacy = usable_legacy(store.legacy_models(), now) if store.has_legacy() else []
    baselines = usable_baselines(store.legacy_baselines()) if store.has_legacy() else []
    meta = usable_meta(store.legacy_meta(), now)
    results = usable_results(store.results(), now)
    catalog = usable_catalog(store.catalog(), now)
    # Only present models are ranked; the raw records still date updates and fill the changelog.
    ranked_legacy, ranked_results, ranked_catalog = rankable(legacy, results, catalog)
    legacy_of = by_architecture(legacy)
    dates_of: defaultdict[str, set[str]] = defaultdict(set)
    for r in results:
        if r.evaluated_at:
            dates_of[r.architecture].add(r.evaluated_at[:10])
    updated = {
        a.id: newest_day(meta.get("as_of") if legacy_of.get(a.id) else None, dates_of[a.id])
        for a in archs
    }
    hub_ids = {i for a in archs for i in a.hub_ids}
    context = SiteContext(
        now=now,
        archs=archs,
        meta=meta,
        baselines=baselines,
        legacy_of=legacy_of,
        ranked_legacy_of=by_architecture(ranked_legacy),
        ranked_results_of=by_architecture(ranked_results),
        ranked_catalog_of=by_architecture(ranked_catalog),
        base_results=[r for r in results if r.model_id in hub_ids],
        probe_history=result_history(ranked_results),
        missing=missing_rows(catalog, results, archs, PROTOCOL_VERSION),
        changelog=changelog(results, meta),
        updated=updated,
    )
    current = {e.model_id: e.sha for e in catalog if e.status == "ok"}
    context.verified = verified_gains(store.finetunes(), archs, current)
    context.common = _common(context)
    context.common["site_counts"] = site_counts(legacy, results, meta, hub_ids)
    return context


def site_counts(
    legacy: list[LegacyModel], results: list[EvalResult], meta: dict[str, Any], bases: set[str]
) -> dict[str, Any]:
    """The site-wide counts every page states, each named for the one thing it counts, so that
    no page says 2,700 where another says 2,691 (IBM's files hold 2,703 rows; 7 duplicates are
    merged on import; 5 of the rows left are pretrained bases)."""
    pretrained = sum(1 for m in legacy if "pretrained" in m.flags)
    probed = {r.model_id for r in results if r.status == "ok" and r.model_id not in bases}
    source_rows = meta.get("source_rows")
    duplicates = meta.get("duplicate_rows")
    return {
        "ibm_as_of": str(meta.get("as_of") or "2023") if legacy else "",
        "ibm_file_rows": source_rows if type(source_rows) is int else None,
        "ibm_duplicates": duplicates if type(duplicates) is int else None,
        "ibm_rows": len(legacy),  # the 2023 rows the site uses, pretrained bases included
        "ibm_bases": pretrained,
        "ibm_finetuned": len(legacy) - pretrained,
        "ibm_avg": sum(1 for m in legacy if m.avg is not None and "pretrained" not in m.flags),
        "ibm_probe": sum(  # finetuned models with IBM's 2023 MNLI probe score
            1 for m in legacy if m.mnli_lp is not None and "pretrained" not in m.flags
        ),
        "probe_models": len(probed),  # finetuned models with a probe result of ours
        "probe_newest": max(
            (r.evaluated_at[:10] for r in results if r.status == "ok" and r.evaluated_at),
            default="",
        ),
    }


def _common(context: SiteContext) -> dict[str, Any]:
    last_updated = max((u for u in context.updated.values() if u != "never"), default="never")
    return {
        "version": __version__,
        "built_at": context.now.strftime(BUILT_AT),
        "hub_url": HUB_URL,
        "last_updated": last_updated,
        "architectures": context.archs,
        "protocol_version": PROTOCOL_VERSION,
        "resamples": RESAMPLES,
    }


def newest_day(as_of: str | None, evaluated_at: Iterable[str]) -> str:
    """The newest of the legacy data's date and our evaluations' dates."""
    dates = {d[:10] for d in evaluated_at if d}  # "": no usable date
    if as_of:
        dates.add(as_of)
    return max(dates) if dates else "never"


def by_architecture(records: Iterable[Any]) -> defaultdict[str, list[Any]]:
    """Records grouped by their `architecture`, in their order."""
    out: defaultdict[str, list[Any]] = defaultdict(list)
    for r in records:
        out[r.architecture].append(r)
    return out


def changelog(results: list[EvalResult], legacy_meta: dict[str, Any]) -> list[dict[str, Any]]:
    """One entry per update (a date with evaluations), newest first, then the legacy import."""
    by_date: dict[str, Counter[str]] = {}
    seen: set[str] = set()
    for r in sorted(results, key=lambda r: r.evaluated_at):
        if not r.evaluated_at:  # no usable date (ranker.build.inputs): on no day's line
            continue
        day = by_date.setdefault(r.evaluated_at[:10], Counter())
        day[r.status] += 1
        if r.status == "ok" and r.model_id not in seen:
            day["new"] += 1
            seen.add(r.model_id)
    entries: list[dict[str, Any]] = [
        {"date": d, "evaluated": c["ok"], "failed": c["error"], "new": c["new"]}
        for d, c in sorted(by_date.items(), reverse=True)
    ]
    if legacy_meta:
        # the rows' counts and how they add up: the common "counts" (site_counts)
        entries.append({"date": legacy_meta.get("as_of") or "2023", "legacy": True})
    return entries
