"""`ranker verify --executor ray`: the finetuning units on a Ray cluster.

The driver (the `ranker verify` process) plans and is the only writer of the store; the
workers only finetune. A small pool of long-lived actors (Ray's own `ray.util.ActorPool`, no
scheduler of ours), one per GPU (`num_gpus=1`) or, with no GPU, one per `cpus_per_worker`
cores, each keep one `Finetuner` for the run; the target tasks' data is put in the object store
once and read once per worker. One unit (model, task, seed) per call, each run by
`ranker.executors.units.run_unit` as locally, so failures are typed the same way; outcomes come
back as they finish and the verify loop stores each. The hub's environment and the driver's
door settings are forwarded as `ranker.executors.ray` does. Ray's retries are off: a worker
lost mid-unit stops the run with one line (`RankerError`); what was stored stays, and the next
run plans the rest again (the unit is not stored, so nothing runs twice into the store).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from typing import Any

from ranker.errors import RankerError
from ranker.executors.ray import connect, worker_options
from ranker.executors.units import UnitOutcome, UnitWork, run_unit
from ranker.hub import Hub, HubSettings

PER_WORKER = 2  # units in flight per worker: one running, one waiting


class UnitWorker:
    """The actor's body: one Finetuner (torch, tokenizers, its door) for the whole run."""

    def __init__(
        self,
        tasks: dict[str, Any],
        options: Any,
        door: HubSettings | None,
        architectures: list[Any],
        setup: Callable[[], None] | None = None,
    ) -> None:
        if setup is not None:
            setup()
        work = UnitWork(tasks, options, architectures)
        self.finetuner = work.finetuner(hub=None if door is None else Hub.from_settings(door))

    def run(self, unit: Any) -> UnitOutcome:
        start = time.monotonic()
        outcome = run_unit(unit, self.finetuner)
        outcome.seconds = time.monotonic() - start
        return outcome


class RayUnits:
    """Runs units on an actor pool of a Ray cluster; see the module's docstring."""

    def __init__(
        self,
        address: str | None = None,
        *,
        workers: int | None = None,
        cpus_per_worker: float = 1.0,
        setup: Callable[[], None] | None = None,
        init: dict[str, Any] | None = None,
    ) -> None:
        if workers is not None and workers < 1:
            raise RankerError(f"--workers: expected at least 1, got {workers}")
        if cpus_per_worker <= 0:
            raise RankerError(f"--cpus-per-worker: expected more than 0, got {cpus_per_worker}")
        self.address, self.requested, self.cpus_per_worker = address, workers, cpus_per_worker
        self._setup, self._init = setup, init or {}
        self._owns_ray = False
        self._pool: Any = None
        self._actors: list[Any] = []
        self._count = 0
        self._pending: dict[Any, Any] = {}  # unit key -> unit, submitted and not yet back

    @property
    def workers(self) -> int:
        return max(1, self._count)

    @property
    def slots(self) -> int:
        return PER_WORKER * self.workers

    def report(self) -> str:
        return f"ray: {self._count} finetuning workers" if self._count else ""

    def start(self, work: UnitWork) -> None:
        try:
            import ray
            from ray.util import ActorPool
        except ImportError:
            raise RankerError("--executor ray needs Ray: pip install -e '.[ray]'") from None
        self._owns_ray = connect(ray, self.address, self._init) or self._owns_ray
        self._count, actor_options = worker_options(
            ray, work.options.device, self.cpus_per_worker, self.requested
        )
        cls = ray.remote(UnitWorker).options(max_restarts=0, max_task_retries=0, **actor_options)
        options = dataclasses.replace(work.options, hub=None, progress=False)
        door = None if work.options.hub is None else work.options.hub.settings()
        tasks = ray.put(work.tasks)  # once; each worker reads it once
        self._actors = [cls.remote(tasks, options, door, work.architectures, self._setup)
                        for _ in range(self._count)]  # fmt: skip
        self._pool = ActorPool(self._actors)

    def submit(self, unit: Any) -> None:
        if self._pool is None:
            raise RuntimeError("RayUnits.submit() before start()")
        self._pending[unit.key] = unit
        self._pool.submit(lambda actor, u: actor.run.remote(u), unit)

    def wait(self) -> UnitOutcome:
        import ray

        if self._pool is None or not self._pool.has_next():
            raise RuntimeError("RayUnits.wait() with no unit submitted")
        try:
            outcome = self._pool.get_next_unordered()
        except ray.exceptions.RayError as exc:  # a worker lost (its unit is not known here)
            raise RankerError(f"a Ray finetuning worker was lost: {exc}") from None
        self._pending.pop(outcome.unit.key, None)
        return outcome

    def close(self) -> None:
        import ray

        self._pending.clear()
        for actor in self._actors:
            ray.kill(actor, no_restart=True)
        self._actors, self._pool = [], None
        if self._owns_ray:
            ray.shutdown()
            self._owns_ray = False
