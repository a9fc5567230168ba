"""`ranker verify` end to end (issue 21) against the loopback hub: tiny BERTs finetuned on the
synthetic target suite (ranker/testing/targets.py). A model trained to help the suite gets a
significantly positive verified gain, its noised copy does not; a killed run resumes.

The one liberty: the tiny models learn nothing in ft-1's 39 steps at its learning rate (3e-5 is
a base-size model's; measured, the helpful model's stsb Pearson then keeps the random head's
sign: -0.86, -0.85, +0.86 over three seeds), so the verification test raises
`ft_protocol.LEARNING_RATE` to `TINY_LR` and checks that the results record it.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import REPO
from ranker import ft_protocol
from ranker.build.verified import verified_gains
from ranker.store import Store
from ranker.testing.hub import FakeHub
from ranker.testing.models import TINY_BERT, architectures_toml
from ranker.testing.targets import GLUE, HELPFUL, NOISED, PLAIN, SUPER_GLUE, probe_records
from ranker.testing.targets import verify_world as populate

BERT = TINY_BERT.base_id
TINY_LR = 3e-3  # see the module's docstring


@pytest.fixture(autouse=True)
def one_thread() -> Iterator[None]:
    """Tiny models train 20x faster on one torch thread than on two of a busy machine."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def world(hub: FakeHub, verify_models, monkeypatch, tmp_path: Path) -> dict[str, str]:
    """The hub serving the tiny BERTs and the suite; model id -> its commit."""
    shas = populate(hub, verify_models, BERT)
    hub.patch_endpoint(monkeypatch)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))
    return shas


@pytest.fixture
def store(tmp_path: Path, world: dict[str, str]) -> Store:
    """A store of the tiny BERT architecture whose catalog and probe results are the world's."""
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "architectures.toml").write_text(architectures_toml((TINY_BERT,)))
    store = Store(tmp_path / "data")
    results, catalog = probe_records(world, BERT)
    store.write_catalog(catalog)
    store.write_results(results)
    return store


def _units(top: list[str]) -> set[tuple[str, str, int]]:
    """(model, task, seed) of every unit a verification of `top` (and the base) runs."""
    out = set()
    for model in [BERT, *top]:
        for seed in ft_protocol.seeds_for("bert", is_base=model == BERT):
            out |= {(model, task.name, seed) for task in ft_protocol.SUITE}
    return out


def _args(store: Store, hub: FakeHub, tmp_path: Path, *extra: str) -> list[str]:
    return ["--data", str(store.root), "verify", "--endpoint", hub.url, "--device", "cpu",
            "--no-progress", "--cache-dir", str(tmp_path / "cache"), *extra]  # fmt: skip


def test_the_helpful_model_is_verified_and_its_noised_copy_is_not(
    store: Store, world: dict[str, str], hub: FakeHub, tmp_path: Path, monkeypatch, capsys
) -> None:
    from ranker.cli import main

    monkeypatch.setattr(ft_protocol, "LEARNING_RATE", TINY_LR)
    assert main(_args(store, hub, tmp_path, "--top-k", "2")) == 0, capsys.readouterr()

    results = store.finetunes()
    done = Counter((r.model_id, r.task, r.seed) for r in results)
    assert set(done) == _units([HELPFUL, NOISED])  # the top 2 and the base; not the plain one
    assert PLAIN not in {r.model_id for r in results} and max(done.values()) == 1
    for r in results:
        assert r.status == "ok", (r.model_id, r.task, r.error)
        assert r.revision == world[r.model_id] and r.protocol_version == "ft-1"
        assert r.is_base == (r.model_id == BERT) and r.metric == ft_protocol.TASKS[r.task].metric
        assert r.settings["learning_rate"] == TINY_LR  # the raised rate reached the loop
        repo = GLUE if r.task == "stsb" else SUPER_GLUE
        assert r.data_revision == hub.repos[("dataset", repo)].sha
        assert r.n_train == 200 and r.n_eval == 100 and r.weight_format == "safetensors"
    pins = store.target_revisions()
    assert pins["stsb"] == {"repo": GLUE, "revision": hub.repos[("dataset", GLUE)].sha}

    current = {e.model_id: e.sha for e in store.catalog()}
    gains = verified_gains(results, store.architectures(), current)
    helpful, noised = gains[HELPFUL], gains[NOISED]
    assert helpful.complete and helpful.significant, helpful
    assert helpful.low > 0.1, helpful  # not a marginal call
    assert noised.complete and not noised.significant, noised
    assert gains[BERT].is_base

    # a second run has nothing left to do: no unit runs again, nothing is appended
    before = store.path(Store.FINETUNES).read_bytes()
    assert main(_args(store, hub, tmp_path, "--top-k", "2")) == 0, capsys.readouterr()
    assert store.path(Store.FINETUNES).read_bytes() == before


def _lines(path: Path) -> list[dict]:
    """The complete JSON lines of a finetunes file (a torn last line left out)."""
    out = []
    for line in path.read_text().splitlines():
        try:
            out.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return out


def test_a_killed_verify_resumes_without_losing_or_repeating_a_unit(
    store: Store, world: dict[str, str], hub: FakeHub, tmp_path: Path
) -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO), "HF_ENDPOINT": hub.url,
           "HF_HUB_DISABLE_TELEMETRY": "1", "HF_HOME": str(tmp_path / "hf-home"),
           "OMP_NUM_THREADS": "1"}  # fmt: skip
    command = [sys.executable, "-m", "ranker", *_args(store, hub, tmp_path, "--top-k", "1")]
    finetunes = store.path(Store.FINETUNES)
    first = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                             start_new_session=True)  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and first.poll() is None:
            if finetunes.exists() and len(_lines(finetunes)) >= 3:
                break
            time.sleep(0.05)
        assert first.poll() is None, first.communicate()[0].decode()[-3000:]
        os.killpg(first.pid, signal.SIGKILL)
    finally:
        if first.poll() is None:
            os.killpg(first.pid, signal.SIGKILL)
        first.wait(timeout=30)
    stored = {(r["model_id"], r["task"], r["seed"]) for r in _lines(finetunes)}
    assert 3 <= len(stored) < len(_units([HELPFUL]))  # stopped part way
    with finetunes.open("a") as f:  # what a kill mid-write leaves: a torn last line
        f.write('{"schema_version": 1, "model_id": "tiny/be')

    second = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert second.returncode == 0, second.stdout[-3000:] + second.stderr[-3000:]

    lines = _lines(finetunes)
    keys = Counter((r["model_id"], r["revision"], r["task"], r["seed"]) for r in lines)
    assert max(keys.values()) == 1, [k for k, n in keys.items() if n > 1]  # none run twice
    assert {(m, t, s) for m, _, t, s in keys} == _units([HELPFUL])  # complete
    assert stored <= {(m, t, s) for m, _, t, s in keys}  # nothing stored before was lost
    assert all(r["status"] == "ok" for r in lines)
    assert len(store.finetunes()) == len(_units([HELPFUL]))
