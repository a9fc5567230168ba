"""`ranker merge`: shard result files folded into the store, idempotently, refusing bad files;
and a sharded run (crawl, N shard runs on copies of the store, merge) equals one local run."""

from __future__ import annotations

import dataclasses
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import REPO
from ranker.cli import main
from ranker.errors import StoreError
from ranker.records import EvalResult
from ranker.store import RESULTS_DIR, MergeCounts, Store, read_results_file, result_bucket

SHA_A, SHA_B = "a" * 40, "b" * 40


def _result(model_id: str, revision: str = SHA_A, **kw) -> EvalResult:
    values = dict(
        schema_version=1,
        model_id=model_id,
        architecture="roberta-base",
        revision=revision,
        protocol_version="1",
        status="ok",
        evaluated_at="2026-11-26T03:00:00Z",
        accuracy=0.61,
        accuracy_low=0.6,
        accuracy_high=0.62,
        timings={"forward": 1.5},
        versions={"torch": "2.13.0"},
    )
    values.update(kw)
    return EvalResult(**values)


def _line(record: EvalResult | dict) -> str:
    data = record.to_dict() if isinstance(record, EvalResult) else record
    return json.dumps(data, sort_keys=True)


def _shard(path: Path, *records: EvalResult | dict | str) -> Path:
    path.write_text("".join((r if isinstance(r, str) else _line(r)) + "\n" for r in records))
    return path


def _merge(store_dir: Path, *files: Path, capsys) -> tuple[int, str, str]:
    code = main(["--data", str(store_dir), "merge", *map(str, files)])
    out, err = capsys.readouterr()
    return code, out, err


def _results_files(store_dir: Path) -> list[Path]:
    """The store's results files: its buckets."""
    return sorted((store_dir / RESULTS_DIR).glob("*.jsonl"))


def _results_bytes(store_dir: Path) -> dict[str, bytes] | None:
    """Every results file's bytes, by name; None when there is none."""
    files = {p.name: p.read_bytes() for p in _results_files(store_dir)}
    return files or None


SHARD = [
    _result("org/a"),
    _result("org/b", accuracy=0.7, accuracy_low=0.69, accuracy_high=0.71),
    _result(
        "org/c", status="error", reason="unsafe-pickle", failure="permanent", error="no",
        accuracy=None, accuracy_low=None, accuracy_high=None,
    ),
]  # fmt: skip


def test_merging_twice_changes_nothing_byte_for_byte(store_dir: Path, tmp_path, capsys) -> None:
    shard = _shard(tmp_path / "shard-0.jsonl", *SHARD)
    code, out, err = _merge(store_dir, shard, capsys=capsys)
    assert code == 0, err
    assert f"{shard}: 3 new, 0 replaced, 0 unchanged, 0 older" in out
    assert "merged 1 of 1 files" in out
    assert sorted(Store(store_dir).results(), key=lambda r: r.model_id) == SHARD
    first = _results_bytes(store_dir)
    assert first is not None
    stats = [(p.stat().st_ino, p.stat().st_mtime_ns) for p in _results_files(store_dir)]

    code, out, _ = _merge(store_dir, shard, shard, capsys=capsys)  # twice more, in one call
    assert code == 0
    assert out.count(f"{shard}: 0 new, 0 replaced, 3 unchanged, 0 older") == 2
    assert _results_bytes(store_dir) == first
    again = [(p.stat().st_ino, p.stat().st_mtime_ns) for p in _results_files(store_dir)]
    assert again == stats  # not rewritten


def test_merge_keeps_other_results_and_the_order_of_files_does_not_matter(
    store_dir: Path, tmp_path, capsys
) -> None:
    # the same key, evaluated in the same second on two machines with different outcomes
    tie_a = _result("org/tie", accuracy=0.5, accuracy_low=0.4, accuracy_high=0.6)
    tie_b = _result("org/tie", accuracy=0.55, accuracy_low=0.45, accuracy_high=0.65)
    one = _shard(tmp_path / "shard-0.jsonl", SHARD[0], tie_a)
    two = _shard(tmp_path / "shard-1.jsonl", SHARD[1], tie_b, SHARD[2])
    stored = _result("org/kept", revision=SHA_B)
    stores = []
    for name, order in (("x", (one, two)), ("y", (two, one))):
        data = tmp_path / name
        shutil.copytree(store_dir, data)
        Store(data).save_result(stored)
        code, _, err = _merge(data, *order, capsys=capsys)
        assert code == 0, err
        stores.append(data)
    assert _results_bytes(stores[0]) == _results_bytes(stores[1])
    results = {r.model_id: r for r in Store(stores[0]).results()}
    assert sorted(results) == ["org/a", "org/b", "org/c", "org/kept", "org/tie"]
    assert results["org/kept"] == stored
    assert results["org/tie"] in (tie_a, tie_b)


