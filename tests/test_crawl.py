"""The crawler end to end against the loopback hub, plus its pure parts."""

from __future__ import annotations

from pathlib import Path

import pytest

from ranker.cli import main
from ranker.crawl import crawl
from ranker.crawl.catalog import merge
from ranker.crawl.classify import estimate_params, listing_reason, plausible_size
from ranker.hub import Hub, Listing
from ranker.records import SCHEMA_VERSION, Architecture, CatalogEntry, EvalResult
from ranker.store import Store
from ranker.testing.hub import FakeHub
from ranker.testing.models import register
from ranker.testing.world import (
    BERT,
    EXPECTED,
    MAX_PARAMS,
    REJECTED,
    ROBERTA,
    populate_world,
    world_toml,
)

T0, T1 = "2026-01-01T00:00:00Z", "2026-01-02T00:00:00Z"
CONFIG = "GET /{repo}/resolve"  # a config.json read (small file at a pinned sha: no redirect)
# What needs a config read on a first crawl: every candidate the listing does not decide and
# the 2023 data does not vouch for.
NEEDS_CONFIG = {m for m, (_, s, r, _) in EXPECTED.items() if s == "ok" or r in (
    "config-mismatch", "no-config")}  # fmt: skip


@pytest.fixture
def store(tmp_path: Path) -> Store:
    (tmp_path / "architectures.toml").write_text(world_toml(), encoding="utf-8")
    return Store(tmp_path)


@pytest.fixture
def world(hub: FakeHub, tiny_files: dict[str, dict[str, bytes]], tmp_path: Path) -> FakeHub:
    populate_world(hub, tiny_files, marker=tmp_path / "evil-ran")
    return hub


def _door(hub: FakeHub, token: str | bool = False, **kw) -> Hub:
    return Hub(endpoint=hub.url, token=token, sleep=lambda s: None, **kw)


def _crawl(store: Store, hub: FakeHub, now: str = T0, token: str | bool = False, **kw):
    return crawl(store, _door(hub, token), max_params=MAX_PARAMS, now=now, **kw)


def _configs_read(hub: FakeHub) -> dict[str, int]:
    return {repo: n for (route, repo), n in hub.repo_counts.items() if route == CONFIG}


def test_first_crawl_classifies_from_listings_and_configs(store: Store, world: FakeHub) -> None:
    summary = _crawl(store, world)

    catalog = {e.model_id: e for e in store.catalog()}
    got = {m: (e.architecture, e.status, e.reason, e.found_by) for m, e in catalog.items()}
    assert got == EXPECTED  # no private repo without a token, no decoy, no malformed row
    assert set(summary.rejected) >= set(REJECTED)
    assert "downloads: expected a count, got 'lots'" in summary.rejected["x/roberta-typo"]
    assert "40-hex commit sha" in summary.rejected["x/roberta-sha-path"]
    assert summary.new == sorted(EXPECTED) and not summary.changed and not summary.removed
    assert summary.skipped["too-large"] == 1  # x/roberta-huge, ruled out by its listing
    # One config.json read per candidate the listing could not decide, at the listed sha.
    assert _configs_read(world) == dict.fromkeys(sorted(NEEDS_CONFIG), 1)
    assert summary.config_requests == len(NEEDS_CONFIG)
    pinned = {path for method, path, _ in world.log if path.endswith("/config.json")}
    assert all(f"/resolve/{world.model(m).sha}/" in p for m in NEEDS_CONFIG for p in pinned
               if p.startswith(f"/{m}/"))  # fmt: skip
    # No model_info, tree or weight request: listings and configs only, all counted.
    assert set(world.counts) == {"GET /api/models", CONFIG}
    assert summary.requests == sum(world.counts.values())
    ft = catalog["org/bert-ft"]
    assert ft.sha == world.model("org/bert-ft").sha and len(ft.sha) == 40
    assert (ft.downloads, ft.likes, ft.license, ft.library) == (50, 3, "apache-2.0", "transformers")
    assert ft.params == world.model("org/bert-ft").safetensors["total"]
    assert ft.detail == "model_type bert, hidden 32, layers 2, vocab 160, feed-forward 37"
    assert catalog["old/bert-untagged"].license == "mit"  # from the card data
    assert "hidden 48" in catalog["other/bert-wide"].detail  # why it is not ranked
    assert ft.first_seen == ft.last_seen == T0
    assert f"  {ROBERTA}: 4 ok, 8 excluded, 0 unclassified" in summary.text()
    assert "rejected 3 malformed listing rows" in summary.text()


