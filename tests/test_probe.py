"""The probe's torch solver (`ranker.evaluate.solver`) against scikit-learn's fit of the same
objective (lp-2's fit until issue 11), and where and in what precision it runs.

The lp-2 criterion for changing the solver without a new protocol version: the same prediction
on at least 99.9% of evaluation pairs and accuracy within 1e-3 of the scikit-learn fit.
"""

from __future__ import annotations

import warnings
from types import SimpleNamespace

import numpy as np
import pytest

from ranker import protocol
from ranker.evaluate import probe

torch = pytest.importorskip("torch")
from ranker.evaluate import solver  # noqa: E402  (needs torch)


def _mixture(n: int, d: int, seed: int, classes: int = 3, separation: float = 0.08):
    """Overlapping Gaussian classes in correlated, shifted, unevenly scaled features, as a
    frozen encoder's pooled features are (a probe's accuracy ~0.5-0.8); train and eval sets."""
    rng = np.random.default_rng(seed)
    mix = rng.normal(size=(d, d)) / np.sqrt(d) + np.eye(d)
    means = rng.normal(size=(classes, d)) * separation
    shift = rng.uniform(-3, 3, size=d)
    scale = np.exp(rng.uniform(-2, 2, size=d))

    def draw(m: int) -> tuple[np.ndarray, np.ndarray]:
        y = rng.permutation(np.arange(m) % classes)
        return ((means[y] + rng.normal(size=(m, d))) @ mix + shift) * scale, y

    return draw(n), draw(n)


