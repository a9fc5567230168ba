"""`ranker verify`'s orchestration (ranker/verify.py): which models, the units and their order,
resume, budgets, shards, the results file, the CLI. A fake Finetuner keeps it fast: what is
tested here is the loop and the selection, not finetuning (tests/test_finetune.py)."""

from __future__ import annotations

import sys
import types
from pathlib import Path
from typing import ClassVar

import pytest

from ranker import ft_protocol
from ranker.cli import main
from ranker.errors import RankerError, Reason, RunFailure
from ranker.evaluate.evaluator import Options
from ranker.executors.units import LocalUnits
from ranker.records import SCHEMA_VERSION, CatalogEntry, FinetuneResult
from ranker.store import Store
from ranker.testing.synthetic import synthetic_models
from ranker.verify import in_shard, plan, select, verify
from ranker.verify_files import FinetunesFile

N_ROBERTA, N_T5, N_EVAL = 25, 6, 400
BASE_SHA, T5_SHA = "b" * 40, "c" * 40
PINS = {
    t.name: {"repo": t.repo, "revision": f"{i + 1:040x}"} for i, t in enumerate(ft_protocol.SUITE)
}


@pytest.fixture
def store(store_dir: Path) -> Store:
    """roberta-base: 25 probed models and its base; t5-base: 6 and its base; bert-base-uncased:
    two catalogued models, no probe result; the target pins written."""
    store = Store(store_dir)
    results, catalog = synthetic_models("roberta-base", N_ROBERTA, n_eval=N_EVAL)
    t5_results, t5_catalog = synthetic_models("t5-base", N_T5, n_eval=N_EVAL)
    entry = catalog[0]
    extra = [
        CatalogEntry(schema_version=SCHEMA_VERSION, model_id="roberta-base",
                     architecture="roberta-base", sha=BASE_SHA, status="ok"),
        CatalogEntry(schema_version=SCHEMA_VERSION, model_id="t5-base", architecture="t5-base",
                     sha=T5_SHA, status="ok"),
        *[CatalogEntry(schema_version=SCHEMA_VERSION, model_id=f"someone/bert-{i}",
                       architecture="bert-base-uncased", sha=f"{i + 7:040x}", status="ok")
          for i in range(2)],
    ]  # fmt: skip
    assert entry.architecture == "roberta-base"
    store.write_catalog([*catalog, *t5_catalog, *extra])
    store.write_results([*results, *t5_results])
    store.write_target_revisions(PINS)
    return store


def options(tmp_path: Path) -> Options:
    return Options(device="cpu", cache_dir=tmp_path / "cache", hub=None)


def result_for(unit, **kw) -> FinetuneResult:
    fields = dict(schema_version=SCHEMA_VERSION, model_id=unit.model_id,
                  architecture=unit.architecture, revision=unit.sha,
                  protocol_version=ft_protocol.FT_PROTOCOL_VERSION, task=unit.task,
                  seed=unit.seed, status="ok", evaluated_at="2026-12-01T00:00:00Z",
                  is_base=unit.is_base, metric=ft_protocol.TASKS[unit.task].metric,
                  score=0.5 + 0.01 * unit.seed)  # fmt: skip
    return FinetuneResult(**{**fields, **kw})


class Fake:
    """Stands in for `ranker.evaluate.finetune.Finetuner`: `behave(unit)` -> a result, or
    raises; every unit run is recorded in `Fake.ran`."""

    ran: ClassVar[list] = []
    behave = staticmethod(lambda unit: result_for(unit))

    def __init__(self, tasks, options, *, hub=None, architectures=()) -> None:
        self.tasks = tasks

    def run(self, unit) -> FinetuneResult:
        Fake.ran.append(unit)
        return Fake.behave(unit)


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> type[Fake]:
    import ranker.evaluate.finetune as finetune

    monkeypatch.setattr(finetune, "Finetuner", Fake)
    monkeypatch.setattr(Fake, "ran", [])
    monkeypatch.setattr(Fake, "behave", staticmethod(lambda unit: result_for(unit)))
    return Fake


def run(store: Store, tmp_path: Path, **kw):
    kw.setdefault("load_tasks", lambda pins: {})
    return verify(store, options=options(tmp_path), executor=LocalUnits(), **kw)


