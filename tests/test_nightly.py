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
from ranker.store import Store
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
    config = json.loads(data.group(1))
    arrays = list(config["rows"])
    for chunk in config["chunks"]:  # rankerRows(k, [...]);
        text = (repo / "site" / chunk).read_text()
        arrays += json.loads(text[text.index(",") + 1 : text.rindex(")")])
    return [dict(zip(config["fields"], a, strict=True)) for a in arrays]


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
    assert not list((repo / "data").glob("results*/*.jsonl"))  # nothing scored, nothing stored

    # night 2 continues from there and scores the queue
    night = _night(repo, hub, tmp_path)
    assert night.returncode == 0, night.stdout + night.stderr
    assert "evaluated 10 of 10 queued" in _commits(repo)[0]
    assert _git(repo, "status", "--porcelain") == ""

    # a day passes (yesterday's results), and the hub changes: one new model, one new sha
    yesterday = (datetime.now(UTC) - timedelta(days=1)).strftime("%Y-%m-%d")
    for bucket in (repo / "data" / "results").glob("*.jsonl"):
        bucket.write_text(bucket.read_text().replace(f'"{today}T', f'"{yesterday}T'))
    _git(repo, "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-qam", "yesterday")
    register(hub, "new/roberta-ft", tiny_files["roberta-cls"], model_type="roberta",
             base_id=ROBERTA, downloads=5)  # fmt: skip
    hub.commit("org/bert-ft", {"README.md": b"# v2"})

    night = _night(repo, hub, tmp_path)
    assert night.returncode == 0, night.stdout + night.stderr
    message = _commits(repo)[0]
    assert message.startswith(f"Nightly update {today}") and "evaluated 2 of 2 queued" in message
    changed = _git(repo, "show", "--name-only", "--format=", "HEAD").split()
    assert "data/catalog.jsonl" in changed
    assert {c.rsplit("/", 1)[0] for c in changed} == {"data", "data/results"}
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


# -- the workflow's stages: plan, crawl, evaluate (one per shard), merge ------------------------


