from __future__ import annotations

import dataclasses
import datetime as dt
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import make_baselines, make_legacy_model
from ranker.errors import StoreError, UnknownArchitectureError
from ranker.records import SCHEMA_VERSION, CatalogEntry, EvalResult, is_valid_repo_id
from ranker.store import (
    CATALOG,
    LEGACY_MODELS,
    MAX_DEPTH,
    MAX_INT,
    RESULT_BUCKETS,
    STALE_TEMP_AGE,
    STALE_TEMP_GRACE,
    KeptLineWarning,
    ModelRequest,
    Store,
    TornLineWarning,
    atomic_write_text,
    parse_jsonl,
    remove_stale_temps,
    result_bucket,
    results_text,
)
from ranker.store import (
    record_line as result_line,
)
from ranker.store.codec import bulk_records


def _result(model_id: str, revision: str = "a" * 40, **kw) -> EvalResult:
    values = dict(
        schema_version=1,
        model_id=model_id,
        architecture="roberta-base",
        revision=revision,
        protocol_version="1",
        status="ok",
        evaluated_at="2026-11-26T00:00:00Z",
        accuracy=0.61,
        accuracy_low=0.6,
        accuracy_high=0.62,
        timings={"forward": 1.5},
        versions={"torch": "2.13.0"},
    )
    values.update(kw)
    return EvalResult(**values)


def _results_files(store: Store) -> dict[str, bytes]:
    """Every results file (the buckets), by name, with its bytes."""
    paths = sorted(store.results_dir.glob("*.jsonl"))
    return {str(p.relative_to(store.root)): p.read_bytes() for p in paths}


def test_architectures_resolve_by_id_alias_and_slug(store_dir: Path) -> None:
    store = Store(store_dir)
    assert len(store.architectures()) == 6
    assert store.architecture("FacebookAI/roberta-base").id == "roberta-base"
    assert store.architecture("deberta-v3-base").id == "microsoft/deberta-v3-base"
    with pytest.raises(UnknownArchitectureError, match="gpt2"):
        store.architecture("gpt2")


def test_legacy_round_trip_is_identical(store_dir: Path) -> None:
    store = Store(store_dir)
    models = [
        make_legacy_model("b/model", score=0.1 + 1e-17, mnli_lp=None, flags=("probe_failed",)),
        make_legacy_model("a/model", params=None, shifted_from="wic", flags=("shifted",)),
        make_legacy_model("c", avg=None, gain=None, scores={"cola": 0.3}),
    ]
    store.write_legacy_models(models)
    first = store.path(LEGACY_MODELS).read_bytes()
    back = store.legacy_models()
    expected = sorted(models, key=lambda m: m.model_id)
    # a missing task score reads back as None for every task
    expected[2] = make_legacy_model(
        "c", avg=None, gain=None, scores={t: back[2].scores[t] for t in back[2].scores}
    )
    assert back[2].scores["cola"] == 0.3 and back[2].scores["anli"] is None
    assert back == expected
    store.write_legacy_models(back)
    assert store.path(LEGACY_MODELS).read_bytes() == first  # stable order and formatting


def test_baseline_round_trip(store_dir: Path) -> None:
    store = Store(store_dir)
    baselines = make_baselines(mean=0.123456789012345)
    store.write_legacy_baselines(baselines)
    assert store.legacy_baselines() == baselines  # already in stored order: avg, then tasks


def _entry(model_id: str = "a/model", **kw) -> CatalogEntry:
    values = dict(
        schema_version=1,
        model_id=model_id,
        architecture="roberta-base",
        sha="f" * 40,
        status="ok",
        downloads=3,
    )
    values.update(kw)
    return CatalogEntry(**values)  # the dataclass itself: no validation, as any caller may


def test_catalog_and_results_round_trip(store_dir: Path) -> None:
    store = Store(store_dir)
    entries = [
        CatalogEntry(
            schema_version=1,
            model_id=m,
            architecture="roberta-base",
            sha="f" * 40,
            status="ok",
            downloads=3,
        )
        for m in ("z/last", "a/first")
    ]
    store.write_catalog(entries)
    assert store.catalog() == sorted(entries, key=lambda e: e.model_id)

    store.save_result(_result("x/one"))
    store.save_result(_result("x/two", status="error", error="no safetensors", accuracy=None))
    store.save_result(_result("x/one", accuracy=0.7))  # same key: replaced
    store.save_result(_result("x/one", revision="b" * 40))  # new revision: kept beside
    results = store.results()
    assert [(r.model_id, r.revision[0], r.accuracy) for r in results] == [
        ("x/one", "a", 0.7),
        ("x/one", "b", 0.61),
        ("x/two", "a", None),
    ]
    store.write_results(results)  # compacts: the superseded line of x/one goes
    files = _results_files(store)
    assert sum(text.count(b"\n") for text in files.values()) == 3
    store.write_results(results)
    assert _results_files(store) == files and store.results() == results


def test_interrupted_write_leaves_old_file(store_dir: Path, monkeypatch) -> None:
    store = Store(store_dir)
    store.write_legacy_models([make_legacy_model("a/model")])
    before = store.path(LEGACY_MODELS).read_bytes()

    def crash(*args, **kwargs):
        raise KeyboardInterrupt("killed midway")

    monkeypatch.setattr(os, "fsync", crash)  # the new content is half on disk
    with pytest.raises(KeyboardInterrupt):
        store.write_legacy_models([make_legacy_model("b/model"), make_legacy_model("c/model")])
    monkeypatch.undo()
    assert store.path(LEGACY_MODELS).read_bytes() == before
    assert [p.name for p in store.path(LEGACY_MODELS).parent.iterdir()] == ["models.csv"]
    assert [m.model_id for m in store.legacy_models()] == ["a/model"]


