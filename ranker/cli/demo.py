"""`ranker demo`: the whole pipeline against a loopback hub of tiny models (offline)."""

from __future__ import annotations

import argparse
from pathlib import Path

from ranker.cli.options import Adder


def register(add: Adder, common: argparse.ArgumentParser) -> None:
    p = add(
        "demo",
        parents=[],
        help="run the whole pipeline against a loopback hub of tiny models (offline)",
    )
    p.add_argument("--folder", type=Path, help="where to put the demo (default: a temp folder)")
    p.set_defaults(func=demo_command)


def demo_command(args: argparse.Namespace) -> int:
    from ranker.demo import run_demo

    report = run_demo(args.folder)
    print(report.text)
    print(f"demo finished in {report.seconds:.0f} s; store: {report.store}")
    print(f"open the site: {(report.site / 'index.html').resolve().as_uri()}")
    return 0