def _stage(
    repo: Path, hub: FakeHub, tmp_path: Path, *args: str, **env: str
) -> subprocess.CompletedProcess:
    full_env = {
        **os.environ, "PYTHONPATH": str(REPO), "RANKER_PYTHON": sys.executable,
        "HF_ENDPOINT": hub.url, "HF_HUB_DISABLE_TELEMETRY": "1",
        "HF_HOME": str(tmp_path / "hf-home"), "RANKER_CACHE": str(tmp_path / "cache"),
    }  # fmt: skip
    full_env.pop("GITHUB_OUTPUT", None)  # a stage under CI writes its outputs only when told
    full_env.update(env)
    return subprocess.run(
        ["bash", "scripts/nightly.sh", *args], cwd=repo, env=full_env,
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip


def _fresh_checkout(repo: Path) -> None:
    """data/ as a new job's checkout has it: the last commit's."""
    _git(repo, "checkout", "-q", "--", "data")
    _git(repo, "clean", "-fdq", "--", "data")


CRAWL_ARGS = ("--max-params", str(MAX_PARAMS))
PROBE_ARGS = ("--train-size", "300", "--eval-size", "150", "--max-params", str(MAX_PARAMS))


@pytest.mark.parametrize(
    ("shards", "max_models", "output"),
    [
        ("1", "400", "shards=1\nindexes=[0]\nmax_models=400\n"),
        ("3", "400", "shards=3\nindexes=[0,1,2]\nmax_models=134\n"),
        ("2", "", "shards=2\nindexes=[0,1]\nmax_models=\n"),
        ("0", "400", None),
        ("257", "400", None),
        ("2; id", "400", None),
        ("2", "1e3", None),
    ],
)
def test_plan_shares_the_run_out(repo, hub, tmp_path, shards, max_models, output) -> None:
    out = tmp_path / "github-output"
    out.write_text("before=1\n")
    proc = _stage(repo, hub, tmp_path, "plan", RANKER_SHARDS=shards,
                  RANKER_MAX_MODELS=max_models, GITHUB_OUTPUT=str(out))  # fmt: skip
    if output is None:
        assert proc.returncode == 2 and "must be a whole number" in proc.stderr
        assert out.read_text() == "before=1\n"
    else:
        assert proc.returncode == 0, proc.stderr
        assert out.read_text() == "before=1\n" + output


def test_merge_stage_takes_good_shards_refuses_bad_ones_and_commits(
    repo: Path, hub: FakeHub, tiny_files, tmp_path: Path
) -> None:
    from ranker.records import EvalResult
    from ranker.store import Store

    populate_world(hub, tiny_files)
    hub.add_dataset("nyu-mll/glue", glue_mnli_files(train=600, dev=300))
    crawl = _stage(repo, hub, tmp_path, "crawl", "--endpoint", hub.url, *CRAWL_ARGS)
    assert crawl.returncode == 0, crawl.stdout + crawl.stderr
    handed = repo / "nightly" / "crawl"
    assert {p.name for p in (handed / "data").iterdir()} == {"catalog.jsonl", "probe.json"}
    pin = json.loads((handed / "data" / "probe.json").read_text())["mnli_revision"]
    assert pin == hub.repos[("dataset", "nyu-mll/glue")].sha  # pinned once, for every shard
    assert "listed" in (handed / "crawl.txt").read_text()

    _fresh_checkout(repo)  # the merge job's own checkout, and what the crawl handed on
    ok = [e for e in Store(repo / "nightly" / "crawl" / "data").catalog() if e.status == "ok"]
    good = [
        EvalResult(schema_version=1, model_id=e.model_id, architecture=e.architecture,
                   revision=e.sha, protocol_version="1", status="ok",
                   evaluated_at="2026-11-26T03:00:00Z", accuracy=0.5 + i / 100)
        for i, e in enumerate(ok[:2])
    ]  # fmt: skip
    shards = repo / "nightly" / "shards"
    shards.mkdir(parents=True)
    lines = [json.dumps(r.to_dict(), sort_keys=True) + "\n" for r in good]
    (shards / "shard-0.jsonl").write_text("".join(lines))
    (shards / "shard-0.txt").write_text("evaluated 2 of 2 queued\x1b[31m\x00 red\n")
    (shards / "shard-1.jsonl").write_text(
        lines[0] + lines[1].replace('"accuracy": 0.51', '"accuracy": "x"')
    )
    # no shard-2: its job failed before it wrote anything

    merge = _stage(repo, hub, tmp_path, "merge", RANKER_SHARDS="3", RANKER_COMMIT="1")
    assert merge.returncode == 1, merge.stdout + merge.stderr
    assert "nightly/shards/shard-1.jsonl:2: field 'accuracy': expected a number" in merge.stderr
    assert "shards without results" in merge.stderr and ": 2\n" in merge.stderr
    results = Store(repo / "data").results()
    assert sorted(results, key=lambda r: r.model_id) == sorted(good, key=lambda r: r.model_id)
    assert (repo / "data" / "probe.json").is_file()
    assert (repo / "site" / "index.html").is_file()
    message = _commits(repo)[0]
    assert message.startswith("Nightly update ") and "listed" in message  # the crawl's summary
    assert "shard 0/3:\nevaluated 2 of 2 queued[31m red" in message  # printable text only
    assert "\x1b" not in message and "\x00" not in message
    assert "merged 1 of 2 files" in message and "2 new" in message and "refused 1" in message
    changed = _git(repo, "show", "--name-only", "--format=", "HEAD").split()
    assert {"data/catalog.jsonl", "data/probe.json"} <= set(changed)
    assert {c.rsplit("/", 1)[0] for c in changed} == {"data", "data/results"}

    # merged again (a re-run job): nothing changes, nothing is committed
    count = len(_commits(repo))
    again = _stage(repo, hub, tmp_path, "merge", RANKER_SHARDS="3", RANKER_COMMIT="1")
    assert again.returncode == 1 and "0 new, 0 replaced, 2 unchanged" in again.stdout
    assert len(_commits(repo)) == count and _git(repo, "status", "--porcelain", "--", "data") == ""

    # a shard file that is a link is not followed: the stage stops before merging anything
    (shards / "shard-1.jsonl").unlink()
    (shards / "shard-1.jsonl").symlink_to(repo / "data" / "catalog.jsonl")
    linked = _stage(repo, hub, tmp_path, "merge", RANKER_SHARDS="2", RANKER_COMMIT="1")
    assert linked.returncode == 2 and "shard-1.jsonl is a link" in linked.stderr
    assert len(_commits(repo)) == count


def _update_has_shards() -> bool:
    proc = subprocess.run(
        [sys.executable, "-m", "ranker", "update", "--help"],
        capture_output=True, text=True, cwd=REPO, timeout=120,
    )  # fmt: skip
    return "--shard" in proc.stdout and "--results-out" in proc.stdout


@pytest.fixture(scope="session")
def update_shards() -> None:
    if not _update_has_shards():
        pytest.skip("`ranker update --help` has no --shard/--results-out yet")


def test_the_workflow_stages_make_the_night_one_run_makes(
    update_shards, repo: Path, hub: FakeHub, tiny_files, tmp_path: Path
) -> None:
    """crawl -> evaluate 0/2 and 1/2, each in its own checkout -> merge: the same results as
    the one-process night, committed once, with every stage's summary."""
    populate_world(hub, tiny_files)
    hub.add_dataset("nyu-mll/glue", glue_mnli_files(train=600, dev=300))
    crawl = _stage(repo, hub, tmp_path, "crawl", "--endpoint", hub.url, *CRAWL_ARGS)
    assert crawl.returncode == 0, crawl.stdout + crawl.stderr
    for i in range(2):  # each evaluate job: a fresh checkout and the crawl's files
        clone = tmp_path / f"job-{i}"
        _git(tmp_path, "clone", "-q", str(repo), str(clone))
        shutil.copytree(repo / "nightly" / "crawl", clone / "nightly" / "crawl")
        job = _stage(clone, hub, tmp_path, "evaluate", f"{i}/2", "--endpoint", hub.url,
                     *PROBE_ARGS, RANKER_CACHE=str(tmp_path / f"cache-{i}"))  # fmt: skip
        assert job.returncode == 0, job.stdout + job.stderr
        shutil.copytree(clone / "nightly" / "shards", repo / "nightly" / "shards",
                        dirs_exist_ok=True)  # fmt: skip
    _fresh_checkout(repo)
    merge = _stage(repo, hub, tmp_path, "merge", RANKER_SHARDS="2", RANKER_COMMIT="1")
    assert merge.returncode == 0, merge.stdout + merge.stderr
    message = _commits(repo)[0]
    assert "listed" in message and "shard 0/2:" in message and "shard 1/2:" in message
    assert "merged 2 of 2 files" in message and "10 new, 0 replaced" in message
    staged = {r.model_id: r.to_dict() for r in Store(repo / "data").results()}

    # the same night in one process, in another clone of the starting commit
    alone = tmp_path / "alone"
    _git(tmp_path, "clone", "-q", str(repo), str(alone))
    _git(alone, "reset", "-q", "--hard", "HEAD~1")
    night = _night(alone, hub, tmp_path)
    assert night.returncode == 0, night.stdout + night.stderr
    local = {r.model_id: r.to_dict() for r in Store(alone / "data").results()}
    assert sorted(staged) == sorted(local)
    for model, r in local.items():
        keep = ("revision", "status", "reason", "accuracy", "correct", "data_revision")
        assert {k: staged[model].get(k) for k in keep} == {k: r.get(k) for k in keep}
    assert (alone / "data" / "probe.json").read_text() == (repo / "data" / "probe.json").read_text()
