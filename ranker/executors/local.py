"""The local executor: one model at a time, in this process (the default, and the nightly's)."""

from __future__ import annotations

from collections import deque
from typing import TYPE_CHECKING

from ranker.executors import Job, Outcome, Work, evaluate_job

if TYPE_CHECKING:
    from ranker.evaluate.evaluator import Evaluator, Options


class LocalExecutor:
    """Evaluates each submitted job in `wait()`, here, with one `Evaluator` whose caches (token
    ids, base probes) serve every model of the run."""

    slots = 1
    workers = 1

    def __init__(self) -> None:
        self._work: Work | None = None
        self._evaluator: Evaluator | None = None
        self._jobs: deque[Job] = deque()

    def check(self, options: Options) -> None:
        """Before the run (and its crawl): the device must exist here, or the run stops with
        `RunFailure(NO_DEVICE)` instead of failing every model."""
        from ranker.evaluate.features import pick_device

        pick_device(options.device)

    def start(self, work: Work) -> None:
        self._work = work
        self._evaluator = work.evaluator()

    def can_start(self, job: Job) -> bool:
        return True

    def submit(self, job: Job) -> None:
        self._jobs.append(job)

    def wait(self) -> Outcome:
        if self._work is None or self._evaluator is None or not self._jobs:
            raise RuntimeError("LocalExecutor.wait() with no job submitted")
        return evaluate_job(self._jobs.popleft(), self._work, self._evaluator)

    def close(self) -> None:
        self._jobs.clear()