def test_second_night_costs_no_config_request_and_changes_nothing(
    store: Store, world: FakeHub
) -> None:
    _crawl(store, world)
    before = store.path("catalog.jsonl").read_bytes()
    world.reset_counts()
    summary = _crawl(store, world, now=T1)
    assert store.path("catalog.jsonl").read_bytes() == before
    assert set(world.counts) == {"GET /api/models"}  # listings only
    assert summary.config_requests == 0 and not summary.new and not summary.changed


def test_config_budget_leaves_the_rest_unclassified_for_the_next_run(
    store: Store, world: FakeHub
) -> None:
    first = _crawl(store, world, max_configs=3)
    catalog = {e.model_id: e for e in store.catalog()}
    waiting = {m for m, e in catalog.items() if e.status == "unclassified"}
    assert first.config_requests == 3 and len(waiting) == len(NEEDS_CONFIG) - 3
    assert all(catalog[m].reason == "config-pending" for m in waiting)
    lineage_first = {m for m in NEEDS_CONFIG if EXPECTED[m][3] == "lineage"}
    assert NEEDS_CONFIG - waiting <= lineage_first  # lineage candidates are read first
    second = _crawl(store, world, now=T1)
    assert second.config_requests == len(waiting)
    got = {e.model_id: (e.architecture, e.status, e.reason, e.found_by) for e in store.catalog()}
    assert got == EXPECTED


def test_a_transient_config_failure_is_retried_next_run_not_excluded(
    store: Store, world: FakeHub
) -> None:
    world.fail(503, route=CONFIG, repo="org/roberta-ft", times=None)
    _crawl(store, world)
    entry = {e.model_id: e for e in store.catalog()}["org/roberta-ft"]
    assert (entry.status, entry.reason) == ("unclassified", "config-pending")
    assert "503" in entry.detail
    world.clear_faults()
    _crawl(store, world, now=T1)
    entry = {e.model_id: e for e in store.catalog()}["org/roberta-ft"]
    assert (entry.status, entry.reason) == ("ok", None)


def test_private_repos_are_seen_with_a_token_and_excluded(store: Store, world: FakeHub) -> None:
    summary = _crawl(store, world, token="hf_test_token")
    catalog = {e.model_id: e for e in store.catalog()}
    assert catalog["x/roberta-private"].reason == "private"
    assert summary.excluded["private"] == 1
    assert set(world.auth_seen) == {"Bearer hf_test_token"}


def test_crawl_honours_hf_endpoint_and_hf_token(
    store: Store, world: FakeHub, monkeypatch: pytest.MonkeyPatch
) -> None:
    world.patch_endpoint(monkeypatch)
    monkeypatch.setenv("HF_TOKEN", "hf_from_env")
    summary = crawl(store, Hub(), max_params=MAX_PARAMS, now=T0)
    assert summary.requests == sum(world.counts.values()) > 0
    assert set(world.auth_seen) == {"Bearer hf_from_env"}


def test_crawl_survives_rate_limits_and_server_errors(store: Store, world: FakeHub) -> None:
    world.fail(429, route="GET /api/models", retry_after=0, times=1)
    world.fail(503, route="GET /api/models", query="filter=roberta", times=1)
    world.fail(500, route="GET /api/models", query="cursor=4", times=1)
    world.fail(429, route=CONFIG, repo="org/bert-ft", retry_after=0, times=1)
    world.drop(route=CONFIG, repo="old/bert-untagged", times=1)
    summary = _crawl(store, world)
    assert not summary.failed
    assert {e.model_id: e.status for e in store.catalog()} == {
        m: s for m, (_, s, _, _) in EXPECTED.items()
    }
    assert all(f.fired == 1 for f in world.faults)
    assert summary.requests == sum(world.counts.values())  # retries counted too


def test_a_hub_that_never_answers_ends_the_crawl_quickly(store: Store, world: FakeHub) -> None:
    _crawl(store, world)
    before = store.path("catalog.jsonl").read_bytes()
    world.reset_counts()
    world.stall(times=None)  # every route, forever
    summary = crawl(store, _door(world, timeout=0.5, attempts=2), max_params=MAX_PARAMS, now=T1)
    assert summary.unreachable and set(summary.failed) == {a.id for a in store.architectures()}
    assert "the hub could not be reached" in summary.text()
    assert "timeout" in next(iter(summary.failed.values()))
    assert store.path("catalog.jsonl").read_bytes() == before
    assert world.counts["GET /api/models"] == 2  # one listing, two tries, then it gave up


