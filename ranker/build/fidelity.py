"""How well the cheap probe predicts the expensive measurement: rank correlations (scipy)."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
from scipy import stats


@dataclass(frozen=True)
class Fidelity:
    n: int
    spearman: float | None
    kendall: float | None


def rank_correlation(frame: pd.DataFrame, x: str, y: str) -> Fidelity:
    """Spearman and Kendall correlation over the rows that have both `x` and `y`."""
    both = frame.dropna(subset=[x, y])
    n = len(both)
    if n < 3 or both[x].nunique() < 2 or both[y].nunique() < 2:
        return Fidelity(n=n, spearman=None, kendall=None)
    spearman = stats.spearmanr(both[x].astype(float), both[y].astype(float)).statistic
    kendall = stats.kendalltau(both[x].astype(float), both[y].astype(float)).statistic
    return Fidelity(n=n, spearman=float(spearman), kendall=float(kendall))
