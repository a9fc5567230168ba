"""`ranker verify`: finetune the probe's leaders (protocol `ft-1`), bounded and resumable.

The probe (`lp-2`) ranks every model; this verifies the top of each architecture by really
finetuning it on the target suite (`ft_protocol.SUITE`), several seeds each, with the base
finetuned with more seeds (its spread is the yardstick of the verified gain).

- Which models (`select`): per architecture, the probe's ranks of the current protocol over
  the ok results at the catalog's current commits (`build.ranks`, as the site ranks them),
  in the site's table order (rank ascending, then accuracy descending: `build.rows.table_order`);
  the first `top_k`, plus any other model whose rank is at most `top_k` (the data cannot tell
  it from one of those). An architecture with no probe ranks yet gets no units.
- The units (`plan`): (model, sha, task, seed) for every task of the suite; seeds from
  `ft_protocol.seeds_for`. Order: every base first, then the models, rank by rank across the
  architectures (each architecture's first, then each one's second, ...), so a budget spent
  early still verified the top of every architecture; within a model task by task, seed by seed.
- Resume: a unit whose key (model, sha, `ft-1`, task, seed) has a settled result (a score, or a
  failure the model's own content caused) is skipped; a new sha or protocol is a new key. A
  transient or resource failure is stored unsettled and runs again next time.
- Budgets, as `ranker update`'s: `max_units` started, no unit started that would end past
  `time_budget` (by the mean time per unit so far), and `pipeline.MAX_TRANSIENT_STREAK` hub
  failures in a row stop the run (`RunFailure(HUB_DOWN)`). A rate limit is not stored.
- Whose fault: a model's or the hub's failure is its FinetuneResult (the Finetuner types it);
  a run fault (`RunFailure`) stops the run, nothing stored for that unit; a bug of ours is
  printed with its traceback, counted, never stored, and the command exits non-zero.
- Matrix mode: `shard=(i, n)` keeps the units whose key hashes to i mod n (sha256);
  `results_out` sends results to a JSON Lines file (`verify_files.FinetunesFile`) and the store
  is only read (its pins must be there).

The process running this is the only writer of the store; executors only run units.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import sys
import time
from collections import Counter, deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ranker import ft_protocol
from ranker.errors import FailureKind, Reason, RunFailure
from ranker.executors.units import LocalUnits, UnitExecutor, UnitOutcome, UnitWork
from ranker.pipeline import MAX_TRANSIENT_STREAK, Limits
from ranker.records import Architecture, FinetuneResult
from ranker.store import Store
from ranker.verify_files import FinetunesFile, target_pins

if TYPE_CHECKING:
    from ranker.evaluate.evaluator import Options
    from ranker.evaluate.finetune import Unit

NO_RANKS = "no probe ranks yet"
Key = tuple[str, str, str, str, int]


@dataclass
class Leaders:
    """One architecture's selection: its base at its catalog commit, its models in order."""

    architecture: Architecture
    base: tuple[str, str] | None  # (hub id, sha); None: the base is not in the catalog
    models: list[tuple[str, str]] = field(default_factory=list)  # (model id, sha), table order
    ranks: dict[str, int] = field(default_factory=dict)


