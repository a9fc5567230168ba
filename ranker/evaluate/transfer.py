"""Transferability estimators from the probe's own features: LogME and H-score (numpy only).

Both score how well features carry the labels without training a classifier, from the same
forward pass as the probe. The evaluator computes LogME on the training features as the
encoder gives them and H-score on the standardised ones (ranker.evaluate.steps says why), and
stores them next to the probe's accuracy; they are reported, never ranked by.

- **LogME** (You et al., "LogME: Practical Assessment of Pre-trained Models for Transfer
  Learning", ICML 2021): per class, the log marginal likelihood (evidence) of a Bayesian linear
  regression of the one-hot target on the features, w ~ N(0, 1/alpha), noise ~ N(0, 1/beta),
  maximised over alpha and beta by the paper's fixed-point iteration on the singular values of
  the feature matrix; divided by the number of samples and averaged over the classes. At its
  maximum it does not change when every feature is multiplied by the same constant (alpha
  absorbs it), but it does change when features are scaled differently from one another, and
  under translation (the model has no intercept).
- **H-score** (Bao et al., "An Information-Theoretic Approach to Transferability in Task
  Transfer Learning", ICIP 2019): tr(cov(f)^-1 cov(E[f | y])), the between-class covariance
  measured in the metric of the total covariance; the inverse is a pseudo-inverse (eigenvalues
  below `protocol.EIG_RCOND` x the largest are left out). It lies between 0 and classes - 1
  and does not change under any invertible linear map of the features (per-feature scaling
  included) or a translation.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ranker import protocol
from ranker.errors import RankerError

_NO_WEIGHTS = 1e-9  # gamma below which LogME's alpha is taken as infinite


class TransferError(RankerError):
    """An estimator that could not be computed (the evidence iteration did not settle)."""


def _check(features: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    f = np.asarray(features, dtype=np.float64)
    y = np.asarray(labels)
    if f.ndim != 2 or y.shape != (len(f),):
        raise ValueError(f"expected (n, d) features and n labels, got {f.shape} and {y.shape}")
    if len(np.unique(y)) < 2:
        raise ValueError("need at least two classes")
    return f, y


def logme(features: np.ndarray, labels: np.ndarray) -> float:
    """LogME of `features` (n x d) for class `labels` (n): mean over classes of evidence / n."""
    return float(np.mean([c.evidence for c in logme_classes(features, labels)]))


@dataclass(frozen=True)
class ClassEvidence:
    """One class's maximised evidence (per sample) and where it is maximal."""

    evidence: float  # log p(t | f, alpha, beta) / n
    alpha: float  # prior precision of the weights (inf: the features carry nothing of t)
    beta: float  # noise precision
    gamma: float  # effective number of weights the data determine, 0..rank(f)


def logme_classes(features: np.ndarray, labels: np.ndarray) -> list[ClassEvidence]:
    """LogME's per-class parts, in the order of the sorted class labels."""
    f, y = _check(features, labels)
    n, d = f.shape
    targets = (y[:, None] == np.unique(y)[None, :]).astype(np.float64)  # one-hot, n x classes
    sigma, z = _spectrum(f, targets)
    outside = np.maximum((targets * targets).sum(axis=0) - (z * z).sum(axis=0), 0.0)
    return [_max_evidence(sigma, z[:, k], outside[k], n, d) for k in range(z.shape[1])]


def noise_only_logme(labels: np.ndarray) -> float:
    """LogME's floor for these labels: the value of features that carry nothing of them (each
    class's evidence at alpha = inf, t ~ N(0, |t|^2 / n I)). No features score lower."""
    y = np.asarray(labels)
    share = np.unique(y, return_counts=True)[1] / len(y)
    return float(np.mean(0.5 * np.log(1 / share) - 0.5 - 0.5 * math.log(2 * math.pi)))


