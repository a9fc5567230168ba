"""The `ranker` command: thin argument parsing that calls the stages.

One module per command registers its subcommand and runs it (`register`, `*_command`);
argparse lives only in this package. Every expected failure is a `RankerError`; it is turned
into one line on stderr and its exit code here, in one place. Stage modules are imported
lazily, inside the commands, so that `ranker build` never imports torch.
"""

from __future__ import annotations

import argparse
import functools
import sys
from collections.abc import Sequence
from pathlib import Path

from ranker.cli import (
    build,
    compact,
    crawl,
    demo,
    evaluate,
    handoff,
    legacy,
    merge,
    mnli,
    request,
    update,
    verify,
)
from ranker.cli.options import DATA_HELP, DEFAULT_DATA, HelpFormatter
from ranker.errors import RankerError

# In the order `ranker --help` lists them.
COMMANDS = (build, crawl, legacy, evaluate, update, verify, merge, compact, demo, request, mnli,
            handoff)  # fmt: skip


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ranker",
        description="Rank hub models by their value as a finetuning start.",
        formatter_class=HelpFormatter,
    )
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help=DATA_HELP)
    # also accepted after the subcommand; SUPPRESS keeps the top-level value when absent there
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--data", type=Path, default=argparse.SUPPRESS, help=DATA_HELP)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    # a command takes --data after its name too, unless it passes parents=[] (demo, request)
    add = functools.partial(sub.add_parser, formatter_class=HelpFormatter, parents=[common])
    for command in COMMANDS:
        command.register(add, common)
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
