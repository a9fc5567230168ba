"""The store's finetuning results (`finetunes.jsonl`) and target pins (`verify.json`)."""

from __future__ import annotations

import dataclasses

import pytest

from ranker.errors import StoreError
from ranker.records import FinetuneResult
from ranker.store import FINETUNES, Store


def ft(seed: int = 0, *, status: str = "ok", when: str = "2026-12-01T00:00:00+00:00",
       **kw) -> FinetuneResult:  # fmt: skip
    fields = dict(schema_version=1, model_id="org/m", architecture="roberta-base",
                  revision="a" * 40, protocol_version="ft-1", task="stsb", seed=seed,
                  status=status, evaluated_at=when, metric="pearson",
                  score=0.8 if status == "ok" else None,
                  failure=None if status == "ok" else "transient")  # fmt: skip
    fields.update(kw)
    return FinetuneResult(**fields)


def test_a_later_line_of_a_key_supersedes_and_a_torn_tail_is_left_out(tmp_path) -> None:
    store = Store(tmp_path)
    store.save_finetune(ft(0, status="error"))
    store.save_finetune(ft(0, when="2026-12-02T00:00:00+00:00"))
    store.save_finetune(ft(1))
    with (tmp_path / FINETUNES).open("a") as fh:
        fh.write('{"schema_version": 1, "model_id": "org/m", "rev')  # a kill mid-append
    with pytest.warns(UserWarning, match="torn"):
        got = store.finetunes()
    assert [(r.seed, r.status) for r in got] == [(0, "ok"), (1, "ok")]
    with pytest.warns(UserWarning, match="torn"):
        store.save_finetune(ft(2))  # the next append repairs the tail
    assert [r.seed for r in store.finetunes()] == [0, 1, 2]


def test_a_merge_is_keyed_idempotent_and_never_undoes_a_score(tmp_path) -> None:
    store = Store(tmp_path)
    store.save_finetune(ft(0))
    later_failure = ft(0, status="error", when="2026-12-01T12:00:00+00:00")
    counts = store.merge_finetunes([later_failure, ft(1)])
    assert (counts.new, counts.older) == (1, 1)
    assert [r.status for r in store.finetunes()] == ["ok", "ok"]
    text = (tmp_path / FINETUNES).read_text()
    assert store.merge_finetunes([ft(1)]).unchanged == 1
    assert (tmp_path / FINETUNES).read_text() == text


def test_a_bad_record_refuses_the_whole_merge(tmp_path) -> None:
    store = Store(tmp_path)
    with pytest.raises(StoreError, match="evaluated_at"):
        store.merge_finetunes([ft(1), ft(2, when="yesterday")])
    with pytest.raises(StoreError, match="two different records"):
        store.merge_finetunes([ft(1), dataclasses.replace(ft(1), score=0.1)])
    with pytest.raises(StoreError, match="task"):
        store.merge_finetunes([ft(1, task="../x")])
    with pytest.raises(StoreError, match="failure"):  # the run's fault is never a model's
        store.merge_finetunes([ft(1, status="error", failure="run")])
    assert store.finetunes() == []


def test_pins_round_trip_and_a_bad_pin_is_named(tmp_path) -> None:
    store = Store(tmp_path)
    assert store.target_revisions() == {}
    pins = {"stsb": {"repo": "nyu-mll/glue", "revision": "c" * 40}}
    store.write_target_revisions(pins)
    assert store.target_revisions() == pins
    with pytest.raises(StoreError, match="not a commit sha"):
        store.write_target_revisions({"wic": {"repo": "aps/super_glue", "revision": "main"}})
    (tmp_path / "verify.json").write_text('{"tasks": {"wic": {"repo": "x", "revision": 1}}}')
    with pytest.raises(StoreError, match="wic"):
        store.target_revisions()
