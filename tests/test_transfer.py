"""Transferability estimators (LogME, H-score) and the per-pair correctness codec: numpy only."""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from ranker import protocol
from ranker.bits import decode_correct, encode_correct
from ranker.evaluate import transfer

K = 3
REPO = Path(__file__).resolve().parents[1]


def _separable(n: int, d: int, seed: int, strength: float = 1.5) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = np.arange(n) % K
    return rng.normal(size=(n, d)) + np.eye(K, d)[y] * strength, y


def _random(n: int, d: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, d)), np.arange(n) % K


def _brute_force_logme(f: np.ndarray, y: np.ndarray) -> float:
    """Evidence from its definition, log N(t; 0, F F^T / alpha + I / beta) with a dense
    covariance, maximised over (alpha, beta) numerically; per sample, mean over classes."""
    from scipy.optimize import minimize
    from scipy.stats import multivariate_normal

    n = len(f)
    gram = f @ f.T
    values = []
    for k in np.unique(y):
        t = (y == k).astype(float)

        def negative(p: np.ndarray, t: np.ndarray = t) -> float:
            alpha, beta = np.exp(p)
            cov = gram / alpha + np.eye(n) / beta
            return -multivariate_normal(np.zeros(n), cov).logpdf(t)

        opts = {"xatol": 1e-10, "fatol": 1e-13, "maxiter": 20_000}
        starts = ([0.0, 0.0], [3.0, 1.0], [-3.0, 2.0])
        best = min((minimize(negative, s, method="Nelder-Mead", options=opts) for s in starts),
                   key=lambda r: r.fun)  # fmt: skip
        values.append(-best.fun / n)
    return float(np.mean(values))


# -- LogME -------------------------------------------------------------------------------------


@pytest.mark.parametrize(("n", "d"), [(40, 5), (12, 20), (30, 30)])
def test_logme_is_the_maximum_evidence_by_brute_force(n: int, d: int) -> None:
    f, y = _separable(n, d, seed=n + d)
    assert transfer.logme(f, y) == pytest.approx(_brute_force_logme(f, y), rel=1e-9, abs=1e-9)


def test_logme_evidence_formula_is_the_gaussian_likelihood() -> None:
    from scipy.stats import multivariate_normal

    f, y = _separable(25, 4, seed=5)
    t = (y == 1).astype(float)
    u, s, _ = np.linalg.svd(f, full_matrices=False)
    z = u.T @ t
    for alpha, beta in ((0.3, 2.0), (5.0, 0.7)):
        direct = multivariate_normal(np.zeros(25), f @ f.T / alpha + np.eye(25) / beta).logpdf(t)
        ours = transfer.evidence(s**2, z, float(t @ t - z @ z), 25, 4, alpha, beta)
        assert ours == pytest.approx(direct, rel=1e-12)


def test_logme_ranks_separable_features_above_random_ones() -> None:
    sep = transfer.logme(*_separable(600, 32, seed=1, strength=1.0))
    weak = transfer.logme(*_separable(600, 32, seed=1, strength=0.3))
    rand = transfer.logme(*_random(600, 32, seed=1))
    assert sep > weak > rand


def test_logme_scaling_invariant_globally_not_per_feature() -> None:
    """alpha absorbs one common factor; a prior that is isotropic in the weights cannot absorb
    a different factor per feature (as You et al. note, it is not invariant in general)."""
    f, y = _separable(300, 16, seed=2, strength=0.8)
    base = transfer.logme(f, y)
    assert transfer.logme(f * 37.0, y) == pytest.approx(base, rel=1e-9)
    assert transfer.logme(f * 1e-3, y) == pytest.approx(base, rel=1e-9)
    scales = np.random.default_rng(3).uniform(0.05, 20.0, size=16)
    assert abs(transfer.logme(f * scales, y) - base) > 1e-3


def test_logme_of_features_without_signal_is_the_noise_only_evidence() -> None:
    """Zero features carry nothing: the evidence is that of t ~ N(0, |t|^2 / n I)."""
    n = 90
    y = np.arange(n) % K
    expected = np.mean(
        [0.5 * math.log(n / np.sum(y == k)) - 0.5 - 0.5 * math.log(2 * math.pi) for k in range(K)]
    )
    assert transfer.logme(np.zeros((n, 4)), y) == pytest.approx(expected, rel=1e-12)
    assert transfer.noise_only_logme(y) == pytest.approx(expected, rel=1e-12)
    parts = transfer.logme_classes(np.zeros((n, 4)), y)
    assert [(p.alpha, p.gamma) for p in parts] == [(math.inf, 0.0)] * K
    f, y = _random(300, 20, seed=10)  # no features score below the floor
    assert transfer.logme(f, y) >= transfer.noise_only_logme(y) - 1e-12
    parts = transfer.logme_classes(*_separable(300, 20, seed=10))
    assert all(0 < p.gamma < 20 and 0 < p.alpha < math.inf for p in parts)


