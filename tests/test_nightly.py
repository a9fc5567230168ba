"""The nightly job's own script (scripts/nightly.sh), night after night, against the loopback hub."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from conftest import REPO
from ranker.testing.hub import FakeHub
from ranker.testing.models import architectures_toml, register
from ranker.testing.nli import glue_mnli_files
from ranker.testing.world import MAX_PARAMS, ROBERTA, populate_world


def _git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(repo), *args], check=True, capture_output=True, text=True
    ).stdout


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A fresh clone-like repo: the nightly script and a store of the tiny architectures."""
    repo = tmp_path / "repo"
    (repo / "scripts").mkdir(parents=True)
    shutil.copy(REPO / "scripts" / "nightly.sh", repo / "scripts" / "nightly.sh")
    (repo / "data").mkdir()
    (repo / "data" / "architectures.toml").write_text(architectures_toml())
    (repo / ".gitignore").write_text("site/\n")
    _git(repo, "init", "-q", "-b", "main")
    _git(repo, "add", ".")
    _git(repo, "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-qm", "init")
    return repo


def _night(repo: Path, hub: FakeHub, tmp_path: Path, **env: str) -> subprocess.CompletedProcess:
    full_env = {
        **os.environ, "PYTHONPATH": str(REPO), "RANKER_PYTHON": sys.executable,
        "HF_ENDPOINT": hub.url, "HF_HUB_DISABLE_TELEMETRY": "1",
        "HF_HOME": str(tmp_path / "hf-home"), "RANKER_CACHE": str(tmp_path / "cache"),
        "RANKER_COMMIT": "1", **env,
    }  # fmt: skip
    args = ["--endpoint", hub.url, "--train-size", "300", "--eval-size", "150",
            "--max-params", str(MAX_PARAMS)]  # fmt: skip
    return subprocess.run(
        ["bash", "scripts/nightly.sh", *args], cwd=repo, env=full_env,
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip


def _commits(repo: Path) -> list[str]:
    return _git(repo, "log", "--format=%B%x00").split("\x00\n")[:-1]


def _table(repo: Path, slug: str) -> list[dict]:
    page = (repo / "site" / "arch" / f"{slug}.html").read_text()
    data = re.search(r'<script type="application/json" id="table-data">(.*?)</script>', page, re.S)
    return json.loads(data.group(1))["rows"]


def test_nights_commit_only_changes_and_continue_where_they_stopped(
    repo: Path, hub: FakeHub, tiny_files, tmp_path: Path
) -> None:
    populate_world(hub, tiny_files)
    hub.add_dataset("nyu-mll/glue", glue_mnli_files(train=600, dev=300))
    today = datetime.now(UTC).strftime("%Y-%m-%d")

    # night 1: a time budget shorter than the queue (zero): the crawl is kept, nothing scored
    night = _night(repo, hub, tmp_path, RANKER_TIME_BUDGET_MINUTES="0")
    assert night.returncode == 0, night.stdout + night.stderr
    assert "evaluated 0 of 10 queued" in night.stdout and "10 left in the queue" in night.stdout
    assert (
        len(_commits(repo)) == 2
        and "10 left in the queue (stopped by time-budget)" in _commits(repo)[0]
    )
    assert not (repo / "data" / "results.jsonl").exists()

    # night 2 continues from there and scores the queue
    night = _night(repo, hub, tmp_path)
    assert night.returncode == 0, night.stdout + night.stderr
    assert "evaluated 10 of 10 queued" in _commits(repo)[0]
    assert _git(repo, "status", "--porcelain") == ""

    # a day passes (yesterday's results), and the hub changes: one new model, one new sha
    results = repo / "data" / "results.jsonl"
    yesterday = (datetime.now(UTC) - timedelta(days=1)).strftime("%Y-%m-%d")
    results.write_text(results.read_text().replace(f'"{today}T', f'"{yesterday}T'))
    _git(repo, "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-qam", "yesterday")
    register(hub, "new/roberta-ft", tiny_files["roberta-cls"], model_type="roberta",
             base_id=ROBERTA, downloads=5)  # fmt: skip
    hub.commit("org/bert-ft", {"README.md": b"# v2"})

    night = _night(repo, hub, tmp_path)
    assert night.returncode == 0, night.stdout + night.stderr
    message = _commits(repo)[0]
    assert message.startswith(f"Nightly update {today}") and "evaluated 2 of 2 queued" in message
    changed = _git(repo, "show", "--name-only", "--format=", "HEAD").split()
    assert sorted(changed) == ["data/catalog.jsonl", "data/results.jsonl"]
    index = (repo / "site" / "index.html").read_text()
    assert f"Data last updated: <strong>{today}</strong>" in index
    rows = {r["model_id"]: r for r in _table(repo, "tiny-roberta-base")}
    assert rows["new/roberta-ft"]["probe_rank"] is not None
    assert rows["new/roberta-ft"]["evaluated_at"] == today

    # a night with nothing new on the hub commits nothing
    count = len(_commits(repo))
    night = _night(repo, hub, tmp_path)
    assert night.returncode == 0, night.stdout + night.stderr
    assert "evaluated 0 of 0 queued" in night.stdout
    assert len(_commits(repo)) == count and _git(repo, "status", "--porcelain") == ""


def test_a_failing_update_still_builds_and_commits_what_it_has(
    repo: Path, hub: FakeHub, tiny_files, tmp_path: Path
) -> None:
    populate_world(hub, tiny_files)  # no MNLI on this hub: the probe data cannot be loaded
    night = _night(repo, hub, tmp_path)
    assert night.returncode != 0
    assert "cannot download MNLI" in night.stdout + night.stderr
    assert (repo / "site" / "index.html").is_file()
    message = _commits(repo)[0]
    assert "did not finish" in message and "data/catalog.jsonl" in _git(
        repo, "show", "--name-only", "--format=", "HEAD"
    )
