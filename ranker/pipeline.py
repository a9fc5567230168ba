"""`ranker update`: crawl -> evaluate the queue -> build, bounded by a count and a time budget.

The queue is every catalogued model with no settled result for its current (sha, protocol
version): no record, or an error whose failure was transient (429, 5xx, timeout, dropped
connection, integrity), which is retried on every run; a permanent failure waits for a new sha.
Each result is stored as soon as it exists, so a run killed at any moment loses at most the
model in flight, and the next run resumes from the queue. Downloaded weights are deleted after
each model; base models stay (their features are cached).

Whose fault a failure is decides where it lands (`ranker.errors.FailureKind`; the one rule: a
failure is stored against a model only when the model's own content caused it):
- the model's (PERMANENT): stored; it waits for the model's next commit.
- the hub's (TRANSIENT): stored as transient, retried on the next run. A hub that is down does
  not turn the queue into error records: a crawl that could not reach the hub skips
  evaluation, and `MAX_TRANSIENT_STREAK` transient failures in a row stop the run with
  `RunFailure(HUB_DOWN)`. A rate limit (RATE_LIMITED: the door already waited what it could
  within the time budget) is neither stored nor counted in the streak: the model stays queued.
- the run's (RUN: no device, a missing package, a bad token, the quota spent): `RunFailure`
  stops the run with one line; nothing is stored for that model, results already stored stay.
  The device is checked once, before the crawl.
- the machine's (RESOURCE: out of memory, a killed or timed-out child): stored as "resource",
  re-queued, and after `MAX_RESOURCE_NIGHTS` such nights in a row at the same sha stored as
  permanent with the measured figure in its message.
- the base's: a base that cannot be scored is stored once, on the base; its finetunes are not
  stored (they stay queued) and the summary says how many wait.
- ours (a bug: any other exception): reported with its traceback, counted, not stored as the
  model's fault, and the run exits non-zero.

Where a model is evaluated is the executor's business (`ranker.executors`: here, one at a time,
or on a Ray cluster, many at once); the loop over their outcomes, with the budgets, the
bookkeeping and the store, is this module's, one loop for every executor. The process running it
is the only writer of the store.

Matrix mode: `shard=(i, n)` keeps only the models whose id hashes to i modulo n (`in_shard`),
so n machines can share one queue; `results_out` sends the results to a JSON Lines file instead
of the store (`ResultsFile`), and then nothing in the store is written.
"""

from __future__ import annotations

import dataclasses
import hashlib
import sys
import time
from collections import Counter, deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from ranker.errors import FailureKind, RankerError, Reason, RunFailure
from ranker.executors import Executor, Job, Outcome, Work
from ranker.records import CatalogEntry, EvalResult
from ranker.store import ResultsFile, Store

if TYPE_CHECKING:
    from ranker.crawl import CrawlSummary
    from ranker.evaluate.data import ProbeData
    from ranker.evaluate.evaluator import Options

MAX_TRANSIENT_STREAK = 3  # transient failures in a row that mean the hub is down: stop the run
# Nights in a row a model may fail for want of resources at one sha before it is stored as
# permanent (with the figure): enough to ride out a busy runner, few enough to stop retrying.
MAX_RESOURCE_NIGHTS = 3
# (counted in `EvalResult.resource_nights`, read back from the previous record of the key)


@dataclass
class BaseWait:
    """An architecture whose base could not be scored: the finetunes that wait for it."""

    base: str
    reason: str
    models: list[str] = field(default_factory=list)


