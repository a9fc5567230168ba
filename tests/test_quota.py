"""A crawl against a loopback hub that enforces the hub's quotas, scaled to a 2-second window.

The hub counts requests per bucket in fixed windows and tells every answer how much is left
(`RateLimit`); past the quota it answers 429 without `Retry-After`. A door that paces itself
on those headers finishes the crawl with (almost) no 429 and skips no candidate; one that only
reacts to 429s gets one per spent window (measured with the door's pacer made to learn only
from 429s: 4 of 145 requests, 2.8%, and 7 of 153 with two jobs on one token), so the
assertions below (< 1%) fail for it. Full-size figures: bench/bench_requests.py.
"""

from __future__ import annotations

import threading
from pathlib import Path

from ranker.crawl import crawl
from ranker.hub import Hub
from ranker.store import Store
from ranker.testing.hub import FakeHub, Quota
from ranker.testing.models import TINY_BERT, architectures_toml, fake_model, register

# Small enough that the crawl spends each bucket several times over, in seconds, even on a busy
# machine (filling a window needs only ~15 requests a second).
TINY_QUOTA = Quota(api=10, resolvers=40, pages=5, window=2.0)
MAX_PARAMS = 10_000_000


def _world(hub: FakeHub, n: int) -> None:
    """The tiny BERT base and `n` untagged finetunes, every tenth tagged with its lineage;
    half of them another size, so the crawl must read config.json for each."""
    hub.page_size = 4  # many listing pages: the api bucket is spent too
    register(hub, TINY_BERT.base_id, fake_model(TINY_BERT, params=24_000), model_type="bert")
    same = fake_model(TINY_BERT, params=24_000)
    other = fake_model(TINY_BERT, hidden_size=48, params=30_000)
    for i in range(n):
        base = TINY_BERT.base_id if i % 10 == 0 else None
        register(hub, f"cand/bert-{i:04d}", same if i % 2 else other, model_type="bert",
                 base_id=base)  # fmt: skip


def _store(root: Path) -> Store:
    root.mkdir(parents=True)
    (root / "architectures.toml").write_text(architectures_toml((TINY_BERT,)), encoding="utf-8")
    return Store(root)


def _skipped_for_a_rate_limit(store: Store) -> list[str]:
    """Candidates left unclassified (their config not read) after the crawl."""
    return [e.model_id for e in store.catalog() if e.status == "unclassified"]


def test_an_anonymous_crawl_paces_itself_within_the_quota(tmp_path: Path) -> None:
    n = 60
    with FakeHub(quota=TINY_QUOTA) as hub:
        _world(hub, n)
        store = _store(tmp_path / "data")
        door = Hub(endpoint=hub.url, token=False)
        summary = crawl(store, door, max_params=MAX_PARAMS, max_configs=10 * n)
        total = sum(hub.bucket_counts.values())
        assert len(store.catalog()) == n + 1
        assert _skipped_for_a_rate_limit(store) == []
        # The crawl spent each bucket more than once: the windows were really in play.
        assert hub.bucket_counts["api"] > TINY_QUOTA.api
        assert hub.bucket_counts["resolvers"] > 3 * TINY_QUOTA.resolvers
        assert door.waited > 0  # it waited for resets instead of running into 429s
        assert summary.config_requests >= n // 2
        assert hub.rate_limited < 0.01 * total, (hub.rate_limited, dict(hub.bucket_counts))
        assert door.rate_limited == hub.rate_limited  # the door saw what the hub sent


def test_jobs_sharing_one_token_share_its_quota(tmp_path: Path) -> None:
    """Jobs on one token each take their share of its quota (`quota_share`), so together they
    stay within it, though none of them sees the others' requests."""
    n, shards = 30, 2
    with FakeHub(quota=TINY_QUOTA, tokens={"hf_shared": TINY_QUOTA}) as hub:
        _world(hub, n)
        stores = [_store(tmp_path / f"shard-{i}") for i in range(shards)]
        doors = [Hub(endpoint=hub.url, token="hf_shared", quota_share=1 / shards)
                 for _ in range(shards)]  # fmt: skip
        errors: list[BaseException] = []

        def job(i: int) -> None:
            try:
                crawl(stores[i], doors[i], max_params=MAX_PARAMS, max_configs=10 * n)
            except BaseException as exc:  # reported below, with the test's assertion
                errors.append(exc)

        threads = [threading.Thread(target=job, args=(i,)) for i in range(shards)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
        assert not errors, errors
        total = sum(hub.bucket_counts.values())
        for store in stores:
            assert len(store.catalog()) == n + 1 and _skipped_for_a_rate_limit(store) == []
        assert hub.bucket_counts["resolvers"] > 2 * TINY_QUOTA.resolvers
        assert hub.rate_limited < 0.01 * total, (hub.rate_limited, dict(hub.bucket_counts))