@pytest.mark.parametrize(
    ("incoming_at", "counts", "winner"),
    [
        ("2026-11-27T03:00:00Z", "0 new, 1 replaced, 0 unchanged, 0 older", "incoming"),
        ("2026-11-27T04:00:00+01:00", "0 new, 1 replaced, 0 unchanged, 0 older", "incoming"),
        ("2026-11-25T03:00:00Z", "0 new, 0 replaced, 0 unchanged, 1 older", "stored"),
        ("2026-11-26T04:00:00+02:00", "0 new, 0 replaced, 0 unchanged, 1 older", "stored"),
    ],
)
def test_a_stored_result_is_replaced_only_by_a_newer_one(
    store_dir: Path, tmp_path, capsys, incoming_at, counts, winner
) -> None:
    """Precedence: the later `evaluated_at` wins (time zones compared as times, not text)."""
    stored = _result("org/a", status="error", reason="timeout", failure="transient",
                     error="timed out", accuracy=None, accuracy_low=None, accuracy_high=None)  # fmt: skip
    Store(store_dir).save_result(stored)
    before = _results_bytes(store_dir)
    incoming = _result("org/a", evaluated_at=incoming_at)
    code, out, err = _merge(store_dir, _shard(tmp_path / "s.jsonl", incoming), capsys=capsys)
    assert code == 0, err
    assert counts in out
    assert Store(store_dir).results() == [incoming if winner == "incoming" else stored]
    if winner == "stored":
        assert _results_bytes(store_dir) == before


def _edit(**changes) -> dict:
    return {**SHARD[1].to_dict(), **changes}


@pytest.mark.parametrize(
    ("bad_line", "field", "message"),
    [
        ('{"model_id": "org/b",', None, "not valid JSON"),
        ("[1, 2]", None, "expected a JSON object"),
        (_line(_edit(accuracy="high")), "accuracy", "expected a number"),
        (_line(_edit(accuracy=float("nan"))), "accuracy", "expected a finite number"),
        (_line({k: v for k, v in _edit().items() if k != "revision"}), "revision", "is missing"),
        (_line(_edit(model_id="org/../etc")), "model_id", "invalid hub repo id"),
        (_line(_edit(model_id="a--b/c")), "model_id", "invalid hub repo id"),
        (_line(_edit(status="great")), "status", "expected one of ok, error"),
        (_line(_edit(evaluated_at="yesterday")), "evaluated_at", "not an ISO 8601 time"),
        (_line(_edit(timings={"forward": "slow"})), "timings.forward", "expected a number"),
        (_line(_edit(accuracy=0.1)), "accuracy", "line 2 too, with another value"),
    ],
)
def test_a_file_with_a_malformed_line_is_refused_whole(
    store_dir: Path, tmp_path, capsys, bad_line, field, message
) -> None:
    """The refusal names the file, the line and the field; nothing of the file is merged, the
    other files are, and the command exits 1."""
    bad = _shard(tmp_path / "shard-1.jsonl", SHARD[0], SHARD[1], "", bad_line, SHARD[2])
    good = _shard(tmp_path / "shard-0.jsonl", _result("org/good"))
    code, out, err = _merge(store_dir, good, bad, capsys=capsys)
    assert code == 1
    where = f"{bad}:4" + (f": field {field!r}" if field else "")
    assert f"ranker merge: refused {bad}: {where}: " in err and message in err, err
    assert f"{good}: 1 new" in out and "merged 1 of 2 files" in out and "refused 1" in out
    assert [r.model_id for r in Store(store_dir).results()] == ["org/good"]


def test_a_repeated_identical_line_is_read_once(tmp_path: Path) -> None:
    shard = _shard(tmp_path / "s.jsonl", SHARD[0], SHARD[1], SHARD[0])
    assert read_results_file(shard) == [SHARD[0], SHARD[1]]


