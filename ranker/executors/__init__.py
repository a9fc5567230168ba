"""How `ranker update` gets its queued models evaluated: here (local) or on a Ray cluster (ray).

The queue, the budgets, the typed-failure and bug bookkeeping and the store are the pipeline's
(`ranker.pipeline.update`), in one loop for every executor. An executor only takes `Job`s and
gives back `Outcome`s, in any order:

    executor.start(work)      # once, before the first job: makes the executor's `Evaluator`
    executor.can_start(job)   # may this job start now? (the Ray executor holds some back)
    executor.submit(job)      # at most `executor.slots` jobs are in flight at once
    executor.wait()           # -> the Outcome of one submitted job (blocks)
    executor.close()          # always, also on errors

Both executors evaluate a job with `evaluate_job` and an `Evaluator` kept warm for the run (the
local executor's, or each Ray worker's), so a model is evaluated, its failure typed and a bug
of ours caught the same way wherever it runs. What is not the model's fault comes back
as plain data (it crosses Ray's process boundary): a run-level fault (`Outcome.stop`, which
stops the run), a base that could not be scored (`Outcome.base_failed`: the finetune waits), a
bug of ours (`Outcome.bug`). This module imports neither torch nor Ray.
"""

from __future__ import annotations

import shutil
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from ranker.evaluate.data import ProbeData
    from ranker.evaluate.evaluator import Evaluator, Options
    from ranker.hub import Hub
    from ranker.records import Architecture, EvalResult

EXECUTORS = ("local", "ray")


@dataclass(frozen=True)
class Job:
    """One unit of work: a model at a commit under a protocol (the key its result is stored by)."""

    model_id: str
    sha: str
    protocol_version: str
    architecture: str
    is_base: bool = False  # the architecture's own base model

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.model_id, self.sha, self.protocol_version)


@dataclass
class Outcome:
    """What became of a job: a result to store, or a bug of ours, or a job lost for good."""

    job: Job
    result: EvalResult | None = None
    bug: str | None = None  # the traceback of an exception that is not a typed failure
    stop: tuple[str, str] | None = None  # a RunFailure's (message, reason): the run stops
    # the base could not be scored: (base id, its reason, the message); the finetune waits
    base_failed: tuple[str, str, str] | None = None
    lost: str | None = None  # why the job was given up: its worker died `attempts` times
    seconds: float | None = None  # time the worker spent on it (None: the loop measures it)
    attempts: int = 1  # tries it took (more than one: the first workers were lost)


@dataclass
class Work:
    """What every evaluation needs, the same for all jobs of a run."""

    data: ProbeData
    architectures: list[Architecture]
    options: Options
    bases: frozenset[str]  # the architectures' base model ids (their downloads are kept)
    # the bases' catalogued commits: a base's revision costs no info request per finetune
    base_revisions: dict[str, str] = field(default_factory=dict)

    def evaluator(self, hub: Hub | None = None) -> Evaluator:
        """The evaluator a process keeps for the run; `hub`: its door (default: the options')."""
        from ranker.evaluate.evaluator import Evaluator

        return Evaluator(self.data, self.options, hub=hub, base_revisions=self.base_revisions)


class Executor(Protocol):
    @property
    def slots(self) -> int: ...  # jobs in flight at most

    @property
    def workers(self) -> int: ...  # jobs evaluated at the same time

    def start(self, work: Work) -> None: ...

    def can_start(self, job: Job) -> bool: ...

    def submit(self, job: Job) -> None: ...

    def wait(self) -> Outcome: ...

    def close(self) -> None: ...


def drop_download(hub_cache: Path, model_id: str) -> None:
    """Delete a model's downloaded files from the hub cache."""
    shutil.rmtree(hub_cache / ("models--" + model_id.replace("/", "--")), ignore_errors=True)


def evaluate_job(job: Job, work: Work, evaluator: Evaluator) -> Outcome:
    """Evaluate one job here, in this process, with the process's `evaluator` (made by
    `work.evaluator()`); its download is deleted unless it is a base.

    A failure of the model or the hub is a result (an error record with its typed reason); a
    run-level fault and a failed base come back as `Outcome.stop` and `Outcome.base_failed`;
    any other exception is a bug of ours: it comes back as `Outcome.bug`, never as a result.
    """
    from ranker.errors import RunFailure
    from ranker.evaluate import run  # looked up at call time: tests replace evaluate_model

    archs = {a.id: a for a in work.architectures}
    result = bug = stop = base_failed = None
    try:
        result = run.evaluate_model(
            job.model_id,
            work.data,
            revision=job.sha,
            architecture=archs.get(job.architecture),
            architectures=work.architectures,
            evaluator=evaluator,
        )
    except RunFailure as exc:
        stop = (str(exc), exc.reason.value)
    except run.BaseUnavailable as exc:
        base_failed = (exc.base, exc.reason.value, str(exc))
    except Exception:  # not a typed failure: ours to fix, not the model's to carry
        bug = traceback.format_exc()
    if work.options.hub_cache is not None and job.model_id not in work.bases:
        drop_download(work.options.hub_cache, job.model_id)
    return Outcome(job, result, bug, stop=stop, base_failed=base_failed)


def make_executor(name: str, **kw) -> Executor:
    """`local` (this process, one model at a time) or `ray` (see `ranker.executors.ray`)."""
    if name == "local":
        from ranker.executors.local import LocalExecutor

        return LocalExecutor()
    if name == "ray":
        from ranker.executors.ray import RayExecutor

        return RayExecutor(**kw)
    raise ValueError(f"unknown executor {name!r}; expected one of {', '.join(EXECUTORS)}")
