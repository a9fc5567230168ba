"""`ranker crawl`: list each architecture's models on the hub and update the catalog."""

from __future__ import annotations

import argparse

from ranker import protocol
from ranker.cli.options import Adder, add_arch, add_endpoint, add_max_configs, short_number


def register(add: Adder, common: argparse.ArgumentParser) -> None:
    p = add(
        "crawl",
        help="list each architecture's models on the hub and update the catalog",
    )
    add_arch(p, "crawl only this architecture (repeatable; default: all)")
    p.add_argument(
        "--max-params",
        type=int,
        default=protocol.DEFAULT_MAX_PARAMS,
        help="exclude models with more parameters than this "
        f"(default: {short_number(protocol.DEFAULT_MAX_PARAMS)})",
    )
    add_endpoint(p, "hub URL (default: $HF_ENDPOINT, else https://huggingface.co)")
    add_max_configs(
        p, "read at most N config.json files this run; the rest stay unclassified until the "
        "next run",
    )  # fmt: skip
    p.add_argument(
        "--time-budget", metavar="DURATION",
        help="send no request after this long (e.g. 45m); what is left waits for the next run",
    )  # fmt: skip
    p.set_defaults(func=crawl_command)


def crawl_command(args: argparse.Namespace) -> int:
    from ranker.cli.options import parse_duration
    from ranker.crawl import CrawlStopped, crawl
    from ranker.hub import Hub
    from ranker.store import Store

    store = Store(args.data)
    hub = Hub(endpoint=args.endpoint)
    try:
        summary = crawl(
            store,
            hub,
            architectures=args.arch,
            max_params=args.max_params,
            max_configs=args.max_configs,
            time_budget=parse_duration(args.time_budget),
        )
    except CrawlStopped as exc:  # what it learned is written: say what, then the one line
        print(exc.summary.text() + "\n" + hub.counts_text())
        raise
    print(summary.text() + "\n" + hub.counts_text())
    return 1 if summary.failed else 0
