"""`ranker update`: arguments -> `ranker.pipeline.update` -> summary, build, exit code."""

from __future__ import annotations

import argparse
from pathlib import Path

from ranker.cli.options import (
    Adder,
    add_arch,
    add_endpoint,
    add_max_configs,
    add_out,
    add_site_url,
    parse_duration,
    parse_shard,
)
from ranker.cli.probe_options import add_run_arguments
from ranker.errors import RankerError


def register(add: Adder, common: argparse.ArgumentParser) -> None:
    p = add(
        "update",
        help="crawl, evaluate what is new or changed (bounded), and build the site",
    )
    add_run_arguments(p)
    add_arch(p, "only this architecture (repeatable; default: all)")
    p.add_argument(
        "--max-models", type=int, help="evaluate at most this many models (default: no limit)"
    )
    p.add_argument(
        "--time-budget",
        help="stop starting new models after this long (e.g. 3600, 90m, 4.5h; default: no limit)",
    )
    p.add_argument("--force", action="store_true", help="re-evaluate models already scored")
    add_endpoint(p, "hub URL (default: $HF_ENDPOINT, else the hub)")
    add_max_configs(p, "crawl: read at most N config.json files this run")
    p.add_argument("--no-crawl", action="store_true", help="evaluate the current catalog only")
    add_out(p, "site folder (default: site/)")
    p.add_argument("--no-build", action="store_true", help="do not build the site")
    add_site_url(p, "public URL of the site, for badge snippets (default: $RANKER_SITE_URL)")
    p.add_argument("--summary-file", type=Path, help="also write the run's summary here")
    _add_groups(p)
    p.set_defaults(func=update_command)


# (flag, argparse keywords, help) of each option group: declared as data, added by one loop.
SCALE_OUT = (
    ("--executor", {"choices": ("local", "ray"), "default": "local"},
     "where models are evaluated: here, one at a time (local, the default), or on a Ray "
     "cluster (ray)"),
    ("--address", {"metavar": "ADDR"},
     "with --executor ray: the cluster's address, host:port (default: $RAY_ADDRESS, else a "
     "Ray started on this machine)"),
    ("--workers", {"type": int, "metavar": "N"},
     "with --executor ray: number of workers (default: one per GPU of the cluster, else one "
     "per --cpus-per-worker cores)"),
    ("--cpus-per-worker", {"type": float, "default": 1.0, "metavar": "N"},
     "with --executor ray: CPU cores each worker takes (default: 1)"),
)  # fmt: skip
MATRIX = (
    ("--shard", {"metavar": "I/N"},
     "evaluate only this share of the queue: the models whose int(sha256(model_id), 16) %% N "
     "== I (0-based: 0/3, 1/3, 2/3)"),
    ("--results-out", {"type": Path, "metavar": "FILE"},
     "write the results to FILE (JSON Lines, one EvalResult a line; a rerun keeps and skips "
     "what FILE holds) instead of the store, and write nothing in --data: no crawl, no build, "
     "no MNLI pin (the store must have one, or give --probe-data)"),
)  # fmt: skip


def _add_groups(p: argparse.ArgumentParser) -> None:
    groups = (
        ("scale out", SCALE_OUT,
         "Run the queue on a Ray cluster (pip install -e '.[ray]'): this process crawls, queues "
         "and alone writes the store; one long-lived worker per GPU (or per --cpus-per-worker "
         "cores) evaluates model after model; a model lost with its node is retried elsewhere."),
        ("matrix mode", MATRIX,
         "Split the queue over several machines (e.g. a CI matrix), each writing its own file."),
    )  # fmt: skip
    for title, options, description in groups:
        group = p.add_argument_group(title, description)
        for flag, keywords, text in options:
            group.add_argument(flag, help=text, **keywords)


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

    from ranker.cli.update_steps import UpdateRun

    disable_progress_bars()  # one progress bar, ours, rather than one per download
    budget = parse_duration(args.time_budget)
    shard = parse_shard(getattr(args, "shard", None))
    run = UpdateRun(args, shard=shard, executor=make_executor(args))
    summary = run.update(budget)
    text = run.report(summary)
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