def test_atomic_write_keeps_file_mode(tmp_path: Path) -> None:
    target = tmp_path / "f.txt"
    atomic_write_text(target, "x")
    assert target.stat().st_mode & 0o044  # readable by others, unlike mkstemp's 0600


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (
            lambda t: t.replace(",0.55,", ",zero,", 1),
            r"models.csv:2: field 'mnli_lp': not a number",
        ),
        (lambda t: t.replace(",roberta-base,", ",gpt2,", 1), r"models.csv:2: field 'architecture'"),
        (lambda t: t.replace("a/model", "../etc", 1), r"models.csv:2: field 'model_id': invalid"),
        (lambda t: t.replace(",avg,", ",average,", 1), r"models.csv:1: missing columns: avg"),
        (lambda t: t.rstrip("\n") + ",extra\n", r"models.csv:2: expected 47 fields, found 48"),
        (lambda t: "", r"models.csv:1: empty file"),
    ],
)
def test_malformed_legacy_csv_names_file_line_field(store_dir: Path, edit, message) -> None:
    store = Store(store_dir)
    store.write_legacy_models([make_legacy_model("a/model")])
    path = store.path(LEGACY_MODELS)
    path.write_text(edit(path.read_text()))
    with pytest.raises(StoreError, match=message):
        store.legacy_models()


def test_malformed_toml_and_jsonl(store_dir: Path) -> None:
    store = Store(store_dir)
    (store_dir / "architectures.toml").write_text("[[architecture]]\nid = \n")
    with pytest.raises(StoreError, match=r"architectures.toml: malformed TOML"):
        store.architectures()
    (store_dir / "architectures.toml").write_text('[[architecture]]\nid = "x"\n')
    with pytest.raises(StoreError, match=r"architecture #1, field 'slug': is missing"):
        store.architectures()
    (store_dir / "results").mkdir()
    (store_dir / "results" / "00.jsonl").write_text('{"schema_version": 1}\nnot json\n')
    with pytest.raises(StoreError, match=r"00.jsonl:1: field 'model_id': is missing"):
        store.results()
    (store_dir / "results" / "00.jsonl").write_text("\nnot json\n")
    with pytest.raises(StoreError, match=r"00.jsonl:2: not valid JSON"):
        store.results()


def test_missing_data_directory(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match=r"nowhere: data directory not found"):
        Store(tmp_path / "nowhere").architectures()


@pytest.mark.parametrize(
    ("repo_id", "ok"),
    [
        ("roberta-base", True),
        ("google/t5-v1_1-base", True),
        ("user/name_", True),
        ("../x", False),
        ("a/b/c", False),
        ("a--b", False),
        ("<script>", False),
        ("a/b c", False),
        ("", False),
        ("x.git", False),
        (None, False),
    ],
)
def test_repo_id_validation(repo_id, ok) -> None:
    assert is_valid_repo_id(repo_id) is ok


@pytest.mark.parametrize(
    ("bad", "field", "message"),
    [
        ({"downloads": "lots"}, "downloads", "expected an integer, got 'lots'"),
        ({"downloads": True}, "downloads", "expected an integer"),
        ({"sha": 123}, "sha", "expected text, got 123"),
        ({"sha": "F" * 40}, "sha", "expected 40 lowercase hex"),
        ({"sha": "abc"}, "sha", "expected 40 lowercase hex"),
        ({"status": "deleted"}, "status", "expected one of ok, excluded, unclassified, removed"),
        ({"tags": ["a"]}, "tags", "would read back as"),
        ({"renamed_to": "../x", "status": "removed"}, "renamed_to", "invalid hub repo id"),
        ({"renamed_to": "a/new"}, "renamed_to", "set on a model with status 'ok'"),
        ({"model_id": "../etc"}, "model_id", "invalid hub repo id"),
        ({"model_id": None}, "model_id", "is required"),
        ({"license": "bad \ud800 surrogate"}, "license", "not storable"),
    ],
)
def test_write_catalog_refuses_a_record_it_could_not_read_back(
    store_dir: Path, bad, field, message
) -> None:
    store = Store(store_dir)
    store.write_catalog([_entry("z/good"), _entry("z/old", status="removed", renamed_to="z/good")])
    before = store.path(CATALOG).read_bytes()
    entry = _entry(**{"model_id": "b/bad", **bad})
    with pytest.raises(StoreError) as caught:
        store.write_catalog([_entry("a/good"), entry])
    err = caught.value
    assert err.path == store.path(CATALOG) and err.field == field
    assert message in str(err) and "catalog.jsonl" in str(err)
    model = bad.get("model_id", "b/bad")
    assert (f"model {model!r}" if isinstance(model, str) else repr(model)) in str(err)
    assert store.path(CATALOG).read_bytes() == before  # nothing written
    assert sorted(p.name for p in store_dir.iterdir()) == ["architectures.toml", "catalog.jsonl"]
    assert [e.model_id for e in store.catalog()] == ["z/good", "z/old"]


@pytest.mark.parametrize(
    ("bad", "field"),
    [
        ({"accuracy": float("nan")}, "accuracy"),
        ({"gain": float("inf")}, "gain"),
        ({"timings": {"forward": float("nan")}}, "timings.forward"),
        ({"versions": {"torch": 2}}, "versions.torch"),
        ({"evaluated_at": None}, "evaluated_at"),
        ({"status": "skipped"}, "status"),
        ({"n_eval": 1.5}, "n_eval"),
    ],
)
def test_results_refuse_bad_records_and_keep_the_old_file(store_dir: Path, bad, field) -> None:
    store = Store(store_dir)
    store.save_result(_result("x/one"))
    before = _results_files(store)
    file = f"results/{result_bucket('x/two')}.jsonl"
    with pytest.raises(StoreError, match=rf"{file}: field '{field}': model 'x/two'"):
        store.save_result(_result("x/two", **bad))
    assert _results_files(store) == before
    assert [r.model_id for r in store.results()] == ["x/one"]