def test_missing_and_empty_files(store_dir: Path, tmp_path, capsys) -> None:
    empty = _shard(tmp_path / "empty.jsonl")
    code, out, _ = _merge(store_dir, empty, capsys=capsys)
    assert code == 0 and f"{empty}: 0 new, 0 replaced, 0 unchanged, 0 older" in out
    assert _results_bytes(store_dir) is None  # nothing to write, nothing written
    code, _, err = _merge(store_dir, tmp_path / "gone.jsonl", capsys=capsys)
    assert code == 1 and f"{tmp_path / 'gone.jsonl'}: file not found" in err
    (tmp_path / "latin1.jsonl").write_bytes(b'{"model_id": "caf\xe9"}\n')
    code, _, err = _merge(store_dir, tmp_path / "latin1.jsonl", capsys=capsys)
    assert code == 1 and "not UTF-8 text" in err


def test_a_malformed_store_stops_the_merge(store_dir: Path, tmp_path, capsys) -> None:
    bad = store_dir / RESULTS_DIR / "00.jsonl"
    bad.parent.mkdir()
    bad.write_text("not json\n")
    code, _, err = _merge(store_dir, _shard(tmp_path / "s.jsonl", *SHARD), capsys=capsys)
    assert code == 1 and f"{bad}:1: not valid JSON" in err
    assert bad.read_text() == "not json\n"


def test_merge_results_checks_every_record_before_writing(store_dir: Path) -> None:
    store = Store(store_dir)
    store.save_result(SHARD[0])
    before = _results_bytes(store_dir)
    conflicting = [SHARD[1], dataclasses.replace(SHARD[1], accuracy=0.2)]
    with pytest.raises(StoreError, match="two different records") as info:
        store.merge_results(conflicting)
    assert info.value.field == "accuracy"
    with pytest.raises(StoreError) as info:
        store.merge_results([SHARD[1], dataclasses.replace(SHARD[2], evaluated_at="soon")])
    assert info.value.field == "evaluated_at"
    with pytest.raises(StoreError) as info:
        store.merge_results([SHARD[1], dataclasses.replace(SHARD[2], accuracy=float("inf"))])
    assert info.value.field == "accuracy"
    assert _results_bytes(store_dir) == before
    counts = store.merge_results([SHARD[0], SHARD[1]])
    assert counts == MergeCounts(new=1, unchanged=1)  # new + replaced: 1


# -- a sharded run equals one local run, against the loopback hub ---------------------------------


@pytest.fixture(scope="session")
def update_shards() -> None:
    """Skip unless `ranker update` has --shard and --results-out (before the tiny models, which
    take a while to build)."""
    proc = subprocess.run(
        [sys.executable, "-m", "ranker", "update", "--help"],
        capture_output=True, text=True, cwd=REPO, timeout=120,
    )  # fmt: skip
    if proc.returncode != 0 or "--shard" not in proc.stdout or "--results-out" not in proc.stdout:
        pytest.skip("`ranker update --help` has no --shard/--results-out yet")


# what must agree between the two runs; evaluated_at, timings, peak memory, device and
# versions describe the run, not the result
COMPARED = ("architecture", "revision", "protocol_version", "status", "reason", "failure",
            "accuracy", "accuracy_low", "accuracy_high", "gain", "gain_low", "gain_high",
            "n_train", "n_eval", "seed", "data_fingerprint", "data_revision", "weight_format",
            "correct")  # fmt: skip


