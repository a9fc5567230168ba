"""`ranker plan` and `ranker merge`: which shard may evaluate which model, and folding the
shards' files (and another copy's catalog and requests) into the store."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ranker.cli.options import Adder, add_arch, add_file


def register(add: Adder, common: argparse.ArgumentParser) -> None:
    p = add(
        "merge",
        help="fold shard result files (ranker update --results-out) into the store's results",
    )
    p.add_argument(
        "files", nargs="*", type=Path, metavar="FILE",
        help="shard results (ranker update --results-out): JSON Lines of evaluation results; "
        "a file with any bad line is refused whole",
    )  # fmt: skip
    add_file(
        p, "--plan", metavar="PLAN",
        help="the shards' plan (ranker plan): accept from shard-<I>.jsonl only the models "
        "it gave shard I",
    )  # fmt: skip
    add_file(
        p, "--catalog",
        help="another copy's catalog (the night's crawl): merged by model id, the entry "
        "seen later wins",
    )  # fmt: skip
    add_file(
        p, "--requests",
        help="another copy's evaluation requests: merged by (issue, model), a reply is kept",
    )  # fmt: skip
    p.set_defaults(func=merge_command)
    register_plan(add, common)


def register_plan(add: Adder, common: argparse.ArgumentParser) -> None:
    p = add(
        "plan",
        help="write which shard may evaluate which model, before the shards run (for merge)",
    )
    p.add_argument("--shards", type=int, required=True, metavar="N", help="how many shards")
    p.add_argument(
        "--max-models", type=int, metavar="M",
        help="each shard's first M models only (as its ranker update --max-models M)",
    )  # fmt: skip
    add_arch(p, "only this architecture (repeatable; default: all)")
    p.add_argument("--force", action="store_true", help="as ranker update --force")
    p.add_argument("--out", type=Path, required=True, help="where to write the plan (JSON)")
    p.set_defaults(func=plan_command)


def plan_command(args: argparse.Namespace) -> int:
    from ranker.merge import make_plan, write_plan
    from ranker.store import Store

    store = Store(args.data)
    store.check()
    plan = make_plan(
        store, args.shards, max_models=args.max_models, architectures=args.arch,
        force=args.force,
    )  # fmt: skip
    write_plan(plan, args.out)
    counts = [0] * plan.shards
    for a in plan.models.values():
        counts[a.shard] += 1
    print(f"plan: {len(plan.models)} models in {plan.shards} shards "
          f"({', '.join(map(str, counts))}) -> {args.out}")  # fmt: skip
    return 0


def merge_command(args: argparse.Namespace) -> int:
    from ranker.errors import StoreError
    from ranker.merge import merge_files, merge_other, read_plan
    from ranker.store import Store

    store = Store(args.data)
    if not (args.files or args.catalog or args.requests):
        raise StoreError(store.root, "ranker merge: nothing to merge (FILE, --catalog, --requests)")
    plan = read_plan(args.plan) if args.plan is not None else None
    store.check()
    others = [merge_other(store, p, k) for p, k in ((args.catalog, "catalog"),
              (args.requests, "requests")) if p is not None]  # fmt: skip
    report = merge_files(store, args.files, plan=plan)
    report.files[:0] = others
    for refused in report.refused:
        print(f"ranker merge: refused {refused.path}: {refused.error}", file=sys.stderr)
    print(report.text())
    return 1 if report.refused else 0
