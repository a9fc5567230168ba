"""The Ray executor: `ranker update --executor ray` runs the same queue on a Ray cluster.

The driver (the `ranker update` process) crawls, builds the queue and is the only writer of
the store: everything below only evaluates. Long-lived worker actors, one per GPU (or, with no
GPU, one per `cpus_per_worker` cores), each get the probe data once (put in Ray's object store
once, read once per worker), load torch and the tokenizers once, and evaluate model after model
with `ranker.executors.evaluate_job` and one `Evaluator` each, so its caches (token ids per
tokenizer, base probes) and its door last the whole run in every worker. Results stream back
as they are done, and the pipeline's loop stores each as it arrives.

- Work units are `Job`s keyed by (model id, sha, protocol version). At most `per_worker` (2) are
  in flight per worker: one running, one waiting in its mailbox, so a worker never idles
  between models and a lost worker takes at most two with it.
- A job whose worker is lost (its process or node died, or it became unreachable) is sent to
  another worker, at most `max_attempts` (3) tries in all, then given up and reported
  (`Outcome.lost`: not stored, still queued for the next run). Ray's own retries are off
  (`max_restarts=0`, `max_task_retries=0`): the driver alone decides what runs again, and a
  result comes back once per try that finished, so nothing is stored twice (the loop also
  drops any second result for a key). A lost worker is replaced by a new one, placed wherever
  the cluster has room (at most as many replacements as workers).
- Base features are computed once per cluster: the first finetune of an architecture to be
  scored fits the base's probe (from its features, themselves cached on that worker's disk);
  the worker returns the base's per-pair correctness (its evaluator's `base_probes`), the
  driver adds it to one shared table, `ray.put`s that table and passes it with every later job,
  and each worker installs it before evaluating. Until an architecture's base is known this way,
  only one of its finetunes is in flight (its base model itself and other architectures go on
  in parallel), so no two workers compute the same base.
- A bug of ours in a worker (an exception that is not a typed failure) comes back as the
  traceback text, which the driver prints and counts as the local executor does.
"""

from __future__ import annotations

import dataclasses
import itertools
import logging
import os
import sys
import time
from collections import Counter, deque
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass
from typing import Any

from ranker.errors import RankerError
from ranker.executors import Job, Outcome, Work, evaluate_job
from ranker.hub import Hub, HubSettings

MAX_ATTEMPTS = 3  # tries of one job whose workers keep getting lost
PER_WORKER = 2  # jobs in flight per worker
WORKER_WAIT = 600.0  # seconds with no live worker (and jobs waiting) before the run gives up
POLL = 5.0  # seconds between checks while waiting
# Read by the hub door and huggingface_hub when a worker starts: passed on from the driver.
FORWARDED_ENV = (
    "HF_ENDPOINT", "HF_TOKEN", "HF_HOME", "HF_HUB_CACHE", "HF_HUB_DISABLE_TELEMETRY",
    "HF_HUB_OFFLINE", "RANKER_HUB_TIMEOUT", "RANKER_CACHE",
)  # fmt: skip


class Worker:
    """The actor's body: one per GPU (or per `cpus_per_worker` cores), for the whole run. It
    keeps one `Evaluator` (torch, the tokenizers' token ids, the base probes) for its life."""

    def __init__(
        self,
        data: Any,
        options: Any,
        door: HubSettings | None,
        architectures: list[Any],
        bases: frozenset[str],
        base_revisions: dict[str, str],
        setup: Callable[[], None] | None = None,
    ) -> None:
        if setup is not None:
            setup()
        self.work = Work(data, architectures, options, bases, base_revisions)
        # the driver's door, reopened here (None: the driver had none; the default door)
        self.evaluator = self.work.evaluator(hub=None if door is None else Hub.from_settings(door))

    def ready(self) -> str:
        """This worker's node id."""
        import ray

        return ray.get_runtime_context().get_node_id()

    def evaluate(self, job: Job, shared: dict[str, Any]) -> tuple[Outcome, dict[str, Any]]:
        """The job's outcome, and the base probes this job computed (for the other workers)."""
        probes = self.evaluator.base_probes
        for key, value in shared.items():
            probes.setdefault(key, value)
        before = set(probes)
        start = time.monotonic()
        outcome = evaluate_job(job, self.work, self.evaluator)
        outcome.seconds = time.monotonic() - start
        return outcome, {k: probes[k] for k in probes if k not in before}


