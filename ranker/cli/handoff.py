"""`ranker handoff save | take | merge DIR`: the store's files that the nightly's crawl stage
hands to its shards and its merge (`scripts/nightly.sh`), so that the script names no file of
the store itself.

DIR is a store folder outside `data/` (the jobs pass it on as an artifact). What `take` and
`merge` read from it is another job's output: links are refused, never followed, and the copy
is byte for byte, as the store wrote it.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ranker.cli.options import Adder, HelpFormatter
from ranker.errors import RankerError


def register(add: Adder, common: argparse.ArgumentParser) -> None:
    p = add(
        "handoff",
        parents=[],  # --data after the action
        help="the files the nightly's crawl stage hands to its shards and merge (nightly.sh)",
    )
    sub = p.add_subparsers(dest="handoff_command", required=True, metavar="ACTION")
    actions = (
        ("save", save_command, "copy the store's catalog, results, MNLI pin, requests and "
         "crawl state into DIR (the crawl stage)"),
        ("take", take_command, "copy DIR's files into the store, its results folder whole "
         "(a shard)"),
        ("merge", merge_command, "merge DIR's catalog and results into the store by key, take "
         "its MNLI pin when the store has none and its crawl state (the merge); prints the "
         "catalog's merge"),
    )  # fmt: skip
    for name, func, text in actions:
        s = sub.add_parser(name, parents=[common], formatter_class=HelpFormatter, help=text)
        s.add_argument("folder", type=Path, metavar="DIR", help="the hand-off's store folder")
        s.set_defaults(func=func)


def save_command(args: argparse.Namespace) -> int:
    from ranker.store.handoff import save_handoff

    failed = save_handoff(Path(args.data), args.folder)
    for why in failed:
        print(f"ranker handoff: {why}", file=sys.stderr)
    return 1 if failed else 0


def take_command(args: argparse.Namespace) -> int:
    from ranker.store.handoff import take_handoff

    take_handoff(Path(args.data), args.folder)  # HandoffRefused (exit 2): the stage stops
    return 0


def merge_command(args: argparse.Namespace) -> int:
    """The crawl's files into the store by key (never copied over whole: the store may be a
    newer main than the crawl started from)."""
    from ranker.store import Store
    from ranker.store.handoff import handoff_inputs, take_handoff_state

    store = Store(args.data)
    catalog, files = handoff_inputs(args.folder)  # HandoffRefused (exit 2) at a link
    failed = False
    if catalog is not None:
        failed |= _merge_report(store, [], catalog, show=True)
    if files:
        failed |= _merge_report(store, files, None, show=False)
    not_copied = take_handoff_state(store.root, args.folder)
    for why in not_copied:
        print(f"ranker handoff: {why}", file=sys.stderr)
    return 1 if failed or not_copied else 0


def _merge_report(store, files: list[Path], catalog: Path | None, *, show: bool) -> bool:
    """As `ranker merge [--catalog CATALOG] FILE...`; True when a file was refused."""
    from ranker.merge import merge_files, merge_other

    try:
        others = [merge_other(store, catalog, "catalog")] if catalog is not None else []
        report = merge_files(store, files)
    except RankerError as exc:
        print(f"ranker handoff: error: {exc}", file=sys.stderr)
        return True
    report.files[:0] = others
    for refused in report.refused:
        print(f"ranker merge: refused {refused.path}: {refused.error}", file=sys.stderr)
    if show:
        print(report.text(), flush=True)
    return bool(report.refused)
