"""`ranker compact`: rewrite the results files sorted, without superseded lines."""

from __future__ import annotations

import argparse

from ranker.cli.options import Adder


def register(add: Adder, common: argparse.ArgumentParser) -> None:
    p = add(
        "compact",
        help="rewrite the results files sorted, without superseded lines (before a commit)",
    )
    p.set_defaults(func=compact_command)


def compact_command(args: argparse.Namespace) -> int:
    from ranker.store import Store

    changed = Store(args.data).compact()
    print(f"compact: {changed} results file(s) rewritten" if changed else "compact: nothing to do")
    return 0