@dataclass(eq=False)
class _Actor:
    handle: Any
    node: str
    tasks: int = 0  # jobs in flight on it


def connect(ray: Any, address: str | None, init: dict[str, Any]) -> bool:
    """Start or reach Ray unless this process already has; True when this call did (the
    caller then shuts it down)."""
    if ray.is_initialized():
        return False
    kw: dict[str, Any] = {"logging_level": logging.WARNING, "log_to_driver": True}
    if address is None and not os.environ.get("RAY_ADDRESS"):
        kw["include_dashboard"] = False
    try:
        ray.init(address=address, **{**kw, **init})
    except (ConnectionError, RuntimeError, ValueError) as exc:
        where = address or os.environ.get("RAY_ADDRESS") or "this machine"
        raise RankerError(f"cannot start or reach Ray at {where}: {exc}") from None
    return True


def worker_options(
    ray: Any, device: str, cpus_per_worker: float, requested: int | None
) -> tuple[int, dict[str, Any]]:
    """(how many workers, their actor options): one per GPU when the cluster has them (and the
    run may use them), else one per `cpus_per_worker` cores; the hub's env forwarded."""
    total = ray.cluster_resources()
    gpus = int(total.get("GPU", 0)) if device != "cpu" else 0
    options: dict[str, Any] = {"num_cpus": cpus_per_worker}
    if gpus:
        options["num_gpus"] = 1
    count = requested or gpus or int(total.get("CPU", 0) // cpus_per_worker)
    if count < 1:
        raise RankerError(
            f"the Ray cluster has {total.get('CPU', 0):g} CPUs: not enough for one worker "
            f"of --cpus-per-worker {cpus_per_worker:g}"
        )
    env = {k: os.environ[k] for k in FORWARDED_ENV if k in os.environ}
    if env:
        options["runtime_env"] = {"env_vars": env}
    return count, options


def _line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}"


