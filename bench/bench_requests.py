"""Requests a night costs, per rate-limit bucket, against a loopback hub that enforces quotas.

The loopback hub (`ranker.testing`) answers as the real hub does: every answer carries the
bucket's `RateLimit` / `RateLimit-Policy`, a spent bucket answers 429 (no `Retry-After`), small
files go through the resolve cache (two resolver hits each). The quotas are the hub's scaled
to a short window (default 3 s, `--window`), so the door's pacer really waits for resets:

1. crawl: `--n` candidates (default 3,000; untagged finetunes of the tiny BERT found by the
   model_type listing, half of them another size, a tenth lineage-tagged), anonymous; three
   nights: the first, one with nothing changed, and one where 5% of candidates have a new
   commit (steady state);
2. update: crawl + evaluation of `--models` tiny models (default 40), anonymous;
3. the same world evaluated by 4 shards (`--shards`) in their own processes, one shared token
   (each door `quota_share=1/4`), after one crawl with that token, as the nightly matrix runs.

Each line: requests per bucket (the CDN is not a bucket), 429s and their share of requests,
candidates (or models) left for a rate limit (must be 0), wall time and time spent pacing.

    python bench/bench_requests.py [--n 3000] [--models 40] [--shards 4] [--window 3]
"""

from __future__ import annotations

import argparse
import multiprocessing
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from ranker.hub import Hub
from ranker.store import Store
from ranker.testing.hub import ANONYMOUS, FREE, FakeHub, Quota
from ranker.testing.models import TINY_BERT, TINY_ROBERTA, architectures_toml, fake_model, register

MAX_PARAMS = 10_000_000
TOKEN = "hf_bench_shared"


def scaled(quota: Quota, factor: float, window: float) -> Quota:
    """`quota` with every bucket times `factor` (at least 1), over `window` seconds."""
    return Quota(api=max(1, round(quota.api * factor)),
                 resolvers=max(1, round(quota.resolvers * factor)),
                 pages=max(1, round(quota.pages * factor)), window=window)  # fmt: skip


@dataclass
class Tally:
    """What the hub saw over one measured stretch."""

    buckets: dict[str, int]
    cdn: int
    limited: int
    seconds: float
    waited: float

    @classmethod
    def of(cls, hub: FakeHub, seconds: float, waited: float) -> Tally:
        cdn = hub.counts["GET cdn"] + hub.counts["HEAD cdn"]
        return cls(dict(hub.bucket_counts), cdn, hub.rate_limited, seconds, waited)

    def text(self) -> str:
        total = sum(self.buckets.values())
        share = 100 * self.limited / max(1, total)
        per = ", ".join(f"{b} {self.buckets.get(b, 0)}" for b in ("api", "resolvers", "pages"))
        return (f"{total} requests ({per}; cdn {self.cdn}); 429: {self.limited} "
                f"({share:.2f}%); {self.seconds:.1f} s, {self.waited:.1f} s pacing")  # fmt: skip


def _store(root: Path, specs: tuple = (TINY_BERT,)) -> Store:
    root.mkdir(parents=True)
    (root / "architectures.toml").write_text(architectures_toml(specs), encoding="utf-8")
    return Store(root)


def _pending(store: Store) -> int:
    """Catalogued candidates whose classification still waits (config not read)."""
    return sum(1 for e in store.catalog() if e.status == "unclassified")


# -- 1. the crawl ----------------------------------------------------------------------------


def crawl_nights(n: int, quota: Quota, tmp: Path) -> None:
    from ranker.crawl import crawl

    with FakeHub(quota=quota) as hub:
        register(hub, TINY_BERT.base_id, fake_model(TINY_BERT, params=24_000), model_type="bert")
        same = fake_model(TINY_BERT, params=24_000)
        other = fake_model(TINY_BERT, hidden_size=48, params=30_000)
        ids = [f"synthetic/bert-{i:05d}" for i in range(n)]
        for i, repo in enumerate(ids):
            base = TINY_BERT.base_id if i % 10 == 0 else None
            register(hub, repo, same if i % 2 else other, model_type="bert", base_id=base)
        store = _store(tmp / "crawl")
        for night, label in enumerate(("first", "nothing changed", "5% new commits"), start=1):
            if night == 3:
                for repo in ids[::20]:
                    hub.commit(repo)
            hub.reset_counts()
            door = Hub(endpoint=hub.url, token=False)
            start = time.monotonic()
            summary = crawl(store, door, max_params=MAX_PARAMS, max_configs=10 * n)
            tally = Tally.of(hub, time.monotonic() - start, door.waited)
            print(f"crawl night {night} ({label}): {summary.listed} catalogued, "
                  f"{summary.config_requests} configs read, {_pending(store)} left unclassified; "
                  f"{tally.text()}", flush=True)  # fmt: skip


# -- 2. and 3. the update ---------------------------------------------------------------------


def _world(hub: FakeHub, models: int) -> None:
    """The two tiny bases, `models - 2` finetunes of them (lineage-tagged), and MNLI."""
    from ranker.testing.models import tiny_set
    from ranker.testing.nli import glue_mnli_files

    tiny = tiny_set()
    register(hub, TINY_BERT.base_id, tiny["bert"], model_type="bert")
    register(hub, TINY_ROBERTA.base_id, tiny["roberta"], model_type="roberta")
    for i in range(models - 2):
        kind, base = ("bert", TINY_BERT) if i % 2 else ("roberta", TINY_ROBERTA)
        register(hub, f"org/{kind}-ft-{i:03d}", tiny[f"{kind}-cls"], model_type=kind,
                 base_id=base.base_id)  # fmt: skip
    hub.add_dataset("nyu-mll/glue", glue_mnli_files(train=600, dev=300))


