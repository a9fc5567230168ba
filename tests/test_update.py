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
from ranker.evaluate import protocol
from ranker.evaluate.data import load_probe_data
from ranker.evaluate.run import Options
from ranker.hub import Hub
from ranker.pipeline import pending, update
from ranker.store import Store
from ranker.testing.hub import FakeHub
from ranker.testing.models import register
from ranker.testing.nli import glue_mnli_files
from ranker.testing.world import (
    EXPECTED,
    MAX_PARAMS,
    REFUSED,
    ROBERTA,
    SCORED,
    populate_world,
    world_toml,
)
from ranker.update_cli import parse_duration

GOOD = sorted(m for m, (_, status, _, _) in EXPECTED.items() if status == "ok")
CONFIG = "GET /{repo}/resolve"
INFO = "GET /api/models/{repo}"


@pytest.fixture
def world(hub: FakeHub, tiny_files, monkeypatch, tmp_path: Path) -> FakeHub:
    populate_world(hub, tiny_files, marker=tmp_path / "evil-pickle-ran")
    hub.add_dataset("nyu-mll/glue", glue_mnli_files(train=600, dev=300))
    hub.patch_endpoint(monkeypatch)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))
    return hub


@pytest.fixture
def store(tmp_path: Path) -> Store:
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "architectures.toml").write_text(world_toml())
    return Store(tmp_path / "data")


def _update(store: Store, hub: FakeHub, tmp_path: Path, door: Hub | None = None, **kw):
    door = door or Hub(endpoint=hub.url, sleep=lambda s: None)
    return update(
        store,
        crawl_step=lambda: crawl(store, door, max_params=MAX_PARAMS),
        probe_data=lambda: load_probe_data(
            None, 300, 150, 0, cache_dir=tmp_path / "data-cache", hub=door
        ),
        options=Options(
            device="cpu",
            cache_dir=tmp_path / "cache",
            hub_cache=tmp_path / "hf",
            max_params=MAX_PARAMS,
            hub=door,
        ),
        **kw,
    )


def _per_repo(hub: FakeHub, *routes: str) -> dict[str, int]:
    out: dict[str, int] = {}
    for (route, repo), n in hub.repo_counts.items():
        if route in routes:
            out[repo] = out.get(repo, 0) + n
    return out


def test_two_nights_on_a_realistic_world(store, world, tmp_path) -> None:
    """Issue 9's world: every kind of repo the real hub holds, with its faults, two nights."""
    world.corrupt_bytes("org/bert-ft", "model.safetensors", times=1)  # same length, other bytes
    world.fail(429, route=INFO, repo="nyu-mll/glue", retry_after=0, times=1)
    world.fail(429, route="GET /api/datasets/{repo}", repo="nyu-mll/glue", retry_after=0, times=1)
    world.drop(route="GET /{repo}/resolve", repo="org/roberta-ft", times=1)  # no answer at all
    world.fail(503, route="GET /{repo}/resolve", repo="old/roberta-untagged",
               path="model.safetensors", times=None)  # fmt: skip
    first = _update(store, world, tmp_path)

    results = {r.model_id: r for r in store.results()}
    assert sorted(results) == GOOD, first.text()  # every catalogued model has a record
    for model, fmt in SCORED.items():
        if model == "old/roberta-untagged":
            continue
        r = results[model]
        assert r.status == "ok", (model, r.error)
        assert r.weight_format == fmt and r.revision == world.model(model).sha
        assert r.data_revision == world.repos[("dataset", "nyu-mll/glue")].sha
    for model, reason in REFUSED.items():
        r = results[model]
        assert (r.status, r.reason, r.failure) == ("error", reason, "permanent"), r.error
    assert "checkpoint-500/" in results["x/bert-subfolder"].error
    assert not (tmp_path / "evil-pickle-ran").exists()  # the pickle's payload never ran
    # the corrupted download was detected, fetched again and scored on the right bytes
    assert results["org/bert-ft"].accuracy == results["org/bert-ft-alias"].accuracy
    # the hub's flaky answers were retried; the one that kept failing is transient
    stuck = results["old/roberta-untagged"]
    assert (stuck.status, stuck.reason, stuck.failure) == ("error", "server-error", "transient")
    assert "HTTP 503" in stuck.error.splitlines()[0]
    assert first.transient == 1 and first.left == 1
    assert not first.bugs
    # nothing of the sha-that-is-a-path was used: no file anywhere outside the caches
    assert not list(tmp_path.rglob("outside")) and not (tmp_path.parent / "outside").exists()
    # every file was fetched at its listed commit
    assert all("/resolve/main/" not in path for _, path, _ in world.log)

    # Night two: the transient failure is scored, the permanent ones are not retried, and
    # unchanged models cost no config or info request.
    world.clear_faults()
    world.set_listing_field("x/roberta-typo", "downloads", "lots")  # still malformed
    world.set_listing_field("x/roberta-sha-path", "sha", "../../../../outside")
    catalog = store.path("catalog.jsonl").read_bytes()
    world.reset_counts()
    second = _update(store, world, tmp_path)
    assert second.evaluated == ["old/roberta-untagged"]
    assert {r.model_id: r.status for r in store.results()}["old/roberta-untagged"] == "ok"
    assert store.path("catalog.jsonl").read_bytes() == catalog
    assert _per_repo(world, INFO) == {}
    assert set(_per_repo(world, CONFIG)) == {"old/roberta-untagged"}  # its files, nothing else
    assert world.repo_counts[(CONFIG, "old/roberta-untagged")] == 4  # config, tokenizer, weights
    assert not set(REFUSED) & set(_per_repo(world, *world.counts))

    # Night three: a repo is renamed, and the hub rate-limits the one info call that finds out.
    world.rename("org/t5-ft", "neworg/t5-ft")
    world.fail(429, route=INFO, repo="org/t5-ft", retry_after=0, times=1)
    third = _update(store, world, tmp_path)
    assert third.crawl.renamed == {"org/t5-ft": "neworg/t5-ft"} and third.evaluated == []
    scored = {r.model_id for r in store.results() if r.status == "ok"}
    assert "neworg/t5-ft" in scored and "org/t5-ft" not in scored  # one identity, not re-run


