"""The classifier and the intervals: numpy, and torch for the fit; deterministic.

Multinomial logistic regression on standardised features, solved in float64 to convergence and
checked: the objective is strictly convex in the weights, so a converged fit has one answer on
every machine (protocol `lp-1` stopped lbfgs at tol 1e-4, before the optimum, and two machines'
float32 features gave predictions that differed on 0.14% of pairs). The solver
(`ranker.evaluate.solver`: Newton's method, each step by preconditioned conjugate gradients on
the exact Hessian, float64 torch) runs on the device it is given, where the features were
computed (CUDA or CPU); the gradient check is recomputed here, in numpy, the same everywhere.
Its regularisation C is the protocol's one value (`protocol.C`), so the evaluation pairs never
tune it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from sklearn.preprocessing import StandardScaler

from ranker import protocol
from ranker.errors import RankerError

if TYPE_CHECKING:
    import torch


class ProbeNotConverged(RankerError):
    """The probe's fit did not reach the protocol's gradient tolerance: no score is given."""

    def __init__(self, gradient: float, iterations: int) -> None:
        self.gradient = gradient
        self.iterations = iterations
        super().__init__(
            f"the probe's fit did not converge: largest gradient entry {gradient:.2e} > "
            f"{protocol.GRADIENT_TOL:.0e} after {iterations} iterations"
        )


@dataclass(frozen=True)
class ProbeFit:
    """Predictions of the fitted probe on the evaluation pairs, and how far the fit went."""

    predictions: np.ndarray
    c: float
    gradient: float = 0.0  # largest entry of the objective's gradient at the solution
    iterations: int = 0

    def correct(self, labels: np.ndarray) -> np.ndarray:
        return (self.predictions == labels).astype(np.float64)


def standardise(x_train: np.ndarray, *others: np.ndarray) -> tuple[np.ndarray, ...]:
    """Float64 features scaled by the training sample's mean and standard deviation."""
    x_train = np.asarray(x_train, dtype=np.float64)
    scaler = StandardScaler().fit(x_train)
    return tuple(scaler.transform(np.asarray(x, dtype=np.float64)) for x in (x_train, *others))


def objective_gradient(
    x: np.ndarray, y: np.ndarray, coef: np.ndarray, intercept: np.ndarray, c: float
) -> np.ndarray:
    """Gradient of the probe's objective, mean cross-entropy + |coef|^2 / (2 C n), computed here
    rather than taken from the solver: shape (rows of coef, features + 1), intercepts last.

    `y` holds class indices. With two classes scikit-learn fits one logistic row (the second
    class's logit; the first's is 0): then `coef` has one row and so has the gradient.
    """
    n = len(y)
    binary = coef.shape[0] == 1
    if binary:
        coef = np.vstack([np.zeros_like(coef), coef])
        intercept = np.concatenate([[0.0], intercept])
    logits = x @ coef.T + intercept
    logits -= logits.max(axis=1, keepdims=True)
    p = np.exp(logits)
    p /= p.sum(axis=1, keepdims=True)
    p[np.arange(n), y] -= 1.0
    grad_w = p.T @ x / n + coef / (c * n)
    grad = np.hstack([grad_w, p.mean(axis=0)[:, None]])
    return grad[1:] if binary else grad


@dataclass(frozen=True)
class _Linear:
    """A fitted probe: float64 weights and intercepts, as `LogisticRegression` holds them."""

    classes: np.ndarray
    coef: np.ndarray  # (rows, features); one row with two classes
    intercept: np.ndarray
    iterations: int

    def predict(self, z: np.ndarray) -> np.ndarray:
        scores = np.asarray(z, dtype=np.float64) @ self.coef.T + self.intercept
        if self.coef.shape[0] == 1:  # two classes: the second's logit, the first's is 0
            scores = np.hstack([np.zeros_like(scores), scores])
        return self.classes[np.argmax(scores, axis=1)]


def _checked_fit(
    x: np.ndarray, y: np.ndarray, c: float, device: torch.device | str | None = None
) -> tuple[_Linear, float]:
    """A fit whose own gradient, recomputed here, is within the protocol's tolerance.

    Solved on `device` (default: the CPU) by `solver.newton` to a largest gradient entry of
    `protocol.SOLVER_TOL`, in at most `protocol.MAX_ITER` Newton steps."""
    from ranker.evaluate import solver  # torch: imported only when a probe is fitted

    classes = np.unique(y)
    index = np.searchsorted(classes, y)
    x = np.asarray(x, dtype=np.float64)
    sol = solver.newton(
        x, index, c, tol=protocol.SOLVER_TOL, max_iter=protocol.MAX_ITER, device=device
    )
    grad = objective_gradient(x, index, sol.coef, sol.intercept, c)
    largest = float(np.abs(grad).max())
    if not largest <= protocol.GRADIENT_TOL:  # NaN included
        raise ProbeNotConverged(largest, sol.iterations)
    return _Linear(classes, sol.coef, sol.intercept, sol.iterations), largest


def fit_standardised(
    z_train: np.ndarray,
    y_train: np.ndarray,
    z_eval: np.ndarray,
    seed: int,
    c: float | None = None,
    device: torch.device | str | None = None,
) -> ProbeFit:
    """Fit on already standardised features (see `standardise`), predict the evaluation pairs.

    `c`: the regularisation (default: the protocol's `protocol.C`). `seed`: the sample's seed;
    the fit itself is deterministic and draws nothing. The fit runs on `device`: where the
    features were computed (default: the CPU). Raises `ProbeNotConverged` when the fit misses
    the protocol's gradient tolerance.
    """
    if c is None:
        c = protocol.C
    clf, largest = _checked_fit(z_train, y_train, c, device)
    return ProbeFit(clf.predict(z_eval), c, largest, clf.iterations)


def fit_probe(
    x_train: np.ndarray,
    y_train: np.ndarray,
    x_eval: np.ndarray,
    seed: int,
    c: float | None = None,
    device: torch.device | str | None = None,
) -> ProbeFit:
    """Standardise on train, fit to convergence, predict the evaluation pairs."""
    z_train, z_eval = standardise(x_train, x_eval)
    return fit_standardised(z_train, y_train, z_eval, seed, c, device)


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
