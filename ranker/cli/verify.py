"""`ranker verify`: arguments -> `ranker.verify.verify` -> summary and exit code."""

from __future__ import annotations

import argparse
from pathlib import Path

from ranker import ft_protocol, protocol
from ranker.cli.options import Adder, add_endpoint, parse_duration, parse_shard
from ranker.errors import RankerError

# (flag, argparse keywords, help): declared as data, added by one loop.
FLAGS = (
    ("--architectures", {"nargs": "+", "metavar": "ID"},
     "only these architectures (base ids or slugs; default: all)"),
    ("--top-k", {"type": int, "default": ft_protocol.DEFAULT_TOP_K, "metavar": "K"},
     "per architecture, the first K models of the probe's table order and any other model "
     "ranked at most K (default: %(default)s)"),
    ("--max-units", {"type": int, "metavar": "N"},
     "start at most N units (model, task, seed) (default: no limit)"),
    ("--time-budget", {"metavar": "SECONDS"},
     "start no unit that would end after this long (e.g. 3600, 90m, 4.5h; default: no limit)"),
    ("--executor", {"choices": ("local", "ray"), "default": "local"},
     "where units run: here, one at a time (local), or on a Ray cluster (ray)"),
    ("--ray-address", {"metavar": "ADDR"},
     "with --executor ray: the cluster's address (default: $RAY_ADDRESS, else a local Ray)"),
    ("--workers", {"type": int, "metavar": "N"},
     "with --executor ray: workers (default: one per GPU, else per --cpus-per-worker cores)"),
    ("--cpus-per-worker", {"type": float, "default": 1.0, "metavar": "N"},
     "with --executor ray: CPU cores each worker takes (default: 1)"),
    ("--shard", {"metavar": "I/N"},
     "only the units whose int(sha256(key), 16) %% N == I (0-based)"),
    ("--results-out", {"type": Path, "metavar": "FILE"},
     "write the units' results to FILE (JSON Lines; a rerun skips what it holds) instead of "
     "the store, and write nothing in --data (the target pins must be there: --pin-only)"),
    ("--pin-only", {"action": "store_true"},
     "resolve and write the target tasks' pinned commits, then stop"),
    ("--dry-run", {"action": "store_true"},
     "print the selection and the units that would run; run nothing, write nothing"),
    ("--device", {"choices": ("auto", "cpu", "cuda"), "default": "auto"},
     "where finetuning runs (auto: cuda when there is one)"),
    ("--cache-dir", {"type": Path}, "caches (default: ~/.cache/ranker)"),
    ("--max-params", {"type": int, "default": protocol.DEFAULT_MAX_PARAMS},
     "refuse models with more parameters than this"),
    ("--no-progress", {"action": "store_true"}, "no progress bar"),
    ("--no-token", {"action": "store_true"},
     "send no HF_TOKEN to the hub (jobs that load untrusted weights should run anonymous)"),
    ("--summary-file", {"type": Path}, "also write the run's summary here"),
)  # fmt: skip


def register(add: Adder, common: argparse.ArgumentParser) -> None:
    p = add("verify", help="finetune the probe's leaders on the target suite (protocol ft-1)")
    for flag, keywords, text in FLAGS:
        p.add_argument(flag, help=text, **keywords)
    add_endpoint(p, "hub URL (default: $HF_ENDPOINT, else the hub)")
    p.set_defaults(func=verify_command)


def make_units(args: argparse.Namespace):
    """The executor `--executor` names; the Ray flags only with `--executor ray`."""
    from ranker.executors.units import make_units as make

    given = [f for f, v in (("--ray-address", args.ray_address), ("--workers", args.workers))
             if v is not None]  # fmt: skip
    if args.cpus_per_worker != 1.0:
        given.append("--cpus-per-worker")
    if args.executor != "ray":
        if given:
            raise RankerError(f"{', '.join(given)}: only with --executor ray")
        return make("local")
    return make("ray", address=args.ray_address, workers=args.workers,
                cpus_per_worker=args.cpus_per_worker)  # fmt: skip