# -- selection ---------------------------------------------------------------------------------


def test_selection_is_the_site_tables_top_k_and_every_model_ranked_as_high(store: Store) -> None:
    """The chosen models are, by the site's own table (build.tables), the first K rows in
    rank-then-accuracy order and every other row whose rank is at most K."""
    from ranker.build.tables import architecture_table

    arch = store.architecture("roberta-base")
    table = architecture_table(arch, [], store.results(), store.catalog())
    table = table.dropna(subset=["probe_rank"]).sort_values(
        ["probe_rank", "probe_accuracy"], ascending=[True, False], kind="stable"
    )
    widened = 0
    for k in (1, 3, 5, 8):
        (leaders,) = select(store, [arch], top_k=k)
        first = list(table["model_id"][:k])
        tied = [
            m for m, r in zip(table["model_id"][k:], table["probe_rank"][k:], strict=True) if r <= k
        ]
        assert [m for m, _ in leaders.models] == first + tied
        assert all(leaders.ranks[m] == r for m, r in zip(table["model_id"], table["probe_rank"], strict=True)
                   if m in leaders.ranks)  # fmt: skip
        widened += bool(tied)
    assert widened, "no K widened by a tie: the tie rule was not exercised"


def test_the_plan_runs_bases_first_with_more_seeds_then_models_rank_by_rank(store: Store) -> None:
    archs = store.architectures()
    units = plan(store, archs, top_k=2)
    tasks = [t.name for t in ft_protocol.SUITE]
    roberta_base = [u for u in units if u.model_id == "roberta-base"]
    t5_base = [u for u in units if u.model_id == "t5-base"]
    assert all(u.is_base and u.sha == BASE_SHA for u in roberta_base)
    assert len(roberta_base) == len(tasks) * ft_protocol.BASE_SEEDS
    assert len(t5_base) == len(tasks) * ft_protocol.T5_BASE_SEEDS  # the T5 family's spread
    n_base = len(roberta_base) + len(t5_base)
    assert all(u.is_base for u in units[:n_base]) and not any(u.is_base for u in units[n_base:])
    # within a model: task by task, seed by seed; models alternate architectures by position
    first = units[n_base : n_base + len(tasks) * ft_protocol.MODEL_SEEDS]
    assert [(u.task, u.seed) for u in first] == [(t, s) for t in tasks
                                                 for s in range(ft_protocol.MODEL_SEEDS)]  # fmt: skip
    order = list(dict.fromkeys((u.architecture, u.model_id) for u in units[n_base:]))
    assert [a for a, _ in order[:2]] == ["roberta-base", "t5-base"]
    assert not any(u.architecture == "bert-base-uncased" for u in units)
    assert len({u.key for u in units}) == len(units)


def test_an_architecture_without_probe_ranks_gets_no_units(store: Store, fake, tmp_path) -> None:
    summary = run(store, tmp_path, architectures=["bert-base-uncased"])
    assert summary.planned == 0 and not fake.ran and summary.no_ranks == ["bert-base-uncased"]
    assert "bert-base-uncased: no probe ranks yet" in summary.text()


# -- the run: resume, failures, budgets ----------------------------------------------------------


def transient(unit) -> FinetuneResult:
    return result_for(unit, status="error", score=None, error="502", reason="server-error",
                      failure="transient")  # fmt: skip


def test_a_rerun_skips_settled_units_and_retries_transient_ones(store, fake, tmp_path) -> None:
    units = plan(store, store.architectures(), top_k=1, only=["t5-base"])
    flaky, broken = units[0], units[-1]

    def behave(unit):
        if unit == flaky:
            return transient(unit)
        if unit == broken:
            return result_for(unit, status="error", score=None, error="bad weights",
                              reason="unreadable-weights", failure="permanent")  # fmt: skip
        return result_for(unit)

    fake.behave = staticmethod(behave)
    first = run(store, tmp_path, top_k=1, architectures=["t5-base"])
    assert [u.key for u in fake.ran] == [u.key for u in units]
    assert first.unsettled == 1 and sum(first.failed.values()) == 2 and first.left == 1
    assert {r.key for r in store.finetunes()} == {u.key for u in units}
    fake.ran.clear()
    fake.behave = staticmethod(lambda unit: result_for(unit))
    second = run(store, tmp_path, top_k=1, architectures=["t5-base"])
    assert [u.key for u in fake.ran] == [flaky.key]  # the permanent failure is settled
    assert second.skipped == len(units) - 1 and second.left == 0
    assert next(r for r in store.finetunes() if r.key == flaky.key).status == "ok"
    fake.ran.clear()
    assert run(store, tmp_path, top_k=1, architectures=["t5-base"]).planned == len(units)
    assert not fake.ran


