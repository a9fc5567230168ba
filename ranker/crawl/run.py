"""`ranker crawl`: find each architecture's models on the hub and fold them into the catalog.

Candidates come from two kinds of listing: the lineage tag `base_model:finetune:<id>` for every
spelling of the base id (only repos whose card declares `base_model` carry it), and the
model_type tag (shared by architectures of one type), which also finds the many older models
with no lineage. Listings never carry dimensions, so:

1. the listing decides what it can (`classify.listing_reason`): adapters, gated repos, sizes far
   from the architecture's...; a model_type candidate ruled out this way is not catalogued;
2. a candidate whose `(model_id, sha)` is already classified in the catalog keeps its
   classification: an unchanged model costs **no** request;
3. the 2023 models in `data/legacy/` are known members of their architecture (no request);
4. the rest cost one config.json request each at the listed sha, lineage candidates first,
   then by downloads, at most `max_configs` per run; the others are catalogued `unclassified`
   and classified by a later run, never dropped.

Models that disappear are looked up once: a rename (the hub answers with a new id) moves the
entry and its results to the new id; otherwise the entry is marked removed. A hub that fails
transiently on the first listing stops the crawl at once (nothing else would get through).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

from ranker.crawl import classify
from ranker.crawl.catalog import merge
from ranker.errors import HubFailure, Reason
from ranker.hub import Hub, Listing, Rejected
from ranker.records import (
    SCHEMA_VERSION,
    Architecture,
    CatalogEntry,
    config_dims,
    describe_dims,
)
from ranker.store import Store

DEFAULT_MAX_CONFIGS = 2_000  # config.json requests per run; the rest waits for the next run


@dataclass
class CrawlSummary:
    """What a crawl found and what it cost; `text()` is what `ranker crawl` prints."""

    listed: int = 0  # distinct models catalogued this run
    new: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    renamed: dict[str, str] = field(default_factory=dict)  # old id -> new id
    ok: int = 0
    excluded: Counter[str] = field(default_factory=Counter)
    unclassified: int = 0
    skipped: Counter[str] = field(default_factory=Counter)  # model_type rows ruled out, not kept
    rejected: dict[str, str] = field(default_factory=dict)  # id (or problem) -> what is wrong
    failed: dict[str, str] = field(default_factory=dict)  # architecture -> error
    per_arch: dict[str, Counter[str]] = field(default_factory=dict)  # arch -> status counts
    config_requests: int = 0
    requests: int = 0
    listings: int = 0
    unreachable: bool = False  # the hub failed transiently on the first listing

    def text(self) -> str:
        lines = [
            f"listed {self.listed} models ({self.ok} ok, {sum(self.excluded.values())} excluded,"
            f" {self.unclassified} unclassified) in {self.listings} listings,"
            f" {self.config_requests} configs read, {self.requests} HTTP requests",
            f"new {len(self.new)}, changed {len(self.changed)}, unchanged {len(self.unchanged)},"
            f" removed {len(self.removed)}, renamed {len(self.renamed)}",
        ]
        if self.excluded:
            parts = ", ".join(f"{r} {n}" for r, n in sorted(self.excluded.items()))
            lines.append(f"excluded: {parts}")
        for arch, counts in sorted(self.per_arch.items()):
            lines.append(
                f"  {arch}: "
                + ", ".join(f"{counts[s]} {s}" for s in ("ok", "excluded", "unclassified"))
            )
        if self.rejected:
            shown = "; ".join(f"{k}: {v}" for k, v in sorted(self.rejected.items())[:5])
            more = f" (+{len(self.rejected) - 5} more)" if len(self.rejected) > 5 else ""
            lines.append(f"rejected {len(self.rejected)} malformed listing rows: {shown}{more}")
        for old, new in sorted(self.renamed.items()):
            lines.append(f"renamed {old} -> {new}")
        if self.unreachable:
            lines.append("FAILED: the hub could not be reached; the catalog was left as it was")
        for arch, error in sorted(self.failed.items()):
            lines.append(f"FAILED {arch}: {error} (its catalog entries were left as they were)")
        return "\n".join(lines)


def _now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class _Candidate:
    listing: Listing
    claim: Architecture | None  # the architecture a lineage tag or the 2023 data names
    found_by: str  # "lineage", "legacy" or "config"


class _Lister:
    """Runs each listing once per crawl; malformed rows go to the summary, not the catalog."""

    def __init__(self, hub: Hub, summary: CrawlSummary) -> None:
        self.hub = hub
        self.summary = summary
        self.cache: dict[str, list[Listing]] = {}

    def __call__(self, tag: str) -> list[Listing]:
        if tag not in self.cache:
            rows: list[Listing] = []
            for row in self.hub.list_models(tag):
                if isinstance(row, Rejected):
                    self.summary.rejected[row.model_id or row.problem] = row.problem
                else:
                    rows.append(row)
            self.summary.listings += 1
            self.cache[tag] = rows
        return self.cache[tag]


def _entry(
    c: _Candidate, arch: Architecture, status: str, reason: str | None, detail: str | None
) -> CatalogEntry:
    row = c.listing
    return CatalogEntry(
        schema_version=SCHEMA_VERSION,
        model_id=row.model_id,
        architecture=arch.id,
        sha=row.sha,
        status=status,
        reason=reason,
        last_modified=row.last_modified,
        downloads=row.downloads,
        likes=row.likes,
        license=row.license,
        library=row.library,
        pipeline_tag=row.pipeline_tag,
        params=row.params,
        found_by=c.found_by,
        tags=tuple(sorted(row.tags)),
        detail=detail,
    )


class _Classifier:
    """Turns candidates into catalog entries, spending at most `max_configs` config requests."""

    def __init__(
        self,
        hub: Hub,
        archs: list[Architecture],
        previous: dict[str, CatalogEntry],
        summary: CrawlSummary,
        max_params: int,
        max_configs: int,
    ) -> None:
        self.hub = hub
        self.by_type: dict[str, list[Architecture]] = {}
        for a in archs:
            self.by_type.setdefault(a.model_type, []).append(a)
        self.archs = {a.id: a for a in archs}
        self.previous = previous
        self.summary = summary
        self.max_params = max_params
        self.budget = max_configs

    def home(self, c: _Candidate) -> Architecture | None:
        """The architecture an entry is filed under before its config is known."""
        if c.claim is not None:
            return c.claim
        group = self.by_type.get(c.listing.model_type or "")
        return group[0] if group else None

    def __call__(self, c: _Candidate) -> CatalogEntry | None:
        arch = self.home(c)
        if arch is None:
            return None
        reason = classify.listing_reason(c.listing, c.claim, max_params=self.max_params)
        if reason is None and c.claim is None:
            group = self.by_type.get(c.listing.model_type or "", [])
            if not any(classify.plausible_size(c.listing.params, a) for a in group):
                reason = "size-mismatch"
        if reason is not None:
            if c.found_by == "config":  # never shown to belong: not worth a catalog line
                self.summary.skipped[reason] += 1
                return None
            return _entry(c, arch, "excluded", reason, None)
        old = self.previous.get(c.listing.model_id)
        if old is not None and old.sha == c.listing.sha and old.status in ("ok", "excluded"):
            home = self.archs.get(old.architecture, arch)  # classified at this sha: reuse it
            return _entry(c, home, old.status, old.reason, old.detail)
        if c.found_by == "legacy":
            return _entry(c, arch, "ok", None, "a 2023 ranking member")
        if self.budget <= 0:
            return _entry(c, arch, "unclassified", classify.PENDING, None)
        self.budget -= 1
        self.summary.config_requests += 1
        try:
            config = self.hub.config(c.listing.model_id, c.listing.sha)
        except HubFailure as exc:
            if exc.transient:
                return _entry(c, arch, "unclassified", classify.PENDING, str(exc))
            reason = "gated" if exc.reason is Reason.GATED else "no-config"
            return _entry(c, arch, "excluded", reason, str(exc))
        candidates = self.by_type.get(str(config.get("model_type")), [])
        match = next((a for a in candidates if a.matches(config)), None)
        home = match or arch
        detail = describe_dims(config_dims(config))
        why = classify.config_reason(config, home)
        return _entry(c, home, "excluded" if why else "ok", why, detail)


def _candidates(
    lister: _Lister,
    archs: list[Architecture],
    legacy: dict[str, str],
    summary: CrawlSummary,
) -> dict[str, _Candidate]:
    """Lineage listings first, then model_type listings; an architecture that fails is noted."""
    by_id = {a.id: a for a in archs}
    found: dict[str, _Candidate] = {}
    first = True
    for arch in archs:
        try:
            for hub_id in arch.hub_ids:
                for row in lister(f"base_model:finetune:{hub_id}"):
                    found.setdefault(row.model_id, _Candidate(row, arch, "lineage"))
                first = False
        except HubFailure as exc:
            if first and exc.transient:
                summary.unreachable = True
                raise
            summary.failed[arch.id] = str(exc)
    for model_type in dict.fromkeys(a.model_type for a in archs):
        group = [a for a in archs if a.model_type == model_type and a.id not in summary.failed]
        if not group:
            continue
        try:
            rows = lister(model_type)
        except HubFailure as exc:
            for a in group:
                summary.failed[a.id] = str(exc)
            continue
        for row in rows:
            if row.model_id in found:
                continue
            home = by_id.get(legacy.get(row.model_id, ""))
            if home is not None and home.model_type == model_type:
                found[row.model_id] = _Candidate(row, home, "legacy")
            elif row.model_type in (None, model_type):
                found[row.model_id] = _Candidate(row, None, "config")
    return found


def _order(c: _Candidate) -> tuple:
    """Who gets a config request first: lineage, then popular models."""
    return (c.found_by != "lineage", -(c.listing.downloads or 0), c.listing.model_id)


def crawl(
    store: Store,
    hub: Hub | None = None,
    *,
    architectures: Sequence[str] | None = None,
    max_params: int = classify.DEFAULT_MAX_PARAMS,
    max_configs: int = DEFAULT_MAX_CONFIGS,
    now: str | None = None,
) -> CrawlSummary:
    """Crawl the hub for the store's architectures (or those named) and write the catalog."""
    archs = store.architectures()
    if architectures:
        archs = [store.architecture(name) for name in architectures]
    hub = hub or Hub()
    summary = CrawlSummary()
    previous = {e.model_id: e for e in store.catalog()}
    legacy = (
        {m.model_id: m.architecture for m in store.legacy_models()} if store.has_legacy() else {}
    )
    try:
        found = _candidates(_Lister(hub, summary), archs, legacy, summary)
    except HubFailure as exc:
        summary.failed = {a.id: str(exc) for a in archs}
        summary.requests = hub.requests
        return summary
    classifier = _Classifier(hub, archs, previous, summary, max_params, max_configs)
    crawled: list[CatalogEntry] = []
    for c in sorted(found.values(), key=_order):
        entry = classifier(c)
        if entry is not None and entry.architecture not in summary.failed:
            crawled.append(entry)
    done = {a.id for a in archs if a.id not in summary.failed}
    result = merge(previous.values(), crawled, architectures=done, now=now or _now())
    entries = _follow_renames(hub, result.entries, result.removed, summary)
    for old, new in summary.renamed.items():
        store.rename_results(old, new)
    store.write_catalog(entries)

    summary.listed = len(crawled)
    summary.ok = sum(1 for e in crawled if e.status == "ok")
    summary.unclassified = sum(1 for e in crawled if e.status == "unclassified")
    summary.excluded = Counter(e.reason for e in crawled if e.status == "excluded" and e.reason)
    for arch in archs:
        if arch.id not in summary.failed:
            summary.per_arch[arch.id] = Counter(
                e.status for e in crawled if e.architecture == arch.id
            )
    summary.new, summary.changed = result.new, result.changed
    summary.unchanged = result.unchanged
    summary.removed = [m for m in result.removed if m not in summary.renamed]
    summary.requests = hub.requests
    return summary


def _follow_renames(
    hub: Hub, entries: list[CatalogEntry], gone: list[str], summary: CrawlSummary
) -> list[CatalogEntry]:
    """Ask the hub once about each model that left the listings: renamed, or removed?"""
    present = {e.model_id for e in entries if e.status != "removed"}
    out = []
    for entry in entries:
        if entry.model_id in gone:
            try:
                ref = hub.ref(entry.model_id)
            except HubFailure:
                ref = None  # gone (404) or not answering: removed either way for now
            if ref is not None and ref.repo_id != entry.model_id and ref.repo_id in present:
                summary.renamed[entry.model_id] = ref.repo_id
                entry = dataclasses.replace(entry, renamed_to=ref.repo_id)
        out.append(entry)
    return out
