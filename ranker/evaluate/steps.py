"""The steps of one evaluation after the features: the probe's fit, the transfer estimators,
and what a record says about its run (timings, versions); plus whose fault a base's failure is.

Pure functions of their inputs: the `Evaluator` strings them together and keeps the caches.
"""

from __future__ import annotations

import platform
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ranker import __version__
from ranker.errors import FailureKind, ModelFailure, RankerError, Reason, RunFailure
from ranker.evaluate import probe, transfer


class BaseUnavailable(RankerError):
    """The base model (for the gain) could not be scored: no fault of the finetune's.

    Never stored against the finetune: the base's own failure is stored once, on the base (when
    it is evaluated as a model of its own), and its finetunes stay queued. `reason` is the base's
    typed reason."""

    def __init__(self, base: str, message: str, reason: Reason) -> None:
        self.base = base
        self.reason = Reason(reason)
        super().__init__(f"base model {base} cannot be scored: {message}")


def base_failure(base: str, exc: ModelFailure) -> RunFailure | BaseUnavailable:
    """What the base's failure is to a finetune: the run's fault stays the run's; anything
    else is the base's (`BaseUnavailable`), never the finetune's."""
    if exc.kind is FailureKind.RUN:
        return RunFailure(str(exc), exc.reason)
    return BaseUnavailable(base, str(exc), exc.reason)


@dataclass
class Timer:
    """Seconds spent per named step of one evaluation (a step may run more than once)."""

    spent: dict[str, float] = field(default_factory=dict)

    @contextmanager
    def __call__(self, name: str) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            self.spent[name] = self.spent.get(name, 0.0) + time.perf_counter() - start

    def rounded(self) -> dict[str, float]:
        """The timings as a record stores them: seconds, to the millisecond."""
        return {k: round(v, 3) for k, v in self.spent.items()}


def fit(
    feats: tuple[np.ndarray, np.ndarray], data: Any, timer: Timer, device: Any = None
) -> tuple[np.ndarray, np.ndarray]:
    """Per-pair correctness on the evaluation pairs, and the standardised training features.

    The fit runs on `device`, where the features were computed (default: the CPU). A fit that
    does not converge raises `probe.ProbeNotConverged`: the features are finite (the evaluator
    refuses a model whose are not), so the solver failed on a problem it should solve; ours to
    fix, never a score and never the model's record (it propagates, counted as a bug)."""
    with timer("fit"):
        z_train, z_eval = probe.standardise(feats[0], feats[1])
        result = probe.fit_standardised(
            z_train, data.train.labels, z_eval, seed=data.seed, device=device
        )
    return result.correct(data.eval.labels), z_train


def estimate_transfer(
    x_train: np.ndarray, z_train: np.ndarray, labels: np.ndarray, timer: Timer
) -> tuple[float | None, float | None]:
    """LogME of the training features as the encoder gives them (as published: LogME has no
    intercept, and standardising, which centres them, left every weak model of the MiniLM pool
    at LogME's floor), H-score of the standardised ones (the same value, better conditioned).
    An estimator that cannot be computed is left empty: the probe's score does not need it."""
    with timer("transfer"):
        try:
            logme = transfer.logme(x_train, labels)
        except transfer.TransferError:
            logme = None
        hscore = transfer.hscore(z_train, labels)
    return logme, hscore


def versions(libs: dict[str, str]) -> dict[str, str]:
    """What produced a result: ranker, Python and the libraries that can change it."""
    return {"ranker": __version__, "python": platform.python_version(), **libs}