def test_writes_refuse_records_of_the_wrong_kind(store_dir: Path) -> None:
    store = Store(store_dir)
    with pytest.raises(
        StoreError, match=r"catalog.jsonl: expected a record of type CatalogEntry, got EvalResult"
    ):
        store.write_catalog([_result("x/one")])
    with pytest.raises(
        StoreError, match=r"results: expected a record of type EvalResult, got dict"
    ):
        store.write_results([_result("x/one").to_dict()])
    assert not store.path(CATALOG).exists() and not store.results_dir.exists()


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"sha": "A" * 40}, "sha"),
        ({"sha": "f" * 39}, "sha"),
        ({"status": "gone"}, "status"),
        ({"renamed_to": "a/b/c"}, "renamed_to"),
    ],
)
def test_catalog_read_checks_sha_and_status(store_dir: Path, change, field) -> None:
    store = Store(store_dir)
    store.write_catalog([_entry("a/one"), _entry("a/two", status="unclassified")])
    path = store.path(CATALOG)
    lines = path.read_text().splitlines()
    row = json.loads(lines[1])
    row.update(change)
    path.write_text(lines[0] + "\n" + json.dumps(row) + "\n")
    with pytest.raises(StoreError, match=rf"catalog.jsonl:2: field '{field}'"):
        store.catalog()


def _dead_pid() -> int:
    proc = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)  # fmt: skip
    return int(proc.stdout)


def _age(path: Path, seconds: float) -> None:
    then = time.time() - seconds
    os.utime(path, (then, then))


