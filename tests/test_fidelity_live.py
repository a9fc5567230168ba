"""The methodology page's live fidelity rows (issue 21): the probe's accuracy, LogME and H-score
against the verified gains `ranker verify` measured, per architecture; checked against an
independent scipy.stats.spearmanr over the same pairs, and the empty and too-few states."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from conftest import REPO
from ranker import ft_protocol
from ranker.build import build_site
from ranker.build.fidelity import LIVE_TARGET, live_fidelity, verified_frame
from ranker.build.verified import verified_gains
from ranker.protocol import PROTOCOL_VERSION
from ranker.records import CatalogEntry, EvalResult, FinetuneResult
from ranker.store import Store
from ranker.testing.synthetic import pack

SHA = "c" * 40
N_PAIRS = 200
BASE_SCORES = {"stsb": [0.80, 0.81, 0.79, 0.80, 0.82], "boolq": [0.70, 0.72, 0.69, 0.71, 0.70],
               "wic": [0.60, 0.62, 0.58, 0.61, 0.59]}  # fmt: skip
# roberta-base's verified models: (id, probe accuracy, logme, hscore, offset of its finetuning
# scores over the base's); the orders differ, so the correlations are neither 0 nor 1
ROBERTA = [("a/m0", 0.61, -0.60, 0.9, 0.020), ("a/m1", 0.62, -0.62, 1.1, 0.010),
           ("a/m2", 0.63, -0.55, 1.0, 0.040), ("a/m3", 0.64, -0.50, 1.3, 0.030),
           ("a/m4", 0.65, -0.58, 1.2, 0.050)]  # fmt: skip
BERT = [("b/m0", 0.61, -0.6, 0.9, 0.01), ("b/m1", 0.63, -0.5, 1.0, 0.03)]
JITTER = (0.0, 0.004, -0.004)  # the three seeds of a model around its level


def _finetunes(arch: str, model: str, offset: float, tasks=ft_protocol.TASKS) -> list:
    base = model == arch
    return [
        FinetuneResult(
            schema_version=1, model_id=model, architecture=arch, revision=SHA,
            protocol_version=ft_protocol.FT_PROTOCOL_VERSION, task=task, seed=seed,
            status="ok", evaluated_at="2026-12-01T00:00:00+00:00", is_base=base,
            score=score if base else BASE_SCORES[task][0] + offset + JITTER[seed],
            metric=ft_protocol.TASKS[task].metric,
        )
        for task in tasks
        for seed, score in enumerate(BASE_SCORES[task] if base else JITTER)
    ]  # fmt: skip


def _result(arch: str, model: str, accuracy: float | None, logme=None, hscore=None) -> EvalResult:
    bits = np.zeros(N_PAIRS, dtype=bool)
    bits[: round((accuracy or 0) * N_PAIRS)] = True
    ok = accuracy is not None
    return EvalResult(
        schema_version=1, model_id=model, architecture=arch, revision=SHA,
        protocol_version=PROTOCOL_VERSION, status="ok" if ok else "error",
        evaluated_at="2026-11-20T10:00:00Z", accuracy=accuracy,
        accuracy_low=accuracy - 0.01 if ok else None,
        accuracy_high=accuracy + 0.01 if ok else None, gain=accuracy - 0.6 if ok else None,
        logme=logme, hscore=hscore, n_eval=N_PAIRS if ok else None, data_fingerprint="f" * 64,
        correct=pack(bits) if ok else None, error=None if ok else "no safetensors",
        reason=None if ok else "no_weights", failure=None if ok else "permanent",
    )  # fmt: skip


def _store(data: Path, *, verified: bool) -> Path:
    data.mkdir(parents=True)
    (data / "architectures.toml").write_text((REPO / "data/architectures.toml").read_text())
    store = Store(data)
    results, catalog, finetunes = [], [], []
    for arch, models in (("roberta-base", ROBERTA), ("bert-base-uncased", BERT)):
        results.append(_result(arch, arch, 0.6))
        finetunes += _finetunes(arch, arch, 0.0)
        for model, accuracy, logme, hscore, offset in models:
            results.append(_result(arch, model, accuracy, logme, hscore))
            catalog.append(CatalogEntry(schema_version=1, model_id=model, architecture=arch,
                                        sha=SHA, status="ok", downloads=10, license="mit"))  # fmt: skip
            finetunes += _finetunes(arch, model, offset)
    # verified but no ok probe result; probed but verified on one task only: neither counts
    results += [_result("roberta-base", "a/noprobe", None), _result("roberta-base", "a/part", 0.7)]
    finetunes += _finetunes("roberta-base", "a/noprobe", 0.06)
    finetunes += _finetunes("roberta-base", "a/part", 0.06, tasks=("stsb",))
    for model in ("a/noprobe", "a/part"):
        catalog.append(CatalogEntry(schema_version=1, model_id=model, architecture="roberta-base",
                                    sha=SHA, status="ok", downloads=10, license="mit"))  # fmt: skip
    store.write_results(results)
    store.write_catalog(catalog)
    if verified:
        store.merge_finetunes(finetunes)
    return data


@pytest.fixture(scope="module")
def sites(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Two builds: one with the verified results, one without any."""
    root = tmp_path_factory.mktemp("live")
    out = {}
    for name, verified in (("verified", True), ("plain", False)):
        build_site(_store(root / name / "data", verified=verified), root / name / "site")
        out[name] = root / name / "site"
    return out


