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
4. the rest cost one config.json request each at the listed sha, in `classifier.order`: each
   architecture's base first (looked up by id when no listing had it), then the 2023 models,
   then lineage candidates, then by downloads, at most `max_configs` per run; the others are
   catalogued `unclassified` and classified by a later run, never dropped.

Models that disappear are looked up once: a rename (the hub answers with a new id) moves the
entry and its results to the new id; otherwise the entry is marked removed, but only for an
architecture whose listings were all read in full this run.

Where it stops (every stage is resumable, and only a model's own content is held against it):
- a listing page that fails after the door's retries: the pages before it are kept, the
  architecture is reported FAILED, and the next run resumes that listing at the failed page
  (`listings.Lister`, the cursor in `data/crawl_state.json`);
- the first listing of the run not answered at all: the hub is unreachable; nothing is written;
- the time budget (`time_budget`, and any `hub.deadline` the caller set): no new request is
  started after it; what was learned is written, the rest waits for the next run (exit 0);
- a run-level fault (`RunFailure`): a quota spent past the deadline, or a hub that stopped
  answering config reads, writes what was learned and raises `CrawlStopped`; a bad token, a
  forbidden or a refused request raises as it is and writes nothing (the catalog stays as it
  was: an answer obtained under a bad token proves nothing about any model).
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Callable, Sequence

from ranker.crawl.candidates import find_bases, gather, legacy_homes, listing_tags
from ranker.crawl.catalog import MergeResult, merge, within_limits
from ranker.crawl.classifier import Candidate, Classifier, order
from ranker.crawl.listings import Lister, Unreachable, deadline_check
from ranker.crawl.summary import CrawlStopped, CrawlSummary
from ranker.errors import HubFailure, Reason, RunFailure
from ranker.hub import Hub
from ranker.protocol import DEFAULT_MAX_PARAMS
from ranker.records import Architecture, CatalogEntry
from ranker.store import Store
from ranker.timestamps import utc_now

DEFAULT_MAX_CONFIGS = 2_000  # config.json requests per run; the rest waits for the next run
# Run-level faults after which nothing learned is trusted or kept (see the module docstring).
KEEPS_NOTHING = frozenset({Reason.BAD_TOKEN, Reason.FORBIDDEN, Reason.BAD_REQUEST})


def _stop(current: RunFailure | None, new: RunFailure) -> RunFailure:
    """The run's stop after `new`; a fault after which nothing may be kept is raised at once."""
    if new.reason in KEEPS_NOTHING:
        raise new
    return current or new


def crawl(
    store: Store,
    hub: Hub | None = None,
    *,
    architectures: Sequence[str] | None = None,
    max_params: int = DEFAULT_MAX_PARAMS,
    max_configs: int = DEFAULT_MAX_CONFIGS,
    now: str | None = None,
    time_budget: float | None = None,
) -> CrawlSummary:
    """Crawl the hub for the store's architectures (or those named) and write the catalog.

    `time_budget` (seconds) bounds the crawl and becomes the door's deadline (`hub.deadline`,
    on the door's clock), the earlier of the two when the caller set one already. Raises
    `CrawlStopped` (after writing what was learned) or the door's `RunFailure` (writing
    nothing): see the module docstring."""
    archs = store.architectures()
    if architectures:
        archs = [store.architecture(name) for name in architectures]
    hub = hub or Hub()
    late = _late(hub, time_budget)
    summary = CrawlSummary()
    previous = {e.model_id: e for e in store.catalog()}
    legacy = legacy_homes(store)
    state = store.crawl_state()
    lister = Lister(hub, summary, state.get("cursors", {}), late)
    found: dict[str, Candidate] = {}
    try:
        gather(lister, archs, legacy, found)
    except Unreachable as exc:
        summary.unreachable = True
        summary.failed = {a.id: str(exc) for a in archs}
        summary.requests = hub.requests
        return summary
    stop = _after_listings(hub, lister, archs, found, late, summary)
    classifier = Classifier(hub, archs, previous, max_params, max_configs, late)
    crawled, stop = _classify_all(classifier, found, stop, summary)
    crawled = _within_limits(crawled, summary)
    # removals need listings read in full this run, and a lookup each (renamed, or gone?)
    complete = {a.id for a in archs if not (set(listing_tags(a)) & lister.partial)}
    result, entries, stop = _fold(
        hub, previous, crawled, complete=complete, stop=stop, late=late, now=now or utc_now(),
        summary=summary,
    )  # fmt: skip
    for old, new in summary.renamed.items():
        store.rename_results(old, new)
    store.write_catalog(entries)
    if lister.cursors != state.get("cursors", {}):
        store.write_crawl_state({**state, "cursors": lister.cursors})
    _fill(summary, archs, crawled, result)
    summary.requests = hub.requests
    if stop is not None:
        summary.stopped = str(stop)
        raise CrawlStopped(stop, summary)
    return summary


def _late(hub: Hub, time_budget: float | None) -> Callable[[], bool]:
    """The crawl's `late()`: the earlier of the door's deadline and `time_budget` from now,
    which also becomes the door's deadline."""
    deadline = hub.deadline
    if time_budget is not None:
        mine = hub.clock() + max(0.0, time_budget)
        deadline = mine if deadline is None else min(deadline, mine)
        hub.deadline = deadline
    return deadline_check(deadline, hub.clock)


def _after_listings(
    hub: Hub,
    lister: Lister,
    archs: list[Architecture],
    found: dict[str, Candidate],
    late: Callable[[], bool],
    summary: CrawlSummary,
) -> RunFailure | None:
    """The run's stop after the listings, once the bases no listing had are asked for (when
    the run may go on); each architecture whose listing failed is reported with its error."""
    stop = _stop(None, lister.stop) if lister.stop is not None else None
    if stop is None and not late():
        try:
            find_bases(hub, archs, found)
        except RunFailure as exc:
            stop = _stop(stop, exc)
    for arch in archs:
        errors = [lister.failed[t] for t in listing_tags(arch) if t in lister.failed]
        if errors:
            summary.failed[arch.id] = errors[0]
    return stop


def _fold(
    hub: Hub,
    previous: dict[str, CatalogEntry],
    crawled: list[CatalogEntry],
    *,
    complete: set[str],
    stop: RunFailure | None,
    late: Callable[[], bool],
    now: str,
    summary: CrawlSummary,
) -> tuple[MergeResult, list[CatalogEntry], RunFailure | None]:
    """The merge of this crawl into the catalog, the entries to write, and the run's stop.
    Models gone from `complete` architectures' listings are looked up (renamed, or removed?)
    when the run may still ask; else none is removed: the next run sees them."""
    result = merge(previous.values(), crawled, architectures=complete, now=now)
    entries = result.entries
    if result.removed and (stop is not None or late()):
        result = merge(previous.values(), crawled, architectures=set(), now=now)
        entries = result.entries  # no time or leave to look them up: seen by the next run
    elif result.removed:
        try:
            entries = _follow_renames(hub, result.entries, result.removed, summary)
        except RunFailure as exc:
            stop = _stop(stop, exc)
            summary.renamed.clear()
            result = merge(previous.values(), crawled, architectures=set(), now=now)
            entries = result.entries
    return result, entries, stop


def _classify_all(
    classifier: Classifier,
    found: dict[str, Candidate],
    stop: RunFailure | None,
    summary: CrawlSummary,
) -> tuple[list[CatalogEntry], RunFailure | None]:
    """Every candidate's entry, in `order`; after a stop, with no more requests (each candidate
    then keeps what the listing, the catalog or the 2023 data says, else waits). What the
    classifier spent and skipped goes into `summary`."""
    classifier.reading = stop is None
    crawled: list[CatalogEntry] = []
    for c in sorted(found.values(), key=order):
        try:
            entry = classifier(c)
        except RunFailure as exc:
            stop = _stop(stop, exc)
            classifier.reading = False  # no more requests: the rest is kept as it stands
            entry = classifier(c)
        if entry is not None:
            crawled.append(entry)
    summary.config_requests = classifier.config_requests
    summary.config_timeouts = classifier.config_timeouts
    summary.out_of_time |= classifier.out_of_time
    summary.skipped = classifier.skipped
    return crawled, stop


def _within_limits(crawled: list[CatalogEntry], summary: CrawlSummary) -> list[CatalogEntry]:
    """Each entry within the store's limits, or left out: one model's values fail alone."""
    out = []
    for entry in crawled:
        kept, dropped = within_limits(entry)
        if kept is None:
            summary.rejected[entry.model_id] = "; ".join(dropped)
            continue
        if dropped:
            summary.repaired[entry.model_id] = "; ".join(dropped)
        out.append(kept)
    return out


def _fill(
    summary: CrawlSummary, archs: list[Architecture], crawled: list[CatalogEntry],
    result: MergeResult,
) -> None:  # fmt: skip
    summary.listed = len(crawled)
    summary.ok = sum(1 for e in crawled if e.status == "ok")
    summary.unclassified = sum(1 for e in crawled if e.status == "unclassified")
    summary.excluded = Counter(e.reason for e in crawled if e.status == "excluded" and e.reason)
    for arch in archs:
        summary.per_arch[arch.id] = Counter(e.status for e in crawled if e.architecture == arch.id)
    summary.new, summary.changed = result.new, result.changed
    summary.unchanged = result.unchanged
    summary.removed = [m for m in result.removed if m not in summary.renamed]


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