@dataclass
class VerifySummary:
    """What a run did; `text()` is what `ranker verify` prints."""

    planned: int = 0  # units of the plan (after the shard)
    skipped: int = 0  # already settled: not run again
    done: list[Key] = field(default_factory=list)  # units stored
    failed: Counter[str] = field(default_factory=Counter)  # reason -> count
    unsettled: int = 0  # transient or resource failures, run again next time
    rate_limited: int = 0  # not stored, planned again
    waiting: list[str] = field(default_factory=list)  # "model task seed" whose base failed
    bugs: list[str] = field(default_factory=list)  # "model task seed" that hit a bug of ours
    no_ranks: list[str] = field(default_factory=list)  # architectures without probe ranks
    no_base: list[str] = field(default_factory=list)  # architectures whose base is not catalogued
    models: int = 0  # models selected (bases included)
    left: int = 0  # units still to run
    stopped_by: str | None = None  # "max-units" or "time-budget"
    seconds: float = 0.0

    def text(self) -> str:
        ok = len(self.done) - sum(self.failed.values())
        lines = [f"verify: {self.models} models, {self.planned} units planned, {self.skipped} "
                 f"already settled; ran {len(self.done)}: {ok} scored, "
                 f"{sum(self.failed.values())} failed"]  # fmt: skip
        if self.failed:
            counts = ", ".join(f"{r} {n}" for r, n in sorted(self.failed.items()))
            lines.append(f"failed: {counts} ({self.unsettled} transient or resource, run again "
                         "next time)")  # fmt: skip
        if self.rate_limited:
            lines.append(f"{self.rate_limited} units met the hub's rate limit (not stored)")
        if self.waiting:
            lines.append(f"{len(self.waiting)} units wait for their base, which could not lend "
                         f"its tokenizer (not stored): {', '.join(self.waiting[:5])}")  # fmt: skip
        for arch in self.no_ranks:
            lines.append(f"{arch}: {NO_RANKS} (nothing to verify)")
        for arch in self.no_base:
            lines.append(f"{arch}: its base is not in the catalog (no base units)")
        if self.bugs:
            lines.append(f"BUG: {len(self.bugs)} units hit an error in ranker itself (not stored; "
                         f"see the tracebacks above): {', '.join(self.bugs[:5])}")  # fmt: skip
        if self.left:
            why = f" (stopped by {self.stopped_by})" if self.stopped_by else ""
            lines.append(f"{self.left} units left{why}")
        lines.append(f"took {self.seconds:.0f} s")
        return "\n".join(lines)


def in_shard(key: Key, shard: tuple[int, int] | None) -> bool:
    """Whether a unit's key is in shard (i, n): sha256 of the key, as an integer, is i mod n.
    Deterministic everywhere, so n machines given 0/n .. n-1/n share the plan exactly."""
    if shard is None:
        return True
    index, count = shard
    text = "\x1f".join(str(part) for part in key)
    return int(hashlib.sha256(text.encode("utf-8")).hexdigest(), 16) % count == index


def select(
    store: Store,
    architectures: Sequence[Architecture],
    *,
    top_k: int = ft_protocol.DEFAULT_TOP_K,
    now: dt.datetime | None = None,
) -> list[Leaders]:
    """Each architecture's base and leaders (see the module's docstring)."""
    from ranker.build.inputs import usable_results
    from ranker.build.tables import current, latest_results

    now = now or dt.datetime.now(dt.UTC)
    shas = {e.model_id: e.sha for e in store.catalog()
            if e.status == "ok" and e.renamed_to is None}  # fmt: skip
    results = [r for r in current(usable_results(store.results(), now, warn=False))
               if r.status == "ok" and r.accuracy is not None
               and shas.get(r.model_id) == r.revision]  # fmt: skip
    out = []
    for arch in architectures:
        own = [r for r in results if r.architecture == arch.id and r.model_id not in arch.hub_ids]
        base = next(((i, shas[i]) for i in arch.hub_ids if i in shas), None)
        leaders = Leaders(arch, base)
        leaders.models, leaders.ranks = _leaders(latest_results(own), top_k)
        out.append(leaders)
    return out


def _leaders(latest: dict[str, Any], top_k: int) -> tuple[list[tuple[str, str]], dict[str, int]]:
    """The first `top_k` in table order and every other model ranked at most `top_k`."""
    from ranker.build.ranks import compare_probe_results

    comparison = compare_probe_results(latest.values())
    ranks = comparison.ranks([(r.model_id, r.revision) for r in latest.values()])
    order = sorted(ranks, key=lambda m: (ranks[m], -latest[m].accuracy, m))
    chosen = order[:top_k] + [m for m in order[top_k:] if ranks[m] <= top_k]
    return [(m, latest[m].revision) for m in chosen], {m: ranks[m] for m in chosen}


def units_of(leaders: Sequence[Leaders]) -> list[Unit]:
    """The units, in the run's order (see the module's docstring)."""
    from ranker.evaluate.finetune import Unit

    def of(model: str, sha: str, arch: Architecture, is_base: bool) -> list[Unit]:
        seeds = ft_protocol.seeds_for(arch.model_type, is_base=is_base)
        return [Unit(model, sha, arch.id, task.name, seed, is_base)
                for task in ft_protocol.SUITE for seed in seeds]  # fmt: skip

    units = [u for x in leaders if x.base and x.models
             for u in of(*x.base, x.architecture, True)]  # fmt: skip
    depth = max((len(x.models) for x in leaders), default=0)
    for i in range(depth):
        for x in leaders:
            if i < len(x.models):
                units += of(*x.models[i], x.architecture, False)
    return units