def test_a_killed_write_leaves_a_temp_file_that_the_next_write_removes(tmp_path: Path) -> None:
    target = tmp_path / "results.jsonl"
    atomic_write_text(target, "old\n")
    killed = (
        "import os, sys; from pathlib import Path; import ranker.store.files as s\n"
        "s.os.replace = lambda *a: os._exit(9)  # killed between write and rename\n"
        f"s.atomic_write_text(Path({str(target)!r}), 'x' * 100000)\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", killed], stderr=subprocess.PIPE, text=True)
    _, stderr = proc.communicate()
    assert proc.returncode == 9, stderr
    (left,) = [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
    assert left.name.startswith(f".results.jsonl.{proc.pid}.") and left.stat().st_size == 100000
    atomic_write_text(target, "new\n")  # the writer is gone, but within the grace: kept
    assert left.exists()
    _age(left, STALE_TEMP_GRACE + 5)
    atomic_write_text(target, "newer\n")
    assert not left.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["results.jsonl"]
    assert target.read_text() == "newer\n"


def test_stale_temp_files_are_told_apart(tmp_path: Path) -> None:
    target = tmp_path / "catalog.jsonl"
    dead, alive = _dead_pid(), os.getpid()
    files = {
        "dead": (f".catalog.jsonl.{dead}.abcd1234.tmp", STALE_TEMP_GRACE + 5),
        "old_format_old": (".catalog.jsonl.abcd1234.tmp", STALE_TEMP_AGE + 5),
        "alive_old": (f".catalog.jsonl.{alive}.abcd1234.tmp", STALE_TEMP_AGE + 5),
        "alive": (f".catalog.jsonl.{alive}.efgh5678.tmp", STALE_TEMP_GRACE + 5),
        "old_format": (".catalog.jsonl.efgh5678.tmp", STALE_TEMP_GRACE + 5),
        "dead_fresh": (f".catalog.jsonl.{dead}.efgh5678.tmp", 0),
        "other_target": (f".catalog.jsonl.bak.{dead}.abcd1234.tmp", STALE_TEMP_AGE + 5),
        "other_file": (".catalog.jsonl.tmp", STALE_TEMP_AGE + 5),
        "results": (f".results.jsonl.{dead}.abcd1234.tmp", STALE_TEMP_AGE + 5),
    }
    for name, age in files.values():
        (tmp_path / name).write_text("partial")
        _age(tmp_path / name, age)
    removed = remove_stale_temps(target)
    gone = {"dead", "old_format_old", "alive_old"}
    assert sorted(p.name for p in removed) == sorted(files[k][0] for k in gone)
    for key, (name, _) in files.items():
        assert (tmp_path / name).exists() is (key not in gone), key


def test_rename_results_moves_them_to_the_new_id(store_dir: Path) -> None:
    store = Store(store_dir)
    store.write_results(
        [
            _result("a/old", accuracy=0.61),
            _result("a/old", revision="b" * 40, accuracy=0.62),
            _result("a/new", revision="b" * 40, accuracy=0.7),  # the new id's own result wins
            _result("z/other"),
        ]
    )
    assert store.rename_results("a/old", "a/new") == 2
    assert [(r.model_id, r.revision[0], r.accuracy) for r in store.results()] == [
        ("a/new", "a", 0.61),
        ("a/new", "b", 0.7),
        ("z/other", "a", 0.61),
    ]
    files = _results_files(store)
    assert store.rename_results("a/old", "a/new") == 0  # nothing left to move: no write
    assert _results_files(store) == files
    with pytest.raises(StoreError, match=r"field 'new': invalid hub repo id '\.\./x'"):
        store.rename_results("a/new", "../x")
    assert _results_files(store) == files


# -- the results at scale: appends, buckets, torn lines -----------------------------------------


def _in_one_bucket(n: int, prefix: str = "org/m") -> list[str]:
    """`n` model ids whose results share one file."""
    ids = [f"{prefix}{i}" for i in range(40 * n * RESULT_BUCKETS)]
    first = result_bucket(ids[0])
    return [m for m in ids if result_bucket(m) == first][:n]


def test_bucket_choice_is_deterministic_and_spread() -> None:
    assert [result_bucket(m) for m in ("roberta-base", "org/a", "x/one")] == ["39", "12", "07"]
    ids = [f"org{i % 97}/model-{i:05d}" for i in range(20_000)]
    counts: dict[str, int] = {}
    for m in ids:
        counts[result_bucket(m)] = counts.get(result_bucket(m), 0) + 1
    assert sorted(counts) == [f"{i:02x}" for i in range(RESULT_BUCKETS)]
    # no file far above the mean: at 100k results of ~2 KB (bench/bench_store.py) a file is
    # ~3 MB, so 25 MB is ~8x the mean away
    assert max(counts.values()) < 1.25 * len(ids) / RESULT_BUCKETS


def test_an_append_writes_one_line_and_rewrites_nothing(store_dir: Path, monkeypatch) -> None:
    store = Store(store_dir)
    a, b, c = _in_one_bucket(3)
    store.save_result(_result(a))
    path = store.results_file(a)
    before, inode = path.read_bytes(), path.stat().st_ino
    other = next(m for m in (f"z/{i}" for i in range(999)) if result_bucket(m) != result_bucket(a))
    store.save_result(_result(other))

    def no_rewrite(*args, **kwargs):
        raise AssertionError("save_result rewrote a file")

    monkeypatch.setattr("ranker.store.results.atomic_write_text", no_rewrite)
    monkeypatch.setattr(Store, "_load_results", no_rewrite)  # nor reads the others
    store.save_result(_result(b))
    store.save_result(_result(c, status="error", error="x", accuracy=None))
    after = path.read_bytes()
    assert path.stat().st_ino == inode and after.startswith(before)
    assert (
        after[len(before) :]
        == (
            result_line(_result(b))
            + result_line(_result(c, status="error", error="x", accuracy=None))
        ).encode()
    )
    monkeypatch.undo()
    assert {r.model_id for r in store.results()} == {a, b, c, other}


def test_a_later_line_supersedes_and_compact_drops_it(store_dir: Path) -> None:
    store = Store(store_dir)
    store.save_result(_result("x/one"))
    store.save_result(_result("x/two"))
    store.save_result(_result("x/one", accuracy=0.7))
    assert store.results_file("x/one").read_text().count("\n") == 2 + (
        result_bucket("x/two") == result_bucket("x/one")
    )
    assert [(r.model_id, r.accuracy) for r in store.results()] == [("x/one", 0.7), ("x/two", 0.61)]
    assert store.compact() == 1
    assert store.results_file("x/one").read_text() == results_text(
        r for r in store.results() if result_bucket(r.model_id) == result_bucket("x/one")
    )
    files = _results_files(store)
    assert store.compact() == 0 and _results_files(store) == files  # nothing to do: no write


def test_a_torn_last_line_is_ignored_on_read_and_removed_by_the_next_append(
    store_dir: Path,
) -> None:
    store = Store(store_dir)
    a, b, c = _in_one_bucket(3)
    store.save_result(_result(a))
    store.save_result(_result(b))
    path = store.results_file(a)
    whole = path.read_bytes()
    torn = result_line(_result(c, error="caf\u00e9 \u2028"))[:-40].encode()
    for cut in (torn, torn[: torn.index(b"\xc3") + 1]):  # also cut inside a character
        path.write_bytes(whole + cut)
        with pytest.warns(TornLineWarning, match=rf"{path.name}:3: ignored a torn last line"):
            assert [r.model_id for r in store.results()] == [a, b]
    with pytest.warns(TornLineWarning, match=rf"{path.name}:3: removed a torn last line"):
        store.save_result(_result(c, error="caf\u00e9 \u2028"))
    assert path.read_bytes() == whole + result_line(_result(c, error="caf\u00e9 \u2028")).encode()
    assert [r.error for r in store.results()] == [None, None, "caf\u00e9 \u2028"]
    # a last line that is whole but has no newline (an edit by hand) is a line: kept
    path.write_bytes(whole.rstrip(b"\n"))
    assert [r.model_id for r in store.results()] == [a, b]
    store.save_result(_result(c))
    assert path.read_bytes() == whole + result_line(_result(c)).encode()
    # a malformed line that is not the last, or ends with a newline, is an error as ever
    path.write_bytes(whole + torn + b"\n")
    with pytest.raises(StoreError, match=rf"{path.name}:3: not valid JSON"):
        store.results()


def _append_many(root: str, worker: int, count: int) -> None:
    store = Store(root)
    for i in range(count):
        store.save_result(_result(f"w{worker}/m{i % 50}", revision=f"{i:040x}"))


def test_two_processes_appending_at_once_lose_nothing(store_dir: Path) -> None:
    import multiprocessing

    context = multiprocessing.get_context("fork")
    workers = [context.Process(target=_append_many, args=(str(store_dir), w, 200)) for w in (0, 1)]
    for p in workers:
        p.start()
    for p in workers:
        p.join(60)
    assert [p.exitcode for p in workers] == [0, 0]
    store = Store(store_dir)
    results = store.results()
    assert len(results) == 400
    assert {(r.model_id, r.revision) for r in results} == {
        (f"w{w}/m{i % 50}", f"{i:040x}") for w in (0, 1) for i in range(200)
    }
    assert sum(p.read_text().count("\n") for p in store.results_dir.glob("*.jsonl")) == 400


def _crash_on_replace(monkeypatch, after: int) -> None:
    """os.replace works `after` times, then the process 'dies' (the rename raises)."""
    real, calls = os.replace, []

    def replace(src, dst):
        calls.append(dst)
        if len(calls) > after:
            raise KeyboardInterrupt("killed before the rename")
        real(src, dst)

    monkeypatch.setattr(os, "replace", replace)


def test_no_result_is_lost_when_a_rename_is_killed(store_dir: Path, monkeypatch) -> None:
    store = Store(store_dir)
    new = next(
        m for m in (f"b/{i}" for i in range(999)) if result_bucket(m) != result_bucket("a/old")
    )
    beside = next(
        m for m in (f"a/{i}" for i in range(999)) if result_bucket(m) == result_bucket("a/old")
    )
    store.write_results([_result("a/old"), _result(beside), _result("z/other")])
    _crash_on_replace(monkeypatch, 1)  # the first file written, not the second
    with pytest.raises(KeyboardInterrupt):
        store.rename_results("a/old", new)
    monkeypatch.undo()
    ids = {r.model_id for r in store.results()}
    assert {"a/old", new} <= ids  # the new file was written first: in both, never in neither
    assert store.rename_results("a/old", new) == 1
    assert {r.model_id for r in store.results()} == {new, beside, "z/other"}


def test_a_bucket_file_is_validated_on_read(store_dir: Path) -> None:
    store = Store(store_dir)
    store.save_result(_result("x/one"))
    path = store.results_file("x/one")
    good = path.read_text()
    bad = json.loads(good)
    bad["accuracy"] = "high"
    path.write_text(good + json.dumps(bad) + "\n")
    with pytest.raises(StoreError, match=rf"{path.name}:2: field 'accuracy': expected a number"):
        store.results()
    elsewhere = next(m for m in (f"y/{i}" for i in range(999)) if result_bucket(m) != path.stem)
    path.write_text(good + result_line(_result(elsewhere)))
    with pytest.raises(StoreError, match=rf"{path.name}:2: field 'model_id': model .* belongs in"):
        store.results()
    path.write_text(good)
    (store.results_dir / "notes.jsonl").write_text("")
    with pytest.raises(StoreError, match=r"notes\.jsonl: not a results file"):
        store.results()


_FAST_READ_CHANGES: list[dict[str, Any]] = [
    {},
    {"accuracy": 1},  # an int in a float field: from_dict makes it 1.0
    {"accuracy": float("nan")},
    {"accuracy": 1e999},
    {"n_eval": True},
    {"n_eval": 1.0},
    {"timings": {"forward": 2}},
    {"timings": {"forward": float("inf")}},
    {"timings": {"forward": True}},
    {"versions": {"torch": None}},
    {"model_id": None},
    {"extra": "ignored"},
    {"correct": None, "error": "x", "status": "error"},
]


@pytest.mark.parametrize("change", _FAST_READ_CHANGES)
def test_the_fast_read_agrees_with_from_dict(change) -> None:
    """The read path's fast check accepts exactly what `from_dict` accepts, as the same record
    (or raises its error)."""
    data = _result("x/one").to_dict() | change
    line = json.dumps(data)
    try:
        want = EvalResult.from_dict(json.loads(line))
    except ValueError as exc:
        with pytest.raises(StoreError) as caught:
            parse_jsonl(Path("r.jsonl"), line + "\n", EvalResult)
        assert caught.value.reason in str(exc)
        return
    ((_, got),) = parse_jsonl(Path("r.jsonl"), line + "\n", EvalResult)
    assert got == want and type(got.accuracy) is type(want.accuracy)
    assert got.to_dict() == want.to_dict()
    entry = CatalogEntry(schema_version=1, model_id="x/one", architecture="a", sha="f" * 40,
                         status="ok", tags=("a", "b"))  # fmt: skip
    ((_, read),) = parse_jsonl(Path("c.jsonl"), result_line(entry), CatalogEntry)
    assert read == entry and read.tags == ("a", "b")


def test_a_shard_file_appends_too(tmp_path: Path, monkeypatch) -> None:
    from ranker.store import ResultsFile

    out = ResultsFile(tmp_path / "shard.jsonl")
    out.save_result(_result("x/one"))
    before, inode = out.path.read_bytes(), out.path.stat().st_ino
    out.save_result(_result("x/two"))
    assert out.path.stat().st_ino == inode and out.path.read_bytes().startswith(before)
    out.save_result(_result("x/one", accuracy=0.7))  # a key it has: rewritten, still one line
    assert [(r.model_id, r.accuracy) for r in out.results()] == [("x/one", 0.7), ("x/two", 0.61)]
    whole = out.path.read_bytes()
    out.path.write_bytes(whole + b'{"model_id": "x/thr')  # killed mid-append
    with pytest.warns(TornLineWarning):
        again = ResultsFile(out.path)
        assert len(again.results()) == 2
        again.save_result(_result("x/three"))
    assert out.path.read_bytes() == whole + result_line(_result("x/three")).encode()


def test_ranker_compact_leaves_one_sorted_line_per_key(store_dir: Path, capsys) -> None:
    from ranker.cli import main

    store = Store(store_dir)
    store.save_result(_result("b/later", accuracy=0.5))
    store.save_result(_result("a/first"))
    store.save_result(_result("b/later", accuracy=0.55, evaluated_at="2026-11-27T00:00:00Z"))
    lines = [ln for t in _results_files(store).values() for ln in t.splitlines()]
    assert len(lines) == 3  # appended: the superseded line is still there
    assert main(["compact", "--data", str(store_dir)]) == 0
    assert "rewritten" in capsys.readouterr().out
    files = _results_files(store)
    lines = [ln for t in files.values() for ln in t.splitlines()]
    assert len(lines) == 2
    assert {r.model_id: r.accuracy for r in store.results()} == {"a/first": 0.61, "b/later": 0.55}
    assert main(["compact", "--data", str(store_dir)]) == 0
    assert "nothing to do" in capsys.readouterr().out and _results_files(store) == files


def _read_both_ways(monkeypatch, text: str, record: type = EvalResult) -> tuple[Any, Any]:
    """`parse_jsonl` of `text` a file at a time and line by line (the bulk path switched off):
    each as its (line, record) pairs and the warnings, or as ("error", its message)."""
    import warnings

    import ranker.store.codec

    def read() -> Any:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                got = parse_jsonl(Path("r.jsonl"), text, record, torn_tail=True)
            except StoreError as exc:
                return "error", str(exc)
        pairs = [(n, r, r.to_dict(), {k: type(v) for k, v in vars(r).items()}) for n, r in got]
        return pairs, [(w.category, str(w.message), w.filename) for w in caught]

    bulk = read()
    with monkeypatch.context() as m:
        m.setattr(ranker.store.codec, "_bulk_text", lambda *a, **k: None)
        one_by_one = read()
    return bulk, one_by_one


@pytest.mark.parametrize("change", [*_FAST_READ_CHANGES, "reordered", "blank", "torn", "1e400"])
def test_a_file_at_a_time_reads_as_line_by_line(change, monkeypatch) -> None:
    """A results file is parsed a file at a time (`_bulk_records`) when every line is a valid
    record, else line by line: the same records either way, or the same error naming the same
    line (here the second of three, a good one before and an error record after)."""
    good = _result("x/one")
    other = _result("x/two", status="error", error="HTTP 404", accuracy=None, timings={})
    line = result_line(good)
    if change == "reordered":  # a hand edit: the same fields in another order
        line = json.dumps(dict(reversed(good.to_dict().items()))) + "\n"
    elif change == "blank":
        line = "  \n"
    elif change == "torn":  # not the last line: an error like any malformed line
        line = line[:-40] + "\n"
    elif change == "1e400":  # orjson refuses it; json.loads makes it inf; from_dict refuses
        line = line.replace('"accuracy": 0.61', '"accuracy": 1e400')
    else:
        line = json.dumps(good.to_dict() | change) + "\n"
    text = result_line(good) + line + result_line(other)
    bulk, one_by_one = _read_both_ways(monkeypatch, text)
    assert bulk == one_by_one
    lines = text.split("\n")[:-1]  # taken whenever orjson parses every line to a valid record
    try:
        parsed = all(isinstance(orjson.loads(line), dict) for line in lines)
    except orjson.JSONDecodeError:
        parsed = False
    assert (bulk_records(EvalResult, lines) is not None) is (parsed and bulk[0] != "error")
    if bulk[0] == "error":
        assert "r.jsonl:2: " in bulk[1]
    else:
        assert [n for n, *_ in bulk[0]] == ([1, 3] if change == "blank" else [1, 2, 3])
        assert bulk[1] == []
    # and as the last line, with no newline
    bulk, one_by_one = _read_both_ways(monkeypatch, result_line(good) + line.rstrip("\n"))
    assert bulk == one_by_one
    if change == "torn":  # left out, with a warning that points at the caller
        assert [n for n, *_ in bulk[0]] == [1]
        ((category, message, filename),) = bulk[1]
        assert category is TornLineWarning and "r.jsonl:2: ignored a torn" in message
        assert filename == __file__


def test_a_file_at_a_time_reads_catalog_tuples_and_names_bad_lines(monkeypatch) -> None:
    entry = CatalogEntry(schema_version=1, model_id="x/one", architecture="a", sha="f" * 40,
                         status="ok", tags=("a", "b"))  # fmt: skip
    lines = [result_line(entry), result_line(dataclasses.replace(entry, tags=()))]
    bulk, one_by_one = _read_both_ways(monkeypatch, "".join(lines), CatalogEntry)
    assert bulk == one_by_one and [r.tags for _, r, *_ in bulk[0]] == [("a", "b"), ()]
    for bad, message in [
        ({"tags": ["a", 1]}, "field 'tags': expected text"),
        ({"tags": None}, "field 'tags': is required"),
        ({"sha": "F" * 40}, "field 'sha': expected 40 lowercase hex"),
        ({"model_id": "a--b"}, "field 'model_id': invalid hub repo id"),
    ]:
        text = lines[0] + json.dumps(entry.to_dict() | bad) + "\n" + lines[1]
        bulk, one_by_one = _read_both_ways(monkeypatch, text, CatalogEntry)
        assert bulk == one_by_one
        assert bulk[0] == "error" and "r.jsonl:2: " in bulk[1] and message in bulk[1]


def test_orjson_makes_no_float_that_is_not_finite() -> None:
    """`_bulk_records` leaves out `_fast_from_dict`'s finite check because orjson refuses
    NaN, infinities and numbers that overflow a double; this fails if a release did not."""
    for text in ("NaN", "Infinity", "-Infinity", "1e400", "-1e400", "[0.5, 1e309]"):
        with pytest.raises(orjson.JSONDecodeError):
            orjson.loads(text)


def test_the_bulk_check_of_results_agrees_with_semantic_problem() -> None:
    from ranker.store.codec import all_valid as _no_semantic_problem

    def _semantic_problem(record):
        return record.problem()

    good = _result("x/one")
    ids = ["roberta-base", "google/t5-v1_1-base", "user/name_", "../x", "a/b/c", "a--b",
           "<script>", "a/b c", "", "x.git", "a/x.git", "a..b", "a\nb", "a/b\n", "a" * 97]  # fmt: skip
    for model in ids:
        for records in ([dataclasses.replace(good, model_id=model)],
                        [good, dataclasses.replace(good, model_id=model), good]):  # fmt: skip
            assert _no_semantic_problem(records) is (is_valid_repo_id(model)), model
            assert _no_semantic_problem(records) is all(
                _semantic_problem(r) is None for r in records
            )
    assert not _no_semantic_problem([good, dataclasses.replace(good, status="done")])
    assert _no_semantic_problem([good, dataclasses.replace(good, status="error")])
    assert _no_semantic_problem([])


def test_a_result_in_the_wrong_bucket_is_named_by_its_line(store_dir: Path) -> None:
    store = Store(store_dir)
    a, b = _in_one_bucket(2)
    store.save_result(_result(a))
    store.save_result(_result(b))
    path = store.results_file(a)
    elsewhere = next(m for m in (f"y/{i}" for i in range(999)) if result_bucket(m) != path.stem)
    for blank in ("", "\n"):  # a file at a time, and line by line (a blank line)
        path.write_text(result_line(_result(a)) + blank + result_line(_result(elsewhere))
                        + result_line(_result(b)))  # fmt: skip
        line = 3 if blank else 2
        with pytest.raises(StoreError, match=rf"{path.name}:{line}: field 'model_id': model "):
            store.results()


# -- limits at the store's boundary: only what reads back, and what later stages can use --------


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"downloads": 2**64}, "downloads"),  # orjson would read it back as a float
        ({"downloads": 2**63}, "downloads"),
        ({"likes": -1}, "likes"),
        ({"detail": "x" * (64 * 1024 + 1)}, "detail"),
        ({"last_seen": "9999-12-31T00:00:00Z"}, "last_seen"),
        ({"first_seen": "2017-12-31T23:59:59Z"}, "first_seen"),
        ({"last_modified": "yesterday"}, "last_modified"),
    ],
)
def test_a_value_out_of_the_limits_is_refused_naming_the_record(
    store_dir: Path, change: dict, field: str
) -> None:
    store = Store(store_dir)
    store.write_catalog([_entry("a/kept")])
    before = store.path(CATALOG).read_bytes()
    with pytest.raises(StoreError) as info:
        store.write_catalog([_entry("a/kept"), _entry("a/bad", **change)])
    assert info.value.field == field and "'a/bad'" in str(info.value)
    assert store.path(CATALOG).read_bytes() == before