def test_logme_that_does_not_settle_is_a_typed_error(monkeypatch) -> None:
    monkeypatch.setattr(protocol, "LOGME_MAX_ITER", 2)
    with pytest.raises(transfer.TransferError, match="did not settle"):
        transfer.logme(*_separable(200, 8, seed=4))


# -- H-score -----------------------------------------------------------------------------------


def test_hscore_ranks_separable_features_above_random_ones_within_its_bounds() -> None:
    sep = transfer.hscore(*_separable(600, 32, seed=1, strength=3.0))
    weak = transfer.hscore(*_separable(600, 32, seed=1, strength=0.3))
    rand = transfer.hscore(*_random(600, 32, seed=1))
    assert K - 1 >= sep > weak > rand >= 0
    assert sep > 1.5 and rand < 0.3  # near classes - 1; near (classes - 1) d / n


def test_hscore_is_invariant_to_invertible_linear_maps_and_translation() -> None:
    f, y = _separable(400, 12, seed=6, strength=0.7)
    base = transfer.hscore(f, y)
    rng = np.random.default_rng(7)
    assert transfer.hscore(f * rng.uniform(0.01, 100.0, size=12), y) == pytest.approx(base)
    mix = rng.normal(size=(12, 12)) + 3 * np.eye(12)
    assert transfer.hscore(f @ mix + 50.0, y) == pytest.approx(base)
    assert transfer.hscore(f[:, :6], y) < base  # fewer features carry less


def test_hscore_with_rank_deficient_features_uses_the_pseudo_inverse() -> None:
    f, y = _separable(300, 10, seed=8)
    doubled = np.hstack([f, 2 * f[:, :5], np.zeros((300, 3))])  # collinear and constant columns
    assert transfer.hscore(doubled, y) == pytest.approx(transfer.hscore(f, y))
    assert transfer.hscore(np.zeros((30, 4)), np.arange(30) % K) == 0.0


def test_estimators_refuse_malformed_input() -> None:
    f, y = _separable(30, 4, seed=9)
    for fn in (transfer.logme, transfer.hscore):
        with pytest.raises(ValueError):
            fn(f, y[:-1])
        with pytest.raises(ValueError, match="two classes"):
            fn(f, np.zeros(30, dtype=int))


# -- per-pair correctness ----------------------------------------------------------------------


@pytest.mark.parametrize("n", [0, 1, 7, 8, 9, 5000])
def test_correct_bits_round_trip(n: int) -> None:
    bits = np.random.default_rng(n).random(n) < 0.6
    text = encode_correct(bits)
    assert isinstance(text, str) and len(text) == 4 * math.ceil(math.ceil(n / 8) / 3)
    back = decode_correct(text, n)
    assert back.dtype == bool and back.shape == (n,) and np.array_equal(back, bits)
    assert encode_correct(bits.astype(np.float64)) == text == encode_correct(bits.astype(int))


def test_correct_bits_are_packbits_base64() -> None:
    """The format the site build reads: MSB first, zero padding, standard base64."""
    assert encode_correct(np.array([1, 0, 1, 1, 0, 0, 0, 1, 1], dtype=bool)) == "sYA="
    assert np.array_equal(decode_correct("sYA=", 9), [1, 0, 1, 1, 0, 0, 0, 1, 1])


@pytest.mark.parametrize(
    ("text", "n", "message"),
    [
        ("sYA=", 17, "bytes"),  # too few bits for 17 pairs
        ("sYA=", 8, "bytes"),  # one byte too many for 8 pairs
        ("//8=", 12, "beyond"),  # 16 ones: padding bits set
        ("@@not base64@@", 8, "base64"),
        ("sYA", 9, "base64"),  # bad padding
        ("sé==", 9, "base64"),
    ],
)
def test_correct_bits_refuse_what_is_not_exactly_n_pairs(text: str, n: int, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        decode_correct(text, n)


def test_correct_bits_encoder_refuses_non_binary_input() -> None:
    with pytest.raises(ValueError):
        encode_correct(np.array([0, 1, 2]))
    with pytest.raises(ValueError):
        encode_correct(np.ones((2, 4), dtype=bool))


def test_codec_imports_without_torch_or_sklearn() -> None:
    """The site build decodes the bits; it must not need the evaluation stack."""
    code = (
        "import sys\n"
        "for m in ('torch', 'transformers', 'sklearn', 'scipy'): sys.modules[m] = None\n"
        "from ranker.bits import decode_correct, encode_correct\n"
        "import numpy as np\n"
        "assert decode_correct(encode_correct(np.array([True, False])), 2).tolist() == [1, 0]\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO)
    assert done.returncode == 0, done.stderr
