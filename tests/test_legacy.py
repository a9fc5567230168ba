"""The importer on the real published file: counts, defects, baselines, and the published order."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest

from ranker.build.tables import architecture_table
from ranker.errors import StoreError
from ranker.records import LEGACY_TASKS
from ranker.store import Store
from ranker.store.legacy_import import baseline_file_name, import_legacy

# Rows per base_model in models_tested.csv, less the 7 duplicated rows of google/t5-v1_1-base.
EXPECTED_COUNTS = {
    "roberta-base": 1278,
    "bert-base-uncased": 573,
    "bert-base-cased": 329,
    "t5-base": 285,
    "google/t5-v1_1-base": 138,
    "microsoft/deberta-v3-base": 93,
}


@pytest.fixture(scope="module")
def source_frame(legacy_source: Path) -> pd.DataFrame:
    return pd.read_csv(legacy_source / "models_tested.csv")


def test_counts_per_architecture(imported_store: Path) -> None:
    models = Store(imported_store).legacy_models()
    counts = pd.Series([m.architecture for m in models]).value_counts().to_dict()
    assert counts == EXPECTED_COUNTS
    assert len({m.model_id for m in models}) == len(models)


def test_known_defects_are_flagged(imported_store: Path, source_frame: pd.DataFrame) -> None:
    store = Store(imported_store)
    models = {m.model_id: m for m in store.legacy_models()}
    flagged = {f: {i for i, m in models.items() if f in m.flags} for f in
               ("probe_failed", "incomplete", "duplicate", "shifted", "pretrained", "probe_only")}  # fmt: skip

    # mnli_lp == 0 is a failed probe: missing, never a score of zero
    zero_ids = set(source_frame.loc[source_frame.mnli_lp == 0, "model_name"])
    assert len(source_frame[source_frame.mnli_lp == 0]) == 242
    assert all(m.mnli_lp is None or m.mnli_lp > 0 for m in models.values())
    assert flagged["probe_failed"] <= zero_ids
    # the 7 duplicated models keep their row with a valid probe
    dup_ids = set(source_frame.loc[source_frame.model_name.duplicated(), "model_name"])
    assert flagged["duplicate"] == dup_ids and len(dup_ids) == 7
    assert all(models[i].mnli_lp is not None for i in dup_ids)
    assert zero_ids - dup_ids == flagged["probe_failed"]

    tasks = source_frame[list(LEGACY_TASKS)]
    partial = tasks.isna().any(axis=1) & ~tasks.isna().all(axis=1)
    assert flagged["incomplete"] == set(source_frame.loc[partial, "model_name"])
    assert len(flagged["incomplete"]) == 18
    assert all(models[i].avg is None for i in flagged["incomplete"])
    assert len(flagged["probe_only"]) == int(tasks.isna().all(axis=1).sum())

    # about 100 rows have their values shifted by one column (the data README's figure)
    assert 80 <= len(flagged["shifted"]) <= 120
    example = models["JeremiahZ/roberta-base-rte"]  # its wnli holds an esnli-like value
    assert "shifted" in example.flags and example.shifted_from is not None
    assert example.scores["wnli"] > 0.85 and example.scores["esnli"] < 0.6
    assert flagged["pretrained"] == {
        "roberta-base", "bert-base-uncased", "bert-base-cased", "google/t5-v1_1-base",
        "microsoft/deberta-v3-base",
    }  # fmt: skip

    meta = store.legacy_meta()
    assert meta["source_rows"] == 2703 and meta["source_rows_probe_failed"] == 242
    assert meta["flags"]["duplicate"] == 7 and meta["license"] == "Apache-2.0"


def test_averages_and_gains_match_an_independent_computation(
    imported_store: Path, legacy_source: Path, source_frame: pd.DataFrame
) -> None:
    store = Store(imported_store)
    base = pd.read_csv(legacy_source / baseline_file_name("roberta-base"), sep="\t")
    base["value"] = base["accuracy"].fillna(base["spearmanr"])
    per_seed = base.pivot_table(index="stage", columns="dataset name", values="value")
    assert per_seed.shape == (20, 36)
    base_avg = per_seed.mean(axis=1)
    stored = {b.metric: b for b in store.legacy_baselines() if b.architecture == "roberta-base"}
    assert stored["avg"].mean == pytest.approx(base_avg.mean(), abs=1e-12)
    assert stored["avg"].std == pytest.approx(base_avg.std(ddof=1), abs=1e-12)
    assert stored["avg"].n_seeds == 20
    assert stored["stsb"].mean == pytest.approx(per_seed["stsb"].mean(), abs=1e-12)

    row = source_frame[source_frame.model_name == "deepset/roberta-base-squad2-covid"].iloc[0]
    model = next(m for m in store.legacy_models() if m.model_id == row.model_name)
    assert model.avg == pytest.approx(row[list(LEGACY_TASKS)].mean(), abs=1e-12)
    assert model.gain == pytest.approx(model.avg - base_avg.mean(), abs=1e-12)
    assert model.mnli_lp == pytest.approx(row.mnli_lp)


def test_t5_baseline_uses_only_complete_seeds(imported_store: Path) -> None:
    stored = {
        b.metric: b for b in Store(imported_store).legacy_baselines() if b.architecture == "t5-base"
    }
    assert stored["avg"].n_seeds == 16  # 4 seeds lack stsb in the published file
    assert stored["stsb"].n_seeds == 16 and stored["cola"].n_seeds == 20


@pytest.mark.parametrize("arch", list(EXPECTED_COUNTS))
def test_ranking_reproduces_published_order(
    imported_store: Path, source_frame: pd.DataFrame, arch: str
) -> None:
    store = Store(imported_store)
    table = architecture_table(store.architecture(arch), store.legacy_models(), [])
    ours = table.loc[table["rank"].notna(), "model_id"].tolist()

    frame = source_frame[(source_frame.base_model == arch)].drop_duplicates("model_name")
    frame = frame[frame[list(LEGACY_TASKS)].notna().all(axis=1)]
    frame = frame[frame.model_name != arch]
    frame = frame.assign(avg=frame[list(LEGACY_TASKS)].mean(axis=1))
    published = frame.sort_values(["avg", "model_name"], ascending=[False, True])
    assert ours == published.model_name.tolist()
    assert table["rank"].dropna().tolist() == list(range(1, len(ours) + 1))
    assert len(table) == EXPECTED_COUNTS[arch] - (arch != "t5-base")  # less the pretrained row


def _copy_source(legacy_source: Path, tmp_path: Path) -> Path:
    src = tmp_path / "src"
    shutil.copytree(legacy_source, src)
    for f in src.iterdir():
        f.chmod(0o644)
    return src


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda t: t.replace(",roberta-base,", ",gpt2,", 1), r"models_tested.csv:2: field 'base_model': unknown architecture 'gpt2'"),
        (lambda t: t.replace(",0.5617371847030106,", ",n/a,", 1), r"models_tested.csv:2: field 'mnli_lp': not a number"),
        (lambda t: t.replace(",mnli_lp,", ",probe,", 1), r"models_tested.csv:1: missing columns: mnli_lp"),
        (lambda t: t.replace("\ndeepset/", "\n../deepset/", 1), r"models_tested.csv:2: field 'model_name': invalid hub repo id"),
    ],
)  # fmt: skip
def test_bad_source_is_refused_and_store_untouched(
    imported_store: Path, legacy_source: Path, tmp_path: Path, edit, message
) -> None:
    data = tmp_path / "data"
    shutil.copytree(imported_store, data)
    before = _snapshot(data)
    src = _copy_source(legacy_source, tmp_path)
    path = src / "models_tested.csv"
    path.write_text(edit(path.read_text()))
    with pytest.raises(StoreError, match=message):
        import_legacy(src, data)
    assert _snapshot(data) == before


def test_missing_baseline_file_is_refused(legacy_source: Path, tmp_path: Path, store_dir) -> None:
    src = _copy_source(legacy_source, tmp_path)
    (src / baseline_file_name("t5-base")).unlink()
    with pytest.raises(StoreError, match=r"models_results_t5_base_pretrain.csv: baseline file"):
        import_legacy(src, store_dir)
    assert sorted(p.name for p in store_dir.iterdir()) == ["architectures.toml"]


def test_reimport_is_byte_identical(imported_store: Path, legacy_source: Path, tmp_path) -> None:
    data = tmp_path / "data"
    shutil.copytree(imported_store, data)
    before = _snapshot(data)
    import_legacy(legacy_source, data)
    assert _snapshot(data) == before
