"""Requests a night costs against the loopback hub (which answers as the real hub does).

Two measurements, each over two nights (the second with nothing changed on the hub):

1. crawl only, over the test world plus N synthetic candidates (untagged finetunes found by the
   model_type listing, half of them other sizes; a tenth lineage-tagged): requests by route;
2. a whole `update` over the test world (crawl + evaluation of every catalogued model):
   requests by route and per evaluated model.

    python bench/bench_requests.py [--n 1000]
"""

from __future__ import annotations

import argparse
import tempfile
from collections import Counter
from pathlib import Path

from ranker.crawl import crawl
from ranker.evaluate.data import load_probe_data
from ranker.evaluate.run import Options
from ranker.hub import Hub
from ranker.pipeline import update
from ranker.store import Store
from ranker.testing.hub import FakeHub
from ranker.testing.models import TINY_BERT, fake_model, register, tiny_set
from ranker.testing.nli import glue_mnli_files
from ranker.testing.world import MAX_PARAMS, populate_world, world_toml


def _store(root: Path) -> Store:
    root.mkdir(parents=True)
    (root / "architectures.toml").write_text(world_toml(), encoding="utf-8")
    return Store(root)


def _routes(hub: FakeHub) -> str:
    counts = Counter(hub.counts)
    return ", ".join(f"{route} {n}" for route, n in sorted(counts.items()))


def crawl_nights(n: int, tmp: Path) -> None:
    with FakeHub(page_size=1000) as hub:
        populate_world(hub, tiny_set(), page_size=1000, marker=tmp / "marker")
        same, other = (
            fake_model(TINY_BERT, params=24_000),
            fake_model(TINY_BERT, hidden_size=48, params=30_000),
        )
        for i in range(n):
            files = same if i % 2 == 0 else other
            base = TINY_BERT.base_id if i % 10 == 0 else None
            register(hub, f"synthetic/bert-{i:05d}", files, model_type="bert", base_id=base)
        store = _store(tmp / "crawl")
        for night in (1, 2):
            hub.reset_counts()
            summary = crawl(store, Hub(endpoint=hub.url), max_params=MAX_PARAMS,
                            max_configs=10 * n + 100)  # fmt: skip
            total = sum(hub.counts.values())
            configs = summary.config_requests
            print(f"crawl night {night}: {summary.listed} catalogued of {n} synthetic + world; "
                  f"{configs} configs read; {total} requests ({_routes(hub)})")  # fmt: skip


def update_nights(tmp: Path) -> None:
    with FakeHub() as hub:
        populate_world(hub, tiny_set(), marker=tmp / "marker")
        hub.add_dataset("nyu-mll/glue", glue_mnli_files(train=600, dev=300))
        store = _store(tmp / "update")
        for night in (1, 2):
            hub.reset_counts()
            door = Hub(endpoint=hub.url)
            summary = update(
                store,
                crawl_step=lambda door=door: crawl(store, door, max_params=MAX_PARAMS),
                probe_data=lambda door=door: load_probe_data(
                    None, 300, 150, 0, cache_dir=tmp / "data", hub=door
                ),
                options=Options(
                    device="cpu",
                    cache_dir=tmp / "cache",
                    hub_cache=tmp / "hf",
                    max_params=MAX_PARAMS,
                    hub=door,
                ),
            )
            total = sum(hub.counts.values())
            listing = hub.counts["GET /api/models"]
            per_model = (total - listing) / max(1, len(summary.evaluated))
            print(f"update night {night}: evaluated {len(summary.evaluated)}, "
                  f"{summary.crawl.config_requests} configs read, {total} requests "
                  f"({listing} listing pages; {per_model:.1f} other requests per evaluated "
                  f"model); {_routes(hub)}")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=1000, help="synthetic candidates (default 1000)")
    args = parser.parse_args()
    from huggingface_hub import constants

    constants.HF_HUB_DISABLE_TELEMETRY = True
    with tempfile.TemporaryDirectory() as tmp:
        crawl_nights(args.n, Path(tmp))
        update_nights(Path(tmp))


if __name__ == "__main__":
    main()
