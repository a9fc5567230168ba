"""Verified gains: what finetuning (`ranker verify`, protocol `ft-1`) says of a model against
its pretrained base, per target task and over the suite, with intervals.

Per task, a model's verified gain is the mean of its seeds' scores minus the mean of its
base's seeds' scores (each at the revision the catalog lists now, else the newest finetuned),
with a Welch t interval: both spreads count, the base's seed to seed spread (the yardstick)
and the model's, so a model finetuned once or a base with one seed has no interval. Over the
suite, the gain is the mean of the task gains, its variance the sum of the tasks' variances /
k^2, with Welch-Satterthwaite degrees of freedom over all the parts. Significant: the interval's
lower end is above zero, and every task of the suite has a gain (a failed seed is counted,
never dropped: a task with fewer than two ok seeds on either side has no interval).

numpy and scipy only: the site build imports neither torch nor scikit-learn.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np
from scipy import stats

from ranker import ft_protocol
from ranker.records import Architecture, FinetuneResult


@dataclass(frozen=True)
class TaskGain:
    """One task of a model's verification."""

    task: str
    metric: str
    mean: float | None  # the model's mean score over its ok seeds
    seeds: int  # ok seeds
    failed: int  # seeds that ended in a stored failure
    base_mean: float | None
    base_seeds: int
    gain: float | None = None
    low: float | None = None
    high: float | None = None
    # (variance of the gain, Welch-Satterthwaite denominator parts), for the suite's interval
    variance: float | None = None
    df_parts: float | None = None

    @property
    def significant(self) -> bool:
        return self.low is not None and self.low > 0


@dataclass(frozen=True)
class Verified:
    """A model's verification: per task and over the suite."""

    model_id: str
    architecture: str
    revision: str
    protocol_version: str
    tasks: tuple[TaskGain, ...]
    gain: float | None  # mean of the task gains (None unless every suite task has one)
    low: float | None
    high: float | None
    is_base: bool = False

    @property
    def n_tasks(self) -> int:
        """Tasks with a verified gain (both sides have ok seeds)."""
        return sum(t.gain is not None for t in self.tasks)

    @property
    def complete(self) -> bool:
        return self.n_tasks == len(ft_protocol.SUITE)

    @property
    def significant(self) -> bool:
        """Whether the suite's verified gain is significantly above the base's (95%)."""
        return self.complete and self.low is not None and self.low > 0

    def task(self, name: str) -> TaskGain | None:
        return next((t for t in self.tasks if t.task == name), None)


def _scores(results: list[FinetuneResult]) -> tuple[np.ndarray, int]:
    ok = np.array([r.score for r in results if r.status == "ok" and r.score is not None])
    return ok, sum(r.status != "ok" for r in results)


def task_gain(
    task: ft_protocol.TargetTask, model: list[FinetuneResult], base: list[FinetuneResult]
) -> TaskGain:
    """The verified gain on one task: Welch's t interval over the two sets of seeds."""
    x, failed = _scores(model)
    y, _ = _scores(base)
    mean = float(x.mean()) if len(x) else None
    base_mean = float(y.mean()) if len(y) else None
    gain = None if mean is None or base_mean is None else mean - base_mean
    out = TaskGain(task.name, task.metric, mean, len(x), failed, base_mean, len(y), gain)
    if gain is None or len(x) < 2 or len(y) < 2:
        return out
    vx, vy = x.var(ddof=1) / len(x), y.var(ddof=1) / len(y)
    variance = float(vx + vy)
    parts = float(vx**2 / (len(x) - 1) + vy**2 / (len(y) - 1))
    low, high = _interval(gain, variance, parts)
    return TaskGain(task.name, task.metric, mean, len(x), failed, base_mean, len(y), gain, low,
                    high, variance, parts)  # fmt: skip


def _interval(centre: float, variance: float, parts: float) -> tuple[float, float]:
    """centre ± t(df)·sd, df by Welch-Satterthwaite; all seeds equal: a zero-width interval."""
    if variance <= 0:
        return centre, centre
    df = variance**2 / parts if parts > 0 else math.inf
    half = float(stats.t.ppf(0.5 + ft_protocol.CONFIDENCE / 2, df)) * math.sqrt(variance)
    return centre - half, centre + half


def suite_gain(tasks: Iterable[TaskGain]) -> tuple[float | None, float | None, float | None]:
    """(gain, low, high) over the suite: None unless every task of the suite has a gain."""
    by_name = {t.task: t for t in tasks}
    chosen = [by_name.get(t.name) for t in ft_protocol.SUITE]
    if any(t is None or t.gain is None for t in chosen):
        return None, None, None
    k = len(chosen)
    gain = sum(t.gain for t in chosen) / k  # type: ignore[misc]
    if any(t.variance is None for t in chosen):
        return gain, None, None
    variance = sum(t.variance for t in chosen) / k**2  # type: ignore[misc]
    parts = sum(t.df_parts for t in chosen) / k**4  # type: ignore[misc]
    low, high = _interval(gain, variance, parts)
    return gain, low, high


def verified_gains(
    finetunes: Iterable[FinetuneResult],
    architectures: Iterable[Architecture],
    current: Mapping[str, str] | None = None,
) -> dict[str, Verified]:
    """Each finetuned model's `Verified` (by model id; the bases included), under the current
    `ft_protocol.FT_PROTOCOL_VERSION` only. `current`: model id -> the catalog's sha; a model's
    results at another revision are not shown as its verification (it changed since)."""
    version = ft_protocol.FT_PROTOCOL_VERSION
    runs: dict[tuple[str, str], list[FinetuneResult]] = defaultdict(list)
    for r in finetunes:
        if r.protocol_version == version and r.task in ft_protocol.TASKS:
            runs[(r.model_id, r.revision)].append(r)
    current = current or {}
    chosen: dict[str, list[FinetuneResult]] = {}
    for (model, revision), results in sorted(runs.items(), key=lambda kv: _newest(kv[1])):
        if model in current and current[model] != revision:
            continue
        chosen[model] = results  # the newest revision wins when the catalog does not say
    bases = {a.id: a for a in architectures}
    out: dict[str, Verified] = {}
    for model, results in chosen.items():
        arch = bases.get(results[0].architecture)
        base_runs = chosen.get(arch.id, []) if arch is not None else []
        tasks = tuple(
            task_gain(
                task,
                [r for r in results if r.task == task.name],
                [r for r in base_runs if r.task == task.name],
            )
            for task in ft_protocol.SUITE
            if any(r.task == task.name for r in results)
        )
        gain, low, high = suite_gain(tasks)
        out[model] = Verified(model, results[0].architecture, results[0].revision, version,
                              tasks, gain, low, high,
                              is_base=arch is not None and model == arch.id)  # fmt: skip
    return out


def _newest(results: list[FinetuneResult]) -> str:
    return max(r.evaluated_at for r in results)