class RayExecutor:
    """Evaluates jobs on the worker actors of a Ray cluster; see the module's docstring."""

    def __init__(
        self,
        address: str | None = None,
        *,
        workers: int | None = None,
        cpus_per_worker: float = 1.0,
        per_worker: int = PER_WORKER,
        max_attempts: int = MAX_ATTEMPTS,
        worker_wait: float = WORKER_WAIT,
        setup: Callable[[], None] | None = None,
        init: dict[str, Any] | None = None,
    ) -> None:
        """`address`: the cluster's (default: $RAY_ADDRESS, else a Ray started on this machine).
        `workers`: how many (default: one per GPU, else one per `cpus_per_worker` cores).
        `setup`: called in each worker before anything else (instrumentation, tests).
        `init`: more keyword arguments for `ray.init`."""
        if workers is not None and workers < 1:
            raise RankerError(f"--workers: expected at least 1, got {workers}")
        if cpus_per_worker <= 0:
            raise RankerError(f"--cpus-per-worker: expected more than 0, got {cpus_per_worker}")
        self.address = address
        self.requested = workers
        self.cpus_per_worker = cpus_per_worker
        self.per_worker = per_worker
        self.max_attempts = max_attempts
        self.worker_wait = worker_wait
        self._setup = setup
        self._init = init or {}
        self._owns_ray = False
        self._count = 0  # workers wanted
        self._spawned = 0
        self._ids = itertools.count()
        self._live: dict[int, _Actor] = {}
        self._starting: dict[Any, Any] = {}  # ready() ref -> actor handle
        self._tasks: dict[Any, tuple[_Actor, Job]] = {}  # evaluate() ref -> (actor, job)
        self._backlog: deque[Job] = deque()  # submitted, not yet on a worker
        self._attempts: Counter[tuple[str, str, str]] = Counter()
        self._cold: Counter[str] = Counter()  # per architecture: finetunes in flight
        self._warm: set[str] = set()  # architectures whose base probe every worker has
        self._shared: dict[str, Any] = {}  # base probes, by their feature cache key
        self._shared_ref: Any = None
        self._no_worker_since: float | None = None
        # what happened, for the summary and the tests
        self.retried = 0  # tries restarted on another worker
        self.base_computations: Counter[str] = Counter()  # per architecture
        self.peak_per_worker = 0
        self.nodes: set[str] = set()  # nodes that ran a worker

    # -- sizes ---------------------------------------------------------------------------------

    @property
    def workers(self) -> int:
        return max(1, len(self._live))

    @property
    def slots(self) -> int:
        return self.per_worker * max(1, len(self._live) + len(self._starting))

    def report(self) -> str:
        """One line on how the run used the cluster (empty before `start`)."""
        if not self.nodes:
            return ""
        computed = self.base_computations
        return (f"ray: {len(self.nodes)} nodes, {self._count} workers; base probes computed "
                f"{sum(computed.values())} times for {len(computed)} architectures")  # fmt: skip

    # -- the executor protocol -----------------------------------------------------------------

    def start(self, work: Work) -> None:
        try:
            import ray
        except ImportError:
            raise RankerError("--executor ray needs Ray: pip install -e '.[ray]'") from None
        self._owns_ray = connect(ray, self.address, self._init)
        self._count, actor_options = worker_options(
            ray, work.options.device, self.cpus_per_worker, self.requested
        )
        self._class = ray.remote(Worker).options(
            max_restarts=0, max_task_retries=0, **actor_options
        )
        options = dataclasses.replace(work.options, hub=None, progress=False)
        self._args = (
            ray.put(work.data),
            options,
            None if work.options.hub is None else work.options.hub.settings(),
            work.architectures,
            work.bases,
            work.base_revisions,
            self._setup,
        )
        self._shared_ref = ray.put(self._shared)
        for _ in range(self._count):
            self._spawn()

    def can_start(self, job: Job) -> bool:
        """A finetune waits while another of its architecture runs and the base is not known."""
        if job.is_base or job.architecture in self._warm:
            return True
        return self._cold[job.architecture] == 0

    def submit(self, job: Job) -> None:
        if not job.is_base:
            self._cold[job.architecture] += 1
        self._backlog.append(job)
        self._dispatch()

    def wait(self) -> Outcome:
        import ray

        while True:
            refs = [*self._tasks, *self._starting]
            if not refs:
                if not self._backlog:
                    raise RuntimeError("RayExecutor.wait() with no job submitted")
                raise RankerError(
                    "no Ray worker is left and none can be started: "
                    f"{len(self._backlog)} models could not be evaluated"
                )
            done, _ = ray.wait(refs, num_returns=1, timeout=POLL)
            if not done:
                self._check_workers()
                continue
            ref = done[0]
            if ref in self._starting:
                self._started(ref)
                self._dispatch()
                continue
            outcome = self._finished(ref)
            self._dispatch()
            if outcome is not None:
                return outcome

    def close(self) -> None:
        try:
            import ray
        except ImportError:
            return
        if not ray.is_initialized():
            return
        for handle in [a.handle for a in self._live.values()] + list(self._starting.values()):
            with suppress(Exception):
                ray.kill(handle, no_restart=True)
        self._live.clear()
        self._starting.clear()
        self._tasks.clear()
        if self._owns_ray:
            ray.shutdown()
            self._owns_ray = False

    # -- inside --------------------------------------------------------------------------------

    def _spawn(self) -> None:
        handle = self._class.remote(*self._args)
        self._starting[handle.ready.remote()] = handle
        self._spawned += 1

    def _started(self, ref: Any) -> None:
        import ray

        handle = self._starting.pop(ref)
        try:
            node = ray.get(ref)
        except ray.exceptions.RayError as exc:
            print(f"ranker update: a Ray worker did not start: {_line(exc)}", file=sys.stderr)
            self._replace(1)
            return
        self._live[next(self._ids)] = _Actor(handle, node)
        self.nodes.add(node)
        self._no_worker_since = None

    def _dispatch(self) -> None:
        while self._backlog:
            free = [a for a in self._live.values() if a.tasks < self.per_worker]
            if not free:
                return
            actor = min(free, key=lambda a: a.tasks)
            job = self._backlog.popleft()
            self._attempts[job.key] += 1
            self._tasks[actor.handle.evaluate.remote(job, self._shared_ref)] = (actor, job)
            actor.tasks += 1
            self.peak_per_worker = max(self.peak_per_worker, actor.tasks)

    def _finished(self, ref: Any) -> Outcome | None:
        """The outcome of a finished try; None when the try was lost and the job re-queued."""
        import ray

        actor, job = self._tasks.pop(ref)
        actor.tasks -= 1
        shared: dict[str, Any] = {}
        try:
            outcome, shared = ray.get(ref)
        except ray.exceptions.RayTaskError as exc:  # our worker code raised, outside the model
            outcome = Outcome(job, bug=str(exc))
        except ray.exceptions.RayError as exc:  # the worker, its node or its objects are gone
            self._lose(actor)
            tries = self._attempts[job.key]
            if tries < self.max_attempts:
                self.retried += 1
                self._backlog.appendleft(job)
                print(f"ranker update: lost {job.model_id} with its Ray worker ({_line(exc)}); "
                      f"trying again elsewhere ({tries + 1} of {self.max_attempts})",
                      file=sys.stderr, flush=True)  # fmt: skip
                return None
            outcome = Outcome(job, lost=f"its Ray worker was lost {tries} times: {_line(exc)}")
        outcome.attempts = self._attempts.pop(job.key, 1)
        if not job.is_base:
            self._cold[job.architecture] -= 1
            if outcome.result is not None and outcome.result.status == "ok":
                self._warm.add(job.architecture)  # its base probe was computed, and is shared
        if shared:
            self.base_computations[job.architecture] += 1
            self._shared.update(shared)
            self._shared_ref = ray.put(dict(self._shared))
        return outcome

    def _lose(self, actor: _Actor) -> None:
        """Stop using a worker that failed, and those on nodes that died; replace them."""
        import ray

        gone = [k for k, a in self._live.items() if a is actor]
        with suppress(Exception):
            dead = {n["NodeID"] for n in ray.nodes() if not n.get("Alive", True)}
            gone += [k for k, a in self._live.items() if a.node in dead and k not in gone]
        for key in gone:
            lost = self._live.pop(key)
            with suppress(Exception):
                ray.kill(lost.handle, no_restart=True)
        self._replace(len(gone))
        if not self._live and self._no_worker_since is None:
            self._no_worker_since = time.monotonic()

    def _replace(self, n: int) -> None:
        """Ask for up to `n` new workers (at most as many replacements as workers in all)."""
        for _ in range(n):
            if self._spawned >= 2 * self._count:
                return
            self._spawn()

    def _check_workers(self) -> None:
        if self._live or not (self._backlog or self._tasks):
            self._no_worker_since = None
            return
        now = time.monotonic()
        if self._no_worker_since is None:
            self._no_worker_since = now
        elif now - self._no_worker_since > self.worker_wait:
            raise RankerError(
                f"no Ray worker has been alive for {self.worker_wait:.0f} s (the cluster has no "
                f"room for one, or lost its nodes): {len(self._backlog)} models wait"
            )
