"""The `ranker` command: thin argument parsing that calls the stages.

Every expected failure is a `RankerError`; it is turned into one line on stderr and a non-zero
exit code here, in one place. Stage modules are imported lazily so that `ranker build` never
imports torch.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from ranker.errors import RankerError

DEFAULT_DATA = Path("data")
DEFAULT_SITE = Path("site")


def _cmd_build(args: argparse.Namespace) -> int:
    from ranker.build import build_site

    report = build_site(args.data, args.out)
    print(f"built {report.pages} pages for {report.models} models in {report.out}")
    return 0


def _cmd_import_legacy(args: argparse.Namespace) -> int:
    from ranker.legacy import import_legacy

    report = import_legacy(args.source, args.data)
    print(report.summary())
    return 0


def _cmd_evaluate(args: argparse.Namespace) -> int:
    from ranker.evaluate.cli import evaluate_command

    return evaluate_command(args)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ranker", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--data", type=Path, default=DEFAULT_DATA, help="the results store (default: data/)"
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("build", help="render the static site from the store")
    p.add_argument("--out", type=Path, default=DEFAULT_SITE, help="output folder (default: site/)")
    p.set_defaults(func=_cmd_build)

    p = sub.add_parser(
        "import-legacy", help="import IBM's published 2023 model-recycling results into the store"
    )
    p.add_argument("source", type=Path, help="folder holding models_tested.csv and the baselines")
    p.set_defaults(func=_cmd_import_legacy)

    p = sub.add_parser(
        "evaluate", help="score models with the MNLI linear probe; store the records"
    )
    from ranker.evaluate.options import add_arguments

    add_arguments(p)
    p.set_defaults(func=_cmd_evaluate)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except RankerError as exc:
        print(f"ranker {args.command}: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print(f"ranker {args.command}: interrupted", file=sys.stderr)
        return 130
