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

    # night 1: a budget smaller than the queue (no model at all): the crawl is kept, nothing
    # scored (a zero time budget would also stop the crawl: the door's deadline is the run's)
    night = _night(repo, hub, tmp_path, RANKER_MAX_MODELS="0")
    assert night.returncode == 0, night.stdout + night.stderr
    assert "evaluated 0 of 10 queued" in night.stdout and "10 left in the queue" in night.stdout
    assert (
        len(_commits(repo)) == 2
        and "10 left in the queue (stopped by max-models)" in _commits(repo)[0]
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


def _shards_of(plan: Path) -> dict[int, list[tuple[str, dict]]]:
    """The plan's models, by shard."""
    out: dict[int, list[tuple[str, dict]]] = {}
    for model, a in sorted(json.loads(plan.read_text())["models"].items()):
        out.setdefault(a["shard"], []).append((model, a))
    return out


def test_merge_stage_takes_good_shards_refuses_bad_ones_and_commits(
    repo: Path, hub: FakeHub, tiny_files, tmp_path: Path
) -> None:
    from ranker.records import EvalResult
    from ranker.store import Store

    populate_world(hub, tiny_files)
    hub.add_dataset("nyu-mll/glue", glue_mnli_files(train=600, dev=300))
    crawl = _stage(repo, hub, tmp_path, "crawl", "--endpoint", hub.url, *CRAWL_ARGS,
                   RANKER_SHARDS="3")  # fmt: skip
    assert crawl.returncode == 0, crawl.stdout + crawl.stderr
    handed = repo / "nightly" / "crawl"
    assert {p.name for p in (handed / "data").iterdir()} <= {"catalog.jsonl", "probe.json",
                                                              "results"}  # fmt: skip
    pin = json.loads((handed / "data" / "probe.json").read_text())["mnli_revision"]
    assert pin == hub.repos[("dataset", "nyu-mll/glue")].sha  # pinned once, for every shard
    assert "listed" in (handed / "crawl.txt").read_text()
    assert "plan: 10 models in 3 shards" in (handed / "crawl.txt").read_text()
    by_shard = _shards_of(handed / "plan.json")
    good_i, bad_i = sorted(by_shard, key=lambda i: -len(by_shard[i]))[:2]
    gone_i = ({0, 1, 2} - {good_i, bad_i}).pop()
    assert len(by_shard[good_i]) >= 2 and by_shard[bad_i]

    _fresh_checkout(repo)  # the merge job's own checkout, and what the crawl handed on

    protocol = json.loads((handed / "plan.json").read_text())["protocol_version"]

    def result(model: str, a: dict, accuracy: float) -> EvalResult:
        return EvalResult(schema_version=1, model_id=model, architecture=a["architecture"],
                          revision=a["sha"], protocol_version=protocol, status="ok",
                          evaluated_at="2026-11-26T03:00:00Z", accuracy=accuracy)  # fmt: skip

    good = [result(m, a, 0.5 + i / 100) for i, (m, a) in enumerate(by_shard[good_i][:2])]
    shards = repo / "nightly" / "shards"
    shards.mkdir(parents=True)
    lines = [json.dumps(r.to_dict(), sort_keys=True) + "\n" for r in good]
    (shards / f"shard-{good_i}.jsonl").write_text("".join(lines))
    (shards / f"shard-{good_i}.txt").write_text("evaluated 2 of 2 queued\x1b[31m\x00 red\n")
    bad = json.dumps(result(*by_shard[bad_i][0], 0.6).to_dict(), sort_keys=True)
    (shards / f"shard-{bad_i}.jsonl").write_text(
        bad + "\n" + bad.replace('"accuracy": 0.6', '"accuracy": "x"') + "\n"
    )
    # no shard-{gone_i}: its job failed before it wrote anything

    merge = _stage(repo, hub, tmp_path, "merge", RANKER_SHARDS="3", RANKER_COMMIT="1")
    assert merge.returncode == 1, merge.stdout + merge.stderr
    assert f"nightly/shards/shard-{bad_i}.jsonl:2" in merge.stderr and "accuracy" in merge.stderr
    assert "shards without results" in merge.stderr and f": {gone_i}\n" in merge.stderr
    results = sorted(Store(repo / "data").results(), key=lambda r: r.model_id)
    assert results == sorted(good, key=lambda r: r.model_id), merge.stdout + merge.stderr
    assert (repo / "data" / "probe.json").is_file()
    assert (repo / "site" / "index.html").is_file()
    message = _commits(repo)[0]
    assert message.startswith("Nightly update ") and "listed" in message  # the crawl's summary
    assert f"shard {good_i}/3:\nevaluated 2 of 2 queued[31m red" in message  # printable only
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

    # a shard that returns a model the plan gave another shard is refused whole
    (shards / f"shard-{bad_i}.jsonl").write_text(lines[0])
    stolen = _stage(repo, hub, tmp_path, "merge", RANKER_SHARDS="3", RANKER_COMMIT="1")
    assert stolen.returncode == 1 and f"shard-{bad_i}.jsonl" in stolen.stderr
    assert len(_commits(repo)) == count

    # a shard file that is a link is not followed: the stage stops before merging anything
    (shards / f"shard-{bad_i}.jsonl").unlink()
    (shards / f"shard-{bad_i}.jsonl").symlink_to(repo / "data" / "catalog.jsonl")
    linked = _stage(repo, hub, tmp_path, "merge", RANKER_SHARDS="3", RANKER_COMMIT="1")
    assert linked.returncode == 2 and f"shard-{bad_i}.jsonl is a link" in linked.stderr
    assert len(_commits(repo)) == count


def test_the_workflow_stages_make_the_night_one_run_makes(
    repo: Path, hub: FakeHub, tiny_files, tmp_path: Path
) -> None:
    """crawl -> evaluate 0/2 and 1/2, each in its own checkout -> merge: the same results as
    the one-process night, committed once, with every stage's summary."""
    populate_world(hub, tiny_files)
    hub.add_dataset("nyu-mll/glue", glue_mnli_files(train=600, dev=300))
    crawl = _stage(repo, hub, tmp_path, "crawl", "--endpoint", hub.url, *CRAWL_ARGS,
                   RANKER_SHARDS="2")  # fmt: skip
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


# -- nights on a shared main: an origin, jobs that clone it, others that push meanwhile ---------

GIT_ID = {"GIT_AUTHOR_NAME": "t", "GIT_COMMITTER_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com",
          "GIT_COMMITTER_EMAIL": "t@example.com"}  # fmt: skip
UPSTREAM = {"RANKER_UPSTREAM": "origin/main", **GIT_ID}
ONE_ARCH = {"RANKER_ARCHITECTURES": "tiny/roberta-base"}  # fewer models: a shorter night


def _origin(repo: Path, tmp_path: Path) -> Path:
    """A bare "GitHub" holding the repo's main (the nightly script committed), nightly/ ignored."""
    shutil.copy(REPO / "scripts" / "nightly.sh", repo / "scripts" / "nightly.sh")
    (repo / ".gitignore").write_text("site/\nnightly/\n")
    _git(repo, "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-qam", "ignore")
    bare = tmp_path / "origin.git"
    subprocess.run(["git", "clone", "-q", "--bare", str(repo), str(bare)], check=True)
    return bare


def _job(origin: Path, where: Path, commit: str) -> Path:
    """A job's checkout: the trigger commit, detached, as actions/checkout leaves it."""
    subprocess.run(["git", "clone", "-q", str(origin), str(where)], check=True)
    _git(where, "checkout", "-q", "--detach", commit)
    return where


def _crawl_and_evaluate(job: Path, hub: FakeHub, tmp_path: Path) -> subprocess.CompletedProcess:
    crawl = _stage(job, hub, tmp_path, "crawl", "--endpoint", hub.url, *CRAWL_ARGS,
                   **UPSTREAM, **ONE_ARCH)  # fmt: skip
    assert crawl.returncode == 0, crawl.stdout + crawl.stderr
    evaluate = _stage(job, hub, tmp_path, "evaluate", "0/1", "--endpoint", hub.url, *PROBE_ARGS,
                      **UPSTREAM, **ONE_ARCH)  # fmt: skip
    assert evaluate.returncode == 0, evaluate.stdout + evaluate.stderr
    return evaluate


def _main(origin: Path, tmp_path: Path, name: str) -> Path:
    head = tmp_path / name
    subprocess.run(["git", "clone", "-q", str(origin), str(head)], check=True)
    return head


def test_a_request_pushed_while_the_night_merges_lands_with_it_and_is_answered(
    repo: Path, hub: FakeHub, tiny_files, tmp_path: Path
) -> None:
    """main moves between the merge's fetch and its push (a request's queue job): the push is
    refused, the merge fetches again and merges again; one commit lands on top of the
    request's with the night's results, catalog and the request marked replied, and only
    then is there a reply to post."""
    populate_world(hub, tiny_files)
    hub.add_dataset("nyu-mll/glue", glue_mnli_files(train=600, dev=300))
    origin = _origin(repo, tmp_path)
    trigger = _git(repo, "rev-parse", "HEAD").strip()
    job = _job(origin, tmp_path / "night", trigger)
    _crawl_and_evaluate(job, hub, tmp_path)

    # the request, checked against the hub before the night merges (its own job, clone)
    queue = _job(origin, tmp_path / "queue", trigger)
    _git(queue, "checkout", "-q", "main")
    check = _stage(queue, hub, tmp_path, "request", "--endpoint", hub.url, *CRAWL_ARGS,
                   RANKER_ISSUE="7", RANKER_ISSUE_BODY="### Model id\n\norg/roberta-ft\n")  # fmt: skip
    assert check.returncode == 0 and "queued=true" in check.stdout, check.stdout + check.stderr

    # the queue job pushes just as the merge is about to: a `git` that runs it first, once
    real_git = shutil.which("git")
    bin_dir, mark = tmp_path / "bin", tmp_path / "queued-once"
    bin_dir.mkdir()
    (bin_dir / "git").write_text(
        "#!/bin/sh\n"
        f'if [ "$1" = push ] && [ ! -e {mark} ]; then touch {mark}; '
        f"(cd {queue} && RANKER_PUSH=1 RANKER_UPSTREAM=origin/main "
        f"bash scripts/nightly.sh queue >{tmp_path}/queue.log 2>&1) || exit 99; fi\n"
        f'exec {real_git} "$@"\n'
    )  # fmt: skip
    (bin_dir / "git").chmod(0o755)
    output = tmp_path / "github-output"
    merge = _stage(job, hub, tmp_path, "merge", RANKER_COMMIT="1", RANKER_PUSH="1",
                   GITHUB_OUTPUT=str(output), PATH=f"{bin_dir}:{os.environ['PATH']}",
                   **UPSTREAM)  # fmt: skip
    assert merge.returncode == 0, merge.stdout + merge.stderr
    assert (
        mark.exists()
        and "queued org/roberta-ft for issue 7" in (tmp_path / "queue.log").read_text()
    )
    assert "push refused (try 1 of 5)" in merge.stderr

    head = _main(origin, tmp_path, "main")
    subjects = _git(head, "log", "--format=%s").splitlines()
    assert subjects[:2] == [f"Nightly update {datetime.now(UTC):%Y-%m-%d}",
                            "Queue an evaluation request"]  # fmt: skip
    assert subjects[2:] == ["ignore", "init"]
    landed = Store(head / "data")
    (request,) = landed.requests()
    assert (request.issue, request.model_id, request.status) == (7, "org/roberta-ft", "replied")
    results = {r.model_id: r for r in landed.results()}
    planned = json.loads((job / "nightly" / "crawl" / "plan.json").read_text())["models"]
    assert set(results) == set(planned) and results["org/roberta-ft"].status == "ok"
    night = {e.model_id for e in Store(job / "nightly" / "crawl" / "data").catalog()}
    assert night <= {e.model_id for e in landed.catalog()}  # the crawl's catalog, by key
    # the replies: those of the commit that landed, and nothing else
    assert sorted(p.name for p in (job / "nightly" / "replies").iterdir()) == ["7.md"]
    assert output.read_text().strip().splitlines()[-1] == "replies=1"
    assert output.read_text().count("replies=") == 1
    assert "reply to issue 7: org/roberta-ft" in _git(head, "log", "-1", "--format=%B")


def test_two_nights_from_one_trigger_commit_do_not_evaluate_twice(
    repo: Path, hub: FakeHub, tiny_files, tmp_path: Path
) -> None:
    """A second nightly (dispatched by hand, or re-run) checks out the same trigger commit as
    the first: it starts from main as the first left it, so it evaluates nothing again."""
    populate_world(hub, tiny_files)
    hub.add_dataset("nyu-mll/glue", glue_mnli_files(train=600, dev=300))
    origin = _origin(repo, tmp_path)
    trigger = _git(repo, "rev-parse", "HEAD").strip()
    first = _job(origin, tmp_path / "night-1", trigger)
    evaluated = _crawl_and_evaluate(first, hub, tmp_path)
    planned = json.loads((first / "nightly" / "crawl" / "plan.json").read_text())["models"]
    assert (
        len(planned) >= 3
        and f"evaluated {len(planned)} of {len(planned)} queued" in evaluated.stdout
    )
    merge = _stage(first, hub, tmp_path, "merge", RANKER_COMMIT="1", RANKER_PUSH="1", **UPSTREAM)
    assert merge.returncode == 0, merge.stdout + merge.stderr
    after_first = _git(_main(origin, tmp_path, "main-1"), "rev-parse", "HEAD")

    second = _job(origin, tmp_path / "night-2", trigger)
    hub.reset_counts()
    evaluated = _crawl_and_evaluate(second, hub, tmp_path)
    assert "evaluated 0 of 0 queued" in evaluated.stdout
    assert (second / "nightly" / "shards" / "shard-0.jsonl").read_text() == ""
    assert not [p for p in hub.log if "/resolve/" in p]  # no weights downloaded again
    merge = _stage(second, hub, tmp_path, "merge", RANKER_COMMIT="1", RANKER_PUSH="1", **UPSTREAM)
    assert merge.returncode == 0, merge.stdout + merge.stderr
    head = _main(origin, tmp_path, "main-2")
    assert {r.model_id for r in Store(head / "data").results()} == set(planned)
    assert _git(head, "rev-list", "--count", f"{after_first.strip()}..HEAD").strip() in ("0", "1")


def test_a_night_that_cannot_land_keeps_nothing_and_answers_nobody(
    repo: Path, hub: FakeHub, tmp_path: Path
) -> None:
    """Every push refused: the merge stops after RANKER_PUSH_TRIES, exits 1 (no deploy), and
    leaves no replies for the reply job; main is as it was."""
    from ranker.records import CatalogEntry

    origin = _origin(repo, tmp_path)
    job = _job(origin, tmp_path / "night", _git(repo, "rev-parse", "HEAD").strip())
    store = Store(job / "data")
    arch = store.architectures()[0]
    (job / "nightly" / "crawl" / "data").mkdir(parents=True)
    crawled = Store(job / "nightly" / "crawl" / "data")
    crawled.write_catalog([CatalogEntry(schema_version=1, model_id="org/new",
                                        architecture=arch.id, sha="a" * 40, status="ok",
                                        first_seen="2026-11-26T03:00:00Z",
                                        last_seen="2026-11-26T03:00:00Z")])  # fmt: skip
    (Path(origin) / "hooks" / "pre-receive").write_text("#!/bin/sh\necho refused >&2\nexit 1\n")
    (Path(origin) / "hooks" / "pre-receive").chmod(0o755)
    before = _git(_main(origin, tmp_path, "before"), "rev-parse", "HEAD")
    output = tmp_path / "github-output"
    merge = _stage(job, hub, tmp_path, "merge", RANKER_COMMIT="1", RANKER_PUSH="1",
                   RANKER_PUSH_TRIES="2", GITHUB_OUTPUT=str(output), **UPSTREAM)  # fmt: skip
    assert merge.returncode == 1, merge.stdout + merge.stderr
    assert (
        "push refused (try 2 of 2)" in merge.stderr and "did not land after 2 tries" in merge.stderr
    )
    assert output.read_text() == "replies=0\n" and not (job / "nightly" / "replies").exists()
    assert _git(_main(origin, tmp_path, "after"), "rev-parse", "HEAD") == before
    assert _git(job, "rev-parse", "HEAD") == before  # the job's checkout is put back
