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
    DEBERTA,
    EXPECTED,
    MAX_PARAMS,
    OWNER_TOKEN,
    REJECTED,
    ROBERTA,
    populate_world,
    world_toml,
)
from ranker.testing.world import T5 as T5_ID

T0, T1 = "2026-01-01T00:00:00Z", "2026-01-02T00:00:00Z"
CONFIG = "GET /{repo}/resolve"  # a config.json read (a small file: 307 to the resolve-cache)
CACHE = "GET /api/resolve-cache/models/{repo}"  # ... and its second request
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
    assert set(world.counts) == {"GET /api/models", CONFIG, CACHE}
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
    bases = {BERT, ROBERTA, DEBERTA, T5_ID}
    assert NEEDS_CONFIG - waiting < bases  # the architectures' bases are read first
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
    world.add_token(OWNER_TOKEN)  # the hub shows a private repo to its readers only
    summary = _crawl(store, world, token=OWNER_TOKEN)
    catalog = {e.model_id: e for e in store.catalog()}
    assert catalog["x/roberta-private"].reason == "private"
    assert summary.excluded["private"] == 1
    assert set(world.auth_seen) == {f"Bearer {OWNER_TOKEN}"}


def test_crawl_honours_hf_endpoint_and_hf_token(
    store: Store, world: FakeHub, monkeypatch: pytest.MonkeyPatch
) -> None:
    world.patch_endpoint(monkeypatch)
    world.add_token("hf_from_env")
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


# -- listings that survive a bad page, budgets, whose fault a stop is --------------------------


def _bulk(world: FakeHub, files: dict[str, dict[str, bytes]], n: int = 30) -> None:
    """`n` untagged RoBERTa finetunes: with 16 rows a page, only the `roberta` model_type
    listing then has more than two pages (rows come sorted by id: `bulk/` first)."""
    for i in range(n):
        register(world, f"bulk/roberta-{i:02d}", files["roberta-cls"], model_type="roberta")
    world.page_size = 16


def _roberta_listing(world: FakeHub) -> list[str]:
    """The query strings of the `roberta` model_type listing's requests."""
    return [p for _, p, _ in world.log if p.startswith("/api/models?filter=roberta&")]


def test_a_listing_whose_third_page_fails_keeps_what_it_read_and_resumes_there(
    store: Store, world: FakeHub, tiny_files: dict[str, dict[str, bytes]]
) -> None:
    _bulk(world, tiny_files)
    third = world.fail(500, route="GET /api/models", query="cursor=32", times=4)  # every try
    summary = _crawl(store, world)
    assert third.fired == 4 and set(summary.failed) == {ROBERTA}
    assert "500" in summary.failed[ROBERTA] and "FAILED tiny/roberta-base" in summary.text()
    catalog = {e.model_id: e for e in store.catalog()}
    # pages 1-2 (the bulk models), every lineage result, the base (on page 3: asked for by id)
    assert {f"bulk/roberta-{i:02d}" for i in range(30)} <= set(catalog)
    lineage = {m for m, v in EXPECTED.items() if v[0] == ROBERTA and v[3] == "lineage"}
    assert lineage <= set(catalog) and catalog[ROBERTA].status == "ok"
    assert {e.status for e in catalog.values()} == {"ok", "excluded"}
    cursor = store.crawl_state()["cursors"]["roberta"]
    assert cursor.startswith(world.url) and "cursor=32" in cursor
    assert "the next run resumes them" in summary.text()

    # the next night: that listing starts at the failed page, and nothing is marked removed
    # for not being on the pages it did not read
    world.faults.remove(third)  # (clear_faults would also drop the malformed rows' values)
    world.reset_counts()
    register(world, "zz/roberta-new", tiny_files["roberta-cls"], model_type="roberta")
    world.remove("bulk/roberta-00")
    second = _crawl(store, world, now=T1)
    assert second.resumed == ["roberta"] and not second.failed
    assert all("cursor=32" in q for q in _roberta_listing(world))
    catalog = {e.model_id: e for e in store.catalog()}
    assert catalog["zz/roberta-new"].status == "ok" and second.new == ["zz/roberta-new"]
    assert catalog["bulk/roberta-00"].status == "ok" and not second.removed
    assert store.crawl_state() == {"cursors": {}}
    # the night after: a whole listing again, so the removal is seen
    third_night = _crawl(store, world, now="2026-01-03T00:00:00Z")
    assert third_night.removed == ["bulk/roberta-00"] and not third_night.resumed


