"""Verified gains (ranker/build/verified.py): the Welch interval per task and over the suite,
checked against an independent computation with scipy's own Welch test."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from ranker import ft_protocol
from ranker.build.verified import task_gain, verified_gains
from ranker.records import Architecture, FinetuneResult

ARCH = Architecture(id="roberta-base", slug="roberta-base", title="RoBERTa", model_type="roberta",
                    hidden_size=768, num_layers=12, vocab_size=50265,
                    intermediate_size=3072)  # fmt: skip
SHA, OTHER = "a" * 40, "b" * 40


def result(model: str, task: str, seed: int, score: float | None, *, revision: str = SHA,
           when: str = "2026-12-01T00:00:00+00:00", **kw) -> FinetuneResult:  # fmt: skip
    ok = score is not None
    return FinetuneResult(
        schema_version=1, model_id=model, architecture=ARCH.id, revision=revision,
        protocol_version=ft_protocol.FT_PROTOCOL_VERSION, task=task, seed=seed,
        status="ok" if ok else "error", evaluated_at=when, score=score,
        failure=None if ok else "permanent", reason=None if ok else "diverged",
        metric=ft_protocol.TASKS[task].metric, **kw,
    )  # fmt: skip


def runs(model: str, scores: dict[str, list[float | None]], **kw) -> list[FinetuneResult]:
    return [result(model, t, s, v, **kw) for t, vs in scores.items() for s, v in enumerate(vs)]


BASE = {"stsb": [0.80, 0.81, 0.79, 0.80, 0.82], "boolq": [0.70, 0.72, 0.69, 0.71, 0.70],
        "wic": [0.60, 0.62, 0.58, 0.61, 0.59]}  # fmt: skip
GOOD = {"stsb": [0.85, 0.86, 0.855], "boolq": [0.76, 0.75, 0.77], "wic": [0.66, 0.65, 0.67]}


def welch(x: list[float], y: list[float]) -> tuple[float, float, float]:
    """(difference, low, high): the interval scipy's Welch test gives."""
    test = stats.ttest_ind(x, y, equal_var=False)
    ci = test.confidence_interval(0.95)
    return float(np.mean(x) - np.mean(y)), float(ci.low), float(ci.high)


def test_a_task_gain_is_welchs_interval_over_both_sets_of_seeds() -> None:
    gain = task_gain(ft_protocol.TASKS["stsb"], runs("m/x", {"stsb": GOOD["stsb"]}),
                     runs(ARCH.id, {"stsb": BASE["stsb"]}, is_base=True))  # fmt: skip
    diff, low, high = welch(GOOD["stsb"], BASE["stsb"])
    assert (gain.gain, gain.low, gain.high) == pytest.approx((diff, low, high), abs=1e-12)
    assert gain.seeds == 3 and gain.base_seeds == 5 and gain.significant


def test_the_suite_gain_averages_the_tasks_and_combines_their_spreads() -> None:
    found = verified_gains([*runs(ARCH.id, BASE, is_base=True), *runs("m/good", GOOD)], [ARCH])
    good = found["m/good"]
    gains = [np.mean(GOOD[t]) - np.mean(BASE[t]) for t in BASE]
    assert good.gain == pytest.approx(float(np.mean(gains)), abs=1e-12)
    # independently: var = sum(var_t) / k^2, Welch-Satterthwaite df over the six parts
    parts = [(np.var(v, ddof=1) / len(v), len(v) - 1) for d in (GOOD, BASE) for v in d.values()]
    var = sum(p for p, _ in parts) / 9
    df = var**2 / sum((p / 9) ** 2 / n for p, n in parts)
    half = stats.t.ppf(0.975, df) * math.sqrt(var)
    assert (good.low, good.high) == pytest.approx((good.gain - half, good.gain + half), abs=1e-12)
    assert good.complete and good.significant and good.n_tasks == 3
    assert found[ARCH.id].is_base and not found["m/good"].is_base


def test_a_model_no_better_than_its_base_is_not_significant() -> None:
    same = {t: v[:3] for t, v in BASE.items()}
    found = verified_gains([*runs(ARCH.id, BASE, is_base=True), *runs("m/same", same)], [ARCH])
    assert found["m/same"].low < 0 < found["m/same"].high
    assert not found["m/same"].significant


def test_failed_seeds_are_counted_and_one_ok_seed_gives_no_interval() -> None:
    model = runs("m/flaky", {"stsb": [0.9, None, None], "boolq": GOOD["boolq"], "wic": GOOD["wic"]})
    found = verified_gains([*runs(ARCH.id, BASE, is_base=True), *model], [ARCH])["m/flaky"]
    stsb = found.task("stsb")
    assert stsb is not None and stsb.failed == 2 and stsb.seeds == 1
    assert stsb.gain == pytest.approx(0.9 - np.mean(BASE["stsb"]))
    assert stsb.low is None and found.low is None and not found.significant


def test_a_task_missing_leaves_the_suite_gain_empty() -> None:
    model = runs("m/part", {"stsb": GOOD["stsb"], "boolq": GOOD["boolq"]})
    found = verified_gains([*runs(ARCH.id, BASE, is_base=True), *model], [ARCH])["m/part"]
    assert found.n_tasks == 2 and not found.complete and found.gain is None


def test_results_of_another_revision_or_protocol_are_not_shown() -> None:
    old = runs("m/moved", GOOD, revision=OTHER)
    other_protocol = [
        FinetuneResult(**{**r.to_dict(), "protocol_version": "ft-0", "model_id": "m/old"})
        for r in runs("m/x", GOOD)
    ]
    found = verified_gains([*runs(ARCH.id, BASE, is_base=True), *old, *other_protocol], [ARCH],
                           {"m/moved": SHA})  # fmt: skip
    assert "m/moved" not in found and "m/old" not in found
    # with no catalog sha, the newest revision's results are the model's
    newer = runs("m/moved", GOOD, when="2026-12-02T00:00:00+00:00")
    found = verified_gains([*runs(ARCH.id, BASE, is_base=True), *old, *newer], [ARCH])
    assert found["m/moved"].revision == SHA
