"""`ranker request check | add | replies`: evaluation requests from GitHub issues."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ranker import protocol
from ranker.cli.options import (
    Adder,
    HelpFormatter,
    add_endpoint,
    add_file,
    add_site_url,
    short_number,
    site_url,
)

SITE_HELP = "public URL of the site, for the link to a model's page (default: $RANKER_SITE_URL)"


def register(add: Adder, common: argparse.ArgumentParser) -> None:
    p = add(
        "request",
        parents=[],  # --data after the action: `ranker request check --data DIR`
        help="evaluation requests from GitHub issues: check and queue one, or write the replies",
    )
    sub = p.add_subparsers(dest="request_command", required=True, metavar="ACTION")
    _register_check(sub, common)
    a = sub.add_parser(
        "add", parents=[common], formatter_class=HelpFormatter,
        help="queue the request a `check --export` file holds (no hub request)",
    )  # fmt: skip
    a.add_argument("file", type=Path, metavar="FILE", help="the file `check --export` wrote")
    a.set_defaults(request_func=add_command)
    r = sub.add_parser(
        "replies", parents=[common], formatter_class=HelpFormatter,
        help="write the replies owed to requests whose model now has a result; mark them replied",
    )  # fmt: skip
    add_file(r, "--out-dir", "write one <issue>.md a issue here (default: print them)", "DIR")
    add_site_url(r, SITE_HELP)
    r.add_argument(
        "--if-queued", action="store_true",
        help="do nothing, say nothing, when the store has no request queue (scripts/nightly.sh)",
    )  # fmt: skip
    r.set_defaults(request_func=replies_command)
    p.set_defaults(func=request_command)


def _register_check(sub, common: argparse.ArgumentParser) -> None:
    c = sub.add_parser(
        "check", parents=[common], formatter_class=HelpFormatter,
        help="check an issue's model id; queue it and write the reply",
    )  # fmt: skip
    c.add_argument("--issue", type=int, required=True, help="the GitHub issue number")
    source = c.add_mutually_exclusive_group(required=True)
    add_file(
        source, "--body-file", "the issue's body (the form's Markdown: '### Model id' and the id)"
    )
    source.add_argument("--model", metavar="MODEL_ID", help="the model id, given directly")
    add_file(c, "--reply-file", "write the reply (Markdown) here instead of printing it")
    add_file(
        c, "--export",
        "when queued, also write the request and its catalog entry here, for "
        "`ranker request add`",
    )  # fmt: skip
    add_endpoint(c, "hub URL (default: $HF_ENDPOINT, else the hub)")
    add_site_url(c, SITE_HELP)
    c.add_argument(
        "--max-params", type=int, default=None,
        help="exclude models with more parameters than this (default: the crawl's, "
        f"{short_number(protocol.DEFAULT_MAX_PARAMS)})",
    )  # fmt: skip
    c.set_defaults(request_func=check_command)


def _site_url(args: argparse.Namespace) -> str | None:
    from ranker.requests import check_site_url

    url = site_url(args.site_url)
    return check_site_url(url) if url else None


def _store(args: argparse.Namespace):
    from ranker.store import Store

    store = Store(args.data)
    store.check()
    return store


def check_command(args: argparse.Namespace) -> int:
    from ranker.errors import RankerError
    from ranker.hub import Hub
    from ranker.requests import (
        EXIT_UNCHECKED,
        check_body,
        check_request,
        export_decision,
        read_body,
    )

    if not 0 < args.issue < 10**9:
        raise RankerError(f"--issue: expected an issue number, got {args.issue}")
    store = _store(args)
    options = {"site_url": _site_url(args), "max_params": args.max_params}
    hub = Hub(endpoint=args.endpoint)
    if args.body_file is not None:
        decision = check_body(store, hub, args.issue, read_body(args.body_file), **options)
    else:
        decision = check_request(store, hub, args.issue, args.model, **options)
    if args.reply_file is not None:
        args.reply_file.parent.mkdir(parents=True, exist_ok=True)
        args.reply_file.write_text(decision.reply, encoding="utf-8")
    else:
        sys.stdout.write(decision.reply)
    if decision.queued and args.export is not None:
        export_decision(decision, args.export)
    where = decision.request.model_id if decision.request else "-"
    print(f"issue {args.issue}: {decision.outcome} ({decision.reason or where})", file=sys.stderr)
    return EXIT_UNCHECKED if decision.outcome == "unchecked" else 0


def add_command(args: argparse.Namespace) -> int:
    from ranker.requests import add_exported

    request = add_exported(_store(args), args.file)
    print(f"queued {request.model_id} for issue {request.issue}")
    return 0


def replies_command(args: argparse.Namespace) -> int:
    from ranker.requests import due_replies, write_replies

    store = _store(args)
    if args.if_queued and not store.has_requests():
        return 0
    replies = due_replies(store, _site_url(args))
    if args.out_dir is not None:
        write_replies(replies, args.out_dir)
        for request, _ in replies:
            print(f"reply to issue {request.issue}: {request.model_id}: {request.outcome}")
    else:
        for request, text in replies:
            print(f"--- issue {request.issue}\n{text}")
    if not replies:
        print("no replies due")
    return 0


def request_command(args: argparse.Namespace) -> int:
    return args.request_func(args)