def test_a_cursor_the_hub_refuses_starts_the_listing_over(
    store: Store, world: FakeHub, tiny_files: dict[str, dict[str, bytes]]
) -> None:
    _bulk(world, tiny_files)
    _crawl(store, world)
    world.remove("bulk/roberta-05")
    world.reset_counts()
    stale = f"{world.url}/api/models?filter=roberta&limit=1000&cursor=32"
    store.write_crawl_state({"cursors": {"roberta": stale}})
    world.fail(400, route="GET /api/models", query="cursor=32", times=1)  # e.g. expired
    summary = _crawl(store, world, now=T1)
    assert not summary.failed and not summary.resumed
    assert store.crawl_state() == {"cursors": {}}
    assert any("cursor" not in q for q in _roberta_listing(world))
    assert summary.removed == ["bulk/roberta-05"]  # read in full after all: removals are seen


def test_a_malformed_crawl_state_is_ignored_with_a_warning(store: Store, world: FakeHub) -> None:
    from ranker.store import CrawlStateWarning

    store.path("crawl_state.json").write_text('{"cursors": {"roberta": "file:///etc/passwd"}}')
    with pytest.warns(CrawlStateWarning, match="expected an http"):
        summary = _crawl(store, world)
    assert not summary.resumed and not summary.failed


@pytest.mark.parametrize(
    "state",
    [{"cursors": {"roberta": "javascript:alert(1)"}}, {"cursors": {"": "https://x/api"}},
     {"cursors": []}, {"other": 1}, {"cursors": {"a": "https://x/" + "y" * 3000}}],
)  # fmt: skip
def test_the_store_refuses_a_crawl_state_it_would_not_read_back(store: Store, state) -> None:
    from ranker.errors import StoreError

    with pytest.raises(StoreError, match=r"crawl_state\.json: refused"):
        store.write_crawl_state(state)
    assert not store.path("crawl_state.json").exists()


def test_the_base_is_classified_before_anything_else(store: Store, world: FakeHub) -> None:
    """On a big hub the config budget runs out long before the listings do: the bases first,
    then the 2023 models, then lineage-tagged ones, then by downloads."""
    from conftest import make_legacy_model

    store.write_legacy_models([make_legacy_model("old/roberta-untagged", ROBERTA)])
    _crawl(store, world, max_configs=4)
    catalog = {e.model_id: e for e in store.catalog()}
    assert all(catalog[b].status == "ok" for b in (BERT, ROBERTA, DEBERTA, T5_ID))
    assert catalog["old/roberta-untagged"].status == "ok"  # a 2023 member: no request
    assert all(catalog[m].status == "unclassified" for m in NEEDS_CONFIG - {BERT, ROBERTA,
               DEBERTA, T5_ID, "old/roberta-untagged"})  # fmt: skip


def test_a_base_no_listing_reached_is_asked_for_by_id(store: Store, world: FakeHub) -> None:
    world.fail(500, route="GET /api/models", query="filter=bert&", times=None)
    summary = _crawl(store, world, architectures=[BERT])
    assert set(summary.failed) == {BERT}
    catalog = {e.model_id: e for e in store.catalog()}
    assert catalog[BERT].status == "ok"  # its model_type listing failed: found by id
    assert world.per_repo("GET /api/models/{repo}") == {BERT: 1}


def test_the_time_budget_ends_the_crawl_and_keeps_what_it_learned(
    store: Store, world: FakeHub
) -> None:
    now = [0.0]
    door = Hub(endpoint=world.url, token=False, sleep=lambda s: None, clock=lambda: now[0])
    read = door.config

    def slow_config(repo_id: str, sha: str) -> dict:
        now[0] += 10.0  # each config read takes 10 s on the door's clock
        return read(repo_id, sha)

    door.config = slow_config  # type: ignore[method-assign]
    summary = crawl(store, door, max_params=MAX_PARAMS, now=T0, time_budget=25)
    assert door.deadline == 25
    assert summary.config_requests == 3 and summary.out_of_time
    assert "the time budget was spent" in summary.text() and not summary.failed
    catalog = {e.model_id: e for e in store.catalog()}
    assert len(catalog) == len(EXPECTED)  # everything listed is kept, the rest pending
    pending = {m for m, e in catalog.items() if e.reason == "config-pending"}
    assert len(pending) == len(NEEDS_CONFIG) - 3