@dataclass
class UpdateSummary:
    """What a run did; `text()` is what `ranker update` prints and the nightly commit says."""

    crawl: CrawlSummary | None = None
    queued: int = 0
    evaluated: list[str] = field(default_factory=list)
    failed: Counter[str] = field(default_factory=Counter)  # reason -> count
    transient: int = 0  # failures that are re-queued for the next run
    resource: int = 0  # resource failures re-queued for the next night (not yet permanent)
    rate_limited: list[str] = field(default_factory=list)  # waited on the quota: not stored
    waiting: dict[str, BaseWait] = field(default_factory=dict)  # architecture -> its base's wait
    bugs: list[str] = field(default_factory=list)  # models that hit a bug of ours (not stored)
    lost: list[str] = field(default_factory=list)  # models whose workers kept dying (not stored)
    retried: int = 0  # tries started again because their worker was lost
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
                         + f" ({self.transient} transient, {self.resource} resource, "
                         "re-queued)")  # fmt: skip
        for wait in self.waiting.values():
            n = len(wait.models)
            lines.append(f"base {wait.base} failed ({wait.reason}): {n} finetune"
                         f"{'' if n == 1 else 's'} wait (not stored, queued)")  # fmt: skip
        if self.rate_limited:
            lines.append(f"{len(self.rate_limited)} models met the hub's rate limit (not stored, "
                         "queued)")  # fmt: skip
        if self.bugs:
            shown = ", ".join(self.bugs[:5])
            lines.append(f"BUG: {len(self.bugs)} models hit an error in ranker itself (not "
                         f"stored; see the tracebacks above): {shown}")  # fmt: skip
        if self.lost:
            lines.append(f"LOST: {len(self.lost)} models whose worker died on every try (not "
                         f"stored, re-queued): {', '.join(self.lost[:5])}")  # fmt: skip
        if self.retried:
            lines.append(f"{self.retried} tries lost with their worker were run again elsewhere")
        if self.stopped_by == "hub-unreachable" and not self.evaluated:
            lines.append("evaluation skipped: the hub could not be reached")
        if self.left:
            why = f" (stopped by {self.stopped_by})" if self.stopped_by else ""
            lines.append(f"{self.left} left in the queue{why}")
        lines.append(f"took {self.seconds:.0f} s")
        return "\n".join(lines)


def in_shard(model_id: str, shard: tuple[int, int] | None) -> bool:
    """Whether `model_id` is in shard (i, n): its id's sha256, as an integer, is i modulo n.

    Deterministic on every machine and run, and independent of the queue's content, so n
    machines given 0/n .. n-1/n evaluate disjoint shares that together make the whole queue.
    """
    if shard is None:
        return True
    index, count = shard
    return int(hashlib.sha256(model_id.encode("utf-8")).hexdigest(), 16) % count == index


def pending(
    store: Store,
    protocol_version: str,
    *,
    force: bool = False,
    architectures: list[str] | None = None,
    shard: tuple[int, int] | None = None,
    results: Iterable[EvalResult] = (),
) -> list[CatalogEntry]:
    """Catalogued models with no settled result for (model, sha, protocol): models asked for
    in an issue (`Store.requests`, still queued) first, in the order they were asked, then bases,
    then popular. A transient error is not settled (nor an untyped one from before failures had
    types): it is tried again. `shard`: only that share (`in_shard`); `results`: results kept
    outside the store (a `--results-out` file) that count as the store's do."""
    done = {r.key for r in [*store.results(), *results] if r.settled}
    archs = store.architectures()
    wanted = {store.architecture(a).id for a in architectures} if architectures else None
    bases = {hub_id for a in archs for hub_id in a.hub_ids}
    queue = [
        e
        for e in store.catalog()
        if e.status == "ok"
        and (wanted is None or e.architecture in wanted)
        and (force or (e.model_id, e.sha, protocol_version) not in done)
        and in_shard(e.model_id, shard)
    ]
    asked: dict[str, str] = {}  # model -> when first asked
    for r in store.requests():
        if r.status == "queued":
            asked[r.model_id] = min(asked.get(r.model_id, r.requested_at), r.requested_at)
    first = "~"  # after every ISO date: not asked for
    return sorted(queue, key=lambda e: (asked.get(e.model_id, first), e.model_id not in bases,
                                        -(e.downloads or 0), e.model_id))  # fmt: skip


