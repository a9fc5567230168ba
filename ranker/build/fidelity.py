"""How well each cheap predictor foresees the expensive measurement: rank correlations.

The expensive measurement is IBM's 2023 36-task average gain (finetuning on 36 datasets, over the
architecture's pretrained base). The predictors are our MNLI probe (accuracy and gain), LogME and
H-score from our results, and IBM's own 2023 MNLI probe. Each correlation comes with a 95%
percentile bootstrap interval over models (resampled with replacement, seeded).

The bootstrap needs no loop over resamples: with `c` a resample's draw counts, Spearman's rho
is the count-weighted correlation of the resample's average ranks (cumulative counts in sorted
order), and Kendall's tau-b numerator is the quadratic form `c @ S @ c / 2` of the fixed sign
matrix S; one matrix product covers a block of resamples.

The live rows put the same predictors against the verified gains `ranker verify` measures
(ranker.build.verified), per architecture, as those results arrive.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from ranker import ft_protocol
from ranker.build.verified import Verified
from ranker.records import Architecture

# (column, label): the order of the methodology page's table. The ranking uses the first.
PREDICTORS: tuple[tuple[str, str], ...] = (
    ("probe_accuracy", "Our MNLI probe: accuracy"),
    ("probe_gain", "Our MNLI probe: gain over the base"),
    ("logme", "LogME (our features)"),
    ("hscore", "H-score (our features)"),
    ("mnli_lp", "IBM's 2023 MNLI probe"),
)
TARGET = "gain"  # the 2023 36-task average gain
RESAMPLES = 1_000
SEED = 0
CONFIDENCE = 0.95
BLOCK = 250  # resamples per matrix product: memory ~ BLOCK x n x 8 bytes


@dataclass(frozen=True)
class Fidelity:
    n: int
    spearman: float | None
    kendall: float | None
    spearman_low: float | None = None
    spearman_high: float | None = None
    kendall_low: float | None = None
    kendall_high: float | None = None


def _pairs(frame: pd.DataFrame, x: str, y: str) -> tuple[np.ndarray, np.ndarray]:
    both = frame[[x, y]].dropna()
    return both[x].to_numpy(dtype=np.float64), both[y].to_numpy(dtype=np.float64)


class _Ties:
    """One variable's tie groups, to rank any resample by its draw counts in O(n)."""

    def __init__(self, values: np.ndarray) -> None:
        self.order = np.argsort(values, kind="stable")
        ordered = values[self.order]
        self.starts = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]])
        sizes = np.diff(np.r_[self.starts, len(values)])
        self.group = np.repeat(np.arange(len(self.starts)), sizes)

    def ranks_and_tied_pairs(self, counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Per resample (row of `counts`): each item's average rank among the draws (in the
        original order), and the number of pairs of draws tied on this variable."""
        per_group = np.add.reduceat(counts[:, self.order], self.starts, axis=1)
        below = np.cumsum(per_group, axis=1) - per_group
        ranks = np.empty_like(counts)
        ranks[:, self.order] = (below + (per_group + 1) / 2)[:, self.group]
        tied = ((per_group**2).sum(axis=1) - counts.sum(axis=1)) / 2
        return ranks, tied


def _bootstrap(
    x: np.ndarray, y: np.ndarray, resamples: int, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Spearman's rho and Kendall's tau-b of `resamples` bootstrap resamples of the pairs.

    A resample is its draw counts c. Ranks come from cumulative counts in sorted order (ties
    averaged, copies of one item tied with each other); Kendall's concordant minus discordant
    pairs are c.S.c/2 for the fixed sign matrix S, one matrix product for a block of resamples.
    """
    n = len(x)
    rng = np.random.default_rng(seed)
    ties_x, ties_y = _Ties(x), _Ties(y)
    sign = (np.sign(x[:, None] - x[None, :]) * np.sign(y[:, None] - y[None, :])).astype(np.float32)
    rho = np.empty(resamples)
    tau = np.empty(resamples)
    pairs = n * (n - 1) / 2
    middle = (n + 1) / 2
    for start in range(0, resamples, BLOCK):
        size = min(BLOCK, resamples - start)
        draws = rng.integers(0, n, size=(size, n))
        offsets = (np.arange(size) * n)[:, None]
        c = np.bincount((draws + offsets).ravel(), minlength=size * n).reshape(size, n)
        c = c.astype(np.float64)
        rank_x, tied_x = ties_x.ranks_and_tied_pairs(c)
        rank_y, tied_y = ties_y.ranks_and_tied_pairs(c)
        rank_x -= middle
        rank_y -= middle
        cov = (c * rank_x * rank_y).sum(axis=1)
        var = (c * rank_x**2).sum(axis=1) * (c * rank_y**2).sum(axis=1)
        # whole numbers below 2**24: the float32 product is exact
        concordance = ((c.astype(np.float32) @ sign).astype(np.float64) * c).sum(axis=1) / 2
        denom = (pairs - tied_x) * (pairs - tied_y)
        with np.errstate(invalid="ignore", divide="ignore"):
            rho[start : start + size] = np.where(var > 0, cov / np.sqrt(var), np.nan)
            tau[start : start + size] = np.where(denom > 0, concordance / np.sqrt(denom), np.nan)
    return rho, tau


