"""bench/choose_suite.py: the finetuning suite's chooser, on tiny synthetic legacy stores.

The script is not part of the package, so it is loaded from its file; the store is written
through `ranker.store.Store`, as the script reads it.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest

from conftest import REPO, make_baselines, make_legacy_model
from ranker.records import LEGACY_TASKS
from ranker.store import Store

ARCHS = ("roberta-base", "bert-base-uncased", "t5-base")
ORACLE = "wic"  # the task made equal to the 36-task average


@pytest.fixture(scope="module")
def cs():
    spec = importlib.util.spec_from_file_location("choose_suite", REPO / "bench/choose_suite.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules["choose_suite"] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    yield module
    del sys.modules["choose_suite"]


def write_store(data: Path, n: int = 12, seed: int = 0) -> None:
    """Per architecture, n models of random scores with ORACLE set to the mean of the other 35
    tasks (so it is the mean of all 36 too), plus rows the chooser must leave out."""
    rng = np.random.default_rng(seed)
    models, baselines = [], []
    for arch in ARCHS:
        for i in range(n):
            scores = dict(zip(LEGACY_TASKS, rng.uniform(0.3, 0.9, 36).tolist(), strict=True))
            scores[ORACLE] = float(np.mean([v for t, v in scores.items() if t != ORACLE]))
            models.append(make_legacy_model(f"org/{arch}-{i}", arch, scores=scores))
        # left out: a shifted row, an incomplete one, the base itself
        models.append(make_legacy_model(f"org/{arch}-shifted", arch, flags=("shifted",)))
        partial = dict.fromkeys(LEGACY_TASKS, 0.5) | {"cola": None}
        models.append(make_legacy_model(f"org/{arch}-partial", arch, scores=partial))
        models.append(make_legacy_model(f"org/{arch}-base", arch, flags=("pretrained",)))
        baselines += make_baselines(arch, 0.5)
    store = Store(data)
    store.write_legacy_models(models)
    store.write_legacy_baselines(baselines)


@pytest.mark.parametrize("target", ["all", "rest"])
def test_chooser_picks_the_task_that_is_the_average(cs, store_dir: Path, target: str) -> None:
    write_store(store_dir)
    archs = cs.load(store_dir)
    assert [a.name for a in archs] == sorted(ARCHS)
    assert all(len(a.models) == 12 for a in archs)  # flagged and incomplete rows left out
    rows = cs.choices(archs, k_max=2, exhaustive=1, target=target)
    assert rows[0].tasks == (ORACLE,)
    assert rows[0].rho == pytest.approx(dict.fromkeys(rows[0].rho, 1.0))
    # chosen on the other architectures, it is still the oracle, so held out it scores 1 too
    assert set(rows[0].held_out_tasks.values()) == {(ORACLE,)}
    assert min(rows[0].held_out.values()) == pytest.approx(1.0)
    assert len(rows[1].tasks) == 2 and not rows[1].exhaustive  # the greedy path runs


def test_rest_target_is_the_average_of_the_tasks_outside(cs) -> None:
    """The vectorised "rest" Spearman equals the direct one (the tasks outside averaged)."""
    rng = np.random.default_rng(1)
    gains = rng.normal(size=(30, len(LEGACY_TASKS)))
    arch = cs.ArchData("a", (), gains, gains.mean(axis=1), np.full(30, np.nan), np.zeros(36))
    subsets = cs.all_subsets(2)[:50]
    fast = cs.spearman_subsets(arch, subsets, "rest")
    for subset, rho in zip(subsets, fast, strict=True):
        inside = np.isin(np.arange(len(LEGACY_TASKS)), subset)
        direct = cs.spearman(gains[:, inside].mean(axis=1), gains[:, ~inside].mean(axis=1))
        assert rho == pytest.approx(direct)
    assert not np.allclose(fast, cs.spearman_subsets(arch, subsets, "all"))


def test_main_prints_tables_and_the_recommendation(cs, store_dir: Path, capsys) -> None:
    write_store(store_dir)
    assert cs.main(["--data", str(store_dir), "--k-max", "2", "--exhaustive", "2"]) == 0
    out = capsys.readouterr().out
    assert "## target: all" in out and "## target: rest" in out
    assert "| 1 | wic |" in out
    assert out.rstrip().endswith(f"recommended suite (target rest): {ORACLE}")