def test_max_units_and_the_time_budget_stop_before_a_unit_starts(store, fake, tmp_path) -> None:
    summary = run(store, tmp_path, top_k=1, max_units=4)
    assert len(fake.ran) == 4 and summary.stopped_by == "max-units"
    assert summary.left == summary.planned - 4 and len(store.finetunes()) == 4
    assert "stopped by max-units" in summary.text()
    now = [0.0]

    def slow(unit):
        now[0] += 10.0
        return result_for(unit)

    fake.behave = staticmethod(slow)
    fake.ran.clear()
    summary = run(store, tmp_path, top_k=1, time_budget=35.0, clock=lambda: now[0])
    # 10 s each: the 4th would end at 40 s, past the budget, so it is not started
    assert len(fake.ran) == 3 and summary.stopped_by == "time-budget"


def test_the_hub_down_stops_the_run_and_a_rate_limit_is_not_stored(store, fake, tmp_path) -> None:
    fake.behave = staticmethod(transient)
    with pytest.raises(RunFailure) as caught:
        run(store, tmp_path, top_k=1)
    assert caught.value.reason == Reason.HUB_DOWN and len(fake.ran) == 3
    assert len(store.finetunes()) == 3 and not any(r.settled for r in store.finetunes())
    fake.ran.clear()
    fake.behave = staticmethod(
        lambda u: result_for(
            u, status="error", score=None, error="429", reason="rate-limited", failure="transient"
        )
    )
    summary = run(store, tmp_path, top_k=1, max_units=5)
    assert summary.rate_limited == 5 and len(store.finetunes()) == 3


def test_a_bug_is_not_stored_and_a_run_fault_stops_the_run(store, fake, tmp_path, capsys) -> None:
    units = plan(store, store.architectures(), top_k=1)

    def buggy(unit):
        if unit == units[1]:
            raise KeyError("our mistake")
        if unit == units[3]:
            raise RunFailure("the token is invalid", Reason.BAD_TOKEN)
        return result_for(unit)

    fake.behave = staticmethod(buggy)
    with pytest.raises(RunFailure, match=r"token is invalid.*nothing stored"):
        run(store, tmp_path, top_k=1)
    assert {r.key for r in store.finetunes()} == {units[0].key, units[2].key}
    assert "KeyError: 'our mistake'" in capsys.readouterr().err
    summary = run(store, tmp_path, top_k=1, max_units=1)  # the bug's unit runs again
    assert summary.bugs == [f"{units[1].model_id} {units[1].task} {units[1].seed}"]
    assert "BUG: 1 units" in summary.text()


def test_a_base_that_cannot_lend_its_tokenizer_stores_nothing_against_the_model(
    store, fake, tmp_path, capsys
) -> None:
    from ranker.evaluate.steps import BaseUnavailable

    units = plan(store, store.architectures(), top_k=1)
    model_units = [u for u in units if not u.is_base]

    def base_down(unit):
        if not unit.is_base:
            raise BaseUnavailable(unit.architecture, "its repo is gone", Reason.NOT_FOUND)
        return result_for(unit)

    fake.behave = staticmethod(base_down)
    summary = run(store, tmp_path, top_k=1)
    stored = {r.key for r in store.finetunes()}
    assert model_units and not stored & {u.key for u in model_units}  # none is the model's
    assert len(summary.waiting) == len(model_units) and not summary.bugs
    assert "wait for their base" in summary.text()
    assert "its repo is gone" in capsys.readouterr().err


# -- matrix mode -------------------------------------------------------------------------------


def test_shards_partition_the_plan(store: Store) -> None:
    units = plan(store, store.architectures())
    shares = [[u for u in units if in_shard(u.key, (i, 3))] for i in range(3)]
    assert sorted(u.key for share in shares for u in share) == sorted(u.key for u in units)
    assert all(shares), [len(s) for s in shares]