def _interval(values: np.ndarray) -> tuple[float | None, float | None]:
    values = values[np.isfinite(values)]
    if len(values) == 0:
        return None, None
    alpha = (1 - CONFIDENCE) / 2
    low, high = np.quantile(values, [alpha, 1 - alpha])
    return float(low), float(high)


def rank_correlation(
    frame: pd.DataFrame, x: str, y: str, *, resamples: int = 0, seed: int = SEED
) -> Fidelity:
    """Spearman and Kendall (tau-b) correlation over the rows that have both `x` and `y`, with
    95% bootstrap intervals over rows when `resamples` > 0."""
    xs, ys = _pairs(frame, x, y)
    n = len(xs)
    if n < 3 or len(np.unique(xs)) < 2 or len(np.unique(ys)) < 2:
        return Fidelity(n=n, spearman=None, kendall=None)
    spearman = float(stats.spearmanr(xs, ys).statistic)
    kendall = float(stats.kendalltau(xs, ys).statistic)
    if resamples <= 0:
        return Fidelity(n=n, spearman=spearman, kendall=kendall)
    rho, tau = _bootstrap(xs, ys, resamples, seed)
    s_low, s_high = _interval(rho)
    k_low, k_high = _interval(tau)
    return Fidelity(n, spearman, kendall, s_low, s_high, k_low, k_high)


def fidelity_table(
    frame: pd.DataFrame, *, target: str = TARGET, resamples: int = RESAMPLES, seed: int = SEED
) -> list[tuple[str, str, Fidelity]]:
    """(column, label, Fidelity against `target`) for each of `PREDICTORS`, on every row that
    has both. Pass only rows whose target is trusted (the site drops shifted 2023 rows)."""
    return [
        (column, label, rank_correlation(frame, column, target, resamples=resamples, seed=seed))
        for column, label in PREDICTORS
    ]


# The live rows: the same predictors against what `ranker verify` measured (the verified gain
# over the ft-1 suite), per architecture. Only models with a complete verification (every task
# of the suite has a gain), not a base, and an ok current-protocol probe result count.
LIVE_PREDICTORS: tuple[tuple[str, str], ...] = (
    ("probe_accuracy", "Our MNLI probe: accuracy"),
    ("logme", "LogME (our features)"),
    ("hscore", "H-score (our features)"),
)
LIVE_TARGET = "verified_gain"


@dataclass(frozen=True)
class LiveRow:
    """One architecture's verified models against each live predictor."""

    architecture: str
    title: str
    n: int  # verified models with an ok probe result of the current protocol
    correlations: tuple[tuple[str, str, Fidelity], ...]


@dataclass(frozen=True)
class LiveFidelity:
    """The fidelity page's live rows; `verified`: models with a complete verification."""

    rows: tuple[LiveRow, ...] = ()
    verified: int = 0
    predictors: tuple[tuple[str, str], ...] = LIVE_PREDICTORS
    suite: tuple[str, ...] = tuple(ft_protocol.TASKS)  # the target tasks, as the page names them

    @property
    def empty(self) -> bool:
        return not self.rows


def verified_frame(summary: pd.DataFrame, verified: Mapping[str, Verified]) -> pd.DataFrame:
    """The rows of `summary` (one per model: architecture, model_id and the predictors) whose
    model has a complete verification, is not a base and has a probe accuracy, with the suite's
    verified gain as `LIVE_TARGET`."""
    gains = {m: v.gain for m, v in verified.items() if v.complete and not v.is_base}
    rows = summary[summary["model_id"].isin(list(gains))]
    rows = rows[rows["probe_accuracy"].notna()].drop_duplicates("model_id")
    columns = ["architecture", "model_id", *(c for c, _ in LIVE_PREDICTORS)]
    return rows[columns].assign(**{LIVE_TARGET: rows["model_id"].map(gains).astype(float)})


def live_fidelity(
    summary: pd.DataFrame,
    verified: Mapping[str, Verified],
    architectures: Iterable[Architecture],
    *,
    resamples: int = RESAMPLES,
    seed: int = SEED,
) -> LiveFidelity:
    """Per architecture with a verified model, each live predictor's rank correlation with the
    verified gain (n < 3: no correlation; the page says too few)."""
    frame = verified_frame(summary, verified)
    rows = []
    for arch in architectures:
        own = frame[frame["architecture"] == arch.id]
        if own.empty:
            continue
        correlations = tuple(
            (c, label, rank_correlation(own, c, LIVE_TARGET, resamples=resamples, seed=seed))
            for c, label in LIVE_PREDICTORS
        )
        rows.append(LiveRow(arch.id, arch.title, len(own), correlations))
    complete = sum(1 for v in verified.values() if v.complete and not v.is_base)
    return LiveFidelity(tuple(rows), complete)