def test_a_sharded_run_equals_one_local_run(
    update_shards, hub, tiny_files, monkeypatch, tmp_path, capsys
):
    from ranker.cli.mnli import pinned_mnli_revision
    from ranker.hub import Hub
    from ranker.testing.nli import glue_mnli_files
    from ranker.testing.world import MAX_PARAMS, populate_world, world_toml

    populate_world(hub, tiny_files)
    hub.add_dataset("nyu-mll/glue", glue_mnli_files(train=600, dev=300))
    hub.patch_endpoint(monkeypatch)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))
    common = ["--endpoint", hub.url, "--max-params", str(MAX_PARAMS)]
    probe = ["--train-size", "300", "--eval-size", "150", "--device", "cpu", "--no-progress"]

    def store(name: str) -> Path:
        (tmp_path / name).mkdir()
        (tmp_path / name / "architectures.toml").write_text(world_toml())
        return tmp_path / name

    def ranker(*args: str) -> str:
        code = main(list(args))
        out, err = capsys.readouterr()
        assert code == 0, out + err
        return out

    local = store("local")
    ranker("--data", str(local), "update", "--no-build", *common, *probe,
           "--cache-dir", str(tmp_path / "cache-local"))  # fmt: skip

    sharded = store("sharded")
    ranker("--data", str(sharded), "crawl", *common)
    # the MNLI pin every shard reads, as the workflow's crawl stage sets it (scripts/nightly.sh)
    pinned_mnli_revision(Store(sharded), Hub(endpoint=hub.url))
    assert Store(sharded).mnli_revision() is not None
    files = []
    for i in range(3):  # each shard on its own copy of the crawled store, as CI's jobs are
        copy = tmp_path / f"shard-store-{i}"
        shutil.copytree(sharded, copy)
        files.append(tmp_path / f"shard-{i}.jsonl")
        ranker("--data", str(copy), "update", "--no-crawl", "--no-build", *common, *probe,
               "--shard", f"{i}/3", "--results-out", str(files[-1]),
               "--cache-dir", str(tmp_path / f"cache-{i}"))  # fmt: skip
    out = ranker("--data", str(sharded), "merge", *map(str, files))

    expected = {r.model_id: r for r in Store(local).results()}
    got = {r.model_id: r for r in Store(sharded).results()}
    assert len(expected) >= 10 and sorted(got) == sorted(expected), out
    per_shard = [read_results_file(f) for f in files]
    assert sum(map(len, per_shard)) == len(expected)  # disjoint shards that cover the queue
    assert sum(1 for records in per_shard if records) >= 2  # the work was split
    assert f"{len(expected)} new, 0 replaced, 0 unchanged, 0 older" in out.splitlines()[-1]
    for model, want in expected.items():
        have = got[model]
        assert {f: getattr(have, f) for f in COMPARED} == {f: getattr(want, f) for f in COMPARED}
    # and merging the shards again changes nothing
    before = _results_bytes(sharded)
    assert "0 new, 0 replaced" in ranker("--data", str(sharded), "merge", *map(str, files))
    assert _results_bytes(sharded) == before


# -- the store's results files ---------------------------------------------------------------------


def test_a_merge_rewrites_only_the_files_it_changes(store_dir: Path, tmp_path, capsys) -> None:
    store = Store(store_dir)
    ids = [f"org/m{i}" for i in range(2000)]
    there = ids[0]
    elsewhere = next(m for m in ids if result_bucket(m) != result_bucket(there))
    store.save_result(_result(there))
    store.save_result(_result(elsewhere))
    store.save_result(_result(elsewhere, accuracy=0.7))  # superseded line, left as appended
    untouched = store.results_file(elsewhere)
    before, inode = untouched.read_bytes(), untouched.stat().st_ino
    beside = next(m for m in ids[1:] if result_bucket(m) == result_bucket(there))
    shard = _shard(tmp_path / "shard-0.jsonl", _result(beside), _result(there))
    code, out, err = _merge(store_dir, shard, capsys=capsys)
    assert code == 0, err
    assert "1 new, 0 replaced, 1 unchanged, 0 older" in out
    assert f"into {store_dir / RESULTS_DIR}:" in out
    assert untouched.read_bytes() == before and untouched.stat().st_ino == inode
    changed = store.results_file(there).read_text().splitlines()
    assert changed == sorted(changed, key=lambda line: json.loads(line)["model_id"])
    assert {r.model_id: r.accuracy for r in store.results()} == {
        there: 0.61, beside: 0.61, elsewhere: 0.7,
    }  # fmt: skip


def test_a_malformed_results_file_stops_the_merge(store_dir: Path, tmp_path, capsys) -> None:
    store = Store(store_dir)
    store.save_result(SHARD[0])
    path = store.results_file(SHARD[0].model_id)
    path.write_text(path.read_text() + "not json\n")
    code, _, err = _merge(store_dir, _shard(tmp_path / "s.jsonl", *SHARD), capsys=capsys)
    assert code == 1 and f"{path}:2: not valid JSON" in err
    assert path.read_text().endswith("not json\n")


