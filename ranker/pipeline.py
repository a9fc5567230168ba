"""`ranker update`: crawl -> evaluate the queue -> build, bounded by a count and a time budget.

The queue is every catalogued model with no result for its current (sha, protocol version).
Each result is stored as soon as it exists (an atomic rewrite of results.jsonl), so a run killed
at any moment loses at most the model in flight, and the next run resumes from the queue.
Downloaded weights are deleted after each model; base models stay (their features are cached).
"""

from __future__ import annotations

import shutil
import time
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

# Error text -> reason, first match wins; the evaluator's messages name their cause.
FAILURE_REASONS: tuple[tuple[str, str], ...] = (
    ("no safetensors", "no-safetensors"),
    ("remote code", "custom-code"),
    ("auto_map", "custom-code"),
    ("cannot download", "download"),
    ("body weight", "missing-weights"),
    ("parameters", "too-large"),
    ("tokenizer", "tokenizer"),
    ("architecture", "wrong-architecture"),
    ("safetensors", "unreadable-weights"),
)


def failure_reason(error: str | None) -> str:
    text = (error or "").lower()
    return next((reason for key, reason in FAILURE_REASONS if key in text), "other")


@dataclass
class UpdateSummary:
    """What a run did; `text()` is what `ranker update` prints and the nightly commit says."""

    crawl: CrawlSummary | None = None
    queued: int = 0
    evaluated: list[str] = field(default_factory=list)
    failed: Counter[str] = field(default_factory=Counter)
    left: int = 0  # still queued when the run stopped
    stopped_by: str | None = None  # "max-models" or "time-budget"
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
            lines.append("failed: " + ", ".join(f"{r} {n}" for r, n in sorted(self.failed.items())))
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
    """Catalogued models with no result for (model, sha, protocol): bases first, then popular."""
    done = {r.key for r in store.results()}
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
    if queue:
        data = probe_data()
        archs = {a.id: a for a in store.architectures()}
        bases = {hub_id for a in archs.values() for hub_id in a.hub_ids}
        per_model: list[float] = []
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
            result = evaluate_model(
                entry.model_id,
                data,
                revision=entry.sha,
                architecture=archs.get(entry.architecture),
                architectures=list(archs.values()),
                options=options,
            )
            store.save_result(result)
            if options.hub_cache is not None and entry.model_id not in bases:
                _drop_download(options.hub_cache, entry.model_id)
            summary.evaluated.append(entry.model_id)
            if result.status != "ok":
                summary.failed[failure_reason(result.error)] += 1
            per_model.append(clock() - began)
            if bar is not None:
                bar.update()
        if bar is not None:
            bar.close()
    summary.left = summary.queued - len(summary.evaluated)
    summary.seconds = clock() - start
    return summary
