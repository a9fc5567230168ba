"""`ranker crawl`: list each architecture's models on the hub and fold them into the catalog.

Candidates come from two listings per architecture: the lineage tag
`base_model:finetune:<id>` for every spelling of the base id, and, for the many older models
that carry no lineage tag, the model_type tag confirmed by the config dimensions. The
model_type listing is shared by architectures of the same type (one listing for both BERTs).
Listings carry all the metadata (see `ranker.crawl.hub.EXPAND`), so a crawl sends one request
per listing page and none per model, whether its sha changed or not.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

from ranker.crawl.catalog import merge
from ranker.crawl.classify import DEFAULT_MAX_PARAMS, Listing, exclusion_reason
from ranker.crawl.classify import matches_architecture as matches
from ranker.crawl.hub import HubClient, HubError
from ranker.records import SCHEMA_VERSION, Architecture, CatalogEntry, is_valid_repo_id
from ranker.store import Store


@dataclass
class CrawlSummary:
    """What a crawl found and what it cost; `text()` is what `ranker crawl` prints."""

    listed: int = 0  # distinct models assigned to an architecture
    new: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    ok: int = 0
    excluded: Counter[str] = field(default_factory=Counter)
    invalid_ids: list[str] = field(default_factory=list)
    unconfirmed: int = 0  # model_type matches, but the listing carried no config
    failed: dict[str, str] = field(default_factory=dict)  # architecture -> error
    per_arch: dict[str, Counter[str]] = field(default_factory=dict)  # arch -> status counts
    requests: int = 0
    listings: int = 0

    def text(self) -> str:
        lines = [
            f"listed {self.listed} models ({self.ok} ok, {sum(self.excluded.values())} excluded)"
            f" in {self.listings} listings, {self.requests} HTTP requests",
            f"new {len(self.new)}, changed {len(self.changed)}, unchanged {len(self.unchanged)},"
            f" removed {len(self.removed)}",
        ]
        if self.excluded:
            parts = ", ".join(f"{r} {n}" for r, n in sorted(self.excluded.items()))
            lines.append(f"excluded: {parts}")
        for arch, counts in sorted(self.per_arch.items()):
            lines.append(f"  {arch}: " + ", ".join(f"{counts[s]} {s}" for s in ("ok", "excluded")))
        if self.invalid_ids:
            lines.append(f"skipped {len(self.invalid_ids)} invalid repo ids")
        for arch, error in sorted(self.failed.items()):
            lines.append(f"FAILED {arch}: {error} (its catalog entries were left as they were)")
        return "\n".join(lines)


def _now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class _Lister:
    """Caches listings by tag within one crawl, and skips ids that are unsafe to use."""

    def __init__(self, client: HubClient, summary: CrawlSummary) -> None:
        self.client = client
        self.summary = summary
        self.cache: dict[str, list[Listing]] = {}

    def __call__(self, tag: str) -> list[Listing]:
        if tag not in self.cache:
            rows = self.client.list_models(tag)
            self.summary.listings += 1
            good = []
            for row in rows:
                if is_valid_repo_id(row.model_id) and row.sha:
                    good.append(row)
                elif row.model_id not in self.summary.invalid_ids:
                    self.summary.invalid_ids.append(str(row.model_id))
            self.cache[tag] = good
        return self.cache[tag]


def _entry(listing: Listing, arch: Architecture, found_by: str, max_params: int) -> CatalogEntry:
    reason = exclusion_reason(listing, arch, max_params=max_params)
    assert listing.sha is not None
    return CatalogEntry(
        schema_version=SCHEMA_VERSION,
        model_id=listing.model_id,
        architecture=arch.id,
        sha=listing.sha,
        status="excluded" if reason else "ok",
        reason=reason,
        last_modified=listing.last_modified,
        downloads=listing.downloads,
        likes=listing.likes,
        license=listing.license,
        library=listing.library,
        pipeline_tag=listing.pipeline_tag,
        params=listing.params,
        found_by=found_by,
        tags=tuple(sorted(listing.tags)),
    )


def crawl(
    store: Store,
    client: HubClient | None = None,
    *,
    architectures: Sequence[str] | None = None,
    max_params: int = DEFAULT_MAX_PARAMS,
    now: str | None = None,
) -> CrawlSummary:
    """Crawl the hub for the store's architectures (or those named) and write the catalog."""
    archs = store.architectures()
    if architectures:
        archs = [store.architecture(name) for name in architectures]
    client = client or HubClient()
    summary = CrawlSummary()
    lister = _Lister(client, summary)
    assigned: dict[str, tuple[Architecture, str, Listing]] = {}
    mismatched: dict[str, tuple[Architecture, Listing]] = {}

    # Pass 1: lineage tags. A lineage claim whose config contradicts it waits for pass 2.
    for arch in archs:
        try:
            for hub_id in arch.hub_ids:
                for row in lister(f"base_model:finetune:{hub_id}"):
                    if row.model_id in assigned:
                        continue
                    if row.config is not None and not matches(row.config, arch):
                        mismatched.setdefault(row.model_id, (arch, row))
                    else:
                        assigned[row.model_id] = (arch, "lineage", row)
        except HubError as exc:
            summary.failed[arch.id] = str(exc)
    # Pass 2: the model_type tag, confirmed by the config dimensions.
    for arch in archs:
        if arch.id in summary.failed:
            continue
        try:
            rows = lister(arch.model_type)
        except HubError as exc:
            summary.failed[arch.id] = str(exc)
            continue
        for row in rows:
            if row.model_id in assigned:
                continue
            if row.config is None:
                summary.unconfirmed += 1
            elif matches(row.config, arch):
                assigned[row.model_id] = (arch, "config", row)
    for model_id, (arch, row) in mismatched.items():
        assigned.setdefault(model_id, (arch, "lineage", row))  # excluded: config-mismatch

    crawled = [
        _entry(row, arch, found_by, max_params)
        for arch, found_by, row in assigned.values()
        if arch.id not in summary.failed
    ]
    done = {a.id for a in archs if a.id not in summary.failed}
    result = merge(store.catalog(), crawled, architectures=done, now=now or _now())
    store.write_catalog(result.entries)

    summary.listed = len(crawled)
    summary.ok = sum(1 for e in crawled if e.status == "ok")
    summary.excluded = Counter(e.reason for e in crawled if e.reason)
    for arch in archs:
        if arch.id not in summary.failed:
            summary.per_arch[arch.id] = Counter(
                e.status for e in crawled if e.architecture == arch.id
            )
    summary.new, summary.changed = result.new, result.changed
    summary.unchanged, summary.removed = result.unchanged, result.removed
    summary.requests = client.requests
    return summary