def plan(
    store: Store,
    architectures: Sequence[Architecture],
    *,
    top_k: int = ft_protocol.DEFAULT_TOP_K,
    only: Sequence[str] | None = None,
) -> list[Unit]:
    """Every unit of the selection (settled or not), in order; `only`: these architectures."""
    return units_of(select(store, _only(store, architectures, only), top_k=top_k))


def _only(store: Store, archs: Sequence[Architecture], only: Sequence[str] | None) -> list:
    if not only:
        return list(archs)
    wanted = {store.architecture(a).id for a in only}
    return [a for a in archs if a.id in wanted]


def verify(
    store: Store,
    *,
    options: Options,
    executor: UnitExecutor | None = None,
    architectures: Sequence[str] | None = None,
    top_k: int = ft_protocol.DEFAULT_TOP_K,
    max_units: int | None = None,
    time_budget: float | None = None,
    shard: tuple[int, int] | None = None,
    results_out: Path | None = None,
    load_tasks: Callable[[dict[str, dict[str, str]]], dict[str, Any]] | None = None,
    progress: bool = False,
    clock: Callable[[], float] = time.monotonic,
) -> VerifySummary:
    """Plan, then run the unsettled units until done or out of count or time; see the module's
    docstring. `load_tasks(pins)` gives the target data (default: `evaluate.targets.load_suite`
    through the options' door), called only when something is to run. `executor` runs the
    units (default: `LocalUnits`); it is closed before returning."""
    limits = Limits(max_units, time_budget, clock(), clock)
    summary = VerifySummary()
    executor = executor if executor is not None else LocalUnits()
    check = getattr(executor, "check", None)
    if check is not None:
        check(options)
    if time_budget is not None and options.hub is not None:  # the pacer waits no longer
        options.hub.deadline = time.monotonic() + time_budget
    pins = target_pins(store, options.hub, write=results_out is None)
    sink: Store | FinetunesFile = store if results_out is None else FinetunesFile(results_out)
    queue = pending(store, sink, summary, architectures, top_k, shard)
    if queue:
        loader = load_tasks or _suite_loader(options)
        try:
            executor.start(UnitWork(loader(pins), options, store.architectures()))
            _Loop(queue, executor, sink, summary, limits).run(progress)
        finally:
            executor.close()
    summary.left = len(queue) - (len(summary.done) - summary.unsettled)
    summary.seconds = clock() - limits.start
    return summary


def pending(
    store: Store,
    sink: Store | FinetunesFile,
    summary: VerifySummary,
    architectures: Sequence[str] | None,
    top_k: int,
    shard: tuple[int, int] | None,
) -> list[Unit]:
    """The plan's units of this shard that have no settled result (in the store or the file)."""
    leaders = select(store, _only(store, store.architectures(), architectures), top_k=top_k)
    summary.no_ranks = [x.architecture.id for x in leaders if not x.models]
    summary.no_base = [x.architecture.id for x in leaders if x.models and x.base is None]
    summary.models = sum(len(x.models) + (x.base is not None) for x in leaders if x.models)
    units = [u for u in units_of(leaders) if in_shard(u.key, shard)]
    stored = store.finetunes() if sink is store else [*store.finetunes(), *sink.finetunes()]
    settled = {r.key for r in stored if r.settled}
    summary.planned = len(units)
    queue = [u for u in units if u.key not in settled]
    summary.skipped = len(units) - len(queue)
    return queue


def _suite_loader(options: Options) -> Callable[[dict[str, dict[str, str]]], dict[str, Any]]:
    def load(pins: dict[str, dict[str, str]]) -> dict[str, Any]:
        from ranker.evaluate.targets import load_suite

        cache = None if options.cache_dir is None else options.cache_dir / "targets"
        return load_suite(options.hub, pins, cache_dir=cache)

    return load