def _sklearn_fit(z: np.ndarray, y: np.ndarray, c: float):
    """lp-2's fit before issue 11: scikit-learn's Newton-CG to the protocol's tolerance."""
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression

    clf = LogisticRegression(
        C=c, solver="newton-cg", tol=protocol.SOLVER_TOL, max_iter=protocol.MAX_ITER
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        warnings.filterwarnings("ignore", "Line Search failed")
        return clf.fit(z, y)


def _assert_agrees(x_tr, y_tr, x_ev, y_ev, c: float) -> float:
    fit = probe.fit_probe(x_tr, y_tr, x_ev, seed=0, c=c)
    z_tr, z_ev = probe.standardise(x_tr, x_ev)
    ref = _sklearn_fit(z_tr, y_tr, c)
    ref_grad = probe.objective_gradient(z_tr, np.searchsorted(ref.classes_, y_tr), ref.coef_,
                                        ref.intercept_, c)  # fmt: skip
    assert np.abs(ref_grad).max() <= protocol.GRADIENT_TOL  # the reference is converged too
    assert fit.gradient <= protocol.GRADIENT_TOL and fit.c == c
    same = np.mean(fit.predictions == ref.predict(z_ev))
    acc, ref_acc = np.mean(fit.predictions == y_ev), np.mean(ref.predict(z_ev) == y_ev)
    assert same >= 0.999, same
    assert abs(acc - ref_acc) <= 1e-3
    # both at the one optimum: the weights themselves agree (strong convexity 1 / (C n))
    sol = solver.newton(z_tr, np.searchsorted(ref.classes_, y_tr), c, tol=protocol.SOLVER_TOL,
                        max_iter=protocol.MAX_ITER)  # fmt: skip
    assert np.abs(sol.coef - ref.coef_).max() <= 1e-6
    return acc


@pytest.mark.parametrize(
    ("seed", "c", "n", "d"),
    [(0, 0.01, 2000, 128), (1, 0.01, 1500, 200), (2, 0.1, 1500, 96), (3, 1.0, 1200, 64)],
)
def test_torch_fit_agrees_with_scikit_learn(seed: int, c: float, n: int, d: int) -> None:
    (x_tr, y_tr), (x_ev, y_ev) = _mixture(n, d, seed)
    acc = _assert_agrees(x_tr, y_tr, x_ev, y_ev, c)
    assert 0.45 < acc < 0.85  # realistic: far from separable, far from chance


def test_torch_fit_agrees_on_ill_conditioned_features() -> None:
    """Near-duplicate columns (a copy plus 1e-6 relative noise) and constant-ish ones."""
    (x_tr, y_tr), (x_ev, y_ev) = _mixture(1500, 48, seed=4)
    rng = np.random.default_rng(5)

    def widen(x: np.ndarray) -> np.ndarray:
        dup = x + 1e-6 * x.std(axis=0) * rng.normal(size=x.shape)
        return np.hstack([x, dup, x[:, :4] * 1e3])

    w_tr, w_ev = widen(x_tr), widen(x_ev)
    (z_tr,) = probe.standardise(w_tr)
    s = np.linalg.svd(z_tr, compute_uv=False)
    assert s[0] / s[-1] > 1e5  # ill-conditioned indeed
    _assert_agrees(w_tr, y_tr, w_ev, y_ev, 0.01)
    _assert_agrees(w_tr, y_tr, w_ev, y_ev, 1.0)


def test_torch_fit_agrees_with_two_classes() -> None:
    """Two classes: one logistic row, as scikit-learn fits; labels need not be 0..K-1."""
    (x_tr, y_tr), (x_ev, y_ev) = _mixture(1500, 64, seed=6, classes=2, separation=0.1)
    _assert_agrees(x_tr, y_tr + 3, x_ev, y_ev + 3, 0.01)
    fit = probe.fit_probe(x_tr, y_tr + 3, x_ev, seed=0, c=0.01)
    assert set(fit.predictions) <= {3, 4} and fit.gradient <= protocol.GRADIENT_TOL


def test_a_fit_short_of_the_tolerance_is_a_typed_error(monkeypatch) -> None:
    (x_tr, y_tr), (x_ev, _) = _mixture(600, 32, seed=8)
    monkeypatch.setattr(protocol, "MAX_ITER", 1)
    with pytest.raises(probe.ProbeNotConverged, match="did not converge") as info:
        probe.fit_probe(x_tr, y_tr, x_ev, seed=0)
    assert info.value.gradient > protocol.GRADIENT_TOL and info.value.iterations == 1
    # the solver stopping early on its own rule is caught by the probe's recomputed gradient
    monkeypatch.setattr(protocol, "MAX_ITER", 200)
    monkeypatch.setattr(protocol, "SOLVER_TOL", 1e-4)
    with pytest.raises(probe.ProbeNotConverged) as info:
        probe.fit_probe(x_tr, y_tr, x_ev, seed=0)
    assert protocol.GRADIENT_TOL < info.value.gradient <= 1e-4


def test_newton_converges_in_few_steps_to_far_below_the_tolerance() -> None:
    (x_tr, y_tr), _ = _mixture(2000, 128, seed=9)
    (z_tr,) = probe.standardise(x_tr)
    sol = solver.newton(z_tr, y_tr, 0.01, tol=1e-12, max_iter=50)
    assert sol.gradient <= 1e-12 and sol.iterations <= 10 and sol.products <= 200
    grad = probe.objective_gradient(z_tr, y_tr, sol.coef, sol.intercept, 0.01)
    assert np.abs(grad).max() <= 1e-11  # numpy's recomputation agrees with the solver's
    assert abs(sol.intercept.sum()) < 1e-12  # the intercepts' free common shift stays at zero


class _Recorder:
    """Records the device and dtype of every problem the solver builds."""

    def __init__(self, monkeypatch) -> None:
        self.seen: list[tuple[str, torch.dtype]] = []
        original = solver._Problem.__init__

        def init(problem, x, labels, c, classes):
            original(problem, x, labels, c, classes)
            self.seen.append((problem.x1.device.type, problem.x1.dtype))

        monkeypatch.setattr(solver._Problem, "__init__", init)


def test_the_solver_runs_in_float64_where_it_is_told_or_where_the_features_are(
    monkeypatch,
) -> None:
    record = _Recorder(monkeypatch)
    (x_tr, y_tr), _ = _mixture(300, 16, seed=10)
    z = probe.standardise(x_tr)[0].astype(np.float32)  # float32 in: solved in float64
    sol = solver.newton(z, y_tr, 0.01, tol=1e-10, max_iter=50)
    assert sol.device == torch.device("cpu") and sol.coef.dtype == np.float64
    sol = solver.newton(torch.from_numpy(z), y_tr, 0.01, tol=1e-10, max_iter=50)  # a tensor's
    assert sol.device == torch.device("cpu")
    # the meta device holds no numbers: solving there fails, after the data was put there
    with pytest.raises((NotImplementedError, RuntimeError)):
        solver.newton(z, y_tr, 0.01, tol=1e-10, max_iter=50, device="meta")
    with pytest.raises((NotImplementedError, RuntimeError)):
        solver.newton(torch.from_numpy(z).to("meta"), y_tr, 0.01, tol=1e-10, max_iter=50)
    assert record.seen == [("cpu", torch.float64)] * 2 + [("meta", torch.float64)] * 2


def test_the_evaluator_fits_on_the_features_device(monkeypatch) -> None:
    """`steps.fit` hands its device to the fit, and so to every solve."""
    from ranker.evaluate import steps

    record = _Recorder(monkeypatch)
    (x_tr, y_tr), (x_ev, y_ev) = _mixture(300, 16, seed=11)
    data = SimpleNamespace(train=SimpleNamespace(labels=y_tr),
                           eval=SimpleNamespace(labels=y_ev), seed=0)  # fmt: skip
    correct, _ = steps.fit((x_tr, x_ev), data, steps.Timer(), torch.device("cpu"))
    assert correct.shape == (300,) and record.seen == [("cpu", torch.float64)]
    with pytest.raises((NotImplementedError, RuntimeError)):
        steps.fit((x_tr, x_ev), data, steps.Timer(), torch.device("meta"))
    assert record.seen[-1] == ("meta", torch.float64)


@pytest.mark.gpu  # the one skip RANKER_REQUIRE_ALL allows, and only without CUDA (conftest)
@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device here")
def test_cuda_fit_agrees_with_the_cpu_fit_and_scikit_learn() -> None:
    (x_tr, y_tr), (x_ev, y_ev) = _mixture(3000, 384, seed=12)
    cpu = probe.fit_probe(x_tr, y_tr, x_ev, seed=0, device="cpu")
    gpu = probe.fit_probe(x_tr, y_tr, x_ev, seed=0, device="cuda")
    assert gpu.gradient <= protocol.GRADIENT_TOL
    assert np.mean(gpu.predictions == cpu.predictions) >= 0.999
    _assert_agrees(x_tr, y_tr, x_ev, y_ev, 0.01)
