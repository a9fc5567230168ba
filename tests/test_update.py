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
from ranker import protocol
from ranker.cli.options import parse_duration
from ranker.crawl import crawl
from ranker.errors import HubFailure, ModelFailure, Reason, RunFailure
from ranker.evaluate.data import load_probe_data
from ranker.evaluate.evaluator import Options
from ranker.hub import Hub
from ranker.pipeline import MAX_RESOURCE_NIGHTS, pending, update
from ranker.store import Store
from ranker.testing.hub import FakeHub
from ranker.testing.models import register
from ranker.testing.nli import glue_mnli_files
from ranker.testing.world import (
    BERT,
    DEBERTA,
    EXPECTED,
    MAX_PARAMS,
    REFUSED,
    ROBERTA,
    SCORED,
    T5,
    populate_world,
    world_toml,
)

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


def _update(
    store: Store,
    hub: FakeHub,
    tmp_path: Path,
    door: Hub | None = None,
    device: str = "cpu",
    crawl_step: bool = True,
    **kw,
):
    door = door or Hub(endpoint=hub.url, sleep=lambda s: None)
    return update(
        store,
        crawl_step=(lambda: crawl(store, door, max_params=MAX_PARAMS)) if crawl_step else None,
        probe_data=lambda: load_probe_data(
            None, 300, 150, 0, cache_dir=tmp_path / "data-cache", hub=door
        ),
        options=Options(
            device=device,
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
    with pytest.raises(RunFailure, match="the hub failed 3 models in a row") as info:
        _update(store, world, tmp_path, door=Hub(endpoint=world.url, sleep=lambda s: 0))
    assert info.value.reason is Reason.HUB_DOWN and "\n" not in str(info.value)
    assert [r.failure for r in store.results()] == ["transient"] * 3  # re-queued, not settled
    assert len(pending(store, protocol.PROTOCOL_VERSION)) == len(GOOD)


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


# -- whose fault is it: where each failure lands ------------------------------------------------


def _nothing_stored_for(store: Store, models: set[str]) -> None:
    stored = {r.model_id for r in store.results()}
    assert not stored & models, stored & models
    queued = {e.model_id for e in pending(store, protocol.PROTOCOL_VERSION)}
    assert models <= queued


def test_no_device_stops_the_run_before_the_crawl(store, world, tmp_path, monkeypatch) -> None:
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(RunFailure, match="no CUDA device") as info:
        _update(store, world, tmp_path, device="cuda")
    assert info.value.reason is Reason.NO_DEVICE and "\n" not in str(info.value)
    assert not world.log and not store.path("catalog.jsonl").exists()  # the catalog as it was
    assert store.results() == []


def test_a_missing_dependency_stops_the_run_storing_nothing_for_the_model(
    store, world, tmp_path, monkeypatch
) -> None:
    """`sentencepiece` missing: our installation's fault, not the SentencePiece-only models'."""
    from ranker.evaluate import features as F

    monkeypatch.setattr(F, "_importable", lambda module: module != "sentencepiece")
    _update(store, world, tmp_path, architectures=[BERT], max_models=1)
    before = store.results()
    with pytest.raises(RunFailure, match="needs sentencepiece") as info:
        _update(store, world, tmp_path, architectures=[DEBERTA, T5])
    assert info.value.reason is Reason.DEPENDENCY and "\n" not in str(info.value)
    assert store.results() == before and before[0].model_id == BERT  # what was stored stays
    _nothing_stored_for(store, {DEBERTA, T5, "org/deberta-ft", "org/t5-ft"})


def test_a_bad_token_stops_the_run_storing_nothing(store, world, tmp_path) -> None:
    """The hub's 401 "Invalid credentials" is the run's token, not any model's absence."""
    good = Hub(endpoint=world.url, sleep=lambda s: None)
    crawl(store, good, max_params=MAX_PARAMS)
    bad = Hub(endpoint=world.url, token="hf_expired", sleep=lambda s: None)  # not accepted
    with pytest.raises(RunFailure) as info:
        update(
            store,
            crawl_step=None,
            probe_data=lambda: load_probe_data(
                None, 300, 150, 0, cache_dir=tmp_path / "data-cache", hub=good
            ),
            options=Options(
                device="cpu",
                cache_dir=tmp_path / "cache",
                hub=bad,
                hub_cache=tmp_path / "hf",
                max_params=MAX_PARAMS,
            ),
        )
    assert info.value.reason is Reason.BAD_TOKEN and "\n" not in str(info.value)
    assert store.results() == []


def test_the_quota_spent_past_the_time_budget_stops_the_run(
    store, world, tmp_path, monkeypatch
) -> None:
    """The door waits on a spent quota within the run's time budget; past it, the run stops."""
    from ranker.testing.quota import Quota

    crawl(store, Hub(endpoint=world.url), max_params=MAX_PARAMS)
    door = Hub(endpoint=world.url, sleep=lambda s: None)
    load_probe_data(None, 300, 150, 0, cache_dir=tmp_path / "data-cache", hub=door)
    monkeypatch.setattr(world, "quota", Quota(api=1, resolvers=1, pages=1, window=300.0))
    with pytest.raises(RunFailure) as info:
        _update(store, world, tmp_path, door=door, crawl_step=False, time_budget=20)
    assert info.value.reason is Reason.QUOTA and "\n" not in str(info.value)
    assert store.results() == []
    assert door.deadline is not None  # set from the time budget


def test_a_rate_limit_is_neither_stored_nor_counted_as_the_hub_being_down(
    store, world, tmp_path, monkeypatch
) -> None:
    from ranker.evaluate import fetch

    real = fetch.resolve

    def limited(model, *args, **kw):
        if model != BERT:
            raise HubFailure(f"{model}: 429 past the quota", Reason.RATE_LIMITED)
        return real(model, *args, **kw)

    monkeypatch.setattr(fetch, "resolve", limited)
    summary = _update(store, world, tmp_path, architectures=[BERT])  # no stop, though > 3
    finetunes = {m for m in GOOD if EXPECTED[m][0] == BERT and m != BERT}
    assert set(summary.rate_limited) == finetunes and len(finetunes) > 3
    assert "models met the hub's rate limit (not stored, queued)" in summary.text()
    assert {r.model_id for r in store.results()} == {BERT}
    _nothing_stored_for(store, finetunes)


def test_a_base_that_fails_is_stored_once_and_its_finetunes_wait(
    store, world, tmp_path, monkeypatch
) -> None:
    from ranker.errors import ModelRefused
    from ranker.evaluate import features as F

    real = F.load_body

    def base_unreadable(ckpt, device):
        if ckpt.model_id == ROBERTA:
            raise ModelRefused(f"{ROBERTA}: unreadable", Reason.UNREADABLE_WEIGHTS)
        return real(ckpt, device)

    monkeypatch.setattr(F, "load_body", base_unreadable)
    first = _update(store, world, tmp_path, architectures=[ROBERTA])
    finetunes = {m for m in GOOD if EXPECTED[m][0] == ROBERTA and m != ROBERTA}
    results = {r.model_id: r for r in store.results()}
    assert (results[ROBERTA].reason, results[ROBERTA].failure) == ("unreadable-weights",
                                                                  "permanent")  # fmt: skip
    _nothing_stored_for(store, finetunes)
    assert f"base {ROBERTA} failed (unreadable-weights): {len(finetunes)} finetunes wait" in (
        first.text()
    )
    assert set(results) == {ROBERTA}

    world.reset_counts()  # night two: the base's failure is stored; no finetune is tried
    second = _update(store, world, tmp_path, architectures=[ROBERTA])
    assert second.evaluated == [] and sorted(second.waiting[ROBERTA].models) == sorted(finetunes)
    assert not set(world.per_repo(CONFIG)) & finetunes  # not one of their files fetched
    _nothing_stored_for(store, finetunes)


def test_a_base_failing_under_a_finetune_holds_back_its_architecture(
    store, world, tmp_path, monkeypatch
) -> None:
    import ranker.evaluate.run as run

    calls: list[str] = []
    real = run.evaluate_model

    def base_down(model, *args, **kw):
        calls.append(model)
        if model != ROBERTA:
            raise run.BaseUnavailable(ROBERTA, "HTTP 503", Reason.SERVER_ERROR)
        return real(model, *args, **kw)

    monkeypatch.setattr(run, "evaluate_model", base_down)
    summary = _update(store, world, tmp_path, architectures=[ROBERTA])
    finetunes = {m for m in GOOD if EXPECTED[m][0] == ROBERTA and m != ROBERTA}
    assert calls[:2] == [ROBERTA, calls[1]] and len(calls) == 2  # one finetune tried, not all
    assert set(summary.waiting[ROBERTA].models) == finetunes and not summary.bugs
    assert {r.model_id for r in store.results()} == {ROBERTA}
    _nothing_stored_for(store, finetunes)


def test_a_resource_failure_is_retried_then_stored_with_its_figure(
    store, world, tmp_path, monkeypatch
) -> None:
    """A killed child is re-queued for MAX_RESOURCE_NIGHTS nights, then stored as permanent
    with the measured figure; a folder named like the repo in the working directory is never
    read in its place (issue 22)."""
    from ranker.evaluate.evaluator import Evaluator

    monkeypatch.chdir(tmp_path)
    decoy = tmp_path / "org" / "roberta-ft"  # a folder named like a hub repo, in the cwd
    decoy.mkdir(parents=True)
    (decoy / "config.json").write_text('{"model_type": "roberta"}')
    (decoy / "model.safetensors").write_bytes(b"not weights")
    real = Evaluator.score

    def killed(self, request, *args, **kw):
        if request.model == "x/roberta-pickle":
            raise ModelFailure("the pickle-conversion child was killed by SIGKILL (likely out of "
                               "memory); needs more than 3.0 GiB", Reason.CHILD_KILLED)  # fmt: skip
        return real(self, request, *args, **kw)

    monkeypatch.setattr(Evaluator, "score", killed)
    for night in range(1, MAX_RESOURCE_NIGHTS + 1):
        summary = _update(store, world, tmp_path, architectures=[ROBERTA])
        r = {r.model_id: r for r in store.results()}["x/roberta-pickle"]
        assert r.reason == "child-killed" and r.resource_nights == night
        if night < MAX_RESOURCE_NIGHTS:
            assert r.failure == "resource" and summary.resource == 1
            queued = pending(store, protocol.PROTOCOL_VERSION)
            assert "x/roberta-pickle" in {e.model_id for e in queued}
        else:
            assert r.failure == "permanent" and "needs more than 3.0 GiB" in r.error
            assert f"{MAX_RESOURCE_NIGHTS} nights in a row" in r.error
    assert _update(store, world, tmp_path, architectures=[ROBERTA]).queued == 0
    scored = {r.model_id: r for r in store.results()}["org/roberta-ft"]
    assert scored.status == "ok" and scored.revision == world.model("org/roberta-ft").sha


def test_no_token_runs_anonymous_though_hf_token_is_set(
    store, world, tmp_path, monkeypatch, capsys
) -> None:
    """Jobs that load untrusted weights run anonymous (`--no-token`): no Authorization header,
    so a token in the environment (here one the hub refuses) is never sent."""
    from ranker.cli import main

    monkeypatch.setenv("HF_TOKEN", "hf_refused")
    args = ["--data", str(store.root), "update", "--endpoint", world.url, "--no-build",
            "--no-progress", "--max-models", "1", "--train-size", "300", "--eval-size", "150",
            "--max-params", str(MAX_PARAMS), "--cache-dir", str(tmp_path / "cache"),
            "--device", "cpu"]  # fmt: skip
    assert main(args) == 1  # the refused token: the run stops, with one line
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("ranker update: error:"), err
    assert store.results() == []
    assert main([*args, "--no-token"]) == 0, capsys.readouterr()
    assert len(store.results()) == 1


def test_shards_that_share_a_token_share_its_quota(monkeypatch: pytest.MonkeyPatch) -> None:
    """The quota is the token's user's: shard I/N that sends the run's token spends 1/N of each
    window; anonymous shards (each runner its own per-IP quota) and unsharded runs spend all."""
    from ranker.cli.update import quota_share

    monkeypatch.setenv("HF_TOKEN", "hf_shared")
    assert quota_share(None, (1, 4)) == 0.25
    assert quota_share(None, None) == 1.0
    assert quota_share(False, (1, 4)) == 1.0
    monkeypatch.delenv("HF_TOKEN")
    monkeypatch.setenv("HF_HOME", "/nonexistent-hf-home")
    assert quota_share(None, (1, 4)) == 1.0