def _spectrum(f: np.ndarray, targets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The squared singular values of f = u diag(s) v^T (those above `protocol.EIG_RCOND` x
    the largest) and the targets' coordinates u^T t on the matching left singular vectors.

    As the paper's code does, from the eigendecomposition of the smaller Gram matrix, f^T f
    (then u^T t = v^T f^T t / s) or f f^T: several times faster than an SVD of f itself."""
    n, d = f.shape
    if n >= d:
        w, v = np.linalg.eigh(f.T @ f)
        keep = w > protocol.EIG_RCOND * max(w[-1], 0.0)
        return w[keep], (v[:, keep].T @ (f.T @ targets)) / np.sqrt(w[keep])[:, None]
    w, u = np.linalg.eigh(f @ f.T)
    keep = w > protocol.EIG_RCOND * max(w[-1], 0.0)
    return w[keep], u[:, keep].T @ targets


def evidence(
    sigma: np.ndarray, z: np.ndarray, outside: float, n: int, d: int, alpha: float, beta: float
) -> float:
    """log p(t | f, alpha, beta) of one target t, from the squared singular values `sigma` of f,
    t's coordinates `z` on f's left singular vectors and its squared norm `outside` of them."""
    den = alpha + beta * sigma
    m2 = float(np.sum(beta * beta * sigma * z * z / (den * den)))  # |m|^2, m the posterior mean
    res = float(np.sum((alpha * z / den) ** 2)) + outside  # |f m - t|^2
    log_det = float(np.sum(np.log(den))) + (d - len(sigma)) * math.log(alpha)
    return (
        d / 2 * math.log(alpha)
        + n / 2 * math.log(beta)
        - log_det / 2
        - beta / 2 * res
        - alpha / 2 * m2
        - n / 2 * math.log(2 * math.pi)
    )


def _max_evidence(
    sigma: np.ndarray, z: np.ndarray, outside: float, n: int, d: int
) -> ClassEvidence:
    """The evidence at its maximum over (alpha, beta): the fixed point of MacKay's updates
    alpha = gamma / |m|^2, beta = (n - gamma) / |f m - t|^2, gamma = sum(beta s / (alpha + beta s)),
    iterated until both move by less than `protocol.LOGME_TOL` (the paper's code stops at 1%).

    Where the features carry nothing of the target, alpha grows without bound (the weights are
    pinned at 0) and gamma, the effective number of weights, falls towards 0: below
    `_NO_WEIGHTS` the evidence is taken at that limit, where it differs by less than gamma."""
    alpha, beta = 1.0, 1.0
    for _ in range(protocol.LOGME_MAX_ITER):
        den = alpha + beta * sigma
        gamma = float(np.sum(beta * sigma / den))
        m2 = float(np.sum(beta * beta * sigma * z * z / (den * den)))
        res = float(np.sum((alpha * z / den) ** 2)) + outside
        if gamma < _NO_WEIGHTS or m2 <= 0.0:  # alpha -> inf: m = 0, the target is all noise
            res = float(np.sum(z * z)) + outside
            beta = n / res
            value = n / 2 * math.log(beta) - n / 2 - n / 2 * math.log(2 * math.pi)
            return ClassEvidence(value / n, math.inf, beta, 0.0)
        if res <= 0.0:
            raise TransferError("the features fit a class exactly: LogME's evidence is unbounded")
        new_alpha, new_beta = gamma / m2, (n - gamma) / res
        settled = (
            abs(new_alpha - alpha) <= protocol.LOGME_TOL * new_alpha
            and abs(new_beta - beta) <= protocol.LOGME_TOL * new_beta
        )
        alpha, beta = new_alpha, new_beta
        if settled:
            value = evidence(sigma, z, outside, n, d, alpha, beta)
            gamma = float(np.sum(beta * sigma / (alpha + beta * sigma)))
            return ClassEvidence(value / n, alpha, beta, gamma)
    raise TransferError(
        f"LogME's evidence iteration did not settle in {protocol.LOGME_MAX_ITER} steps "
        f"(alpha {alpha:.3g}, beta {beta:.3g})"
    )


def hscore(features: np.ndarray, labels: np.ndarray) -> float:
    """H-score of `features` (n x d) for class `labels` (n): tr(cov(f)^+ cov(E[f | y]))."""
    f, y = _check(features, labels)
    n = len(f)
    centred = f - f.mean(axis=0)
    classes, index, counts = np.unique(y, return_inverse=True, return_counts=True)
    onehot = np.zeros((n, len(classes)))
    onehot[np.arange(n), index] = 1.0
    means = onehot.T @ centred / counts[:, None]  # class means of the centred features
    w, v = np.linalg.eigh(centred.T @ centred / n)
    if not w[-1] > 0:
        return 0.0  # constant features carry nothing
    keep = w > protocol.EIG_RCOND * w[-1]
    proj = means @ v[:, keep]
    return float(np.sum((counts / n)[:, None] * proj * proj / w[keep]))
