"""`ranker plan` and `ranker merge`: which shard may evaluate which model, and folding the
shards' files (and another copy's catalog and requests, and `ranker verify`'s unit files and
target-task pins) into the store."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from ranker.cli.options import Adder, add_arch, add_file

if TYPE_CHECKING:
    from ranker.store import Store


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
    p.add_argument(
        "--finetunes", nargs="+", type=Path, default=[], metavar="FILE",
        help="unit files of ranker verify (--results-out): JSON Lines of finetuning results, "
        "folded into the store's by key; a file with any bad line is refused whole",
    )  # fmt: skip
    add_file(
        p, "--pins",
        help="the target tasks' pins of the plan (ranker verify --pin-only): taken when the "
        "store has none, refused when it pins another commit",
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
    from ranker.store import Store

    store = Store(args.data)
    results = bool(args.files or args.catalog or args.requests)
    if not (results or args.finetunes or args.pins):
        raise StoreError(store.root, "ranker merge: nothing to merge (FILE, --catalog, "
                         "--requests, --finetunes, --pins)")  # fmt: skip
    code = merge_finetunes_command(store, args) if args.finetunes or args.pins else 0
    return max(code, merge_results_command(store, args)) if results else code


def merge_results_command(store: Store, args: argparse.Namespace) -> int:
    """FILE, `--catalog`, `--requests`: 1 when a file was refused."""
    from ranker.merge import merge_files, merge_other, read_plan

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


def merge_finetunes_command(store: Store, args: argparse.Namespace) -> int:
    """`--pins` then `--finetunes`: 1 when a file was refused (a refused pin stops both)."""
    from ranker.merge import merge_finetune_files, take_pins

    store.check()
    if args.pins is not None:
        took = take_pins(store, args.pins)
        print(f"{args.pins}: {'pinned the target tasks' if took else 'the same pins'}")
    if not args.finetunes:
        return 0
    merged = merge_finetune_files(store, args.finetunes)
    for refused in merged.refused:
        print(f"ranker merge: refused {refused.path}: {refused.error}", file=sys.stderr)
    print(merged.text())
    return 1 if merged.refused else 0
