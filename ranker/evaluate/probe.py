"""The classifier and the intervals: numpy and scikit-learn only, deterministic.

Multinomial logistic regression on standardised features; its regularisation C is chosen by
stratified cross-validation on the training pairs alone, so the evaluation pairs never tune it.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold
from sklearn.preprocessing import StandardScaler

from ranker.evaluate import protocol


@dataclass(frozen=True)
class ProbeFit:
    """Predictions of the fitted probe on the evaluation pairs."""

    predictions: np.ndarray
    c: float

    def correct(self, labels: np.ndarray) -> np.ndarray:
        return (self.predictions == labels).astype(np.float64)


def _fit(x: np.ndarray, y: np.ndarray, c: float) -> LogisticRegression:
    clf = LogisticRegression(C=c, max_iter=protocol.MAX_ITER, tol=1e-4)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(x, y)
    return clf


def choose_c(x: np.ndarray, y: np.ndarray, seed: int) -> float:
    """The grid's C with the best cross-validated accuracy (ties: the smaller C)."""
    folds = min(protocol.CV_FOLDS, int(np.bincount(y).min()) if len(y) else 0)
    if folds < 2 or len(protocol.C_GRID) == 1:
        return protocol.C_GRID[-1]
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    scores = []
    for c in protocol.C_GRID:
        acc = []
        for tr, va in splitter.split(x, y):
            scaler = StandardScaler().fit(x[tr])
            clf = _fit(scaler.transform(x[tr]), y[tr], c)
            acc.append(np.mean(clf.predict(scaler.transform(x[va])) == y[va]))
        scores.append(float(np.mean(acc)))
    return protocol.C_GRID[int(np.argmax(scores))]


def fit_probe(
    x_train: np.ndarray, y_train: np.ndarray, x_eval: np.ndarray, seed: int, c: float | None = None
) -> ProbeFit:
    """Standardise on train, pick C on train, fit, predict the evaluation pairs."""
    x_train = np.asarray(x_train, dtype=np.float64)
    x_eval = np.asarray(x_eval, dtype=np.float64)
    if c is None:
        c = choose_c(x_train, y_train, seed)
    scaler = StandardScaler().fit(x_train)
    clf = _fit(scaler.transform(x_train), y_train, c)
    return ProbeFit(clf.predict(scaler.transform(x_eval)), c)


def _resamples(n: int) -> np.ndarray:
    rng = np.random.default_rng(protocol.BOOTSTRAP_SEED)
    return rng.integers(0, n, size=(protocol.BOOTSTRAP_RESAMPLES, n))


def _interval(values: np.ndarray) -> tuple[float, float]:
    alpha = (1 - protocol.CONFIDENCE) / 2
    low, high = np.quantile(values, [alpha, 1 - alpha])
    return float(low), float(high)


def bootstrap_accuracy(correct: np.ndarray) -> tuple[float, float, float]:
    """Accuracy and its percentile bootstrap interval over evaluation pairs."""
    correct = np.asarray(correct, dtype=np.float64)
    acc = float(correct.mean())
    low, high = _interval(correct[_resamples(len(correct))].mean(axis=1))
    return acc, min(low, acc), max(high, acc)


def paired_bootstrap_gain(correct: np.ndarray, base: np.ndarray) -> tuple[float, float, float]:
    """Accuracy gain over the base on the same pairs, with a paired bootstrap interval."""
    diff = np.asarray(correct, dtype=np.float64) - np.asarray(base, dtype=np.float64)
    gain = float(diff.mean())
    low, high = _interval(diff[_resamples(len(diff))].mean(axis=1))
    return gain, min(low, gain), max(high, gain)