def test_the_largest_count_and_a_date_a_day_ahead_read_back(store_dir: Path) -> None:
    store = Store(store_dir)
    soon = (dt.datetime.now(dt.UTC) + dt.timedelta(hours=12)).isoformat()
    entry = _entry(downloads=MAX_INT, likes=0, last_seen=soon)
    store.write_catalog([entry])
    assert store.catalog() == [entry] and type(store.catalog()[0].downloads) is int
    later = (dt.datetime.now(dt.UTC) + dt.timedelta(days=2)).isoformat()
    with pytest.raises(StoreError, match="evaluated_at"):
        store.save_result(_result("a/m", evaluated_at=later))
    assert _results_files(store) == {}


def test_a_line_over_the_cap_and_deep_nesting_are_refused(store_dir: Path) -> None:
    store = Store(store_dir)
    big = _entry(tags=tuple("t" * 60_000 for _ in range(20)))  # 1.2 MB, each tag in range
    with pytest.raises(StoreError, match="more than 1,048,576"):
        store.write_catalog([big])
    nested: Any = 1
    for _ in range(MAX_DEPTH):
        nested = [nested]
    deep = EvalResult.from_dict({**_result("a/m").to_dict(), "future": nested})
    with pytest.raises(StoreError, match="nested more than") as info:
        store.save_result(deep)
    assert info.value.field == "future"
    assert not store.path(CATALOG).exists() and _results_files(store) == {}