def verify_command(args: argparse.Namespace) -> int:
    from ranker.hub import Hub
    from ranker.store import Store

    if args.top_k < 1:
        raise RankerError(f"--top-k: expected at least 1, got {args.top_k}")
    budget = parse_duration(args.time_budget)
    shard = parse_shard(args.shard)
    store = Store(args.data)
    store.check()
    from ranker.cli.update import quota_share

    token = False if args.no_token else None  # --no-token: anonymous, for untrusted weights
    hub = Hub(endpoint=args.endpoint, token=token, quota_share=quota_share(token, shard))
    if args.pin_only:
        return _pin(store, hub)
    if args.dry_run:
        print(dry_run(store, args, shard))
        return 0
    executor = make_units(args)
    summary = _run(store, hub, args, executor, budget, shard)
    text = summary.text() + "\n" + hub.counts_text()
    report = getattr(executor, "report", None)
    if report is not None and report():
        text += "\n" + report()
    if shard is not None or args.results_out is not None:
        where = args.results_out or store.root
        share = f"shard {shard[0]}/{shard[1]}" if shard else "all units"
        text += f"\n{share}: results in {where}"
    print(text)
    if args.summary_file:
        args.summary_file.write_text(text + "\n", encoding="utf-8")
    return 1 if summary.bugs else 0


def _run(store, hub, args: argparse.Namespace, executor, budget, shard):
    from huggingface_hub.utils import disable_progress_bars

    from ranker.cli.cache import cache_dir
    from ranker.evaluate.evaluator import Options
    from ranker.verify import verify

    disable_progress_bars()
    cache = cache_dir(args.cache_dir)
    options = Options(device=args.device, cache_dir=cache, max_params=args.max_params,
                      progress=not args.no_progress, hub_cache=cache / "hub", hub=hub)  # fmt: skip
    return verify(store, options=options, executor=executor, architectures=args.architectures,
                  top_k=args.top_k, max_units=args.max_units, time_budget=budget, shard=shard,
                  results_out=args.results_out, progress=not args.no_progress)  # fmt: skip


def _pin(store, hub) -> int:
    from ranker.verify_files import target_pins

    pins = target_pins(store, hub, write=True)
    for task, pin in sorted(pins.items()):
        print(f"{task}: {pin['repo']}@{pin['revision']}")
    print(f"pins in {store.path(store.TARGET_PINS)}")
    return 0


def dry_run(store, args: argparse.Namespace, shard: tuple[int, int] | None) -> str:
    """The selection per architecture and the units a run would start (nothing is run)."""
    from ranker.verify import VerifySummary, in_shard, pending, select, units_of
    from ranker.verify_files import FinetunesFile

    archs = store.architectures()
    if args.architectures:
        wanted = {store.architecture(a).id for a in args.architectures}
        archs = [a for a in archs if a.id in wanted]
    lines = []
    for x in select(store, archs, top_k=args.top_k):
        if not x.models:
            lines.append(f"{x.architecture.id}: no probe ranks yet")
            continue
        base = f"{x.base[0]}@{x.base[1][:7]}" if x.base else "not catalogued"
        ranked = ", ".join(f"{m} (rank {x.ranks[m]})" for m, _ in x.models)
        lines.append(f"{x.architecture.id}: base {base}; {len(x.models)} models: {ranked}")
    summary = VerifySummary()
    sink = store if args.results_out is None else FinetunesFile(args.results_out)
    queue = pending(store, sink, summary, args.architectures, args.top_k, shard)
    total = sum(in_shard(u.key, shard) for u in units_of(select(store, archs, top_k=args.top_k)))
    lines.append(f"{total} units planned, {summary.skipped} settled, {len(queue)} would run")
    return "\n".join(lines)
