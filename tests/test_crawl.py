"""The crawler end to end against the loopback hub, plus its pure parts."""

from __future__ import annotations

from pathlib import Path

import pytest

from ranker.cli import main
from ranker.crawl import crawl
from ranker.crawl.catalog import merge
from ranker.crawl.classify import Listing, exclusion_reason, matches_architecture
from ranker.crawl.hub import HubClient
from ranker.records import SCHEMA_VERSION, Architecture, CatalogEntry
from ranker.store import Store
from ranker.testing.hub import FakeHub
from ranker.testing.models import architectures_toml, register
from ranker.testing.world import BERT, EXPECTED, MAX_PARAMS, ROBERTA, populate_world

T0, T1 = "2026-01-01T00:00:00Z", "2026-01-02T00:00:00Z"


@pytest.fixture
def store(tmp_path: Path) -> Store:
    (tmp_path / "architectures.toml").write_text(architectures_toml(), encoding="utf-8")
    return Store(tmp_path)


@pytest.fixture
def world(hub: FakeHub, tiny_files: dict[str, dict[str, bytes]]) -> FakeHub:
    populate_world(hub, tiny_files)
    return hub


def _crawl(store: Store, hub: FakeHub, now: str = T0, token: str | bool = False):
    return crawl(store, HubClient(endpoint=hub.url, token=token), max_params=MAX_PARAMS, now=now)


def test_first_crawl_finds_models_and_records_exclusions(store: Store, world: FakeHub) -> None:
    summary = _crawl(store, world)

    catalog = {e.model_id: e for e in store.catalog()}
    got = {m: (e.architecture, e.status, e.reason, e.found_by) for m, e in catalog.items()}
    assert got == EXPECTED  # no private repo without a token, no decoy, no unsafe id
    assert summary.invalid_ids == ["bad/a--b"]
    assert summary.new == sorted(EXPECTED) and not summary.changed and not summary.removed
    assert summary.ok == 7
    assert dict(summary.excluded) == {r: 1 for _, s, r, _ in EXPECTED.values() if s == "excluded"}
    ft = catalog["org/bert-ft"]
    assert ft.sha == world.model("org/bert-ft").sha and len(ft.sha) == 40
    assert (ft.downloads, ft.likes, ft.license, ft.library) == (50, 3, "apache-2.0", "transformers")
    assert ft.params == world.model("org/bert-ft").safetensors["total"]
    assert ft.pipeline_tag == "text-classification" and "bert" in ft.tags
    assert catalog["old/bert-untagged"].license == "mit"  # from the card data
    assert ft.first_seen == ft.last_seen == T0
    # Everything came from listings: no per-model call, and the crawl counted every request.
    assert set(world.counts) == {"GET /api/models"}
    assert summary.requests == world.counts["GET /api/models"]
    # 2 architectures x 2 lineage spellings + 2 model_type listings, several pages each.
    assert summary.listings == 6
    assert summary.requests > summary.listings
    assert "excluded: adapter 1" in summary.text()
    assert f"  {ROBERTA}: 3 ok, 10 excluded" in summary.text()


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
    summary = crawl(store, HubClient(), max_params=MAX_PARAMS, now=T0)
    assert summary.requests == world.counts["GET /api/models"] > 0
    assert set(world.auth_seen) == {"Bearer hf_from_env"}


def test_crawl_survives_rate_limits_and_server_errors(store: Store, world: FakeHub) -> None:
    world.fail(429, route="GET /api/models", retry_after=0, times=1)
    world.fail(503, route="GET /api/models", query="filter=roberta", times=1)
    world.fail(500, route="GET /api/models", query="cursor=4", times=1)
    summary = _crawl(store, world)
    assert not summary.failed
    assert {e.model_id for e in store.catalog()} == set(EXPECTED)
    assert all(f.fired == 1 for f in world.faults)
    assert summary.requests == world.counts["GET /api/models"]  # retries counted too


def test_a_failing_listing_changes_nothing_of_its_architecture(
    store: Store, world: FakeHub, monkeypatch: pytest.MonkeyPatch
) -> None:
    _crawl(store, world)
    before = {e.model_id: e for e in store.catalog()}
    world.remove("org/roberta-ft")
    world.remove("org/bert-ft")
    world.fail(500, route="GET /api/models", query="roberta", times=None)  # every retry too
    import huggingface_hub.utils._http as http

    monkeypatch.setattr(http.time, "sleep", lambda seconds: None)  # skip the backoff waits
    summary = _crawl(store, world, now=T1)
    assert set(summary.failed) == {ROBERTA}
    assert "FAILED tiny/roberta-base" in summary.text()
    after = {e.model_id: e for e in store.catalog()}
    assert after["org/roberta-ft"] == before["org/roberta-ft"]  # not marked removed
    assert after["org/bert-ft"].status == "removed"  # its architecture was crawled
    assert summary.removed == ["org/bert-ft"]