def test_a_failing_listing_changes_nothing_of_its_architecture(
    store: Store, world: FakeHub
) -> None:
    _crawl(store, world)
    before = {e.model_id: e for e in store.catalog()}
    world.remove("org/roberta-ft")
    world.remove("org/bert-ft")
    world.fail(500, route="GET /api/models", query="roberta", times=None)  # every retry too
    summary = _crawl(store, world, now=T1)
    assert set(summary.failed) == {ROBERTA}
    assert "FAILED tiny/roberta-base" in summary.text()
    after = {e.model_id: e for e in store.catalog()}
    assert after["org/roberta-ft"] == before["org/roberta-ft"]  # not marked removed
    assert after["org/bert-ft"].status == "removed"  # its architecture was crawled
    assert summary.removed == ["org/bert-ft"]


def test_second_crawl_reports_new_changed_removed_and_renamed(
    store: Store, world: FakeHub, tiny_files: dict[str, dict[str, bytes]]
) -> None:
    _crawl(store, world)
    store.save_result(_result("org/deberta-ft", world.model("org/deberta-ft").sha))
    register(world, "new/roberta-ft", tiny_files["roberta-cls"], model_type="roberta",
             base_id=ROBERTA)  # fmt: skip
    old_sha = world.model("org/bert-ft").sha
    new_sha = world.commit("org/bert-ft", {"README.md": b"# v2"})
    world.remove("old/roberta-untagged")
    world.rename("org/deberta-ft", "neworg/deberta-ft")
    world.model(BERT).downloads = 1000  # metadata moves without a new commit
    world.reset_counts()

    summary = _crawl(store, world, now=T1)

    assert summary.new == ["new/roberta-ft", "neworg/deberta-ft"]
    assert summary.changed == ["org/bert-ft"]
    assert summary.removed == ["old/roberta-untagged"]
    assert summary.renamed == {"org/deberta-ft": "neworg/deberta-ft"}
    catalog = {e.model_id: e for e in store.catalog()}
    assert new_sha != old_sha and catalog["org/bert-ft"].sha == new_sha
    assert (catalog["org/bert-ft"].first_seen, catalog["org/bert-ft"].last_seen) == (T0, T1)
    gone = catalog["old/roberta-untagged"]
    assert (gone.status, gone.first_seen, gone.last_seen) == ("removed", T0, T0)
    moved = catalog["org/deberta-ft"]
    assert (moved.status, moved.renamed_to) == ("removed", "neworg/deberta-ft")
    assert [r.model_id for r in store.results()] == ["neworg/deberta-ft"]  # one identity
    assert catalog["new/roberta-ft"].first_seen == T1
    assert catalog[BERT].downloads == 1000
    # Configs only for the new and the changed; one lookup for each model that left.
    assert sorted(_configs_read(world)) == ["new/roberta-ft", "neworg/deberta-ft", "org/bert-ft"]
    assert world.per_repo("GET /api/models/{repo}") == {  # the rename's 307 is followed
        "old/roberta-untagged": 1, "org/deberta-ft": 1, "neworg/deberta-ft": 1}  # fmt: skip

    # A third crawl with nothing changed: all unchanged, the removed model stays removed.
    third = _crawl(store, world, now="2026-01-03T00:00:00Z")
    assert not (third.new or third.changed or third.removed)
    assert {e.model_id: e.status for e in store.catalog()}["old/roberta-untagged"] == "removed"


def test_2023_models_are_members_without_tags_or_config(store: Store, world: FakeHub) -> None:
    from conftest import make_legacy_model

    store.write_legacy_models([make_legacy_model("old/roberta-untagged", ROBERTA)])
    summary = _crawl(store, world)
    entry = {e.model_id: e for e in store.catalog()}["old/roberta-untagged"]
    assert (entry.status, entry.found_by) == ("ok", "legacy")
    assert "old/roberta-untagged" not in _configs_read(world)
    assert summary.config_requests == len(NEEDS_CONFIG) - 1


def _result(model_id: str, sha: str) -> EvalResult:
    return EvalResult(schema_version=SCHEMA_VERSION, model_id=model_id, architecture="x",
                      revision=sha, protocol_version="lp-1", status="ok",
                      evaluated_at=T0, accuracy=0.5)  # fmt: skip


def test_cli_crawl_prints_the_summary(
    store: Store, world: FakeHub, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["--data", str(store.root), "crawl", "--endpoint", world.url,
                 "--arch", BERT, "--max-params", str(MAX_PARAMS)])  # fmt: skip
    out = capsys.readouterr().out
    assert code == 0
    assert "listed 7 models (6 ok, 1 excluded, 0 unclassified)" in out
    assert "HTTP requests" in out
    assert {e.architecture for e in store.catalog()} == {BERT}