@pytest.mark.parametrize("fault", ["503", "never answers"])
def test_a_hub_that_is_down_stores_no_failures(store, world, tmp_path, fault) -> None:
    _update(store, world, tmp_path, max_models=2)  # MNLI is cached from here on
    before = {p.name: p.read_bytes() for p in store.results_dir.glob("*.jsonl")}
    if fault == "503":
        world.fail(503, times=None)  # every route, every time
    else:
        world.stall(times=None)
    door = Hub(endpoint=world.url, timeout=0.5, attempts=2, sleep=lambda s: None)
    start = time.monotonic()
    summary = _update(store, world, tmp_path, door=door)
    assert time.monotonic() - start < 30  # two tries of one listing, then it stops
    assert summary.crawl.unreachable and summary.evaluated == []
    assert "evaluation skipped: the hub could not be reached" in summary.text()
    assert {p.name: p.read_bytes() for p in store.results_dir.glob("*.jsonl")} == before


def test_transient_failures_in_a_row_stop_the_run(store, world, tmp_path) -> None:
    crawl(store, Hub(endpoint=world.url), max_params=MAX_PARAMS)
    world.fail(503, route="GET /api/models/{repo}/tree", times=None)
    summary = _update(store, world, tmp_path, door=Hub(endpoint=world.url, sleep=lambda s: 0))
    assert summary.stopped_by == "hub-unreachable"
    assert len(summary.evaluated) == 3 and summary.transient == 3
    assert summary.left == len(GOOD)  # nothing settled: all of it is tried next run


def test_a_bug_of_ours_is_reported_not_stored(store, world, tmp_path, monkeypatch) -> None:
    import ranker.evaluate.run as run

    real = run.evaluate_model

    def buggy(model, *args, **kw):
        if model == "org/roberta-ft":
            raise KeyError("a bug in ranker")
        return real(model, *args, **kw)

    monkeypatch.setattr(run, "evaluate_model", buggy)
    summary = _update(store, world, tmp_path)
    assert summary.bugs == ["org/roberta-ft"]
    assert "org/roberta-ft" not in {r.model_id for r in store.results()}
    assert "BUG: 1 models hit an error in ranker itself" in summary.text()
    assert "org/roberta-ft" in {e.model_id for e in pending(store, protocol.PROTOCOL_VERSION)}


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
    assert world.per_repo(INFO) == {"old/roberta-untagged": 1}  # gone: renamed or removed?
    asked = set(world.per_repo(CONFIG))
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
    assert all(m.startswith("tiny/") for m in first.evaluated)  # bases first
    _update(store, world, tmp_path)
    forced = _update(store, world, tmp_path, force=True, architectures=[ROBERTA])
    assert sorted(forced.evaluated) == sorted(m for m in GOOD if EXPECTED[m][0] == ROBERTA)


def test_sigkill_mid_evaluation_loses_nothing_and_the_rerun_completes(
    store, world, tmp_path
) -> None:
    crawl(store, Hub(endpoint=world.url), max_params=MAX_PARAMS)
    queue = [e.model_id for e in pending(store, protocol.PROTOCOL_VERSION)]
    victim = queue[3]
    world.stall(60, route="GET /{repo}/resolve", repo=victim)  # the 4th model hangs
    world.reset_counts()  # the crawl read its config: count from here
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
    output = proc.communicate(timeout=30)[0].decode()
    before = store.results()  # reads back: nothing corrupt
    assert before, output[-3000:]
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
