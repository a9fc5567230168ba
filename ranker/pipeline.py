"""`ranker update`: crawl -> evaluate the queue -> build, bounded by a count and a time budget.

The queue is every catalogued model with no settled result for its current (sha, protocol
version): no record, or an error whose failure was transient (429, 5xx, timeout, dropped
connection, integrity), which is retried on every run; a permanent failure waits for a new sha.
Each result is stored as soon as it exists, so a run killed at any moment loses at most the
model in flight, and the next run resumes from the queue. Downloaded weights are deleted after
each model; base models stay (their features are cached).

A hub that is down does not turn the queue into error records: a crawl that could not reach the
hub skips evaluation, and `MAX_TRANSIENT_STREAK` transient failures in a row stop the run. An
exception that is not a typed failure is a bug of ours: it is reported with its traceback,
counted, not stored as the model's fault, and the run exits non-zero.
"""

from __future__ import annotations

import dataclasses
import shutil
import sys
import time
import traceback
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from ranker.records import CatalogEntry
from ranker.store import Store

if TYPE_CHECKING:
    from ranker.crawl import CrawlSummary
    from ranker.evaluate.data import ProbeData
    from ranker.evaluate.run import Options

MAX_TRANSIENT_STREAK = 3  # transient failures in a row that mean the hub is down: stop the run


@dataclass
class UpdateSummary:
    """What a run did; `text()` is what `ranker update` prints and the nightly commit says."""

    crawl: CrawlSummary | None = None
    queued: int = 0
    evaluated: list[str] = field(default_factory=list)
    failed: Counter[str] = field(default_factory=Counter)  # reason -> count
    transient: int = 0  # failures that are re-queued for the next run
    bugs: list[str] = field(default_factory=list)  # models that hit a bug of ours (not stored)
    left: int = 0  # still queued when the run stopped
    stopped_by: str | None = None  # "max-models", "time-budget" or "hub-unreachable"
    seconds: float = 0.0

    def text(self) -> str:
        lines = []
        if self.crawl is not None:
            c = self.crawl
            lines.append(
                f"crawl: listed {c.listed}, new {len(c.new)}, changed {len(c.changed)}, "
                f"removed {len(c.removed)}, excluded {sum(c.excluded.values())}, "
                f"{c.requests} requests"
            )
        ok = len(self.evaluated) - sum(self.failed.values())
        lines.append(f"evaluated {len(self.evaluated)} of {self.queued} queued: {ok} scored, "
                     f"{sum(self.failed.values())} failed")  # fmt: skip
        if self.failed:
            lines.append("failed: " + ", ".join(f"{r} {n}" for r, n in sorted(self.failed.items()))
                         + f" ({self.transient} transient, re-queued)")  # fmt: skip
        if self.bugs:
            shown = ", ".join(self.bugs[:5])
            lines.append(f"BUG: {len(self.bugs)} models hit an error in ranker itself (not "
                         f"stored; see the tracebacks above): {shown}")  # fmt: skip
        if self.stopped_by == "hub-unreachable" and not self.evaluated:
            lines.append("evaluation skipped: the hub could not be reached")
        if self.left:
            lines.append(f"{self.left} left in the queue (stopped by {self.stopped_by})")
        lines.append(f"took {self.seconds:.0f} s")
        return "\n".join(lines)


def pending(
    store: Store,
    protocol_version: str,
    *,
    force: bool = False,
    architectures: list[str] | None = None,
) -> list[CatalogEntry]:
    """Catalogued models with no settled result for (model, sha, protocol): bases first, then
    popular. A transient error is not settled (nor an untyped one from before failures had
    types): it is tried again."""
    done = {r.key for r in store.results() if r.status == "ok" or r.failure == "permanent"}
    archs = store.architectures()
    wanted = {store.architecture(a).id for a in architectures} if architectures else None
    bases = {hub_id for a in archs for hub_id in a.hub_ids}
    queue = [
        e
        for e in store.catalog()
        if e.status == "ok"
        and (wanted is None or e.architecture in wanted)
        and (force or (e.model_id, e.sha, protocol_version) not in done)
    ]
    return sorted(queue, key=lambda e: (e.model_id not in bases, -(e.downloads or 0), e.model_id))


def _drop_download(hub_cache: Path, model_id: str) -> None:
    shutil.rmtree(hub_cache / ("models--" + model_id.replace("/", "--")), ignore_errors=True)


def update(
    store: Store,
    *,
    crawl_step: Callable[[], CrawlSummary] | None,
    probe_data: Callable[[], ProbeData],
    options: Options,
    max_models: int | None = None,
    time_budget: float | None = None,
    force: bool = False,
    architectures: list[str] | None = None,
    progress: bool = False,
    clock: Callable[[], float] = time.monotonic,
) -> UpdateSummary:
    """Crawl (if `crawl_step`), then evaluate the queue until done or out of count or time.

    `probe_data` is called only if there is something to evaluate.
    """
    from ranker.evaluate import protocol
    from ranker.evaluate.run import evaluate_model

    start = clock()
    summary = UpdateSummary()
    if crawl_step is not None:
        summary.crawl = crawl_step()
    queue = pending(store, protocol.PROTOCOL_VERSION, force=force, architectures=architectures)
    summary.queued = len(queue)
    if summary.crawl is not None and summary.crawl.unreachable:
        summary.stopped_by = "hub-unreachable"
        queue = []
    if queue:
        known = {e.model_id: e.sha for e in store.catalog() if e.status == "ok"}
        options = dataclasses.replace(options, revisions={**known, **options.revisions})
        data = probe_data()
        archs = {a.id: a for a in store.architectures()}
        bases = {hub_id for a in archs.values() for hub_id in a.hub_ids}
        per_model: list[float] = []
        streak = 0  # transient failures in a row
        bar = None
        if progress:
            from tqdm import tqdm

            bar = tqdm(total=len(queue), unit="model", desc="evaluate")
        for done, entry in enumerate(queue):
            if max_models is not None and done >= max_models:
                summary.stopped_by = "max-models"
                break
            if time_budget is not None:
                expected = sum(per_model) / len(per_model) if per_model else 0.0
                if clock() - start + expected > time_budget:
                    summary.stopped_by = "time-budget"
                    break
            began = clock()
            try:
                result = evaluate_model(
                    entry.model_id,
                    data,
                    revision=entry.sha,
                    architecture=archs.get(entry.architecture),
                    architectures=list(archs.values()),
                    options=options,
                )
            except Exception:  # not a typed failure: ours to fix, not the model's to carry
                traceback.print_exc(file=sys.stderr)
                print(f"ranker update: BUG while evaluating {entry.model_id} (not stored)",
                      file=sys.stderr, flush=True)  # fmt: skip
                summary.bugs.append(entry.model_id)
                result = None
            if result is not None:
                store.save_result(result)
                summary.evaluated.append(entry.model_id)
            if options.hub_cache is not None and entry.model_id not in bases:
                _drop_download(options.hub_cache, entry.model_id)
            if result is not None and result.status != "ok":
                summary.failed[result.reason or "other"] += 1
                if result.failure == "transient":
                    summary.transient += 1
                    streak += 1
                else:
                    streak = 0
            elif result is not None:
                streak = 0
            per_model.append(clock() - began)
            if bar is not None:
                bar.update()
            if streak >= MAX_TRANSIENT_STREAK:
                summary.stopped_by = "hub-unreachable"
                break
        if bar is not None:
            bar.close()
    settled = len(summary.evaluated) - summary.transient
    summary.left = summary.queued - settled
    summary.seconds = clock() - start
    return summary
