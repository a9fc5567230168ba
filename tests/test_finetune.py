"""The ft-1 unit (ranker/evaluate/finetune.py) and its target data (ranker/evaluate/targets.py)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch")

from ranker import ft_protocol
from ranker.errors import RunFailure, StoreError
from ranker.evaluate.evaluator import Options
from ranker.evaluate.finetune import Finetuner, Unit
from ranker.evaluate.targets import Examples, TaskData, read_split, sample
from ranker.testing import targets as synthetic
from ranker.testing.models import tiny_model, with_custom_code


@pytest.fixture(scope="module")
def suite(tmp_path_factory) -> dict[str, TaskData]:
    root = tmp_path_factory.mktemp("targets")
    out = {}
    for name, task in ft_protocol.TASKS.items():
        splits = []
        for split, n, seed in (("train", 96, 1), ("validation", 48, 2)):
            path = root / f"{name}-{split}.parquet"
            synthetic.task_frame(name, n, seed).to_parquet(path)
            splits.append(read_split(task, [str(path)], split))
        out[name] = TaskData(task, splits[0], splits[1], "a" * 40)
    return out


def folder(root: Path, files: dict[str, bytes]) -> str:
    root.mkdir(parents=True, exist_ok=True)
    for name, data in files.items():
        (root / name).write_bytes(data)
    return str(root)


def test_a_seed_gives_the_same_score_twice_and_the_result_records_the_protocol(
    suite, tmp_path
) -> None:
    model = folder(tmp_path / "m", tiny_model("bert"))
    tuner = Finetuner(suite, Options(device="cpu", cache_dir=tmp_path / "cache"))
    first = tuner.run(Unit(model, "local", "bert", "stsb", 0))
    again = tuner.run(Unit(model, "local", "bert", "stsb", 0))
    other = tuner.run(Unit(model, "local", "bert", "stsb", 1))
    assert first.status == "ok" and first.score == again.score
    assert first.score != other.score  # the seed moves the head, dropout and the batch order
    assert -1.0 <= first.score <= 1.0 and first.metric == "pearson"
    assert first.settings == ft_protocol.settings() and first.protocol_version == "ft-1"
    assert (first.n_train, first.n_eval) == (96, 48)
    assert first.data_fingerprint == suite["stsb"].fingerprint and first.data_revision == "a" * 40
    assert {"download", "load", "train", "eval"} <= set(first.timings)
    boolq = tuner.run(Unit(model, "local", "bert", "boolq", 0))
    assert boolq.metric == "accuracy" and 0.0 <= boolq.score <= 1.0


def test_a_refused_model_is_an_error_record_with_its_typed_reason(suite, tmp_path) -> None:
    model = folder(tmp_path / "remote", with_custom_code(tiny_model("bert")))
    result = Finetuner(suite, Options(device="cpu")).run(Unit(model, "local", "bert", "wic", 0))
    assert result.status == "error" and result.reason == "custom-code"
    assert result.failure == "permanent" and result.score is None


def test_the_runs_own_fault_stops_the_run_and_is_not_stored(suite, tmp_path) -> None:
    import torch

    if torch.cuda.is_available():
        pytest.skip("needs a machine without CUDA")
    model = folder(tmp_path / "m", tiny_model("bert"))
    with pytest.raises(RunFailure):
        Finetuner(suite, Options(device="cuda")).run(Unit(model, "local", "bert", "wic", 0))


def test_samples_are_capped_stratified_and_independent_of_file_order() -> None:
    n = 1_000
    labels = np.array([0] * 900 + [1] * 100)
    ex = Examples(tuple(f"train-{i}" for i in range(n)), tuple((str(i), "x") for i in range(n)),
                  labels)  # fmt: skip
    got = sample(ex, 100, 5, stratified=True)
    assert len(got) == 100 and int(got.labels.sum()) == 10
    shuffled = ex.take(np.random.default_rng(0).permutation(n))
    assert sample(shuffled, 100, 5, stratified=True).ids == got.ids
    assert sample(ex, 5_000, 5, stratified=True).ids == tuple(sorted(ex.ids))


def test_a_missing_column_names_the_file_and_the_column(tmp_path) -> None:
    frame = synthetic.task_frame("wic", 10, 0).drop(columns=["word"])
    path = tmp_path / "wic.parquet"
    frame.to_parquet(path)
    with pytest.raises(StoreError, match="'word'") as caught:
        read_split(ft_protocol.TASKS["wic"], [str(path)], "train")
    assert str(path) in str(caught.value)