def test_cli_crawl_unknown_architecture(store: Store, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--data", str(store.root), "crawl", "--arch", "nope"]) == 1
    assert "unknown architecture 'nope'" in capsys.readouterr().err


# -- pure parts --------------------------------------------------------------------------------

T5 = Architecture(id="t5-base", slug="t5-base", title="T5", model_type="t5", hidden_size=768,
                  num_layers=12, vocab_size=32128, intermediate_size=3072)  # fmt: skip


def test_one_dimension_rule_reads_t5_names() -> None:
    config = {"model_type": "t5", "d_model": 768, "num_layers": 12, "vocab_size": 32128}
    assert T5.matches({**config, "d_ff": 3072})
    assert not T5.matches({**config, "d_ff": 2048})  # t5-v1_1
    assert not T5.matches({**config, "d_ff": 3072, "model_type": "mt5"})
    assert not T5.matches({})


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"tags": ("base_model:adapter:t5-base",)}, "adapter"),
        ({"tags": ("base_model:quantized:t5-base",)}, "quantized"),
        ({"tags": ("8-bit",)}, "quantized"),
        ({"quantized": True}, "quantized"),
        ({"base_relation": "adapter"}, "adapter"),
        ({"tags": ("base_model:merge:t5-base",)}, "merge"),
        ({"tags": ("LoRA",)}, "adapter"),
        ({"remote_code": True}, "custom-code"),
        ({"params": 2_000_000_000}, "too-large"),
        ({"params": 740_000_000}, "size-mismatch"),  # t5-large, not t5-base
        ({"params": 30_000_000}, "size-mismatch"),  # t5-small
        ({"params": 223_000_000}, None),
        ({"params": 110_000_000}, None),  # an encoder-only export
        ({"params": None}, None),  # pickle-only: the listing cannot tell
    ],
)
def test_listing_reasons(fields: dict, reason: str | None) -> None:
    listing = Listing(model_id="a/b", sha="0" * 40, **{"params": 223_000_000, **fields})
    assert listing_reason(listing, T5) == reason


def test_size_estimates_admit_the_real_bases() -> None:
    """The published parameter counts of the tracked bases fall inside the size window."""
    real = {"roberta-base": 124_645_632, "bert-base-uncased": 109_482_240,
            "bert-base-cased": 108_310_272, "t5-base": 222_903_552,
            "google/t5-v1_1-base": 247_577_856, "microsoft/deberta-v3-base": 184_423_682}  # fmt: skip
    archs = {a.id: a for a in Store(Path(__file__).parents[1] / "data").architectures()}
    for arch_id, params in real.items():
        assert plausible_size(params, archs[arch_id]), (arch_id, estimate_params(archs[arch_id]))
    assert not plausible_size(335_141_888, archs["bert-base-uncased"])  # bert-large


def _entry(model_id: str, sha: str = "a" * 40, arch: str = "t5-base", **kw: object) -> CatalogEntry:
    values = {"schema_version": SCHEMA_VERSION, "model_id": model_id, "architecture": arch,
              "sha": sha, "status": "ok", **kw}  # fmt: skip
    return CatalogEntry.from_dict(values)


def test_merge_buckets_and_history() -> None:
    previous = [
        _entry("a/same", first_seen=T0, last_seen=T0),
        _entry("a/moved", first_seen=T0, last_seen=T0),
        _entry("a/gone", first_seen=T0, last_seen=T0),
        _entry("a/back", status="removed", first_seen=T0, last_seen=T0),
        _entry("b/other-arch", arch="bert", first_seen=T0, last_seen=T0),
    ]
    crawled = [_entry("a/same"), _entry("a/moved", sha="b" * 40), _entry("a/back"),
               _entry("a/new")]  # fmt: skip
    result = merge(previous, crawled, architectures={"t5-base"}, now=T1)
    assert (result.new, result.changed, result.unchanged, result.removed) == (
        ["a/back", "a/new"],
        ["a/moved"],
        ["a/same"],
        ["a/gone"],
    )
    by_id = {e.model_id: e for e in result.entries}
    assert by_id["a/gone"].status == "removed" and by_id["a/gone"].last_seen == T0
    assert by_id["a/back"].first_seen == T0 and by_id["a/back"].status == "ok"
    assert by_id["b/other-arch"] == previous[4]  # architecture not crawled: untouched
    assert by_id["a/new"].first_seen == by_id["a/new"].last_seen == T1
