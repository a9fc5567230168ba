"""bench/bench_finetune.py: the projection's arithmetic, the inputs' shapes, and `--quick` runs.

The script is not part of the package, so it is loaded from its file. `--quick` finetunes the
tests' tiny BERT for a few steps (a few seconds): the smoke test the bench's docstring names.
"""

from __future__ import annotations

import importlib.util
import json
import math
import sys

import numpy as np
import pytest

from conftest import REPO
from ranker import ft_protocol as ft


@pytest.fixture(scope="module")
def bf():
    spec = importlib.util.spec_from_file_location(
        "bench_finetune", REPO / "bench/bench_finetune.py"
    )
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_finetune"] = module
    spec.loader.exec_module(module)
    yield module
    del sys.modules["bench_finetune"]


def test_a_unit_is_capped_epochs_of_batches(bf) -> None:
    assert bf.unit_steps(5_749) == math.ceil(4_000 / 16) * 3 == 750
    assert bf.unit_steps(100) == 7 * 3  # under the cap: every example, a last short batch
    assert bf.unit_eval(3_270) == ft.EVAL_CAP and bf.unit_eval(638) == 638


def test_units_follow_the_seeds_of_ft1(bf) -> None:
    # (10 models x 3 seeds + the base's 5, or 10 for T5) x 3 tasks
    assert bf.units_per_architecture("bert") == (30 + 5) * 3 == 105
    assert bf.units_per_architecture("t5") == (30 + 10) * 3 == 120
    assert bf.units_per_architecture("roberta", top_k=1) == (3 + 5) * 3


def test_projection_adds_up(bf) -> None:
    measured = {t: {"step_s": 1.0, "eval_s_per_example": 0.01} for t in ft.TASKS}
    p = bf.project(measured)
    assert p["units"] == 4 * 105 + 2 * 120 == 660
    unit = {"stsb": 750 + 10.0, "boolq": 750 + 10.0, "wic": 750 + 6.38}
    assert p["unit_seconds_here"] == pytest.approx(unit)
    hours = 660 * sum(unit.values()) / 3 / 3600
    assert p["cpu_hours_here"] == pytest.approx(hours)
    one = p["matrix"]["1x"]
    assert one["hours_per_runner"] == pytest.approx(hours / 20)
    assert one["fits_job_limit"] == (hours / 20 <= 6)
    slow = bf.project({t: {"step_s": 10.0, "eval_s_per_example": 0.0} for t in ft.TASKS})
    assert not slow["matrix"]["2x"]["fits_job_limit"]  # 660 x 7,500 s / 2 / 20 = 34 h


def test_inputs_have_the_tasks_shapes(bf) -> None:
    rng = np.random.default_rng(0)
    sentences = bf.snli_sentences(None, 50)
    boolq = bf.task_texts("boolq", sentences, 20, rng)
    assert all(len(t) == 2 and 60 <= len(t[1].split()) < 160 for t in boolq)
    wic = bf.task_texts("wic", sentences, 5, rng)
    assert all(len(t) == len(ft.TASKS["wic"].text_fields) for t in wic)
    first, _ = bf.pair_inputs("wic", tuple(wic))
    assert all(f.startswith(f"{t[0]}: ") for f, t in zip(first, wic, strict=True))
    assert bf.labels_for("stsb", 4, rng).dtype == np.float64
    assert bf.labels_for("boolq", 4, rng).tolist() == [0, 1, 0, 1]


def test_quick_runs_and_reports(bf, tmp_path) -> None:
    out = tmp_path / "quick.json"
    report = bf.main(["--quick", "--tasks", "stsb", "boolq", "--json", str(out)])
    assert json.loads(out.read_text())["arch"] == "tiny-bert"
    for task in ("stsb", "boolq"):
        m = report["tasks"][task]
        assert m["steps"] == 3 and m["step_s"] > 0 and m["plain_step_s"] > 0
        assert max(m["padded_lengths"]) <= ft.MAX_LENGTH
    assert report["projection"]["units"] == 660