def _expected(models: list[tuple[str, float, float, float, float]]) -> dict[str, tuple]:
    """Independently: each model's suite gain (mean over tasks of its mean minus the base's
    mean), and scipy's Spearman of each predictor against it."""
    gains = [
        np.mean([np.mean([BASE_SCORES[t][0] + off + j for j in JITTER]) - np.mean(BASE_SCORES[t])
                 for t in ft_protocol.TASKS])
        for *_, off in models
    ]  # fmt: skip
    return {
        column: (len(models), stats.spearmanr([m[i] for m in models], gains).statistic)
        for i, column in ((1, "probe_accuracy"), (2, "logme"), (3, "hscore"))
    }


def test_live_rows_equal_scipys_spearman_over_the_same_pairs(store_dir: Path) -> None:
    finetunes = [r for arch, models in (("roberta-base", ROBERTA),) for r in
                 _finetunes(arch, arch, 0) + [f for m in models for f in
                                              _finetunes(arch, m[0], m[4])]]  # fmt: skip
    finetunes += _finetunes("roberta-base", "a/part", 0.06, tasks=("stsb",))
    arch = next(a for a in Store(store_dir).architectures() if a.id == "roberta-base")
    verified = verified_gains(finetunes, [arch])
    summary = pd.DataFrame(
        [{"architecture": "roberta-base", "model_id": m, "probe_accuracy": a, "logme": lm,
          "hscore": h} for m, a, lm, h, _ in ROBERTA]
        + [{"architecture": "roberta-base", "model_id": "roberta-base", "probe_accuracy": 0.6,
            "logme": 0.0, "hscore": 0.0},
           {"architecture": "roberta-base", "model_id": "a/part", "probe_accuracy": 0.7,
            "logme": 0.0, "hscore": 0.0}]
    )  # fmt: skip
    frame = verified_frame(summary, verified)
    assert sorted(frame["model_id"]) == [m[0] for m in ROBERTA]  # no base, no partial
    live = live_fidelity(summary, verified, [arch], resamples=200)
    (row,) = live.rows
    expected = _expected(ROBERTA)
    assert row.n == 5 and live.verified == 5
    for column, _, f in row.correlations:
        n, rho = expected[column]
        assert f.n == n and f.spearman == pytest.approx(rho, abs=1e-12), column
        assert f.spearman_low is not None and f.spearman_low <= f.spearman_high
    gains = dict(zip(frame["model_id"], frame[LIVE_TARGET], strict=True))
    assert gains["a/m4"] == pytest.approx(verified["a/m4"].gain)


def test_no_verification_gives_no_rows() -> None:
    summary = pd.DataFrame([{"architecture": "roberta-base", "model_id": "a/m0",
                             "probe_accuracy": 0.6, "logme": 0.1, "hscore": 0.2}])  # fmt: skip
    live = live_fidelity(summary, {}, [])
    assert live.empty and live.verified == 0 and live.rows == ()


def _text(path: Path) -> str:
    return re.sub(r"<[^>]+>", "", " ".join(path.read_text().split()))


def test_the_page_shows_the_live_rows_and_too_few(sites: dict[str, Path]) -> None:
    html = (sites["verified"] / "methodology.html").read_text()
    table = re.search(r'<table class="summary fidelity-live".*?</table>', html, re.S)
    assert table is not None
    rows = dict(re.findall(r'<tr data-arch="([^"]+)" data-n="(\d+)"', table.group(0)))
    assert rows == {"roberta-base": "5", "bert-base-uncased": "2"}
    shown = dict(re.findall(r'data-predictor="(\w+)" data-spearman="([^"]+)"', table.group(0)))
    for column, (_, rho) in _expected(ROBERTA).items():
        assert float(shown[column]) == pytest.approx(rho, abs=1e-12)
    assert "too few verified models" in _text(sites["verified"] / "methodology.html")
    assert "No model has been verified by finetuning yet" not in html


def test_the_empty_state_says_how_rows_come(sites: dict[str, Path]) -> None:
    text = _text(sites["plain"] / "methodology.html")
    assert "No model has been verified by finetuning yet: ranker verify finetunes" in text
    assert 'id="fidelity-live-table"' not in (sites["plain"] / "methodology.html").read_text()


def test_the_index_counts_verified_models_only_when_there_are_some(
    sites: dict[str, Path],
) -> None:
    text = _text(sites["verified"] / "index.html")
    # complete verifications, bases left out: 5 + a/noprobe of roberta, 2 of bert
    assert (
        "8 of the probe's leading models have been verified by finetuning (ft-1), in 2 "
        "architectures" in text
    )
    assert 'id="verified-summary"' not in (sites["plain"] / "index.html").read_text()


def test_the_architecture_page_card_marks_verified_models(sites: dict[str, Path]) -> None:
    text = _text(sites["verified"] / "arch" / "roberta-base.html")
    # a/part holds #1 alone (its probe is the highest) but is verified on one task only; the
    # verified-significant models below it are named, their ranks kept
    assert "a/part alone holds #1 (no tie)" in text
    assert "It was verified by finetuning on 1 of 3 tasks: no verdict over the suite yet" in text
    assert re.search(
        r"Below #1, \d models were verified by finetuning significantly above the "
        r"base, first a/m4 \(#2\): \+[\d.]+ \[\+[\d.]+, \+[\d.]+\] points",
        text,
    )
    plain = _text(sites["plain"] / "arch" / "roberta-base.html")
    assert "verified by finetuning" not in plain