def _line_of(record: Any, **changes: Any) -> str:
    return json.dumps({**record.to_dict(), **changes}, sort_keys=True, ensure_ascii=False)


def test_an_old_line_out_of_range_is_kept_reported_and_replaced_by_a_valid_record(
    store_dir: Path,
) -> None:
    store = Store(store_dir)
    bad = _line_of(_entry("a/huge"), downloads=2**64)  # as an old version wrote it
    store.path(CATALOG).write_text(_line_of(_entry("a/one")) + "\n" + bad + "\n")
    with pytest.warns(KeptLineWarning, match=r"catalog.jsonl:2: field 'downloads'"):
        assert [e.model_id for e in store.catalog()] == ["a/one"]
    store.write_catalog([_entry("a/one"), _entry("a/two")])  # a write does not warn
    assert bad + "\n" in store.path(CATALOG).read_text()  # not lost by a rewrite
    store.write_catalog([_entry("a/one"), _entry("a/huge", downloads=5)])  # crawled again
    assert bad not in store.path(CATALOG).read_text()
    assert {e.model_id: e.downloads for e in store.catalog()} == {"a/one": 3, "a/huge": 5}


def test_a_newer_schema_line_is_kept_byte_for_byte(store_dir: Path) -> None:
    store = Store(store_dir)
    model = "org/m"
    newer = _line_of(_result(model), schema_version=SCHEMA_VERSION + 1, accuracy="0.61±0.01",
                     brand_new={"a": [1, 2]})  # fmt: skip
    path = store.results_file(model)
    path.parent.mkdir(parents=True)
    path.write_text(newer + "\n" + _line_of(_result(model, revision="b" * 40)) + "\n")
    with pytest.warns(KeptLineWarning, match=r":1: field 'schema_version'"):
        assert [r.revision for r in store.results()] == ["b" * 40]
    with pytest.warns(KeptLineWarning):
        assert store.compact() == 1  # the line this version reads is rewritten, not the other
        store.merge_results([_result(model, revision="c" * 40)])
        store.save_result(_result(model, revision="d" * 40))
        store.compact()
    lines = path.read_text().splitlines()
    assert newer in lines and len(lines) == 4
    # the catalog and the request queue keep theirs too
    text = _line_of(_entry("b/newer"), schema_version=SCHEMA_VERSION + 1) + "\n"
    store.path(CATALOG).write_text(text)
    store.write_catalog([_entry("b/newer"), _entry("b/other")])  # kept even then
    assert store.path(CATALOG).read_text().endswith(text)
    request = ModelRequest(schema_version=1, issue=3, model_id="b/newer", architecture="x",
                           sha="f" * 40, status="queued", requested_at="2026-11-26T00:00:00Z")  # fmt: skip
    text = _line_of(request, schema_version=SCHEMA_VERSION + 1, asked_by="someone") + "\n"
    store.path("requests.jsonl").write_text(text)
    with pytest.warns(KeptLineWarning):  # the read of the queue before the write
        store.save_request(dataclasses.replace(request, issue=4))
    assert store.path("requests.jsonl").read_text().endswith(text)
    with pytest.warns(KeptLineWarning, match="requests.jsonl:2"):
        assert [r.issue for r in store.requests()] == [4]