@dataclass
class Limits:
    """What bounds a run's evaluation: models started, and seconds since `start` (on `clock`)."""

    max_models: int | None = None
    time_budget: float | None = None
    start: float = 0.0
    clock: Callable[[], float] = time.monotonic

    def stop_before(self, started: int, expected: float) -> str | None:
        """Why no model may start now (`expected`: seconds until it would end), or None."""
        if self.max_models is not None and started >= self.max_models:
            return "max-models"
        budget = self.time_budget
        if budget is not None and self.clock() - self.start + expected > budget:
            return "time-budget"
        return None


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
    executor: Executor | None = None,
    shard: tuple[int, int] | None = None,
    results_out: Path | None = None,
) -> UpdateSummary:
    """Crawl (if `crawl_step`), then evaluate the queue until done or out of count or time.

    `probe_data` is called only if there is something to evaluate. `executor` evaluates the
    models (default: `LocalExecutor`, here, one at a time); it is closed before returning.
    `shard` keeps only that share of the queue; with `results_out`, results go to that file
    and the store is only read (no crawl then).
    """
    from ranker import protocol

    if results_out is not None and crawl_step is not None:
        raise RankerError("with --results-out the catalog is only read: no crawl (--no-crawl)")
    limits = Limits(max_models, time_budget, clock(), clock)
    summary = UpdateSummary()
    if executor is None:
        from ranker.executors.local import LocalExecutor

        executor = LocalExecutor()
    _before_crawl(executor, options, time_budget)
    if crawl_step is not None:
        summary.crawl = crawl_step()
    sink: Store | ResultsFile = store if results_out is None else ResultsFile(results_out)
    outside = sink.results() if isinstance(sink, ResultsFile) else []
    queue = pending(store, protocol.PROTOCOL_VERSION, force=force,
                    architectures=architectures, shard=shard, results=outside)  # fmt: skip
    summary.queued = len(queue)
    if summary.crawl is not None and summary.crawl.unreachable:
        summary.stopped_by = "hub-unreachable"
        queue = []
    if queue:
        try:
            _evaluate_queue(queue, store, sink, outside, executor, probe_data, options, summary,
                            limits, progress)  # fmt: skip
        finally:
            executor.close()
    settled = len(summary.evaluated) - summary.transient - summary.resource
    summary.left = summary.queued - settled
    summary.seconds = clock() - limits.start
    return summary


def _before_crawl(executor: Executor, options: Options, time_budget: float | None) -> None:
    """What must hold before the crawl writes: the device exists (a run fault stops the run
    here), and the door's pacer waits on a spent quota only until the run's deadline."""
    check = getattr(executor, "check", None)
    if check is not None:
        check(options)
    if time_budget is not None and options.hub is not None:
        options.hub.deadline = time.monotonic() + time_budget


def _evaluate_queue(
    queue: list[CatalogEntry],
    store: Store,
    sink: Store | ResultsFile,
    outside: list[EvalResult],
    executor: Executor,
    probe_data: Callable[[], ProbeData],
    options: Options,
    summary: UpdateSummary,
    limits: Limits,
    progress: bool,
) -> None:
    """The queue's jobs, minus those whose base failed, through the executor into `sink`."""
    from ranker import protocol

    archs = store.architectures()
    bases = frozenset(hub_id for a in archs for hub_id in a.hub_ids)
    # only the bases' commits are looked up: a finetune's job carries its own sha
    known = {e.model_id: e.sha for e in store.catalog() if e.status == "ok" and e.model_id in bases}
    jobs = [
        Job(e.model_id, e.sha, protocol.PROTOCOL_VERSION, e.architecture, e.model_id in bases)
        for e in queue
    ]
    previous = {r.key: r for r in [*store.results(), *outside]}
    retried = {j.architecture for j in jobs if j.is_base}  # its base runs first again
    summary.waiting = {a: w for a, w in failed_bases(store, previous,
                       protocol.PROTOCOL_VERSION).items() if a not in retried}  # fmt: skip
    jobs = _hold_back(jobs, summary)
    if jobs:
        executor.start(Work(probe_data(), archs, options, bases, known))
        _Loop(jobs, executor, sink, summary, previous, limits).run(progress)


