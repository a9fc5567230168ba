"""`ranker update`: arguments -> `ranker.pipeline.update` -> summary, build, exit code."""

from __future__ import annotations

import argparse
import os
import re
from pathlib import Path

from ranker.errors import RankerError
from ranker.store import Store


def parse_duration(text: str | None) -> float | None:
    """Seconds from '3600', '3600s', '90m' or '4.5h'."""
    if text is None:
        return None
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smh]?)\s*", text)
    if not match:
        raise RankerError(f"--time-budget: expected seconds or a number with s, m or h: {text!r}")
    return float(match.group(1)) * {"": 1, "s": 1, "m": 60, "h": 3600}[match.group(2)]


def parse_shard(text: str | None) -> tuple[int, int] | None:
    """(i, n) from 'i/n', 0 <= i < n."""
    if text is None:
        return None
    match = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", text)
    if not match or not 0 <= int(match.group(1)) < int(match.group(2)):
        raise RankerError(f"--shard: expected I/N with 0 <= I < N (e.g. 0/3): {text!r}")
    return int(match.group(1)), int(match.group(2))


def make_executor(args: argparse.Namespace):
    """The executor `--executor` names, with its options; theirs only with `--executor ray`."""
    from ranker.executors import make_executor as make

    name = getattr(args, "executor", "local")
    ray_only = {"--address": getattr(args, "address", None),
                "--workers": getattr(args, "workers", None)}  # fmt: skip
    if getattr(args, "cpus_per_worker", 1.0) != 1.0:
        ray_only["--cpus-per-worker"] = args.cpus_per_worker
    if name != "ray":
        given = [flag for flag, value in ray_only.items() if value is not None]
        if given:
            raise RankerError(f"{', '.join(given)}: only with --executor ray")
        return make(name)
    return make(name, address=args.address, workers=args.workers,
                cpus_per_worker=args.cpus_per_worker)  # fmt: skip


def update_command(args: argparse.Namespace) -> int:
    from huggingface_hub.utils import disable_progress_bars

    from ranker.evaluate.data import load_probe_data
    from ranker.evaluate.run import DEFAULT_CACHE, Options
    from ranker.hub import Hub
    from ranker.pipeline import update

    disable_progress_bars()  # one progress bar, ours, rather than one per download
    budget = parse_duration(args.time_budget)
    shard = parse_shard(getattr(args, "shard", None))
    results_out = getattr(args, "results_out", None)
    executor = make_executor(args)
    store = Store(args.data)
    store.check()
    cache = Path(args.cache_dir or os.environ.get("RANKER_CACHE") or DEFAULT_CACHE)
    # The run's one door: crawl, models and MNLI alike. `--no-token`: anonymous (no
    # Authorization header), for jobs that load untrusted weights; public models need none.
    token = False if getattr(args, "no_token", False) else None
    hub = Hub(endpoint=args.endpoint, token=token, quota_share=quota_share(token, shard))

    def crawl_step():
        from ranker.crawl import CrawlStopped, crawl

        try:
            summary = crawl(
                store,
                hub,
                architectures=args.arch,
                max_params=args.max_params,
                max_configs=args.max_configs,
            )
        except CrawlStopped as exc:  # what it learned is written: say what, then stop
            print(exc.summary.text(), flush=True)
            raise
        print(summary.text(), flush=True)
        return summary

    def probe_data():
        revision = None
        if args.probe_data is None and results_out is not None:
            revision = store.mnli_revision()  # read, never written, in this mode
            if revision is None:
                raise RankerError(
                    f"--results-out: the store {store.root} has no MNLI pin ({store.PROBE_PIN}) "
                    "and this mode writes nothing there: run `ranker update` once without "
                    "--results-out (or give --probe-data)"
                )
        elif args.probe_data is None:
            revision = pinned_mnli_revision(store, hub)
        return load_probe_data(
            args.probe_data,
            args.train_size,
            args.eval_size,
            args.seed,
            eval_file=args.eval_data,
            cache_dir=cache / "data",
            hub=hub,
            mnli_revision=revision,
        )

    matrix = results_out is not None  # the store is only read: no crawl, no build
    summary = update(
        store,
        crawl_step=None if args.no_crawl or matrix else crawl_step,
        probe_data=probe_data,
        options=Options(
            device=args.device,
            cache_dir=cache,
            max_params=args.max_params,
            progress=not args.no_progress,
            hub_cache=cache / "hub",
            hub=hub,
        ),
        max_models=args.max_models,
        time_budget=budget,
        force=args.force,
        architectures=args.arch,
        progress=not args.no_progress,
        executor=executor,
        shard=shard,
        results_out=results_out,
    )
    text = summary.text() + "\n" + hub.counts_text()
    report = getattr(executor, "report", None)
    if report is not None and report():
        text += "\n" + report()
    if shard is not None or matrix:
        where = f"results in {results_out}" if matrix else f"results in {store.root}"
        share = f"shard {shard[0]}/{shard[1]}" if shard is not None else "all models"
        text += f"\n{share}: {where}"
    if not args.no_build and not matrix:
        from ranker.build import build_site

        report = build_site(store.root, args.out, site_url=args.site_url)
        text += f"\nbuilt {report.pages} pages for {report.models} models in {report.out}"
    print(text)
    if args.summary_file:
        args.summary_file.write_text(text + "\n", encoding="utf-8")
    crawl_failed = summary.crawl is not None and bool(summary.crawl.failed)
    return 1 if crawl_failed or summary.bugs or summary.lost else 0


def quota_share(token: str | bool | None, shard: tuple[int, int] | None) -> float:
    """The share of the hub's quota window this run may spend: 1/N for a shard of N that sends
    the run's token (the quota is the token's user's, shared by every shard); 1 when anonymous
    (each runner has its own per-IP quota) or unsharded."""
    from huggingface_hub import get_token

    if shard is None or token is False or get_token() is None:
        return 1.0
    return 1.0 / shard[1]


def pinned_mnli_revision(store: Store, hub) -> str:
    """The MNLI commit every run reads: the store's pin, set once from the hub's `main`.

    Pinning on first use (and committing the pin with `data/`) keeps every later run, on any
    machine, on the same commit; a new MNLI commit is taken only by editing the pin, which is
    a protocol change.
    """
    from ranker import protocol
    from ranker.errors import HubFailure, StoreError

    pin = store.mnli_revision()
    if pin is None:
        try:
            pin = hub.ref(protocol.MNLI_REPO, "dataset").sha
        except HubFailure as exc:
            raise StoreError(protocol.MNLI_REPO, f"cannot download MNLI: {exc}") from None
        store.write_mnli_revision(pin)
        print(f"pinned {protocol.MNLI_REPO} at {pin} (data/{store.PROBE_PIN})", flush=True)
    return pin