def test_unknown_fields_of_this_schema_round_trip(store_dir: Path) -> None:
    store = Store(store_dir)
    line = _line_of(_result("org/m"), new_metric=0.5, notes={"by": "v2"})
    path = store.results_file("org/m")
    path.parent.mkdir(parents=True)
    path.write_text(line + "\n" + line + "\n")  # a superseded line, so compact rewrites
    (result,) = store.results()
    assert result.extra_fields == {"new_metric": 0.5, "notes": {"by": "v2"}}
    assert store.compact() == 1
    assert path.read_text() == line + "\n"
    store.path(CATALOG).write_text(_line_of(_entry(), seen_by="v2") + "\n")
    store.write_catalog(store.catalog())
    assert '"seen_by": "v2"' in store.path(CATALOG).read_text()


def test_unknown_fields_survive_a_replace_and_a_rewrite(store_dir: Path) -> None:
    """A newer writer's fields of this schema are kept through a `dataclasses.replace` (a
    rename, a re-evaluation's copy) and the rewrite that follows, not only a plain rewrite."""
    store = Store(store_dir)
    path = store.results_file("org/m")
    path.parent.mkdir(parents=True)
    path.write_text(_line_of(_result("org/m"), new_metric=0.5) + "\n")
    (result,) = store.results()
    store.write_results([dataclasses.replace(result, accuracy=0.7)])
    (again,) = store.results()
    assert again.accuracy == 0.7 and again.extra_fields == {"new_metric": 0.5}
    assert '"new_metric": 0.5' in path.read_text()
    assert store.rename_results("org/m", "org/n") == 1
    (moved,) = store.results()
    assert moved.model_id == "org/n" and moved.extra_fields == {"new_metric": 0.5}
    store.path(CATALOG).write_text(_line_of(_entry(), seen_by="v2") + "\n")
    (entry,) = store.catalog()
    store.write_catalog([dataclasses.replace(entry, downloads=7)])
    (entry,) = store.catalog()
    assert entry.downloads == 7 and entry.extra_fields == {"seen_by": "v2"}


