"""`ranker merge --finetunes/--pins` (the weekly verify workflow's one keyed writer) and the
merge stage of scripts/verify.sh on a throwaway clone."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import REPO
from ranker.errors import StoreError
from ranker.merge import merge_finetune_files, take_pins
from ranker.records import FinetuneResult
from ranker.store import Store

ARCH = "roberta-base"
PIN = "b" * 40
PINS = {"stsb": {"repo": "nyu-mll/glue", "revision": PIN},
        "boolq": {"repo": "aps/super_glue", "revision": "c" * 40},
        "wic": {"repo": "aps/super_glue", "revision": "d" * 40}}  # fmt: skip


def ft(seed: int = 0, *, status: str = "ok", when: str = "2026-12-01T00:00:00+00:00",
       **kw) -> FinetuneResult:  # fmt: skip
    fields = dict(schema_version=1, model_id="org/m", architecture=ARCH, revision="a" * 40,
                  protocol_version="ft-1", task="stsb", seed=seed, status=status,
                  evaluated_at=when, metric="pearson", data_revision=PIN,
                  score=0.8 if status == "ok" else None,
                  failure=None if status == "ok" else "transient")  # fmt: skip
    fields.update(kw)
    return FinetuneResult(**fields)


def unit_file(path: Path, *records: FinetuneResult) -> Path:
    path.write_text("".join(json.dumps(r.to_dict(), sort_keys=True) + "\n" for r in records))
    return path


def pins_file(path: Path, pins: dict = PINS) -> Path:
    path.write_text(json.dumps({"tasks": pins}))
    return path


@pytest.fixture
def store(store_dir: Path, tmp_path: Path) -> Store:
    store = Store(store_dir)
    take_pins(store, pins_file(tmp_path / "pins.json"))
    return store


def test_two_unit_files_merge_by_key_in_any_order_and_twice_changes_nothing(
    store: Store, tmp_path: Path
) -> None:
    # the same unit in both files: a score (earlier) and a transient failure (later); the
    # score wins whichever file comes first
    a = unit_file(tmp_path / "shard-0.jsonl", ft(0), ft(1))
    b = unit_file(tmp_path / "shard-1.jsonl", ft(0, status="error", when="2026-12-01T09:00:00Z"),
                  ft(2, task="wic", metric="accuracy", data_revision="d" * 40))  # fmt: skip
    merged = merge_finetune_files(store, [b, a])
    assert merged.refused == [] and (merged.counts.new, merged.counts.replaced) == (3, 0)
    text = store.path(Store.FINETUNES).read_text()
    assert [(r.task, r.seed, r.status) for r in store.finetunes()] == [
        ("stsb", 0, "ok"), ("stsb", 1, "ok"), ("wic", 2, "ok")]  # fmt: skip

    other = Store(tmp_path / "other")
    shutil.copytree(store.root, other.root, ignore=shutil.ignore_patterns(Store.FINETUNES))
    assert merge_finetune_files(other, [a, b]).counts.new == 3
    assert other.path(Store.FINETUNES).read_text() == text  # order-independent, byte for byte

    again = merge_finetune_files(store, [a, b])  # a re-run merge job
    assert (again.counts.new, again.counts.replaced, again.counts.unchanged) == (0, 0, 3)
    assert store.path(Store.FINETUNES).read_text() == text
    # a later transient failure of a scored unit, merged on its own, never undoes the score
    late = unit_file(tmp_path / "shard-2.jsonl", ft(1, status="error", when="2026-12-02T00:00Z"))
    assert merge_finetune_files(store, [late]).counts.older == 1
    assert store.path(Store.FINETUNES).read_text() == text
    # a unit file as `ranker verify --results-out` writes it: a unit tried again is a later
    # line of its key, which supersedes the earlier (a transient failure, then a score)
    from ranker.verify_files import FinetunesFile

    retried = FinetunesFile(tmp_path / "shard-4.jsonl")
    retried.save_finetune(ft(3, status="error", when="2026-12-02T00:00Z"))
    retried.save_finetune(ft(3, when="2026-12-02T01:00Z"))
    assert merge_finetune_files(store, [retried.path]).counts.new == 1
    assert store.finetunes()[-1].status == "ok"
    # a later score does replace an earlier one (a unit run again for a new reason)
    rerun = unit_file(tmp_path / "shard-3.jsonl", ft(1, when="2026-12-02T00:00Z", score=0.7))
    assert merge_finetune_files(store, [rerun]).counts.replaced == 1


@pytest.mark.parametrize(
    ("line", "field"),
    [
        (lambda r: r.replace('"score": 0.8', '"score": "x"'), "score"),
        (lambda r: r.replace('"protocol_version": "ft-1"', '"protocol_version": "ft-0"'),
         "protocol_version"),
        (lambda r: r.replace('"task": "stsb"', '"task": "qqp"'), "task"),
        (lambda r: r.replace(f'"architecture": "{ARCH}"', '"architecture": "org/other"'),
         "architecture"),
        (lambda r: r.replace(PIN, "e" * 40), "data_revision"),  # scored on another commit
        (lambda r: r.replace('"seed": 0', '"seed": 0, "extra": 1'), None),
        (lambda r: r.replace('"evaluated_at": "2026-12-01T00:00:00+00:00"',
                             '"evaluated_at": "yesterday"'), "evaluated_at"),
    ],
)  # fmt: skip
def test_a_bad_line_refuses_its_file_with_file_and_line_and_writes_nothing_of_it(
    store: Store, tmp_path: Path, line, field
) -> None:
    good = json.dumps(ft(1).to_dict(), sort_keys=True)
    bad_line = line(json.dumps(ft(0).to_dict(), sort_keys=True))
    assert bad_line != json.dumps(ft(0).to_dict(), sort_keys=True)
    bad = tmp_path / "shard-1.jsonl"
    bad.write_text(good + "\n" + bad_line + "\n")
    fine = unit_file(tmp_path / "shard-0.jsonl", ft(2))
    merged = merge_finetune_files(store, [bad, fine])
    (refused,) = merged.refused
    assert refused.path == bad and refused.error.line == 2
    assert f"{bad}:2" in str(refused.error) and (field is None or field == refused.error.field)
    assert [r.seed for r in store.finetunes()] == [2]  # line 1 of the bad file neither


def test_the_command_prints_counts_and_exits_1_on_a_refused_file(
    store: Store, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from ranker.cli import main

    fine = unit_file(tmp_path / "shard-0.jsonl", ft(0), ft(1))
    assert main(["merge", "--data", str(store.root), "--finetunes", str(fine)]) == 0
    assert "merged 1 of 1 unit files" in capsys.readouterr().out
    bad = tmp_path / "shard-1.jsonl"
    bad.write_text("{not json\n")
    code = main(["merge", "--data", str(store.root), "--finetunes", str(fine), str(bad)])
    out = capsys.readouterr()
    assert code == 1 and f"refused {bad}: {bad}:1: not valid JSON" in out.err
    assert "0 new, 0 replaced, 2 unchanged, 0 older; refused 1 file(s)" in out.out


def test_pins_are_taken_once_kept_when_equal_and_a_moved_pin_is_refused(
    store_dir: Path, tmp_path: Path
) -> None:
    store = Store(store_dir)
    assert take_pins(store, pins_file(tmp_path / "a.json")) is True
    assert store.target_revisions() == PINS
    text = store.path(Store.TARGET_PINS).read_text()
    assert take_pins(store, pins_file(tmp_path / "b.json")) is False
    moved = {**PINS, "wic": {"repo": "aps/super_glue", "revision": "f" * 40}}
    with pytest.raises(StoreError, match="wic; moving a pin is a protocol change"):
        take_pins(store, pins_file(tmp_path / "c.json", moved))
    wrong_repo = {"stsb": {"repo": "evil/glue", "revision": PIN}}
    with pytest.raises(StoreError, match="not one of the suite's"):
        take_pins(Store(tmp_path / "fresh"), pins_file(tmp_path / "d.json", wrong_repo))
    (tmp_path / "e.json").write_text('{"tasks": {"stsb": {"repo": "nyu-mll/glue"}}}')
    with pytest.raises(StoreError, match=r"e\.json.*40-hex revision"):
        take_pins(Store(tmp_path / "fresh"), tmp_path / "e.json")
    assert store.path(Store.TARGET_PINS).read_text() == text
    # a refused pin stops the command before any unit file is read (nothing written)
    from ranker.cli import main

    units = unit_file(tmp_path / "shard-0.jsonl", ft(0))
    code = main(["merge", "--data", str(store.root), "--pins", str(tmp_path / "c.json"),
                 "--finetunes", str(units)])  # fmt: skip
    assert code == StoreError.exit_code != 0 and store.finetunes() == []


# -- scripts/verify.sh merge on a throwaway clone ---------------------------------------------

GIT_ID = {"GIT_AUTHOR_NAME": "t", "GIT_COMMITTER_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com",
          "GIT_COMMITTER_EMAIL": "t@example.com"}  # fmt: skip


def _git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True,
                          text=True, env={**os.environ, **GIT_ID}).stdout  # fmt: skip


def _stage(repo: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    full = {**os.environ, "PYTHONPATH": str(REPO), "RANKER_PYTHON": sys.executable, **GIT_ID}
    full.pop("GITHUB_OUTPUT", None)
    full.update(env)
    return subprocess.run(["bash", "scripts/verify.sh", *args], cwd=repo, env=full,
                          capture_output=True, text=True, timeout=120)  # fmt: skip


def test_the_merge_stage_lands_the_week_on_a_main_that_moved(tmp_path: Path) -> None:
    """Shards 0 and 2 came back, 1 did not: the merge fetches the newest main (a nightly
    pushed meanwhile), takes the pins and both files by key, commits data/ once and pushes;
    a second run of it commits nothing."""
    repo = tmp_path / "repo"
    (repo / "scripts").mkdir(parents=True)
    (repo / "data").mkdir()
    shutil.copy(REPO / "scripts" / "verify.sh", repo / "scripts" / "verify.sh")
    shutil.copy(REPO / "data" / "architectures.toml", repo / "data" / "architectures.toml")
    (repo / ".gitignore").write_text("nightly/\n")
    _git(repo, "init", "-q", "-b", "main")
    _git(repo, "add", ".")
    _git(repo, "commit", "-qm", "init")
    origin = tmp_path / "origin.git"
    subprocess.run(["git", "clone", "-q", "--bare", str(repo), str(origin)], check=True)
    job = tmp_path / "job"
    subprocess.run(["git", "clone", "-q", str(origin), str(job)], check=True)
    _git(job, "checkout", "-q", "--detach", "HEAD")
    # main moves while the units run (a nightly's commit)
    other = tmp_path / "other"
    subprocess.run(["git", "clone", "-q", str(origin), str(other)], check=True)
    (other / "data" / "nightly.txt").write_text("a night\n")
    _git(other, "add", ".")
    _git(other, "commit", "-qm", "Nightly update")
    _git(other, "push", "-q", "origin", "main")

    work = job / "nightly" / "verify"
    (work / "plan").mkdir(parents=True)
    (work / "shards").mkdir()
    pins_file(work / "plan" / "pins.json")
    (work / "plan" / "plan.txt").write_text("units: 3\n")
    unit_file(work / "shards" / "shard-0.jsonl", ft(0), ft(1))
    unit_file(work / "shards" / "shard-2.jsonl", ft(0, task="boolq", metric="accuracy",
                                                     data_revision="c" * 40))  # fmt: skip
    env = {"RANKER_SHARDS": "3", "RANKER_COMMIT": "1", "RANKER_PUSH": "1",
           "RANKER_UPSTREAM": "origin/main"}  # fmt: skip
    merge = _stage(job, "merge", **env)
    assert merge.returncode == 0, merge.stdout + merge.stderr
    assert (
        "shards without results (their jobs failed; their units run next week): 1" in merge.stderr
    )
    main = tmp_path / "main"
    subprocess.run(["git", "clone", "-q", str(origin), str(main)], check=True)
    subjects = _git(main, "log", "--format=%s").splitlines()
    assert subjects[0].startswith("Weekly verification ") and subjects[1:] == [
        "Nightly update", "init"]  # fmt: skip
    landed = Store(main / "data")
    assert len(landed.finetunes()) == 3 and landed.target_revisions() == PINS
    assert (main / "data" / "nightly.txt").is_file()  # the night is kept, not overwritten
    message = _git(main, "log", "-1", "--format=%B")
    assert "merged 2 of 2 unit files" in message and "3 new" in message and "units: 3" in message
    changed = set(_git(main, "show", "--name-only", "--format=", "HEAD").split())
    assert changed == {f"data/{Store.FINETUNES}", f"data/{Store.TARGET_PINS}"}

    again = _stage(job, "merge", **env)
    assert again.returncode == 0 and "0 new, 0 replaced, 3 unchanged" in again.stdout
    assert _git(main, "ls-remote", str(origin), "main") == _git(job, "ls-remote", str(origin),
                                                                "main")  # fmt: skip
    main2 = tmp_path / "main2"
    subprocess.run(["git", "clone", "-q", str(origin), str(main2)], check=True)
    assert len(_git(main2, "log", "--format=%s").splitlines()) == 3  # nothing new committed

    # a shard file that is a link stops the stage before anything is merged
    (work / "shards" / "shard-1.jsonl").symlink_to(main / "data" / "architectures.toml")
    linked = _stage(job, "merge", **env)
    assert linked.returncode == 2 and "shard-1.jsonl is a link" in linked.stderr


@pytest.mark.parametrize(
    ("args", "env", "error"),
    [
        (("units", "2/2"), {}, "expected a shard I/N with 0 <= I < N, got '2/2'"),
        (("units", "0/2; id"), {}, "expected a shard I/N"),
        (("units", "0/2"), {"RANKER_MAX_UNITS": "1e3"}, "RANKER_MAX_UNITS must be a whole"),
        (("units", "0/2"), {"RANKER_TOP_K": "0"}, "RANKER_TOP_K must be a whole number"),
        (("units", "0/2"), {}, "plan/pins.json: missing or a link"),
        (("merge",), {"RANKER_SHARDS": "257"}, "RANKER_SHARDS must be a whole number"),
        (("merge",), {}, "plan/pins.json: missing or a link"),
        (("plan",), {"RANKER_UPSTREAM": "origin/../x"}, "RANKER_UPSTREAM must be REMOTE/BRANCH"),
        ((), {}, "usage: scripts/verify.sh plan"),
    ],
)
def test_the_stages_refuse_bad_input_before_running_anything(
    tmp_path: Path, args: tuple[str, ...], env: dict[str, str], error: str
) -> None:
    repo = tmp_path / "repo"
    (repo / "scripts").mkdir(parents=True)
    shutil.copy(REPO / "scripts" / "verify.sh", repo / "scripts" / "verify.sh")
    proc = _stage(repo, *args, RANKER_PYTHON="false", **env)  # no ranker would run
    assert proc.returncode == 2 and error in proc.stderr, proc.stderr
