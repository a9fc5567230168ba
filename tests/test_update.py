"""`ranker update` end to end against the loopback hub: faults, increments, budgets, SIGKILL."""

from __future__ import annotations

import itertools
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import REPO
from ranker.crawl import crawl
from ranker.crawl.hub import HubClient
from ranker.evaluate import protocol
from ranker.evaluate.data import load_probe_data
from ranker.evaluate.run import Options
from ranker.pipeline import failure_reason, pending, update
from ranker.store import Store
from ranker.testing.hub import FakeHub
from ranker.testing.models import architectures_toml, register
from ranker.testing.nli import glue_mnli_files
from ranker.testing.world import EXPECTED, MAX_PARAMS, ROBERTA, populate_world
from ranker.update_cli import parse_duration

GOOD = sorted(m for m, (_, status, _, _) in EXPECTED.items() if status == "ok")


@pytest.fixture
def world(hub: FakeHub, tiny_files, monkeypatch, tmp_path: Path) -> FakeHub:
    populate_world(hub, tiny_files)
    hub.add_dataset("nyu-mll/glue", glue_mnli_files(train=600, dev=300))
    hub.patch_endpoint(monkeypatch)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))
    return hub


@pytest.fixture
def store(tmp_path: Path) -> Store:
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "architectures.toml").write_text(architectures_toml())
    return Store(tmp_path / "data")


def _update(store: Store, hub: FakeHub, tmp_path: Path, **kw):
    client = HubClient(endpoint=hub.url)
    return update(
        store,
        crawl_step=lambda: crawl(store, client, max_params=MAX_PARAMS),
        probe_data=lambda: load_probe_data(None, 300, 150, 0, cache_dir=tmp_path / "data-cache"),
        options=Options(
            device="cpu",
            cache_dir=tmp_path / "cache",
            hub_cache=tmp_path / "hf",
            max_params=MAX_PARAMS,
        ),
        **kw,
    )


def test_update_survives_faults_and_stores_every_failure(
    store, world, tmp_path, monkeypatch
) -> None:
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_DOWNLOAD_TIMEOUT", 1)
    world.stall(3, route="GET /{repo}/resolve", repo="org/bert-ft-alias", path="model.safetensors")
    world.fail(404, repo="old/roberta-untagged", path="tokenizer.json")
    world.corrupt_safetensors("old/bert-untagged")
    world.truncate("org/roberta-ft", "model.safetensors", times=None)  # every try is cut short
    world.fail(503, route="GET /api/models/{repo}", repo="org/bert-ft", times=1)
    world.fail(429, route="GET /api/models", retry_after=0, times=1)
    summary = _update(store, world, tmp_path)

    results = {r.model_id: r for r in store.results()}
    assert sorted(results) == GOOD  # every catalogued good model has a record
    failed = {m for m, r in results.items() if r.status == "error"}
    assert failed == {"old/bert-untagged", "org/roberta-ft", "org/bert-ft", "old/roberta-untagged"}
    assert "safetensors" in results["old/bert-untagged"].error
    assert "404" in results["old/roberta-untagged"].error
    assert "503" in results["org/bert-ft"].error
    # the stalled download timed out once and was retried by huggingface_hub: the model scored
    assert results["org/bert-ft-alias"].status == "ok"
    assert world.repo_counts[("GET /{repo}/resolve", "org/bert-ft-alias")] >= 2
    assert all(results[m].error for m in failed)
    for m in set(GOOD) - failed:
        r = results[m]
        assert r.status == "ok" and r.accuracy_low <= r.accuracy <= r.accuracy_high
        assert r.revision == world.model(m).sha and r.protocol_version == protocol.PROTOCOL_VERSION
    assert summary.failed == {"unreadable-weights": 1, "download": 3}
    assert "evaluated 7 of 7 queued: 3 scored, 4 failed" in summary.text()
    # downloaded weights are deleted after each model, the bases' stay
    left = sorted(p.name for p in (tmp_path / "hf").glob("models--*"))
    assert left == ["models--tiny--bert-base", "models--tiny--roberta-base"]


