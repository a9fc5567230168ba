from __future__ import annotations

import os
from pathlib import Path

import pytest

from conftest import make_baselines, make_legacy_model
from ranker.errors import StoreError, UnknownArchitectureError
from ranker.records import CatalogEntry, EvalResult, is_valid_repo_id
from ranker.store import LEGACY_MODELS, RESULTS, Store, atomic_write_text


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