def test_second_crawl_reports_new_changed_and_removed(
    store: Store, world: FakeHub, tiny_files: dict[str, dict[str, bytes]]
) -> None:
    _crawl(store, world)
    register(world, "new/roberta-ft", tiny_files["roberta-cls"], model_type="roberta",
             base_id=ROBERTA)  # fmt: skip
    old_sha = world.model("org/bert-ft").sha
    new_sha = world.commit("org/bert-ft", {"README.md": b"# v2"})
    world.remove("old/roberta-untagged")
    world.model(BERT).downloads = 1000  # metadata moves without a new commit
    world.reset_counts()

    summary = _crawl(store, world, now=T1)

    assert summary.new == ["new/roberta-ft"]
    assert summary.changed == ["org/bert-ft"]
    assert summary.removed == ["old/roberta-untagged"]
    assert len(summary.unchanged) == len(EXPECTED) - 2
    catalog = {e.model_id: e for e in store.catalog()}
    assert new_sha != old_sha and catalog["org/bert-ft"].sha == new_sha
    assert (catalog["org/bert-ft"].first_seen, catalog["org/bert-ft"].last_seen) == (T0, T1)
    gone = catalog["old/roberta-untagged"]
    assert (gone.status, gone.first_seen, gone.last_seen) == ("removed", T0, T0)
    assert catalog["new/roberta-ft"].first_seen == T1
    assert catalog[BERT].downloads == 1000
    # Listings only: no model_info, tree or file request for any model, changed or not.
    assert set(world.counts) == {"GET /api/models"}
    assert world.per_repo("GET /api/models/{repo}") == {}
    assert summary.requests == world.counts["GET /api/models"]

    # A third crawl with nothing changed: all unchanged, the removed model stays removed.
    third = _crawl(store, world, now="2026-01-03T00:00:00Z")
    assert not (third.new or third.changed or third.removed)
    assert {e.model_id: e.status for e in store.catalog()}["old/roberta-untagged"] == "removed"


def test_cli_crawl_prints_the_summary(
    store: Store, world: FakeHub, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["--data", str(store.root), "crawl", "--endpoint", world.url,
                 "--arch", BERT, "--max-params", str(MAX_PARAMS)])  # fmt: skip
    out = capsys.readouterr().out
    assert code == 0
    assert "listed 4 models (4 ok, 0 excluded)" in out
    assert "HTTP requests" in out
    assert {e.architecture for e in store.catalog()} == {BERT}


def test_cli_crawl_unknown_architecture(store: Store, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--data", str(store.root), "crawl", "--arch", "nope"]) == 1
    assert "unknown architecture 'nope'" in capsys.readouterr().err


# -- pure parts --------------------------------------------------------------------------------

T5 = Architecture(id="t5-base", slug="t5-base", title="T5", model_type="t5", hidden_size=768,
                  num_layers=12, vocab_size=32128, intermediate_size=3072)  # fmt: skip


def test_matches_architecture_reads_t5_names() -> None:
    config = {"model_type": "t5", "d_model": 768, "num_layers": 12, "vocab_size": 32128}
    assert matches_architecture({**config, "d_ff": 3072}, T5)
    assert not matches_architecture({**config, "d_ff": 2048}, T5)  # t5-v1_1
    assert not matches_architecture({**config, "d_ff": 3072, "model_type": "mt5"}, T5)
    assert not matches_architecture(None, T5)


@pytest.mark.parametrize(
    ("tags", "config", "reason"),
    [
        (("base_model:adapter:t5-base",), {}, "adapter"),
        (("base_model:quantized:t5-base",), {}, "quantized"),
        (("8-bit",), {}, "quantized"),
        ((), {"quantization_config": {"bits": 4}}, "quantized"),
        (("base_model:merge:t5-base",), {}, "merge"),
        (("LoRA",), {}, "adapter"),
        ((), {"auto_map": {}}, "custom-code"),
        ((), {}, None),
    ],
)
def test_exclusion_reasons_from_tags_and_config(
    tags: tuple[str, ...], config: dict, reason: str | None
) -> None:
    base = {"model_type": "t5", "d_model": 768, "num_layers": 12, "vocab_size": 32128, "d_ff": 3072}
    listing = Listing(model_id="a/b", sha="0" * 40, tags=tags, params=100,
                      config={**base, **config})  # fmt: skip
    assert exclusion_reason(listing, T5) == reason


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
