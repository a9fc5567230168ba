"""Option shapes and value parsers that several commands share, each written once.

A command module registers its subcommand with these helpers, so a flag that two commands
take (`--arch`, `--endpoint`, `--site-url`, `--max-configs`, ...) has one spelling and one
default here.
"""

from __future__ import annotations

import argparse
import os
import re
from collections.abc import Callable
from pathlib import Path

from ranker.errors import RankerError

DEFAULT_DATA = Path("data")
DEFAULT_SITE = Path("site")
DATA_HELP = "the results store (default: data/)"

# `add("name", parents=[common], help=...)`: the subparsers' add_parser with our formatter.
Adder = Callable[..., argparse.ArgumentParser]


class HelpFormatter(argparse.HelpFormatter):
    """Shows each option's default, unless its help already says it or there is none to show
    (argparse's ArgumentDefaultsHelpFormatter would print "(default: None)")."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        nothing = action.default is None or action.default is False
        if "default" in text or not action.option_strings or nothing:
            return text
        if action.default is argparse.SUPPRESS:
            return text
        return f"{text} (default: %(default)s)"


def short_number(n: int) -> str:
    """`1e9` for 1_000_000_000: how help texts write a round default."""
    mantissa, exponent = f"{n:.0e}".split("e")
    return f"{mantissa}e{int(exponent)}" if float(f"{n:.0e}") == n else str(n)


def add_arch(p: argparse.ArgumentParser, help: str) -> None:
    p.add_argument("--arch", action="append", help=help)


def add_endpoint(p: argparse.ArgumentParser, help: str) -> None:
    p.add_argument("--endpoint", help=help)


def add_site_url(p: argparse.ArgumentParser, help: str) -> None:
    p.add_argument("--site-url", help=help)


def add_out(p: argparse.ArgumentParser, help: str) -> None:
    p.add_argument("--out", type=Path, default=DEFAULT_SITE, help=help)


def add_max_configs(p: argparse.ArgumentParser, help: str) -> None:
    """`--max-configs`, defaulting to the crawl's own default (`ranker.crawl`)."""
    from ranker.crawl import DEFAULT_MAX_CONFIGS

    p.add_argument(
        "--max-configs",
        type=int,
        default=DEFAULT_MAX_CONFIGS,
        metavar="N",
        help=f"{help} (default: {DEFAULT_MAX_CONFIGS})",
    )


def add_file(p: argparse.ArgumentParser, flag: str, help: str, metavar: str = "FILE") -> None:
    """An optional path (`--plan PLAN`, `--export FILE`, ...)."""
    p.add_argument(flag, type=Path, metavar=metavar, help=help)


def site_url(given: str | None) -> str | None:
    """`--site-url`, else `$RANKER_SITE_URL`, else none."""
    return given or os.environ.get("RANKER_SITE_URL") or None


def add_repo_url(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--repo-url",
        metavar="URL",
        help="the site's source repository (https), linked with its evaluation-request form "
        "(default: $RANKER_REPO_URL, else $GITHUB_SERVER_URL/$GITHUB_REPOSITORY; none: the "
        "pages say where requests go in words)",
    )


def repo_url(given: str | None) -> str | None:
    """`--repo-url`, else `$RANKER_REPO_URL`, else the repository GitHub Actions names; checked
    (https) here so that a bad one stops the command before any work."""
    from ranker.build.links import check_repo_url, repo_url_from

    url = given or repo_url_from(os.environ)
    return check_repo_url(url) if url else None


def parse_duration(text: str | None) -> float | None:
    """Seconds from '3600', '3600s', '90m' or '4.5h'."""
    if text is None:
        return None
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smh]?)\s*", text)
    if not match:
        raise RankerError(f"--time-budget: expected seconds or a number with s, m or h: {text!r}")
    return float(match.group(1)) * {"": 1, "s": 1, "m": 60, "h": 3600}[match.group(2)]


def parse_shard(text: str | None) -> tuple[int, int] | None:
    """(i, n) from 'i/n', 0 <= i < n."""
    if text is None:
        return None
    match = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", text)
    if not match or not 0 <= int(match.group(1)) < int(match.group(2)):
        raise RankerError(f"--shard: expected I/N with 0 <= I < N (e.g. 0/3): {text!r}")
    return int(match.group(1)), int(match.group(2))