def test_results_out_writes_a_file_resumably_and_not_the_store(store, fake, tmp_path) -> None:
    out = tmp_path / "shard" / "finetunes-0.jsonl"
    share = [u for u in plan(store, store.architectures(), top_k=1) if in_shard(u.key, (0, 2))]
    fake.behave = staticmethod(lambda u: transient(u) if u == share[0] else result_for(u))
    summary = run(store, tmp_path, top_k=1, shard=(0, 2), results_out=out)
    assert summary.done and store.finetunes() == [] and summary.unsettled == 1
    assert {r.key for r in FinetunesFile(out).finetunes()} == set(summary.done)
    assert [u.key for u in fake.ran] == [u.key for u in share]
    fake.ran.clear()
    fake.behave = staticmethod(lambda unit: result_for(unit))
    again = run(store, tmp_path, top_k=1, shard=(0, 2), results_out=out)
    assert [u.key for u in fake.ran] == [share[0].key]  # the transient one, run again
    assert again.skipped == again.planned - 1 == summary.planned - 1
    lines = out.read_text().splitlines()
    stored = FinetunesFile(out).finetunes()
    assert len(lines) == len(stored) == len(share)  # one line a key: the retry replaced it
    assert all(r.status == "ok" for r in stored)
    assert store.merge_finetunes(stored).new == len(stored)  # the file is mergeable as it is


def test_results_out_needs_the_pins_already_there(store_dir, fake, tmp_path) -> None:
    with pytest.raises(RankerError, match=r"verify\.json"):
        run(Store(store_dir), tmp_path, results_out=tmp_path / "out.jsonl")


# -- the command -------------------------------------------------------------------------------


def test_pin_only_resolves_once_and_writes(store_dir, monkeypatch, capsys) -> None:
    calls = []
    fake_targets = types.ModuleType("ranker.evaluate.targets")
    fake_targets.resolve_pins = lambda hub: calls.append(hub) or PINS
    monkeypatch.setitem(sys.modules, "ranker.evaluate.targets", fake_targets)
    assert main(["verify", "--data", str(store_dir), "--pin-only"]) == 0
    assert Store(store_dir).target_revisions() == PINS and len(calls) == 1
    assert main(["verify", "--data", str(store_dir), "--pin-only"]) == 0
    assert len(calls) == 1  # pinned: never resolved again
    assert "stsb: nyu-mll/glue@" in capsys.readouterr().out


def test_the_command_dry_runs_and_checks_its_flags(store: Store, capsys) -> None:
    data = str(store.root)
    assert main(["verify", "--data", data, "--dry-run", "--top-k", "2"]) == 0
    out = capsys.readouterr().out
    assert "bert-base-uncased: no probe ranks yet" in out
    assert f"roberta-base: base roberta-base@{BASE_SHA[:7]}" in out
    total = len(plan(store, store.architectures(), top_k=2))
    assert f"{total} units planned, 0 settled, {total} would run" in out
    assert store.finetunes() == []
    assert main(["verify", "--data", data, "--workers", "2"]) == 1
    assert "--workers: only with --executor ray" in capsys.readouterr().err


def test_a_models_download_goes_after_its_last_unit_and_a_bases_stays(
    store, fake, tmp_path
) -> None:
    hub_cache = tmp_path / "hub"
    units = plan(store, store.architectures(), top_k=1, only=["t5-base"])
    folder = {u.model_id: hub_cache / ("models--" + u.model_id.replace("/", "--")) for u in units}
    for path in folder.values():
        path.mkdir(parents=True)
    missing = []

    def behave(unit):
        if not folder[unit.model_id].exists():
            missing.append(unit.key)
        return result_for(unit)

    fake.behave = staticmethod(behave)
    opts = Options(device="cpu", cache_dir=tmp_path / "cache", hub_cache=hub_cache, hub=None)
    verify(store, options=opts, executor=LocalUnits(), top_k=1, architectures=["t5-base"],
           load_tasks=lambda pins: {})  # fmt: skip
    assert len(fake.ran) == len(units) and not missing  # never dropped while still needed
    assert folder["t5-base"].exists()
    assert not any(p.exists() for m, p in folder.items() if m != "t5-base")
