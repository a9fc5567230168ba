"""`ranker verify --executor ray` (ranker/executors/ray_units.py) on test_ray's loopback
two-node cluster: the same units give the same stored results as the local executor, each
stored once by the driver; a bug in a worker is reported and not stored; no Ray process is
left behind (test_ray's `cluster` fixture checks that when the module ends).

The units run a deterministic stand-in for the Finetuner (installed in each worker by the
executor's `setup` hook): what is tested is the executor's plumbing (data put once, one unit
per call, outcomes back, typed as locally), not finetuning (tests/test_finetune.py,
tests/test_verify_e2e.py)."""

from __future__ import annotations

import shutil
import sys
import zlib

import pytest
from test_ray import NEEDS_RAY, cluster, driver_on_loopback, ray  # noqa: F401  (fixtures)
from test_verify import result_for, store  # noqa: F401  (fixture)

from ranker.evaluate.evaluator import Options
from ranker.executors.units import LocalUnits, UnitWork
from ranker.store import Store
from ranker.verify import verify

BUGGY_TASK_SEED = ("wic", 1)  # the units whose run hits a bug of ours (not the model's)


class Stand:
    """A deterministic Finetuner: the score depends on the unit and on the task data passed
    in (so data that did not reach a worker would show), never on where it runs."""

    def __init__(self, tasks, options, *, hub=None, architectures=()) -> None:
        self.salt = tasks["salt"]

    def run(self, unit):
        if (unit.task, unit.seed) == BUGGY_TASK_SEED and not unit.is_base:
            raise KeyError("a bug in ranker")
        text = f"{unit.model_id} {unit.sha} {unit.task} {unit.seed} {self.salt}"
        return result_for(unit, score=zlib.crc32(text.encode()) / 2**32)


def install_stand() -> None:
    """Replace the Finetuner with `Stand` in this process (a worker, or the driver)."""
    import ranker.evaluate.finetune as finetune

    finetune.Finetuner = Stand


def essence(where) -> dict:
    return {r.key: (r.status, r.score) for r in where.finetunes()}


@NEEDS_RAY
def test_ray_and_local_store_the_same_results(
    cluster,  # noqa: F811
    driver_on_loopback,  # noqa: F811
    store,  # noqa: F811
    tmp_path,
    monkeypatch,
    capfd,
) -> None:
    from ranker.executors.ray_units import RayUnits

    options = Options(device="cpu", cache_dir=tmp_path / "cache", hub=None)
    tasks = {"salt": "target data v1"}
    kw = {"top_k": 1, "architectures": ["t5-base", "roberta-base"], "max_units": 60}
    local = Store(shutil.copytree(store.root, tmp_path / "local"))
    monkeypatch.setattr("ranker.evaluate.finetune.Finetuner", Stand)
    local_summary = verify(local, options=options, executor=LocalUnits(),
                           load_tasks=lambda pins: tasks, **kw)  # fmt: skip

    cluster.ready()
    ray.init(address=cluster.address, logging_level="ERROR")
    nodes = [n for n in ray.nodes() if n["Alive"]]
    assert len(nodes) == 2 and {n["NodeManagerAddress"] for n in nodes} == {"127.0.0.1"}, nodes
    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])  # Stand, to the workers
    ray.cloudpickle.register_pickle_by_value(sys.modules["test_verify"])  # result_for
    executor = RayUnits(address=cluster.address, setup=install_stand)
    saved = []
    real_save = store.save_finetune
    store.save_finetune = lambda r: (saved.append(r.key), real_save(r))[1]
    summary = verify(store, options=options, executor=executor,
                     load_tasks=lambda pins: tasks, **kw)  # fmt: skip
    err = capfd.readouterr().err

    assert executor.report() == "ray: 2 finetuning workers"
    assert summary.done and sorted(summary.done) == sorted(local_summary.done)
    assert len(saved) == len(set(saved)) == len(summary.done)  # each stored once
    assert essence(store) == essence(local)
    assert summary.bugs and sorted(summary.bugs) == sorted(local_summary.bugs)
    assert "KeyError: 'a bug in ranker'" in err
    assert all(r.key[3:] != BUGGY_TASK_SEED for r in store.finetunes() if not r.is_base)
    ray.shutdown()


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--ray-address", "127.0.0.1:1"], "--ray-address: only with --executor ray"),
        (["--cpus-per-worker", "2"], "--cpus-per-worker: only with --executor ray"),
    ],
)
def test_ray_flags_need_the_ray_executor(store, flags, message, capsys) -> None:  # noqa: F811
    from ranker.cli import main

    assert main(["verify", "--data", str(store.root), *flags]) == 1
    assert message in capsys.readouterr().err


@NEEDS_RAY
def test_real_tiny_units_score_the_same_on_ray_and_here(
    cluster,  # noqa: F811
    driver_on_loopback,  # noqa: F811
    hub,
    verify_models,
    monkeypatch,
    tmp_path,
) -> None:
    """Two real units (the base and a finetune of the tiny BERT, H1's Finetuner on H3's
    loopback world): the Ray workers score them exactly as this process does, seed for seed."""
    import torch

    from ranker.evaluate.finetune import Unit
    from ranker.evaluate.targets import load_suite, resolve_pins
    from ranker.executors.ray_units import RayUnits
    from ranker.hub import Hub
    from ranker.testing.models import TINY_BERT, architectures_toml
    from ranker.testing.targets import HELPFUL, verify_world

    base = TINY_BERT.base_id
    shas = verify_world(hub, verify_models, base)
    hub.patch_endpoint(monkeypatch)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "architectures.toml").write_text(architectures_toml((TINY_BERT,)))
    archs = Store(tmp_path / "data").architectures()
    door = Hub(endpoint=hub.url)
    tasks = load_suite(door, resolve_pins(door), cache_dir=tmp_path / "targets")
    units = [Unit(base, shas[base], archs[0].id, "stsb", 1, True),
             Unit(HELPFUL, shas[HELPFUL], archs[0].id, "wic", 2)]  # fmt: skip

    def scores(executor, cache: str) -> dict:
        options = Options(device="cpu", cache_dir=tmp_path / cache, hub=door)
        executor.start(UnitWork(tasks, options, archs))
        try:
            for unit in units:
                executor.submit(unit)
            outcomes = [executor.wait() for _ in units]
        finally:
            executor.close()
        assert all(o.result is not None and o.result.status == "ok" for o in outcomes), outcomes
        return {o.unit.key: o.result.score for o in outcomes}

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as a one-CPU Ray worker runs
    try:
        here = scores(LocalUnits(), "local")
    finally:
        torch.set_num_threads(threads)
    cluster.ready()
    ray.init(address=cluster.address, logging_level="ERROR")
    there = scores(RayUnits(address=cluster.address), "ray")
    ray.shutdown()
    assert here == there and len(here) == 2, (here, there)
