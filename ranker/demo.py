"""`ranker demo`: the whole pipeline, offline, in a minute or two.

Starts the loopback hub with tiny models of two architectures (some good, some broken), a
synthetic MNLI, runs `ranker update` against it and builds the site into a temporary folder.
"""

from __future__ import annotations

import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class DemoReport:
    folder: Path
    store: Path
    site: Path
    text: str
    seconds: float


def run_demo(folder: Path | None = None, *, progress: bool = True) -> DemoReport:
    start = time.monotonic()
    folder = Path(folder or tempfile.mkdtemp(prefix="ranker-demo-"))
    data = folder / "data"
    data.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
    from huggingface_hub.utils import disable_progress_bars

    disable_progress_bars()

    from ranker.build import build_site
    from ranker.crawl import crawl
    from ranker.evaluate.data import load_probe_data
    from ranker.evaluate.run import Options
    from ranker.hub import Hub
    from ranker.pipeline import update
    from ranker.store import Store
    from ranker.testing.hub import FakeHub
    from ranker.testing.models import tiny_set
    from ranker.testing.nli import glue_mnli_files
    from ranker.testing.world import MAX_PARAMS, populate_world, world_toml

    store = Store(data)
    store.write_architectures_text(world_toml())
    with FakeHub() as hub, hub.as_endpoint():
        populate_world(hub, tiny_set(), marker=folder / "evil-pickle-ran")
        hub.corrupt_safetensors("old/bert-untagged")  # a broken model that gets through the crawl
        hub.add_dataset("nyu-mll/glue", glue_mnli_files())
        door = Hub(endpoint=hub.url)
        summary = update(
            store,
            crawl_step=lambda: crawl(store, door, max_params=MAX_PARAMS),
            probe_data=lambda: load_probe_data(
                None, 600, 300, 0, cache_dir=folder / "hf", hub=door
            ),
            options=Options(
                device="cpu",
                cache_dir=folder / "cache",
                hub_cache=folder / "hf",
                max_params=MAX_PARAMS,
                hub=door,
            ),
            progress=progress,
        )
    site = folder / "site"
    build_site(data, site)
    text = summary.text()
    seconds = time.monotonic() - start
    return DemoReport(folder=folder, store=data, site=site, text=text, seconds=seconds)
