"""How `ranker verify` gets its finetuning units run: here (`LocalUnits`) or on Ray
(`ranker.executors.ray_units.RayUnits`).

The plan, the budgets, the bookkeeping and the store are `ranker.verify`'s, one loop for every
executor; an executor only takes `Unit`s and gives back `UnitOutcome`s, in any order:

    units.start(work)   # once: each process makes one `Finetuner`, kept warm for the run
    units.submit(unit)  # at most `units.slots` in flight
    units.wait()        # -> the UnitOutcome of one submitted unit (blocks)
    units.close()       # always, also on errors

Every unit is run by `run_unit`, wherever it runs, so a failure is typed the same way: the
model's or the hub's is a `FinetuneResult` (the Finetuner types it), a run-level fault
(`RunFailure`) comes back as `UnitOutcome.stop` and stops the run, a base that cannot lend its
tokenizer as `UnitOutcome.base_failed` (the unit waits, not stored), anything else is a bug of
ours (`UnitOutcome.bug`, the traceback), never stored. Plain data only: it crosses Ray's
process boundary. This module imports neither torch nor Ray.
"""

from __future__ import annotations

import traceback
from collections import deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from pathlib import Path

    from ranker.evaluate.evaluator import Options
    from ranker.evaluate.finetune import Finetuner, Unit
    from ranker.hub import Hub
    from ranker.records import Architecture, FinetuneResult

UNIT_EXECUTORS = ("local", "ray")


@dataclass
class UnitOutcome:
    """What became of a unit: a result to store, or a bug of ours, or a run-level stop."""

    unit: Unit
    result: FinetuneResult | None = None
    bug: str | None = None  # the traceback of an exception that is not a typed failure
    stop: tuple[str, str] | None = None  # a RunFailure's (message, reason): the run stops
    # the base could not lend its tokenizer: (base id, its reason, the message); the unit waits
    base_failed: tuple[str, str, str] | None = None
    seconds: float | None = None  # time a Ray worker spent on it (None: the loop measures it)


@dataclass
class UnitWork:
    """What every unit of a run needs: the target tasks' data (sampled once), the options."""

    tasks: dict[str, Any]  # task name -> ranker.evaluate.targets.TaskData
    options: Options
    architectures: list[Architecture] = field(default_factory=list)

    def finetuner(self, hub: Hub | None = None) -> Finetuner:
        """The one Finetuner a process keeps for the run; `hub`: its door (default: options')."""
        from ranker.evaluate.finetune import Finetuner  # looked up at call time: tests replace it

        door = hub if hub is not None else self.options.hub
        return Finetuner(self.tasks, self.options, hub=door, architectures=self.architectures)


def run_unit(unit: Unit, finetuner: Finetuner) -> UnitOutcome:
    """Run one unit here with this process's `finetuner`; see the module's docstring."""
    from ranker.errors import RunFailure
    from ranker.evaluate.steps import BaseUnavailable

    result = bug = stop = base_failed = None
    try:
        result = finetuner.run(unit)
    except RunFailure as exc:
        stop = (str(exc), exc.reason.value)
    except BaseUnavailable as exc:  # the base's fault, never the model's: the unit waits
        base_failed = (exc.base, exc.reason.value, str(exc))
    except Exception:  # not a typed failure: ours to fix, not the model's to carry
        bug = traceback.format_exc()
    return UnitOutcome(unit, result, bug, stop, base_failed=base_failed)


class UnitExecutor(Protocol):
    @property
    def slots(self) -> int: ...

    @property
    def workers(self) -> int: ...

    def start(self, work: UnitWork) -> None: ...

    def submit(self, unit: Unit) -> None: ...

    def wait(self) -> UnitOutcome: ...

    def close(self) -> None: ...


class LocalUnits:
    """Runs each submitted unit in `wait()`, here, one at a time, with one warm Finetuner."""

    slots = 1
    workers = 1

    def __init__(self) -> None:
        self._finetuner: Finetuner | None = None
        self._units: deque[Unit] = deque()
        self._hub_cache: Path | None = None

    def check(self, options: Options) -> None:
        """Before the run: the device must exist here (`RunFailure(NO_DEVICE)` otherwise)."""
        from ranker.evaluate.features import pick_device

        pick_device(options.device)

    def start(self, work: UnitWork) -> None:
        self._finetuner = work.finetuner()
        self._hub_cache = work.options.hub_cache

    def done_with(self, unit: Unit) -> None:
        """The run has no more units of this model: its download goes (a base's stays)."""
        from ranker.executors import drop_download

        if self._hub_cache is not None and not unit.is_base:
            drop_download(self._hub_cache, unit.model_id)

    def submit(self, unit: Unit) -> None:
        self._units.append(unit)

    def wait(self) -> UnitOutcome:
        if self._finetuner is None or not self._units:
            raise RuntimeError("LocalUnits.wait() with no unit submitted")
        return run_unit(self._units.popleft(), self._finetuner)

    def close(self) -> None:
        self._units.clear()


def make_units(name: str, **kw: Any) -> UnitExecutor:
    """`local` (this process, one unit at a time) or `ray` (`ranker.executors.ray_units`)."""
    if name == "local":
        return LocalUnits()
    if name == "ray":
        from ranker.executors.ray_units import RayUnits

        return RayUnits(**kw)
    raise ValueError(f"unknown executor {name!r}; expected one of {', '.join(UNIT_EXECUTORS)}")
