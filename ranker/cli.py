"""The `ranker` command: thin argument parsing that calls the stages.

Every expected failure is a `RankerError`; it is turned into one line on stderr and a non-zero
exit code here, in one place. Stage modules are imported lazily so that `ranker build` never
imports torch.
"""

from __future__ import annotations

import argparse
import functools
import sys
from collections.abc import Sequence
from pathlib import Path

from ranker.errors import RankerError

DEFAULT_DATA = Path("data")
DEFAULT_SITE = Path("site")


def _cmd_build(args: argparse.Namespace) -> int:
    from ranker.build import build_site

    report = build_site(args.data, args.out, site_url=args.site_url)
    print(f"built {report.pages} pages for {report.models} models in {report.out}")
    return 0


def _cmd_crawl(args: argparse.Namespace) -> int:
    from ranker.crawl import CrawlStopped, crawl
    from ranker.hub import Hub
    from ranker.store import Store
    from ranker.update_cli import parse_duration

    store = Store(args.data)
    hub = Hub(endpoint=args.endpoint)
    try:
        summary = crawl(
            store,
            hub,
            architectures=args.arch,
            max_params=args.max_params,
            max_configs=args.max_configs,
            time_budget=parse_duration(args.time_budget),
        )
    except CrawlStopped as exc:  # what it learned is written: say what, then the one line
        print(exc.summary.text() + "\n" + hub.counts_text())
        raise
    print(summary.text() + "\n" + hub.counts_text())
    return 1 if summary.failed else 0


def _cmd_import_legacy(args: argparse.Namespace) -> int:
    from ranker.legacy import import_legacy

    report = import_legacy(args.source, args.data)
    print(report.summary())
    return 0


def _cmd_evaluate(args: argparse.Namespace) -> int:
    from ranker.evaluate.cli import evaluate_command

    return evaluate_command(args)


def _cmd_update(args: argparse.Namespace) -> int:
    from ranker.update_cli import update_command

    return update_command(args)


def _cmd_merge(args: argparse.Namespace) -> int:
    from ranker.merge import merge_command

    return merge_command(args)


def _cmd_plan(args: argparse.Namespace) -> int:
    from ranker.merge import plan_command

    return plan_command(args)


def _cmd_compact(args: argparse.Namespace) -> int:
    from ranker.store import Store

    changed = Store(args.data).compact()
    print(f"compact: {changed} results file(s) rewritten" if changed else "compact: nothing to do")
    return 0


def _cmd_request(args: argparse.Namespace) -> int:
    from ranker.requests import request_command

    return request_command(args)


def _cmd_demo(args: argparse.Namespace) -> int:
    from ranker.demo import run_demo

    report = run_demo(args.folder)
    print(report.text)
    print(f"demo finished in {report.seconds:.0f} s; store: {report.folder / 'data'}")
    print(f"open the site: {(report.site / 'index.html').resolve().as_uri()}")
    return 0


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


# Help for the probe's options (`ranker.evaluate.options`), shown by `evaluate` and `update`.
RUN_HELP: dict[str, str] = {
    "train_size": "probe training pairs, a stratified sample of the training split, drawn "
    "with --seed",
    "eval_size": "evaluation pairs, a fixed stratified sample of the evaluation split (the "
    "same for every run and model)",
    "seed": "seed of the training sample and of the probe's fit",
    "device": "where the forward pass runs (auto: cuda when there is one)",
    "max_params": "refuse models with more parameters than this",
}