def test_a_shard_file_with_a_torn_last_line_merges_the_rest(
    store_dir: Path, tmp_path, capsys
) -> None:
    """A shard killed mid-append: its finished results are merged, the torn one is not (its
    model stays in the queue), with a warning naming the file and line."""
    shard = _shard(tmp_path / "shard-0.jsonl", SHARD[0], SHARD[1])
    shard.write_text(shard.read_text() + _line(SHARD[2])[:50])
    with pytest.warns(UserWarning, match=rf"{shard.name}:3: ignored a torn last line"):
        code, out, err = _merge(store_dir, shard, capsys=capsys)
    assert code == 0, err
    assert "2 new" in out
    assert sorted(r.model_id for r in Store(store_dir).results()) == ["org/a", "org/b"]


# -- shards are untrusted: a plan made before they run, and what the merge refuses --------------

PLANNED = [f"org/m{i}" for i in range(12)]


def _sha1(text: str) -> str:
    import hashlib

    return hashlib.sha1(text.encode()).hexdigest()


def _data_hashes(store_dir: Path) -> dict[str, str]:
    """sha256 of every file under the store, by relative path (the byte-identical check)."""
    import hashlib

    return {
        str(p.relative_to(store_dir)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(store_dir.rglob("*"))
        if p.is_file()
    }


@pytest.fixture
def planned(store_dir: Path, tmp_path: Path, capsys) -> tuple[Path, Path, dict[str, int]]:
    """A store with 12 catalogued roberta-base models and one results file; the plan of 2
    shards made by `ranker plan`; {model: its shard}."""
    from ranker.records import CatalogEntry

    store = Store(store_dir)
    entry = {"schema_version": 1, "architecture": "roberta-base", "status": "ok"}
    store.write_catalog(
        CatalogEntry(**entry, model_id=m, sha=_sha1(m), downloads=i) for i, m in enumerate(PLANNED)
    )
    store.save_result(_planned_result("org/stored-elsewhere"))
    plan = tmp_path / "plan.json"
    code = main(["--data", str(store_dir), "plan", "--shards", "2", "--out", str(plan)])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert "plan: 12 models in 2 shards" in out
    data = json.loads(plan.read_text())
    shard_of = {m: a["shard"] for m, a in data["models"].items()}
    assert sorted(shard_of) == sorted(PLANNED) and set(shard_of.values()) == {0, 1}
    return store_dir, plan, shard_of


def _planned_result(model_id: str, **kw) -> EvalResult:
    from ranker.protocol import PROTOCOL_VERSION

    values = {"revision": _sha1(model_id), "protocol_version": PROTOCOL_VERSION, **kw}
    return _result(model_id, **values)


def _plan_merge(store_dir: Path, plan: Path, *files: Path, capsys) -> tuple[int, str, str]:
    args = ["--data", str(store_dir), "merge", "--plan", str(plan), *map(str, files)]
    code = main(args)
    out, err = capsys.readouterr()
    return code, out, err


def test_the_plan_is_each_shards_queue(planned) -> None:
    from ranker.pipeline import pending
    from ranker.protocol import PROTOCOL_VERSION

    store_dir, _, shard_of = planned
    for index in (0, 1):
        queue = pending(Store(store_dir), PROTOCOL_VERSION, shard=(index, 2))
        assert sorted(e.model_id for e in queue) == sorted(
            m for m, s in shard_of.items() if s == index
        )


def test_a_planned_shard_is_merged(planned, tmp_path: Path, capsys) -> None:
    store_dir, plan, shard_of = planned
    files = []
    for index in (0, 1):
        mine = [_planned_result(m) for m, s in shard_of.items() if s == index]
        files.append(_shard(tmp_path / f"shard-{index}.jsonl", *mine))
    code, out, err = _plan_merge(store_dir, plan, *files, capsys=capsys)
    assert code == 0, err
    assert "12 new" in out
    assert {r.model_id for r in Store(store_dir).results()} == {*PLANNED, "org/stored-elsewhere"}


def _tampered(kind: str, shard_of: dict[str, int], path: Path) -> tuple[Path, str]:
    """A shard-0 file tampered in one way, and what the refusal must name."""
    ours = [m for m, s in shard_of.items() if s == 0]
    theirs = next(m for m, s in shard_of.items() if s == 1)
    good = [_planned_result(m) for m in ours]
    if kind == "another shard's model":
        return _shard(path, *good, _planned_result(theirs)), theirs
    if kind == "a model no plan knows":
        return _shard(path, *good, _planned_result("org/unknown")), "org/unknown"
    if kind == "an unknown architecture":
        bad = _planned_result(ours[0], architecture="evil/arch")
        return _shard(path, bad, *good[1:]), "evil/arch"
    assert kind == "a line of 110 MB"
    _shard(path, *good[1:])
    with path.open("a") as fh:  # a result of this shard's, its error 110 MB, a MB at a time
        fh.write(_line(good[0])[:-1] + ', "error": "')
        for _ in range(110):
            fh.write("x" * (1 << 20))
        fh.write('"}\n')
    return path, f"{path}:{len(good)}: a line of more than 1,048,576 bytes"


TAMPERED = ["another shard's model", "a model no plan knows", "an unknown architecture",
            "a line of 110 MB"]  # fmt: skip


@pytest.mark.parametrize("kind", TAMPERED)
def test_a_tampered_shard_is_refused_and_the_store_is_unchanged(
    planned, tmp_path: Path, capsys, kind: str
) -> None:
    store_dir, plan, shard_of = planned
    shard, named = _tampered(kind, shard_of, tmp_path / "shard-0.jsonl")
    before = _data_hashes(store_dir)
    code, out, err = _plan_merge(store_dir, plan, shard, capsys=capsys)
    assert code == 1
    assert f"refused {shard}" in err and named in err
    assert "nothing of them merged" in out
    assert _data_hashes(store_dir) == before
    if kind == "an unknown architecture":  # refused without a plan too
        code, _, err = _merge(store_dir, shard, capsys=capsys)
        assert code == 1 and "unknown architecture 'evil/arch'" in err
        assert _data_hashes(store_dir) == before


def test_the_default_line_cap_is_one_mebibyte() -> None:
    from ranker.store import MAX_LINE

    assert MAX_LINE == 1024 * 1024  # a bucket file of 100 lines stays far under GitHub's 100 MB


def test_a_line_over_a_lower_cap_is_refused(store_dir: Path, tmp_path: Path) -> None:
    from ranker.merge import merge_files

    shard = _shard(tmp_path / "shard-0.jsonl", *SHARD)
    size = max(len(line) + 1 for line in shard.read_bytes().split(b"\n"))
    report = merge_files(Store(store_dir), [shard], max_line=size - 1)
    assert report.refused and "a line of more than" in str(report.refused[0].error)
    assert _results_bytes(store_dir) is None
    assert not merge_files(Store(store_dir), [shard], max_line=size).refused


def test_with_a_plan_a_shard_file_must_be_named_by_its_index(
    planned, tmp_path: Path, capsys
) -> None:
    store_dir, plan, shard_of = planned
    ours = [_planned_result(m) for m, s in shard_of.items() if s == 0]
    for name in ("results.jsonl", "shard-2.jsonl", "shard-00.jsonl"):
        code, _, err = _plan_merge(store_dir, plan, _shard(tmp_path / name, *ours), capsys=capsys)
        assert code == 1 and f"refused {tmp_path / name}" in err


def test_a_shard_never_replaces_a_settled_result(planned, tmp_path: Path, capsys) -> None:
    store_dir, plan, shard_of = planned
    model = next(m for m, s in shard_of.items() if s == 0)
    settled = _planned_result(model, evaluated_at="2026-11-20T00:00:00Z")
    Store(store_dir).save_result(settled)  # e.g. merged from another shard first
    later = _planned_result(model, accuracy=0.99, accuracy_high=0.995)
    code, out, err = _plan_merge(
        store_dir, plan, _shard(tmp_path / "shard-0.jsonl", later), capsys=capsys
    )
    assert code == 0, err
    assert "0 new, 0 replaced, 0 unchanged, 1 older" in out
    assert [r for r in Store(store_dir).results() if r.model_id == model] == [settled]


def test_a_malformed_plan_is_refused_naming_the_field(planned, tmp_path: Path, capsys) -> None:
    store_dir, plan, _ = planned
    data = json.loads(plan.read_text())
    data["models"]["org/m0"]["shard"] = 7
    bad = tmp_path / "bad-plan.json"
    bad.write_text(json.dumps(data))
    shard = _shard(tmp_path / "shard-0.jsonl", _planned_result("org/m0"))
    before = _data_hashes(store_dir)
    code, _, err = _plan_merge(store_dir, bad, shard, capsys=capsys)
    assert code == 1 and "models.org/m0" in err and "shard 7" in err
    assert _data_hashes(store_dir) == before


# -- the catalog and the request queue: merged by key into the current main ---------------------


def _entry(model: str, last_seen: str, **kw):
    from ranker.records import CatalogEntry

    values = dict(schema_version=1, model_id=model, architecture="roberta-base",
                  sha=_sha1(model + last_seen), status="ok", first_seen=last_seen,
                  last_seen=last_seen)  # fmt: skip
    return CatalogEntry(**{**values, **kw})


def _request(issue: int, model: str, status: str = "queued", **kw):
    from ranker.store import ModelRequest

    values = dict(schema_version=1, issue=issue, model_id=model, architecture="roberta-base",
                  sha=_sha1(model), status=status, requested_at="2026-11-26T01:00:00Z")  # fmt: skip
    return ModelRequest(**{**values, **kw})


def test_the_nights_catalog_and_requests_merge_into_main_by_key(
    store_dir: Path, tmp_path: Path, capsys
) -> None:
    main_store, night = Store(store_dir), Store(tmp_path / "night")
    shutil.copytree(store_dir, night.root)
    # both start from the same trigger commit
    base = [_entry("org/a", "2026-11-20T00:00:00Z"), _entry("org/b", "2026-11-20T00:00:00Z")]
    main_store.write_catalog(base)
    night.write_catalog(base)
    main_store.write_requests([_request(5, "org/a")])
    night.write_requests([_request(5, "org/a")])
    # the night: org/a gets a new sha, org/n is found, org/a's request is answered
    night.write_catalog([
        _entry("org/a", "2026-11-26T03:00:00Z"), base[1], _entry("org/n", "2026-11-26T03:00:00Z"),
    ])  # fmt: skip
    night.write_requests([_request(5, "org/a", "replied", replied_at="2026-11-26T06:00:00Z",
                                   outcome="ok")])  # fmt: skip
    # meanwhile on main: a request for org/q is queued (its check adds it to the catalog)
    main_store.write_catalog([*base, _entry("org/q", "2026-11-26T02:00:00Z")])
    main_store.save_request(_request(9, "org/q", requested_at="2026-11-26T02:00:00Z"))

    args = ["--data", str(store_dir), "merge", "--catalog", str(night.path("catalog.jsonl")),
            "--requests", str(night.path("requests.jsonl"))]  # fmt: skip
    assert main(args) == 0, capsys.readouterr().err
    catalog = {e.model_id: e for e in main_store.catalog()}
    assert sorted(catalog) == ["org/a", "org/b", "org/n", "org/q"]
    assert catalog["org/a"].sha == _sha1("org/a2026-11-26T03:00:00Z")  # the later sighting
    assert catalog["org/a"].first_seen == "2026-11-20T00:00:00Z"
    requests = {r.key: r for r in main_store.requests()}
    assert requests[(5, "org/a")].status == "replied"
    assert requests[(9, "org/q")].status == "queued"  # queued on main during the night

    before = _data_hashes(store_dir)
    assert main(args) == 0  # idempotent
    assert "0 new, 0 replaced" in capsys.readouterr().out
    assert _data_hashes(store_dir) == before
    # an older copy never undoes what is merged: the trigger commit's catalog again
    old = tmp_path / "old-catalog.jsonl"
    old.write_text("".join(json.dumps(e.to_dict(), sort_keys=True) + "\n" for e in base))
    assert main(["--data", str(store_dir), "merge", "--catalog", str(old)]) == 0
    assert _data_hashes(store_dir) == before


def test_a_bad_catalog_file_is_refused_and_nothing_is_written(
    store_dir: Path, tmp_path: Path, capsys
) -> None:
    Store(store_dir).write_catalog([_entry("org/a", "2026-11-20T00:00:00Z")])
    before = _data_hashes(store_dir)
    night = tmp_path / "catalog.jsonl"
    good = _entry("org/b", "2026-11-20T00:00:00Z").to_dict()
    night.write_text(json.dumps(good) + "\n" + json.dumps({**good, "model_id": "org/c",
                                                           "downloads": 2**64}) + "\n")  # fmt: skip
    code = main(["--data", str(store_dir), "merge", "--catalog", str(night)])
    err = capsys.readouterr().err
    assert code == 1 and f"{night}:2" in err and "downloads" in err
    assert _data_hashes(store_dir) == before