def test_second_update_evaluates_exactly_the_new_and_the_changed(
    store, world, tiny_files, tmp_path
) -> None:
    first = _update(store, world, tmp_path)
    assert sorted(first.evaluated) == GOOD
    catalog_before = store.path("catalog.jsonl").read_bytes()

    register(world, "new/roberta-ft", tiny_files["roberta-cls"], model_type="roberta",
             base_id=ROBERTA)  # fmt: skip
    new_sha = world.commit("org/bert-ft", {"README.md": b"# v2"})
    world.remove("old/roberta-untagged")
    world.reset_counts()
    second = _update(store, world, tmp_path)

    assert sorted(second.evaluated) == ["new/roberta-ft", "org/bert-ft"]
    assert second.crawl.new == ["new/roberta-ft"] and second.crawl.changed == ["org/bert-ft"]
    assert second.crawl.removed == ["old/roberta-untagged"]
    info_calls = world.per_repo("GET /api/models/{repo}")
    revision_calls = world.per_repo("GET /api/models/{repo}/revision/{rev}")
    asked = set(info_calls) | set(revision_calls)
    assert asked <= {"new/roberta-ft", "org/bert-ft", "tiny/bert-base", "tiny/roberta-base"}
    assert "org/roberta-ft" not in asked and "old/bert-untagged" not in asked
    results = store.results()
    assert {(r.model_id, r.revision) for r in results if r.model_id == "org/bert-ft"} >= {
        ("org/bert-ft", new_sha)
    }
    # the removed model keeps its history: catalogued as removed, its result still stored
    entry = next(e for e in store.catalog() if e.model_id == "old/roberta-untagged")
    assert entry.status == "removed"
    assert any(r.model_id == "old/roberta-untagged" for r in results)
    assert store.path("catalog.jsonl").read_bytes() != catalog_before

    third = _update(store, world, tmp_path)  # nothing changed on the hub
    assert third.evaluated == [] and third.queued == 0


def test_time_budget_stops_cleanly_and_the_next_run_continues(store, world, tmp_path) -> None:
    ticks = itertools.count(step=10.0)  # every clock reading is 10 s after the last
    first = _update(store, world, tmp_path, time_budget=45, clock=lambda: next(ticks))
    assert first.stopped_by == "time-budget" and 0 < len(first.evaluated) < len(GOOD)
    assert first.left == len(GOOD) - len(first.evaluated)
    assert {r.model_id for r in store.results()} == set(first.evaluated)
    second = _update(store, world, tmp_path, max_models=100)
    assert sorted(first.evaluated + second.evaluated) == GOOD
    assert pending(store, protocol.PROTOCOL_VERSION) == []


def test_max_models_bounds_a_run_and_force_re_evaluates(store, world, tmp_path) -> None:
    first = _update(store, world, tmp_path, max_models=2)
    assert len(first.evaluated) == 2 and first.stopped_by == "max-models"
    assert first.evaluated == ["tiny/bert-base", "tiny/roberta-base"]  # bases first
    _update(store, world, tmp_path)
    forced = _update(store, world, tmp_path, force=True, architectures=[ROBERTA])
    assert sorted(forced.evaluated) == sorted(m for m in GOOD if EXPECTED[m][0] == ROBERTA)


def test_sigkill_mid_evaluation_loses_nothing_and_the_rerun_completes(
    store, world, tmp_path
) -> None:
    crawl(store, HubClient(endpoint=world.url), max_params=MAX_PARAMS)
    queue = [e.model_id for e in pending(store, protocol.PROTOCOL_VERSION)]
    victim = queue[3]
    world.stall(60, route="GET /{repo}/resolve", repo=victim)  # the 4th model hangs
    env = {**os.environ, "PYTHONPATH": str(REPO), "HF_ENDPOINT": world.url,
           "HF_HUB_DISABLE_TELEMETRY": "1", "HF_HOME": str(tmp_path / "hf-home")}  # fmt: skip
    cmd = [sys.executable, "-m", "ranker", "update", "--data", str(store.root), "--no-crawl",
           "--no-build", "--no-progress", "--train-size", "300", "--eval-size", "150",
           "--max-params", str(MAX_PARAMS), "--cache-dir", str(tmp_path / "cache")]  # fmt: skip
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if world.repo_counts.get(("GET /{repo}/resolve", victim)):
            break  # it is downloading the stalled model
        time.sleep(0.2)
    else:
        proc.kill()
        pytest.fail(proc.communicate()[0].decode()[-2000:])
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    before = store.results()  # reads back: nothing corrupt
    assert [r.model_id for r in before] and {r.model_id for r in before} == set(queue[:3])
    assert not list(store.root.glob(".*.tmp"))

    world.clear_faults()
    rerun = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    after = {r.model_id: r for r in store.results()}
    assert sorted(after) == sorted(queue)
    for r in before:
        assert after[r.model_id] == r  # what was stored before the kill is kept as it was
    assert f"evaluated {len(queue) - 3} of {len(queue) - 3} queued" in rerun.stdout


@pytest.mark.parametrize(
    ("text", "seconds"), [("3600", 3600), ("90m", 5400), ("4.5h", 16200), ("20s", 20), (None, None)]
)
def test_parse_duration(text, seconds) -> None:
    assert parse_duration(text) == seconds


def test_failure_reasons() -> None:
    assert failure_reason("x: no safetensors weights (pickle-only ...)") == "no-safetensors"
    assert (
        failure_reason("model.safetensors: not a readable safetensors file") == "unreadable-weights"
    )
    assert failure_reason("something else") == "other"