def test_no_time_left_sends_nothing_and_changes_nothing(store: Store, world: FakeHub) -> None:
    _crawl(store, world)
    before = store.path("catalog.jsonl").read_bytes()
    world.reset_counts()
    summary = _crawl(store, world, now=T1, time_budget=0)
    assert not world.log and summary.out_of_time and not summary.removed
    assert store.path("catalog.jsonl").read_bytes() == before


def test_a_hub_that_stalls_config_reads_stops_the_crawl_early(
    store: Store, world: FakeHub, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    """Issue 22: a hub that answers listings but never a config read kept the crawl going
    for days, then exited 0. Now: most of the last reads unanswered stops it, non-zero."""
    from ranker.crawl import CrawlStopped, classifier
    from ranker.errors import Reason

    monkeypatch.setattr(classifier, "STALL_WINDOW", 6)  # the default is 20; the rule the same
    world.stall(route=CONFIG, times=None)
    door = _door(world, timeout=0.3, attempts=1)
    with pytest.raises(CrawlStopped) as stopped:
        crawl(store, door, max_params=MAX_PARAMS, now=T0)
    assert stopped.value.reason is Reason.HUB_DOWN
    assert "the hub is not answering config reads: 4 of the last 4 timed out" in str(stopped.value)
    summary = stopped.value.summary
    assert summary.config_requests == 4 and summary.config_timeouts == 4
    catalog = {e.model_id: e for e in store.catalog()}  # what was learned is kept
    assert len(catalog) == len(EXPECTED)
    assert {m for m, e in catalog.items() if e.status == "unclassified"} == NEEDS_CONFIG

    # the command says so in one line and exits non-zero (the same stop, without the wait)
    def stops(*args: object, **kwargs: object) -> None:
        raise stopped.value

    monkeypatch.setattr("ranker.crawl.crawl", stops)
    code = main(["--data", str(store.root), "crawl", "--endpoint", world.url])
    err = capsys.readouterr().err
    assert code == 1 and "not answering config reads" in err and err.count("\n") == 1


def test_a_rate_limit_never_skips_a_candidate(
    store: Store, world: FakeHub, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ranker.testing.quota import Quota

    # every config read is two resolver requests (the 307 to the resolve-cache): 5 a window
    monkeypatch.setattr(world, "quota", Quota(api=1000, resolvers=10, pages=100, window=1.0))
    door = Hub(endpoint=world.url, token=False)  # the pacer really waits for the window
    summary = crawl(store, door, max_params=MAX_PARAMS, now=T0)
    assert {e.model_id: e.status for e in store.catalog()} == {
        m: s for m, (_, s, _, _) in EXPECTED.items()
    }
    assert summary.config_requests == len(NEEDS_CONFIG) and summary.unclassified == 0
    assert world.rate_limited * 100 < door.requests  # paced: fewer than 1% answered 429


def test_a_rate_limit_that_outlasts_the_run_stops_it_in_order_keeping_what_it_learned(
    store: Store, world: FakeHub
) -> None:
    from ranker.crawl import CrawlStopped
    from ranker.errors import Reason

    world.fail(429, route=CONFIG, repo="org/bert-ft", times=None)
    with pytest.raises(CrawlStopped) as stopped:
        _crawl(store, world)
    assert stopped.value.reason is Reason.QUOTA
    catalog = {e.model_id: e for e in store.catalog()}
    assert len(catalog) == len(EXPECTED)
    assert catalog["org/bert-ft"].status == "unclassified"  # never held against the model
    # nothing after it in the order was read: no skipping ahead to the next candidate
    read = {m for m in NEEDS_CONFIG if catalog[m].status != "unclassified"}
    assert read and all(catalog[m].status == "unclassified" for m in NEEDS_CONFIG - read)
    assert _configs_read(world).keys() - {"org/bert-ft"} == read
    world.faults.clear()  # (clear_faults would also drop the malformed rows' values)
    _crawl(store, world, now=T1)
    got = {e.model_id: (e.architecture, e.status, e.reason, e.found_by) for e in store.catalog()}
    assert got == EXPECTED


def test_a_bad_token_stops_the_crawl_and_stores_nothing(store: Store, world: FakeHub) -> None:
    from ranker.errors import Reason, RunFailure

    world.add_token("hf_good")
    _crawl(store, world, token="hf_good", max_configs=2)
    before = {n: store.path(n).read_bytes() for n in ("catalog.jsonl",)}
    # the token is revoked in the middle of the next run's config reads
    door = _door(world, token="hf_good")
    read = door.config

    def revoked(repo_id: str, sha: str) -> dict:
        world.tokens.pop("hf_good", None)
        return read(repo_id, sha)

    door.config = revoked  # type: ignore[method-assign]
    with pytest.raises(RunFailure) as failed:
        crawl(store, door, max_params=MAX_PARAMS, now=T1)
    assert failed.value.reason is Reason.BAD_TOKEN
    assert {n: store.path(n).read_bytes() for n in before} == before  # no exclusion cached
    assert not store.path("crawl_state.json").exists()
    # and from the first request on: the same
    with pytest.raises(RunFailure):
        _crawl(store, world, token="hf_unknown", now=T1)
    assert {n: store.path(n).read_bytes() for n in before} == before


def test_a_config_damaged_in_transit_waits_it_is_never_excluded(
    store: Store, world: FakeHub
) -> None:
    world.corrupt_bytes("org/roberta-ft", "config.json", times=None)
    _crawl(store, world, token=False)
    entry = {e.model_id: e for e in store.catalog()}["org/roberta-ft"]
    assert (entry.status, entry.reason) == ("unclassified", "config-pending")
    world.clear_faults()
    _crawl(store, world, now=T1)
    entry = {e.model_id: e for e in store.catalog()}["org/roberta-ft"]
    assert (entry.status, entry.reason) == ("ok", None)


def test_a_row_with_one_odd_tag_is_listed_and_reported(store: Store, world: FakeHub) -> None:
    tags = [*world.model("org/roberta-ft").hub_tags(), "odd tag\u202e"]
    world.set_listing_field("org/roberta-ft", "tags", tags)
    summary = _crawl(store, world)
    entry = {e.model_id: e for e in store.catalog()}["org/roberta-ft"]
    assert entry.status == "ok" and "odd tag\u202e" not in entry.tags
    assert "org/roberta-ft" in summary.repaired and "without values" in summary.text()


def test_a_value_the_store_refuses_fails_its_row_alone(store: Store, world: FakeHub) -> None:
    """The door takes dates up to 2099; the store writes none past tomorrow. Before, one such
    row made `write_catalog` refuse the whole catalog: the crawl wrote nothing at all."""
    world.set_listing_field("org/roberta-ft", "lastModified", "2090-01-01T00:00:00.000Z")
    summary = _crawl(store, world)
    entries = {e.model_id: e for e in store.catalog()}
    assert entries["org/roberta-ft"].status == "ok"
    assert entries["org/roberta-ft"].last_modified is None
    assert "last_modified" in summary.repaired["org/roberta-ft"]
    assert len(entries) > 1


def test_sizes_that_disagree_send_the_model_to_its_config(store: Store, world: FakeHub) -> None:
    """`safetensors.total` is not a stable number: when it disagrees with the per-dtype sum,
    config.json decides, never the count (here a count far over the cap)."""
    world.set_listing_field(
        "old/roberta-untagged", "safetensors", {"parameters": {"F32": 10**11}, "total": 20_000}
    )
    _crawl(store, world)
    entry = {e.model_id: e for e in store.catalog()}["old/roberta-untagged"]
    assert (entry.status, entry.reason) == ("ok", None)
    assert "old/roberta-untagged" in _configs_read(world)


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


def test_one_model_is_judged_as_the_crawl_judges_it(store: Store, world: FakeHub) -> None:
    """`classify_listing` (what `ranker request` asks) gives the crawl's own verdict: the same
    architecture, status, reason and way of being found, from the model's own listing."""
    from ranker.crawl import classify_listing
    from ranker.errors import HubFailure

    door = _door(world)
    for model, (arch, status, reason, found_by) in EXPECTED.items():
        try:
            listing = door.listing(model)
        except HubFailure:  # a gated or disabled repo: its listing is refused outright
            assert reason in ("gated", "disabled"), model
            continue
        verdict = classify_listing(store, door, listing, max_params=MAX_PARAMS)
        assert verdict.entry is not None and verdict.arch is not None, model
        got = (verdict.arch.id, verdict.status, verdict.reason, verdict.entry.found_by)
        assert got == (arch, status, reason, found_by), model
    huge = classify_listing(store, door, door.listing("x/roberta-huge"), max_params=MAX_PARAMS)
    assert (huge.status, huge.reason, huge.entry) == ("excluded", "too-large", None)
    assert store.catalog() == []  # a verdict writes nothing


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
        ({"params": 2_000_000_000, "params_disagree": True}, None),  # config.json decides
        ({"params": 30_000_000, "params_disagree": True}, None),
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