def _fill_help(parser: argparse.ArgumentParser) -> None:
    for action in parser._actions:
        if not action.help and action.dest in RUN_HELP:
            action.help = RUN_HELP[action.dest]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ranker",
        description="Rank hub models by their value as a finetuning start.",
        formatter_class=HelpFormatter,
    )
    data_help = "the results store (default: data/)"
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help=data_help)
    # also accepted after the subcommand; SUPPRESS keeps the top-level value when absent there
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--data", type=Path, default=argparse.SUPPRESS, help=data_help)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    add_parser = functools.partial(sub.add_parser, formatter_class=HelpFormatter)

    p = add_parser("build", parents=[common], help="render the static site from the store")
    p.add_argument("--out", type=Path, default=DEFAULT_SITE, help="output folder (default: site/)")
    p.add_argument(
        "--site-url",
        help="public URL the site is served from, for badge snippets (default: $RANKER_SITE_URL)",
    )
    p.set_defaults(func=_cmd_build)

    p = add_parser(
        "crawl",
        parents=[common],
        help="list each architecture's models on the hub and update the catalog",
    )
    p.add_argument(
        "--arch", action="append", help="crawl only this architecture (repeatable; default: all)"
    )
    p.add_argument(
        "--max-params",
        type=int,
        default=1_000_000_000,
        help="exclude models with more parameters than this (default: 1e9)",
    )
    p.add_argument(
        "--endpoint", help="hub URL (default: $HF_ENDPOINT, else https://huggingface.co)"
    )
    p.add_argument(
        "--max-configs", type=int, default=2000, metavar="N",
        help="read at most N config.json files this run; the rest stay unclassified until the "
        "next run (default: 2000)",
    )  # fmt: skip
    p.add_argument(
        "--time-budget", metavar="DURATION",
        help="send no request after this long (e.g. 45m); what is left waits for the next run",
    )  # fmt: skip
    p.set_defaults(func=_cmd_crawl)

    p = add_parser(
        "import-legacy",
        parents=[common],
        help="import IBM's published 2023 model-recycling results into the store",
    )
    p.add_argument("source", type=Path, help="folder holding models_tested.csv and the baselines")
    p.set_defaults(func=_cmd_import_legacy)

    from ranker.evaluate.options import add_arguments, add_run_arguments

    p = add_parser(
        "evaluate",
        parents=[common],
        help="score models with the MNLI linear probe; store the records",
    )
    add_arguments(p)
    _fill_help(p)
    p.set_defaults(func=_cmd_evaluate)

    p = add_parser(
        "update",
        parents=[common],
        help="crawl, evaluate what is new or changed (bounded), and build the site",
    )
    add_run_arguments(p)
    _fill_help(p)
    p.add_argument(
        "--arch", action="append", help="only this architecture (repeatable; default: all)"
    )
    p.add_argument(
        "--max-models", type=int, help="evaluate at most this many models (default: no limit)"
    )
    p.add_argument(
        "--time-budget",
        help="stop starting new models after this long (e.g. 3600, 90m, 4.5h; default: no limit)",
    )
    p.add_argument("--force", action="store_true", help="re-evaluate models already scored")
    p.add_argument("--endpoint", help="hub URL (default: $HF_ENDPOINT, else the hub)")
    p.add_argument(
        "--max-configs", type=int, default=2000, metavar="N",
        help="crawl: read at most N config.json files this run (default: 2000)",
    )  # fmt: skip
    p.add_argument("--no-crawl", action="store_true", help="evaluate the current catalog only")
    p.add_argument("--out", type=Path, default=DEFAULT_SITE, help="site folder (default: site/)")
    p.add_argument("--no-build", action="store_true", help="do not build the site")
    p.add_argument(
        "--site-url", help="public URL of the site, for badge snippets (default: $RANKER_SITE_URL)"
    )
    p.add_argument("--summary-file", type=Path, help="also write the run's summary here")
    scale = p.add_argument_group(
        "scale out",
        "Run the queue on a Ray cluster (pip install -e '.[ray]'): this process crawls, queues "
        "and alone writes the store; one long-lived worker per GPU (or per --cpus-per-worker "
        "cores) evaluates model after model; a model lost with its node is retried elsewhere.",
    )
    scale.add_argument(
        "--executor", choices=("local", "ray"), default="local",
        help="where models are evaluated: here, one at a time (local, the default), or on "
        "a Ray cluster (ray)",
    )  # fmt: skip
    scale.add_argument(
        "--address", metavar="ADDR",
        help="with --executor ray: the cluster's address, host:port (default: $RAY_ADDRESS, "
        "else a Ray started on this machine)",
    )  # fmt: skip
    scale.add_argument(
        "--workers", type=int, metavar="N",
        help="with --executor ray: number of workers (default: one per GPU of the cluster, "
        "else one per --cpus-per-worker cores)",
    )  # fmt: skip
    scale.add_argument(
        "--cpus-per-worker", type=float, default=1.0, metavar="N",
        help="with --executor ray: CPU cores each worker takes (default: 1)",
    )  # fmt: skip
    matrix = p.add_argument_group(
        "matrix mode",
        "Split the queue over several machines (e.g. a CI matrix), each writing its own file.",
    )
    matrix.add_argument(
        "--shard", metavar="I/N",
        help="evaluate only this share of the queue: the models whose "
        "int(sha256(model_id), 16) %% N == I (0-based: 0/3, 1/3, 2/3)",
    )  # fmt: skip
    matrix.add_argument(
        "--results-out", type=Path, metavar="FILE",
        help="write the results to FILE (JSON Lines, one EvalResult a line; a rerun keeps "
        "and skips what FILE holds) instead of the store, and write nothing in --data: "
        "no crawl, no build, no MNLI pin (the store must have one, or give --probe-data)",
    )  # fmt: skip
    p.set_defaults(func=_cmd_update)

    p = add_parser(
        "merge",
        parents=[common],
        help="fold shard result files (ranker update --results-out) into the store's results",
    )
    from ranker.merge import add_merge_arguments, add_plan_arguments

    add_merge_arguments(p)  # FILE..., --plan, --catalog, --requests (ranker/merge.py)
    p.set_defaults(func=_cmd_merge)

    p = add_parser(
        "plan",
        parents=[common],
        help="write which shard may evaluate which model, before the shards run (for merge)",
    )
    add_plan_arguments(p)
    p.set_defaults(func=_cmd_plan)

    p = add_parser(
        "compact",
        parents=[common],
        help="rewrite the results files sorted, without superseded lines (before a commit)",
    )
    p.set_defaults(func=_cmd_compact)

    p = add_parser(
        "demo", help="run the whole pipeline against a loopback hub of tiny models (offline)"
    )
    p.add_argument("--folder", type=Path, help="where to put the demo (default: a temp folder)")
    p.set_defaults(func=_cmd_demo)

    from ranker.requests import add_arguments as add_request_arguments

    p = add_parser(
        "request",
        help="evaluation requests from GitHub issues: check and queue one, or write the replies",
    )
    add_request_arguments(p, common, HelpFormatter)
    p.set_defaults(func=_cmd_request)
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
