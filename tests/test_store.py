from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import make_baselines, make_legacy_model
from ranker.errors import StoreError, UnknownArchitectureError
from ranker.records import CatalogEntry, EvalResult, is_valid_repo_id
from ranker.store import (
    CATALOG,
    LEGACY_MODELS,
    RESULTS,
    STALE_TEMP_AGE,
    STALE_TEMP_GRACE,
    Store,
    atomic_write_text,
    remove_stale_temps,
)


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
    text = store.path(RESULTS).read_text()
    store.write_results(results)
    assert store.path(RESULTS).read_text() == text


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
    (store_dir / "results.jsonl").write_text('{"schema_version": 1}\nnot json\n')
    with pytest.raises(StoreError, match=r"results.jsonl:1: field 'model_id': is missing"):
        store.results()
    (store_dir / "results.jsonl").write_text("\nnot json\n")
    with pytest.raises(StoreError, match=r"results.jsonl:2: not valid JSON"):
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
    before = store.path(RESULTS).read_bytes()
    with pytest.raises(StoreError, match=rf"results.jsonl: field '{field}': model 'x/two'"):
        store.save_result(_result("x/two", **bad))
    assert store.path(RESULTS).read_bytes() == before
    assert [r.model_id for r in store.results()] == ["x/one"]


def test_writes_refuse_records_of_the_wrong_kind(store_dir: Path) -> None:
    store = Store(store_dir)
    with pytest.raises(
        StoreError, match=r"catalog.jsonl: expected a record of type CatalogEntry, got EvalResult"
    ):
        store.write_catalog([_result("x/one")])
    with pytest.raises(
        StoreError, match=r"results.jsonl: expected a record of type EvalResult, got dict"
    ):
        store.write_results([_result("x/one").to_dict()])
    assert not store.path(CATALOG).exists() and not store.path(RESULTS).exists()


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
        "import os, sys; from pathlib import Path; import ranker.store as s\n"
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
    text = store.path(RESULTS).read_bytes()
    assert store.rename_results("a/old", "a/new") == 0  # nothing left to move: no write
    assert store.path(RESULTS).read_bytes() == text
    with pytest.raises(StoreError, match=r"field 'new': invalid hub repo id '\.\./x'"):
        store.rename_results("a/new", "../x")
    assert store.path(RESULTS).read_bytes() == text