class _Loop:
    """Feed the executor in plan order and store each outcome as it comes back, within the
    budgets (see the module's docstring). What is in flight when a budget stops the run is
    waited for and stored."""

    def __init__(
        self,
        queue: list[Unit],
        executor: UnitExecutor,
        sink: Store | FinetunesFile,
        summary: VerifySummary,
        limits: Limits,
    ) -> None:
        self.waiting = deque(queue)
        self.executor, self.sink, self.summary, self.limits = executor, sink, summary, limits
        self.in_flight: dict[Key, float] = {}
        self.per_unit: list[float] = []
        self.started = 0
        self.streak = 0
        self.stopping = False

    def run(self, progress: bool) -> None:
        bar = None
        if progress:
            from tqdm import tqdm

            bar = tqdm(total=len(self.waiting), unit="unit", desc="verify")
        try:
            while True:
                self.fill()
                if not self.in_flight:
                    break
                self.take(self.executor.wait())
                if bar is not None:
                    bar.update()
        finally:
            if bar is not None:
                bar.close()

    def fill(self) -> None:
        executor = self.executor
        while not self.stopping and self.waiting and len(self.in_flight) < executor.slots:
            mean = sum(self.per_unit) / len(self.per_unit) if self.per_unit else 0.0
            expected = mean * (1 + len(self.in_flight) // executor.workers)
            why = self.limits.stop_before(self.started, expected)
            if why is not None:
                self.summary.stopped_by = "max-units" if why == "max-models" else why
                self.stopping = True
                break
            unit = self.waiting.popleft()
            self.in_flight[unit.key] = self.limits.clock()
            executor.submit(unit)
            self.started += 1

    def take(self, outcome: UnitOutcome) -> None:
        """Store and count one outcome. Raises RunFailure for a run fault, and
        `RunFailure(HUB_DOWN)` when the streak of transient failures is full."""
        began = self.in_flight.pop(outcome.unit.key, None)
        if began is None:
            return  # not in flight (a second answer): never stored twice
        seconds = outcome.seconds
        self.per_unit.append(seconds if seconds is not None else self.limits.clock() - began)
        self.streak = record(outcome, self.sink, self.summary, self.streak)
        self.finish(outcome.unit)
        if self.streak >= MAX_TRANSIENT_STREAK:
            why = outcome.result.reason if outcome.result is not None else "transient"
            raise RunFailure(
                f"the hub failed {self.streak} units in a row (last: {why}); the run stopped, "
                f"{len(self.summary.done)} results stored, the rest runs next time",
                Reason.HUB_DOWN,
            )

    def finish(self, unit: Unit) -> None:
        """Tell the executor when the run is done with a model (its download can go)."""
        done_with = getattr(self.executor, "done_with", None)
        if done_with is None:
            return
        ahead = (u.model_id for u in self.waiting)
        if not self.stopping and unit.model_id in ahead:
            return
        if any(key[0] == unit.model_id for key in self.in_flight):
            return
        done_with(unit)


def record(
    outcome: UnitOutcome, sink: Store | FinetunesFile, summary: VerifySummary, streak: int
) -> int:
    """Store one outcome and count it; return the new transient streak. A run fault raises."""
    unit = outcome.unit
    name = f"{unit.model_id} {unit.task} {unit.seed}"
    if outcome.stop is not None:
        message, reason = outcome.stop
        raise RunFailure(f"{message} (while finetuning {name}; nothing stored for it)",
                         Reason(reason))  # fmt: skip
    if outcome.base_failed is not None:  # the base's fault: nothing stored, run again later
        print(f"ranker verify: {outcome.base_failed[2]} (waiting: {name})", file=sys.stderr)
        summary.waiting.append(name)
        return streak
    if outcome.bug is not None or outcome.result is None:
        print((outcome.bug or "no result").rstrip(), file=sys.stderr)
        print(f"ranker verify: BUG while finetuning {name} (not stored)", file=sys.stderr,
              flush=True)  # fmt: skip
        summary.bugs.append(name)
        return streak
    result: FinetuneResult = outcome.result
    if result.reason == Reason.RATE_LIMITED:  # the quota's, not the model's: planned again
        summary.rate_limited += 1
        return streak
    sink.save_finetune(result)
    summary.done.append(result.key)
    if result.status == "ok":
        return 0
    summary.failed[result.reason or "other"] += 1
    if not result.settled:
        summary.unsettled += 1
    return streak + 1 if result.failure == FailureKind.TRANSIENT else 0