def _evaluate(
    store_dir: Path, url: str, token: str | bool, share: float, tmp: Path,
    shard: tuple[int, int] | None, crawl_first: bool,
) -> tuple[int, int, int, float]:  # fmt: skip
    """One job: (models evaluated, left queued for a rate limit, still queued, seconds paced)."""
    from ranker.crawl import crawl
    from ranker.evaluate.data import load_probe_data
    from ranker.evaluate.run import Options
    from ranker.pipeline import update

    store = Store(store_dir)
    door = Hub(endpoint=url, token=token, quota_share=share)
    out = None if shard is None else tmp / f"shard-{shard[0]}.jsonl"
    summary = update(
        store,
        crawl_step=(lambda: crawl(store, door, max_params=MAX_PARAMS)) if crawl_first else None,
        probe_data=lambda: load_probe_data(None, 300, 150, 0, cache_dir=tmp / "data", hub=door),
        options=Options(
            device="cpu",
            cache_dir=tmp / "cache",
            hub_cache=tmp / "hf",
            max_params=MAX_PARAMS,
            hub=door,
        ),
        shard=shard,
        results_out=out,
    )
    return len(summary.evaluated), len(summary.rate_limited), summary.left, door.waited


def update_run(models: int, quota: Quota, tmp: Path) -> None:
    with FakeHub(quota=quota) as hub:
        _world(hub, models)
        store = _store(tmp / "update", (TINY_BERT, TINY_ROBERTA))
        start = time.monotonic()
        done, limited, left, waited = _evaluate(store.root, hub.url, False, 1.0, tmp / "u",
                                                None, crawl_first=True)  # fmt: skip
        tally = Tally.of(hub, time.monotonic() - start, waited)
        print(f"update, anonymous: evaluated {done} of {models}, {limited} met a rate limit, "
              f"{left} left queued; {tally.text()}", flush=True)  # fmt: skip


def sharded_run(models: int, shards: int, token_quota: Quota, tmp: Path) -> None:
    from ranker.crawl import crawl

    with FakeHub(quota=token_quota, tokens={TOKEN: token_quota}) as hub:
        _world(hub, models)
        store = _store(tmp / "sharded", (TINY_BERT, TINY_ROBERTA))
        start = time.monotonic()
        door = Hub(endpoint=hub.url, token=TOKEN)
        crawl(store, door, max_params=MAX_PARAMS)
        crawled = Tally.of(hub, time.monotonic() - start, door.waited)
        print(f"sharded: crawl with the shared token: {crawled.text()}", flush=True)
        hub.reset_counts()
        start = time.monotonic()
        spawn = multiprocessing.get_context("spawn")  # the server's threads stay here
        with ProcessPoolExecutor(shards, mp_context=spawn) as pool:
            jobs = [
                pool.submit(
                    _evaluate,
                    store.root,
                    hub.url,
                    TOKEN,
                    1 / shards,
                    tmp / f"s{i}",
                    (i, shards),
                    False,
                )
                for i in range(shards)
            ]
            results = [job.result() for job in jobs]
        done = sum(r[0] for r in results)
        limited = sum(r[1] for r in results)
        left = sum(r[2] for r in results)
        tally = Tally.of(hub, time.monotonic() - start, sum(r[3] for r in results))
        print(f"sharded: {shards} shards on one token (quota_share 1/{shards}): evaluated "
              f"{done} of {models} ({', '.join(str(r[0]) for r in results)}), {limited} met "
              f"a rate limit, {left} left queued; {tally.text()} (pacing: all shards)",
              flush=True)  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--n", type=int, default=3000, help="crawl candidates (default 3000)")
    parser.add_argument("--models", type=int, default=40, help="models to evaluate (default 40)")
    parser.add_argument("--shards", type=int, default=4, help="shards on one token (default 4)")
    parser.add_argument("--window", type=float, default=3.0, help="quota window, s (default 3)")
    parser.add_argument(
        "--scale",
        type=float,
        default=0.1,
        help="quota per window as a share of the hub's per 300 s (default 0.1)",
    )
    parser.add_argument("--only", choices=("crawl", "update", "sharded"), action="append")
    args = parser.parse_args()
    from huggingface_hub import constants

    constants.HF_HUB_DISABLE_TELEMETRY = True
    anonymous = scaled(ANONYMOUS, args.scale, args.window)
    # The evaluation sends far fewer requests a second than a crawl: its quotas are scaled
    # down further, so that the shards' shared token is spent and pacing is exercised.
    eval_anonymous = scaled(ANONYMOUS, args.scale / 10, args.window)
    token = scaled(FREE, args.scale / 10, args.window)
    print(f"python {' '.join(sys.argv)}")
    print(f"quotas (api/resolvers/pages per {args.window:g} s): crawl anonymous "
          f"{anonymous.api}/{anonymous.resolvers}/{anonymous.pages}; update anonymous "
          f"{eval_anonymous.api}/{eval_anonymous.resolvers}/{eval_anonymous.pages}; shared "
          f"token {token.api}/{token.resolvers}/{token.pages}", flush=True)  # fmt: skip
    only = set(args.only or ("crawl", "update", "sharded"))
    with tempfile.TemporaryDirectory() as tmp:
        if "crawl" in only:
            crawl_nights(args.n, anonymous, Path(tmp))
        if "update" in only:
            update_run(args.models, eval_anonymous, Path(tmp))
        if "sharded" in only:
            sharded_run(args.models, args.shards, token, Path(tmp))


if __name__ == "__main__":
    main()
