"""Matrix mode: `ranker update --shard I/N [--results-out FILE]` splits the queue over machines."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from ranker import protocol
from ranker.cli import main
from ranker.cli.options import parse_shard
from ranker.errors import RankerError, StoreError
from ranker.pipeline import in_shard, pending
from ranker.records import SCHEMA_VERSION, CatalogEntry, EvalResult
from ranker.store import ResultsFile, Store
from ranker.testing.world import BERT, ROBERTA, world_toml

LABELS = ("entailment", "neutral", "contradiction")


def _sha(text: str) -> str:
    return hashlib.sha1(text.encode()).hexdigest()


def _entry(
    model_id: str, architecture: str, downloads: int = 0, status: str = "ok"
) -> CatalogEntry:
    return CatalogEntry(schema_version=SCHEMA_VERSION, model_id=model_id,
                        architecture=architecture, sha=_sha(model_id), status=status,
                        downloads=downloads)  # fmt: skip


def _result(model_id: str, architecture: str, revision: str, **kw) -> EvalResult:
    values = {"schema_version": SCHEMA_VERSION, "model_id": model_id,
              "architecture": architecture, "revision": revision,
              "protocol_version": protocol.PROTOCOL_VERSION, "status": "ok",
              "evaluated_at": "2026-01-01T00:00:00Z", "accuracy": 0.5}  # fmt: skip
    return EvalResult(**{**values, **kw})


@pytest.fixture
def store(tmp_path: Path) -> Store:
    """A store of 60 catalogued models (two bases), two settled results and one transient."""
    root = tmp_path / "data"
    root.mkdir()
    (root / "architectures.toml").write_text(world_toml())
    store = Store(root)
    entries = [_entry(BERT, BERT, 10**6), _entry(ROBERTA, ROBERTA, 10**6)]
    entries += [_entry(f"org{i % 7}/model-{i}", (BERT, ROBERTA)[i % 2], i) for i in range(58)]
    entries.append(_entry("x/excluded", BERT, status="excluded"))  # never queued
    store.write_catalog(entries)
    done = [e for e in entries if e.model_id in ("org1/model-1", "org2/model-2")]
    transient = _result("org3/model-3", ROBERTA, _sha("org3/model-3"), status="error",
                        reason="server-error", failure="transient", accuracy=None)  # fmt: skip
    store.write_results([_result(e.model_id, e.architecture, e.sha) for e in done] + [transient])
    return store


def test_three_shards_partition_the_queue(store: Store) -> None:
    full = pending(store, protocol.PROTOCOL_VERSION)
    assert len(full) == 60 - 2  # the excluded and the two settled ones are not queued
    shares = [pending(store, protocol.PROTOCOL_VERSION, shard=(i, 3)) for i in range(3)]
    ids = [[e.model_id for e in share] for share in shares]
    assert all(ids), [len(s) for s in ids]  # 58 models: every shard has some
    flat = [m for share in ids for m in share]
    assert len(flat) == len(set(flat))  # disjoint
    assert set(flat) == {e.model_id for e in full}  # together, the whole queue
    for i, share in enumerate(shares):
        order = [e for e in full if e.model_id in {s.model_id for s in share}]
        assert share == order  # each keeps the queue's order: bases first, then by downloads
        for e in share:
            assert int(hashlib.sha256(e.model_id.encode()).hexdigest(), 16) % 3 == i
    # the rule is the id's hash alone: the same on any queue, with one shard it is everything
    assert in_shard("org1/model-1", (0, 1))
    assert pending(store, protocol.PROTOCOL_VERSION, shard=(0, 1)) == full


@pytest.mark.parametrize(
    ("text", "shard"), [("0/3", (0, 3)), ("2/3", (2, 3)), (" 1 / 2 ", (1, 2)), (None, None)]
)
def test_parse_shard(text, shard) -> None:
    assert parse_shard(text) == shard


@pytest.mark.parametrize("text", ["3/3", "1/0", "-1/3", "1", "a/b", "1/3/4"])
def test_parse_shard_refuses(text) -> None:
    with pytest.raises(RankerError, match="--shard"):
        parse_shard(text)


def _probe_files(folder: Path) -> Path:
    for name, n in (("nli_train.jsonl", 90), ("nli_test.jsonl", 60)):
        rows = [{"sentence1": f"premise {i}", "sentence2": f"hypothesis {i % 5}",
                 "gold_label": LABELS[i % 3], "pairID": f"{name}-{i}"} for i in range(n)]  # fmt: skip
        (folder / name).write_text("".join(json.dumps(r) + "\n" for r in rows))
    return folder / "nli_train.jsonl"


@pytest.fixture
def fake_evaluation(monkeypatch) -> list[str]:
    """`evaluate_model` answers at once with a result derived from the model id; the models it
    was asked for are recorded."""
    import ranker.evaluate.run as run

    asked: list[str] = []

    def evaluate(model, data, *, revision=None, architecture=None, **kw):
        asked.append(model)
        accuracy = int(hashlib.sha256(model.encode()).hexdigest()[:4], 16) / 65536
        return _result(model, architecture.id, revision, accuracy=accuracy,
                       n_train=len(data.train), n_eval=len(data.eval))  # fmt: skip

    monkeypatch.setattr(run, "evaluate_model", evaluate)
    return asked


def _snapshot(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }


def test_a_shard_run_writes_its_share_to_its_file_and_nothing_in_the_store(
    store: Store, tmp_path: Path, fake_evaluation: list[str], capsys
) -> None:
    probe = _probe_files(tmp_path)
    before = _snapshot(store.root)
    share = [e.model_id for e in pending(store, protocol.PROTOCOL_VERSION, shard=(1, 3))]
    out = tmp_path / "out" / "shard-1.jsonl"
    argv = ["update", "--data", str(store.root), "--shard", "1/3", "--results-out", str(out),
            "--probe-data", str(probe), "--train-size", "60", "--eval-size", "30",
            "--no-progress", "--cache-dir", str(tmp_path / "cache"),
            "--out", str(tmp_path / "site")]  # fmt: skip
    assert main(argv) == 0, capsys.readouterr()
    printed = capsys.readouterr().out
    assert f"evaluated {len(share)} of {len(share)} queued" in printed
    assert f"shard 1/3: results in {out}" in printed

    assert sorted(fake_evaluation) == sorted(share)  # only its share was evaluated
    written = ResultsFile(out).results()
    assert sorted(r.model_id for r in written) == sorted(share)
    catalog = {e.model_id: e for e in store.catalog()}
    for r in written:
        assert r.revision == catalog[r.model_id].sha and r.status == "ok"
    lines = out.read_text().splitlines()
    assert len(lines) == len(share) and all(json.loads(line)["model_id"] for line in lines)
    # the store was only read: not a byte changed, no file added (no pin, no site, no crawl)
    assert _snapshot(store.root) == before
    assert not (tmp_path / "site").exists()

    # a rerun of the shard (a preempted matrix job) keeps the file and skips what it holds
    fake_evaluation.clear()
    assert main(argv) == 0
    assert fake_evaluation == [] and ResultsFile(out).results() == written
    assert "evaluated 0 of 0 queued" in capsys.readouterr().out
    assert _snapshot(store.root) == before


def test_results_out_needs_the_stores_mnli_pin(store: Store, tmp_path: Path, capsys) -> None:
    before = _snapshot(store.root)
    argv = ["update", "--data", str(store.root), "--shard", "0/3", "--no-progress",
            "--results-out", str(tmp_path / "out.jsonl")]  # fmt: skip
    assert main(argv) == 1
    assert "has no MNLI pin" in capsys.readouterr().err
    assert _snapshot(store.root) == before and not (tmp_path / "out.jsonl").exists()


def test_results_file_validates_as_the_store_does(tmp_path: Path) -> None:
    out = ResultsFile(tmp_path / "r.jsonl")
    good = _result("org/a", BERT, _sha("org/a"))
    out.save_result(good)
    with pytest.raises(StoreError, match=r"accuracy.*finite"):
        out.save_result(_result("org/b", BERT, _sha("org/b"), accuracy=float("nan")))
    with pytest.raises(StoreError, match="model_id"):
        out.save_result(_result("bad//id", BERT, _sha("x")))
    with pytest.raises(StoreError, match="evaluated_at"):  # `ranker merge` would refuse it
        out.save_result(_result("org/c", BERT, _sha("org/c"), evaluated_at="yesterday"))
    assert out.results() == [good]  # a refused record is not written
    newer = _result("org/a", BERT, _sha("org/a"), accuracy=0.75)
    out.save_result(newer)  # same key: replaces
    assert out.results() == [newer]
    (tmp_path / "r.jsonl").write_text('{"model_id": "org/a"}\n')
    with pytest.raises(StoreError, match=r"r\.jsonl:1: field .schema_version.: is missing"):
        out.results()


# -- property: any shard record is merged or refused with a reason, and the store still works ---

_LOOKALIKE = "\u0430\u0435\u043e\u0440\u0441\u0445\u0410\u0415\u041e\uff0d\uff0b\u2212\u2028\u2029"
_TEXT = st.text(
    alphabet=st.sampled_from(["a", "/", "-", ".", "\x00", "\x1f", "\x7f", "\ufeff", "\u202e",
                              "=", "+", "@", "\ud7ff", "\U0001f600", *_LOOKALIKE]),
    max_size=40,
)  # fmt: skip
_NUMBERS = st.one_of(
    st.integers(min_value=-(2**70), max_value=2**70),
    st.sampled_from([2**63 - 1, 2**63, 2**64 - 1, 2**64, -1, 0]),
    st.floats(allow_nan=False, allow_infinity=False),
)
_JSON = st.recursive(
    st.one_of(st.none(), st.booleans(), _NUMBERS, _TEXT),
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(_TEXT, inner, max_size=3)),
    max_leaves=12,
)
_DATES = st.one_of(
    st.datetimes(min_value=dt.datetime(1, 1, 1), max_value=dt.datetime(9999, 12, 31)).map(
        lambda d: d.isoformat() + "Z"
    ),
    _TEXT,
)
_FIELDS = ["model_id", "architecture", "revision", "protocol_version", "status", "accuracy",
           "n_train", "seed", "schema_version", "evaluated_at", "timings", "versions", "tokenizer",
           "error", "brand_new"]  # fmt: skip


@st.composite
def _shard_line(draw: st.DrawFn) -> str:
    """A shard line: a valid result with some fields replaced by hostile values, or raw junk."""
    model = draw(st.sampled_from([f"org/m{i}" for i in range(4)]))
    data = _result(model, BERT, _sha(model), evaluated_at="2026-11-26T00:00:00Z").to_dict()
    for name in draw(st.lists(st.sampled_from(_FIELDS), max_size=3, unique=True)):
        data[name] = draw(
            _DATES if name == "evaluated_at"
            else st.one_of(_JSON, st.just("x" * 70_000), st.just([[[[[[[[1]]]]]]]]))
        )  # fmt: skip
    text = json.dumps(data, ensure_ascii=draw(st.booleans()))
    return draw(st.sampled_from([text, text, text[: len(text) // 2], "[" * 3000 + "]" * 3000]))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(lines=st.lists(_shard_line(), min_size=1, max_size=3))
def test_any_shard_record_is_merged_or_refused_and_the_store_still_works(lines) -> None:
    import pandas as pd

    from ranker.merge import merge_files

    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder) / "data"
        root.mkdir()
        (root / "architectures.toml").write_text(world_toml())
        store = Store(root)
        store.save_result(_result(BERT, BERT, _sha(BERT)))
        shard = Path(folder) / "shard-0.jsonl"
        shard.write_text("\n".join(lines) + "\n", encoding="utf-8")
        before = {p: p.read_bytes() for p in root.rglob("*") if p.is_file()}
        report = merge_files(store, [shard])
        event("refused" if report.refused else "merged")
        if report.refused:
            error = report.refused[0].error
            assert isinstance(error, StoreError) and error.path == shard and error.reason
            assert {p: p.read_bytes() for p in root.rglob("*") if p.is_file()} == before
        results = store.results()  # the store still reads, compacts, and a build can date it
        store.compact()
        assert Store(root).results() == results
        for r in results:
            pd.Timestamp(r.evaluated_at)
            assert r.extra_fields == {}