def _write_pin(root: str) -> None:
    Store(root).write_mnli_revision("c" * 40)


def test_every_writer_waits_for_the_one_lock(store_dir: Path) -> None:
    import multiprocessing

    store = Store(store_dir)
    with store.lock():
        with store.lock():  # re-entrant in one Store: a read-modify-write around a writer
            store.write_catalog([_entry()])
        child = multiprocessing.get_context("spawn").Process(
            target=_write_pin, args=(str(store_dir),)
        )
        child.start()  # spawned, not forked: a fork would inherit this lock's open file
        child.join(3)  # time to start and reach the lock
        assert child.is_alive() and not store.path("probe.json").exists()
    child.join(30)
    assert child.exitcode == 0 and store.mnli_revision() == "c" * 40


def test_a_rename_is_followed_by_a_folder_fsync(tmp_path: Path, monkeypatch) -> None:
    import ranker.store.files as store_module

    synced: list[Path] = []
    monkeypatch.setattr(store_module, "fsync_dir", synced.append)
    atomic_write_text(tmp_path / "x.json", "{}")
    assert synced == [tmp_path]


_HOSTILE_TEXT = st.text(
    alphabet=st.sampled_from(["a", "/", ".", "\x00", "\x1b", "\u2028", "\u202e", "\ufeff",
                              "\u0430", "\uff0b", "=", "\U0001f600", "\udc80"]),
    max_size=30,
)  # fmt: skip
_HOSTILE_VALUE = st.one_of(
    st.none(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.sampled_from([2**63 - 1, 2**63, 2**64, -1]),
    _HOSTILE_TEXT,
    st.just("y" * 70_000),
    st.datetimes(min_value=dt.datetime(1, 1, 1)).map(lambda d: d.isoformat()),
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    changes=st.dictionaries(
        st.sampled_from(["model_id", "downloads", "likes", "params", "license", "detail",
                         "last_modified", "first_seen", "last_seen", "reason"]),
        _HOSTILE_VALUE, max_size=3,
    )
)  # fmt: skip
def test_any_catalog_entry_is_written_or_refused_and_the_catalog_still_reads(changes) -> None:
    with tempfile.TemporaryDirectory() as folder:
        store = Store(folder)
        store.write_catalog([_entry("a/kept")])
        before = store.path(CATALOG).read_bytes()
        try:
            store.write_catalog([_entry("a/kept"), _entry(**{"model_id": "a/new", **changes})])
        except StoreError as exc:
            assert exc.reason and exc.path == store.path(CATALOG)
            assert store.path(CATALOG).read_bytes() == before
        assert "a/kept" in {e.model_id for e in Store(folder).catalog()}