def failed_bases(
    store: Store, previous: dict[tuple[str, str, str], EvalResult], protocol_version: str
) -> dict[str, BaseWait]:
    """Architectures whose base has a permanent failure stored at its catalogued sha: their
    finetunes wait (unscored, unstored) until the base's next commit, without a try each."""
    out: dict[str, BaseWait] = {}
    by_id = {e.model_id: e for e in store.catalog() if e.status == "ok"}
    for arch in store.architectures():
        for hub_id in arch.hub_ids:
            entry = by_id.get(hub_id)
            r = previous.get((hub_id, entry.sha, protocol_version)) if entry else None
            if r is not None and r.status == "error" and r.failure == FailureKind.PERMANENT:
                out[arch.id] = BaseWait(hub_id, r.reason or "error")
                break
    return out


def _hold_back(jobs: list[Job], summary: UpdateSummary) -> list[Job]:
    """The jobs to run: a finetune of an architecture whose base failed waits (it is counted
    in `summary.waiting`, not stored, and stays queued)."""
    keep = []
    for job in jobs:
        wait = summary.waiting.get(job.architecture)
        if wait is not None and not job.is_base:
            wait.models.append(job.model_id)
        else:
            keep.append(job)
    return keep


class _Loop:
    """Feed the executor in queue order and store each outcome as it comes back, within the
    budgets: `max_models` models started, no model started that would end past `time_budget`
    (by the mean time per model so far), and no new model once `MAX_TRANSIENT_STREAK` transient
    failures in a row say the hub is down (then `RunFailure(HUB_DOWN)`). What is in flight when
    a budget stops the run is waited for and stored. A job whose architecture's base failed
    (stored on the base, or reported by a finetune) is not started: it waits."""

    def __init__(
        self,
        jobs: list[Job],
        executor: Executor,
        sink: Store | ResultsFile,
        summary: UpdateSummary,
        previous: dict[tuple[str, str, str], EvalResult],
        limits: Limits,
    ) -> None:
        self.waiting = deque(jobs)
        self.executor, self.sink, self.summary = executor, sink, summary
        self.previous, self.limits = previous, limits
        self.held = len(summary.waiting)  # architectures held back so far (`_hold_back`)
        self.in_flight: dict[tuple[str, str, str], float] = {}  # key -> clock when submitted
        self.finished: set[tuple[str, str, str]] = set()
        self.per_model: list[float] = []
        self.started = 0
        self.streak = 0  # transient failures in a row
        self.stopping = False

    def run(self, progress: bool) -> None:
        bar = None
        if progress:
            from tqdm import tqdm

            bar = tqdm(total=len(self.waiting), unit="model", desc="evaluate")
        try:
            while True:
                self.fill()
                if not self.in_flight:
                    break
                if self.take(self.executor.wait()) and bar is not None:
                    bar.update()
        finally:
            if bar is not None:
                bar.close()

    def fill(self) -> None:
        """Submit what may start now, in queue order, up to the executor's slots."""
        summary, executor = self.summary, self.executor
        while not self.stopping and self.waiting and len(self.in_flight) < executor.slots:
            mean = sum(self.per_model) / len(self.per_model) if self.per_model else 0.0
            expected = mean * (1 + len(self.in_flight) // executor.workers)  # when it ends
            why = self.limits.stop_before(self.started, expected)
            if why is not None:
                summary.stopped_by, self.stopping = why, True
                break
            if len(summary.waiting) != self.held:  # a base failed since: its finetunes wait
                self.waiting = deque(_hold_back(list(self.waiting), summary))
                self.held = len(summary.waiting)
            job = next((j for j in self.waiting if executor.can_start(j)), None)
            if job is None:
                break  # the rest wait for what is in flight
            self.waiting.remove(job)
            self.in_flight[job.key] = self.limits.clock()
            executor.submit(job)
            self.started += 1

    def take(self, outcome: Outcome) -> bool:
        """Store and count one outcome; False for one that was not in flight (never stored
        twice). Raises `RunFailure(HUB_DOWN)` when the streak of transient failures is full."""
        key = outcome.job.key
        began = self.in_flight.pop(key, None)
        if began is None or key in self.finished:
            return False
        self.finished.add(key)
        self.streak = _record(outcome, self.sink, self.summary, self.streak, self.previous)
        seconds = outcome.seconds
        self.per_model.append(seconds if seconds is not None else self.limits.clock() - began)
        if self.streak >= MAX_TRANSIENT_STREAK:
            why = outcome.result.reason if outcome.result is not None else "transient"
            raise RunFailure(
                f"the hub failed {self.streak} models in a row (last: {why}); the run stopped, "
                f"{len(self.summary.evaluated)} results stored, the rest stays queued",
                Reason.HUB_DOWN,
            )
        return True


def _record(
    outcome: Outcome,
    sink: Store | ResultsFile,
    summary: UpdateSummary,
    streak: int,
    previous: dict[tuple[str, str, str], EvalResult],
) -> int:
    """Store one outcome and count it; return the new transient streak. A run fault raises."""
    model = outcome.job.model_id
    summary.retried += outcome.attempts - 1
    if outcome.stop is not None:
        message, reason = outcome.stop
        raise RunFailure(f"{message} (while evaluating {model}; nothing stored for it)",
                         Reason(reason))  # fmt: skip
    if outcome.base_failed is not None:
        base, reason, message = outcome.base_failed
        print(f"ranker update: {model} waits: {message}", file=sys.stderr, flush=True)
        wait = summary.waiting.setdefault(outcome.job.architecture, BaseWait(base, reason))
        wait.models.append(model)
        return streak
    if outcome.bug is not None:
        print(outcome.bug.rstrip(), file=sys.stderr)
        print(f"ranker update: BUG while evaluating {model} (not stored)",
              file=sys.stderr, flush=True)  # fmt: skip
        summary.bugs.append(model)
        return streak
    if outcome.lost is not None or outcome.result is None:
        print(f"ranker update: gave up on {model} (not stored): {outcome.lost}",
              file=sys.stderr, flush=True)  # fmt: skip
        summary.lost.append(model)
        return streak
    result = storable(outcome.result, previous.get(outcome.result.key))
    if result is None:  # the quota, not the model: not stored, queued
        summary.rate_limited.append(model)
        return streak
    sink.save_result(result)
    summary.evaluated.append(model)
    if outcome.job.is_base and result.status == "error" and result.failure != "transient":
        summary.waiting.setdefault(outcome.job.architecture,
                                   BaseWait(model, result.reason or "error"))  # fmt: skip
    if result.status == "ok":
        return 0
    summary.failed[result.reason or "other"] += 1
    if result.failure == FailureKind.TRANSIENT:
        summary.transient += 1
        return streak + 1
    if result.failure == FailureKind.RESOURCE:
        summary.resource += 1
    return 0


def storable(result: EvalResult, before: EvalResult | None) -> EvalResult | None:
    """What the store keeps of an evaluation (one rule for `update` and `evaluate`): nothing
    for a rate limit (the quota's, not the model's: it stays queued), a resource failure with
    its nights in a row (`before`: the stored result at its key), anything else as it is."""
    if result.reason == Reason.RATE_LIMITED:
        return None
    if result.failure == FailureKind.RESOURCE:
        return _resource_nights(result, before)
    return result


def _resource_nights(result: EvalResult, before: EvalResult | None) -> EvalResult:
    """A resource failure with its count of nights in a row at this key; permanent (its
    message keeps the measured figure) once the count reaches `MAX_RESOURCE_NIGHTS`."""
    nights = 1
    if before is not None and before.failure == FailureKind.RESOURCE:
        nights += before.resource_nights or 1
    if nights < MAX_RESOURCE_NIGHTS:
        return dataclasses.replace(result, resource_nights=nights)
    return dataclasses.replace(
        result,
        resource_nights=nights,
        failure=FailureKind.PERMANENT.value,
        error=f"{result.error} ({nights} nights in a row; not retried until the next commit)",
    )
