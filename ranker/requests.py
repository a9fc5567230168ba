"""`ranker request`: ask for an evaluation through a GitHub issue, and answer it.

The flow (`.github/ISSUE_TEMPLATE/request-evaluation.yml`, `.github/workflows/request.yml`):

1. `ranker request check --issue N --body-file FILE` reads the issue form's body ("### Model id"
   then the id), and checks the id before anything else: an id that is not a valid hub repo id
   (`ranker.records.is_valid_repo_id`) is refused without a single hub request, and is never
   repeated in the reply. A valid id is looked up through the one door (`ranker.hub.Hub`): the
   model's info (the listing fields) at its default branch, then, when needed, its config.json
   at that commit, and classified with the crawl's own rules
   (`ranker.crawl.classifier.Classifier`, `ranker.crawl.classify`): one rule, in one place.
   No model file is downloaded, no code of the model is run.
2. An accepted model is queued in `data/requests.jsonl` (`Store.save_request`) and put into the
   catalog at that commit if the catalog does not have it there, so that the next nightly run
   evaluates it, first (`ranker.pipeline.pending`). A rejected request (invalid id, no such
   public model, an architecture we do not track, an excluded model) is answered on the issue
   and is not stored. Asking again is idempotent: the same (issue, model) is queued once.
3. The reply is Markdown written to `--reply-file` (the workflow posts it with
   `gh issue comment --body-file`): plain text, ids only in code spans (a valid id holds no
   backtick), nothing copied from the issue or from the hub's free text. A check that could
   not be made (the run's token refused, the hub not answering or out of quota, an answer of
   the hub that failed our checks) is never a verdict on the model: its reply says that the
   request could not be checked and that nothing is needed from the author, and the command
   exits `EXIT_UNCHECKED` (3), not 0, so the workflow run fails and is seen.
   The body is read with limits (`read_body`, `check_body`): at most `MAX_BODY` characters
   (GitHub's own limit for an issue body), bytes that are not UTF-8 replaced; a longer body is
   refused with a reason; only the id's line is used, and only after `is_valid_repo_id`.
4. After a nightly run, `ranker request replies --out-dir DIR` writes, for each queued request
   whose model now has a settled result (a score, or a failure that waits for a new commit),
   `DIR/<issue>.md` with the result and the absolute link to the model's page, and marks the
   request replied; the workflow posts them after publishing the site.

`ranker request add FILE` folds a check's `--export` file (the request and its catalog entry)
into the store: the workflow checks in a job that may comment but not push, and queues in a job
that may push but talks to no hub.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import json
import re
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ranker import jsonlimits
from ranker.errors import HubFailure, RankerError, Reason, RunFailure, StoreError
from ranker.explain import ADVICE, FAILURE_WORDS
from ranker.records import (
    SCHEMA_VERSION,
    Architecture,
    CatalogEntry,
    EvalResult,
    describe_dims,
    is_valid_repo_id,
)
from ranker.store import (
    ModelRequest,
    Store,
    _check_round_trip,
    _request_problem,
    read_text_file,
)
from ranker.urls import model_page

FORM_LABEL = "Model id"  # the issue form's input label: GitHub renders it as "### Model id"
MAX_BODY = 65_536  # characters of an issue body (GitHub's limit); the form's body is a few lines
MAX_BODY_BYTES = 4 * MAX_BODY  # what is read of a body file: UTF-8 takes at most 4 bytes a char
MAX_EXPORT_BYTES = 1_000_000  # a `check --export` file: one request and one catalog entry
EXIT_UNCHECKED = 3  # `request check` could not check the request (not the model's doing)
_HF_URL = re.compile(r"^https?://(?:www\.)?huggingface\.co/(?P<id>[^?#\s]+?)/?(?:[?#].*)?$")
_SITE_URL = re.compile(r"^https?://[A-Za-z0-9.-]+(?::\d{1,5})?(?:/[A-Za-z0-9._~%/-]*)?$")

NOTHING_NEEDED = (
    "This says nothing about the model, and nothing is needed from you: the failed check is "
    "reported to the maintainers of this ranking, who run it again."
)
# Why a check could not be made, by the door's typed reason (transient ones: the hub failed).
UNCHECKED_WHY: dict[Reason, str] = {
    Reason.BAD_TOKEN: "the hub refused the credentials this check runs with",
    Reason.FORBIDDEN: "the hub refused this check access",
    Reason.BAD_REQUEST: "the hub refused a request of this check",
    Reason.QUOTA: "this check used up its share of the hub's rate limit",
    Reason.HUB_DOWN: "the hub did not answer",
    Reason.INVALID: "the hub's answer about it did not pass our checks",
    Reason.RATE_LIMITED: "the hub's rate limit",
    Reason.TIMEOUT: "the hub did not answer in time",
    Reason.CONNECTION: "the hub could not be reached",
    Reason.SERVER_ERROR: "the hub answered with a server error",
    Reason.INTEGRITY: "a file arrived damaged",
}
ID_RULE = (
    "a Hugging Face model id is `owner/name` as in the model's address "
    "(`https://huggingface.co/owner/name`): letters, digits, `-`, `_` and `.`"
)


def _now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


_PLAIN = re.compile(r"[A-Za-z0-9_./-]{1,200}")  # what may be quoted in a reply as it is
_PLAIN_DETAIL = re.compile(r"[A-Za-z0-9_., -]{1,300}")  # e.g. "model_type bert, hidden 768, ..."


def _code(text: object) -> str:
    """`text` as a Markdown code span when it is plain (ids, reasons, shas); else a mention
    that something is not shown: hub values are untrusted and never quoted as they are."""
    if isinstance(text, str) and _PLAIN.fullmatch(text):
        return f"`{text}`"
    return "(a value not shown)"


# -- the issue's body --------------------------------------------------------------------------


def read_body(path: Path) -> str:
    """An issue body from a file, decoded with limits: at most `MAX_BODY_BYTES` bytes are read
    (a longer file gives a text longer than `MAX_BODY`, which `check_body` refuses), and bytes
    that are not UTF-8 become U+FFFD (no id holds one, so such an id is refused as invalid)."""
    try:
        with Path(path).open("rb") as fh:
            data = fh.read(MAX_BODY_BYTES + 1)
    except FileNotFoundError:
        raise StoreError(path, "file not found") from None
    except IsADirectoryError:
        raise StoreError(path, "is a directory, expected a file") from None
    except OSError as exc:
        raise StoreError(path, f"cannot read: {exc.strerror}") from None
    return data.decode("utf-8", errors="replace")


def model_id_from_body(body: str) -> str | None:
    """The text the issue form holds under "### Model id" (or the whole body when it has no
    form heading): its first non-empty line, a huggingface.co address reduced to its id.
    Not validated: see `is_valid_repo_id`. None when there is nothing."""
    lines = body[:MAX_BODY].replace("\r\n", "\n").replace("\r", "\n").split("\n")
    start = 0
    for i, line in enumerate(lines):
        if line.strip().lstrip("#").strip().lower() == FORM_LABEL.lower() and line.startswith("#"):
            start = i + 1
            break
    for line in lines[start:]:
        text = line.strip()
        if text.startswith("#"):
            break  # the next field: this one was left empty
        if not text or text == "_No response_":
            continue
        text = text.strip("`").strip()
        match = _HF_URL.match(text)
        if match:
            text = match.group("id")
        return text
    return None


# -- checking a request ------------------------------------------------------------------------


@dataclass(frozen=True)
class Decision:
    """What `check_request` made of an issue: the reply, and what to store."""

    # "queued", "already-queued", "answered", "rejected" (a verdict on the model or the id),
    # or "unchecked" (the check could not be made: no verdict)
    outcome: str
    reply: str
    reason: str | None = None  # for "rejected": why, in one word
    request: ModelRequest | None = None
    entry: CatalogEntry | None = None  # the catalog entry the request needs

    @property
    def queued(self) -> bool:
        return self.outcome == "queued"


def _rejected(reason: str, text: str, hint: str = "") -> Decision:
    advice = ADVICE.get(reason, "")
    body = f"{text}\n\n{advice}" if advice else text
    if hint:
        body += f"\n\n{hint}"
    return Decision("rejected", body + "\n", reason=reason)


def _classify(store: Store, hub: Any, listing: Any, archs: list[Architecture], max_params: int):
    """(catalog entry or None, the reason a listing-only exclusion gave) by the crawl's rules."""
    from ranker.crawl.classifier import Candidate, Classifier
    from ranker.crawl.summary import CrawlSummary

    claim, found_by, base = None, "config", False
    for arch in archs:
        if listing.model_id in arch.hub_ids and listing.model_type == arch.model_type:
            claim, base = arch, True
            break
        if any(f"base_model:finetune:{h}" in listing.tags for h in arch.hub_ids):
            claim, found_by = arch, "lineage"
            break
    if claim is None and store.has_legacy():
        legacy = {m.model_id: m.architecture for m in store.legacy_models()}
        home = next((a for a in archs if a.id == legacy.get(listing.model_id)), None)
        if home is not None and home.model_type == listing.model_type:
            claim, found_by = home, "legacy"
    previous = {e.model_id: e for e in store.catalog()}
    summary = CrawlSummary()
    classifier = Classifier(hub, archs, previous, summary, max_params, 1)
    entry = classifier(Candidate(listing, claim, found_by, base=base))
    skipped = next(iter(summary.skipped), None)
    return entry, skipped


def check_request(
    store: Store,
    hub: Any,
    issue: int,
    raw_id: str | None,
    *,
    site_url: str | None = None,
    max_params: int | None = None,
    now: str | None = None,
) -> Decision:
    """Decide an issue's request for `raw_id` (untrusted text) and store what it queues."""
    from ranker import protocol
    from ranker.crawl import classify

    if raw_id is None or not raw_id.strip():
        return _rejected("no-id", "The issue names no model.", f"Please edit it: {ID_RULE}.")
    if not is_valid_repo_id(raw_id):
        # never repeated: it is untrusted text that failed the only check that makes it safe
        odd = any(not (c.isascii() and c.isprintable()) for c in raw_id)
        hint = (
            " It holds characters that only look like these, or invisible ones: type the id "
            "rather than paste it."
            if odd
            else ""
        )
        return _rejected(
            "invalid-id",
            "This is not a valid Hugging Face model id, so nothing was looked up.",
            f"Please edit the issue: {ID_RULE}.{hint}",
        )
    model = raw_id
    try:
        listing = hub.listing(model)
    except RunFailure as exc:
        return _unchecked(_code(model), exc.reason)
    except HubFailure as exc:
        if exc.transient or exc.reason is Reason.INVALID:
            return _unchecked(_code(model), exc.reason)
        if exc.reason in (Reason.GATED, Reason.DISABLED):
            why = classify.REASONS[exc.reason.value]
            return _rejected(exc.reason.value, f"{_code(model)} is not ranked: {why}.")
        return _rejected(
            "not-found", f"There is no public model {_code(model)} on the Hugging Face hub."
        )
    model = listing.model_id  # a renamed repo answers with its new id
    renamed = f" (now {_code(model)})" if model != raw_id else ""
    archs = store.architectures()
    cap = max_params if max_params is not None else classify.DEFAULT_MAX_PARAMS
    try:
        entry, skipped = _classify(store, hub, listing, archs, cap)
    except (HubFailure, RunFailure) as exc:
        return _unchecked(_code(model), exc.reason)
    name = _code(raw_id) + renamed
    if entry is None and skipped is not None:
        return _rejected(
            skipped, f"{name} is not ranked: {classify.REASONS.get(skipped, skipped)}."
        )
    if entry is None:
        tracked = ", ".join(_code(a.id) for a in archs)
        kind = (
            f"its model type is {_code(listing.model_type)}"
            if listing.model_type
            else "the hub names no model type for it"
        )
        return _rejected(
            "untracked", f"{name} is not one of the tracked architectures ({tracked}): {kind}."
        )
    if entry.status == "unclassified":  # its config.json read failed for a passing reason
        return _unchecked(name, None)
    if entry.status != "ok":
        reason = entry.reason or "excluded"
        why = classify.REASONS.get(reason, reason)
        detail = entry.detail or ""  # from the repo's config.json: quoted only when plain
        plain = reason == "config-mismatch" and _PLAIN_DETAIL.fullmatch(detail)
        home = next((a for a in archs if a.id == entry.architecture), None)
        want = f"; {_code(home.id)} has {describe_dims(home.dims)}" if home else ""
        seen = f" (it has {detail}{want})" if plain else ""
        return _rejected(reason, f"{name} is not ranked: {why}{seen}.")
    arch = next(a for a in archs if a.id == entry.architecture)

    # accepted: answered at once if it is already evaluated at this commit, else queued
    stamp = now or _now()
    known = {r.key: r for r in store.requests()}
    if (issue, model) in known:
        r = known[(issue, model)]
        text = (
            f"{name} is already queued (since {r.requested_at}); the next nightly run evaluates "
            "it first."
            if r.status == "queued"
            else f"{name} was already answered on this issue."
        )
        return Decision("already-queued", text + "\n")
    request = ModelRequest(
        schema_version=SCHEMA_VERSION, issue=issue, model_id=model, architecture=arch.id,
        sha=entry.sha, status="queued", requested_at=stamp,
    )  # fmt: skip
    settled = _settled(store.results(), protocol.PROTOCOL_VERSION)
    result = settled.get((model, entry.sha))
    if result is not None:
        # nothing to queue or store: asking again answers again
        return Decision("answered", _result_text(result, arch, site_url, name))
    _store(store, request, entry, stamp)
    text = (
        f"Thanks! {name} at commit {_code(entry.sha[:12])} is a {_code(arch.id)} model, and it is "
        "queued: the next nightly run evaluates it first. This issue will get its score and the "
        "link to its page once the site is published.\n"
    )
    return Decision("queued", text, request=request, entry=entry)


def _unchecked(name: str, reason: Reason | None) -> Decision:
    """The reply when the check itself failed: not a verdict, nothing asked of the author."""
    if reason is None:
        why = "the hub failed while its config.json was read"
    else:
        why = UNCHECKED_WHY.get(reason, "the hub failed")
    text = f"The request for {name} could not be checked just now: {why}. {NOTHING_NEEDED}\n"
    return Decision("unchecked", text, reason=reason.value if reason else "config-pending")


def check_body(store: Store, hub: Any, issue: int, body: str, **options: Any) -> Decision:
    """Decide an issue from its whole body (untrusted text): refused with a reason when it is
    longer than an issue body can be, else `check_request` on the id the form holds."""
    if len(body) > MAX_BODY:
        return _rejected(
            "body-too-long",
            f"The issue's text is longer than an issue can hold ({MAX_BODY} characters), so it "
            "was not read.",
            f"Please edit the issue to hold only the form's fields: {ID_RULE}.",
        )
    return check_request(store, hub, issue, model_id_from_body(body), **options)


def _store(store: Store, request: ModelRequest, entry: CatalogEntry, now: str) -> None:
    """Save the request, and the model's catalog entry unless the catalog has it at its sha."""
    from ranker.crawl.catalog import merge, within_limits

    kept, _ = within_limits(entry)
    with store.lock():  # the catalog and the request queue change together, or not at all
        catalog = store.catalog()
        have = next((e for e in catalog if e.model_id == entry.model_id), None)
        if kept is not None and (have is None or have.sha != kept.sha or have.status != "ok"):
            merged = merge(catalog, [kept], architectures=set(), now=now)
            store.write_catalog(merged.entries)
        store.save_request(request)


def add_exported(store: Store, path: Path) -> ModelRequest:
    """Fold a `check --export` file into the store (validated as the store validates)."""
    text = read_text_file(path)
    try:
        data = jsonlimits.loads(text, what="the export", max_bytes=MAX_EXPORT_BYTES)
    except jsonlimits.JsonRefused as exc:
        raise StoreError(path, str(exc)) from None
    if not isinstance(data, dict) or set(data) != {"request", "entry"}:
        raise StoreError(path, "expected a JSON object with `request` and `entry`")
    from ranker.records import RecordError

    try:
        request = ModelRequest.from_dict(data["request"])
        entry = CatalogEntry.from_dict(data["entry"])
    except (RecordError, TypeError, AttributeError) as exc:
        raise StoreError(path, f"malformed record: {exc}") from None
    problem = _request_problem(request)
    if problem is not None:
        raise StoreError(path, f"request: {problem[1]}", field=problem[0])
    _check_round_trip(path, entry)  # the catalog's own checks
    if request.model_id != entry.model_id or request.sha != entry.sha or entry.status != "ok":
        raise StoreError(path, "the request and its catalog entry do not agree")
    if request.architecture != entry.architecture:
        raise StoreError(
            path, "the request and its catalog entry do not agree", field="architecture"
        )
    store.architecture(entry.architecture)  # a tracked one, or UnknownArchitectureError
    known = {r.key for r in store.requests()}
    if request.key not in known:
        _store(store, request, entry, request.requested_at)
    return request


def export_decision(decision: Decision, path: Path) -> None:
    """The request and its catalog entry, for `add_exported` (one JSON object)."""
    assert decision.request is not None and decision.entry is not None
    data = {"request": decision.request.to_dict(), "entry": decision.entry.to_dict()}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, sort_keys=True, indent=1) + "\n", encoding="utf-8")


# -- answering after a nightly run -------------------------------------------------------------


def _settled(results: Iterable[EvalResult], protocol_version: str) -> dict[tuple[str, str], Any]:
    """(model, revision) -> the result that settles it under `protocol_version`."""
    return {
        (r.model_id, r.revision): r
        for r in results
        if r.protocol_version == protocol_version and (r.status == "ok" or r.failure == "permanent")
    }


def _outcome(result: EvalResult) -> str:
    return "ok" if result.status == "ok" else (result.reason or "error")


def page_url(site_url: str | None, arch: Architecture, model_id: str) -> str | None:
    """The absolute address of the model's page (the architecture's page for its base)."""
    if not site_url:
        return None
    if not _SITE_URL.fullmatch(site_url):
        raise RankerError(f"--site-url: expected an http(s) address, got {site_url!r}")
    page = f"arch/{arch.slug}.html" if model_id in arch.hub_ids else model_page(arch, model_id)
    return site_url.rstrip("/") + "/" + page


def _result_text(result: EvalResult, arch: Architecture, site_url: str | None, name: str) -> str:
    url = page_url(site_url, arch, result.model_id)
    commit = _code(result.revision[:12])
    if result.status == "ok" and result.accuracy is not None:
        score = f"MNLI linear-probe accuracy {result.accuracy:.4f}"
        if result.accuracy_low is not None and result.accuracy_high is not None:
            score += f" (95% interval {result.accuracy_low:.4f} to {result.accuracy_high:.4f})"
        if result.gain is not None:
            score += f", {result.gain:+.4f} over the base model {_code(arch.id)}"
        lines = [f"{name} at commit {commit} is evaluated: {score}."]
    else:
        reason = result.reason or "error"
        words = FAILURE_WORDS.get(reason, "the evaluation failed")
        lines = [f"{name} at commit {commit} could not be evaluated: {words} ({_code(reason)})."]
        if reason in ADVICE:
            lines.append(ADVICE[reason] + " A new commit of the model is evaluated again.")
    if url:
        lines.append(f"Its page: {url}")
    return "\n\n".join(lines) + "\n"


def due_replies(
    store: Store, site_url: str | None, *, now: str | None = None
) -> list[tuple[ModelRequest, str]]:
    """The replies owed to queued requests whose model has a settled result (or left the
    ranking); the requests are marked replied in the store. Nothing is written when none."""
    from ranker import protocol
    from ranker.crawl import classify

    requests = store.requests()
    queued = [r for r in requests if r.status == "queued"]
    if not queued:
        return []
    stamp = now or _now()
    catalog = {e.model_id: e for e in store.catalog()}
    archs = {a.id: a for a in store.architectures()}
    settled = _settled(store.results(), protocol.PROTOCOL_VERSION)
    out: list[tuple[ModelRequest, str]] = []
    updated = {r.key: r for r in requests}
    for r in queued:
        name = _code(r.model_id)
        entry = catalog.get(r.model_id)
        seen = 0
        while entry is not None and entry.renamed_to and seen < 5:  # follow a rename
            name = f"{_code(r.model_id)} (now {_code(entry.renamed_to)})"
            entry, seen = catalog.get(entry.renamed_to), seen + 1
        if entry is None or entry.status == "removed":
            text = f"{name} is no longer listed on the hub, so it was not evaluated.\n"
            outcome = "removed"
        elif entry.status == "excluded":
            reason = entry.reason or "excluded"
            why = classify.REASONS.get(reason, reason)
            advice = ADVICE.get(reason, "")
            text = f"{name} changed and is no longer ranked: {why}.\n"
            text += f"\n{advice}\n" if advice else ""
            outcome = reason
        else:
            result = settled.get((entry.model_id, entry.sha))
            arch = archs.get(entry.architecture)
            if result is None or arch is None:
                continue  # not evaluated yet: the next run's turn
            text, outcome = _result_text(result, arch, site_url, name), _outcome(result)
        done = dataclasses.replace(r, status="replied", replied_at=stamp, outcome=outcome)
        updated[r.key] = done
        out.append((done, text))
    if out:
        store.write_requests(updated.values())
    return out


def write_replies(replies: list[tuple[ModelRequest, str]], folder: Path) -> list[Path]:
    """One `<issue>.md` per issue (its replies one after another) in `folder`."""
    by_issue: dict[int, list[str]] = {}
    for request, text in replies:
        by_issue.setdefault(request.issue, []).append(text)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for issue, texts in sorted(by_issue.items()):
        path = folder / f"{issue}.md"
        path.write_text("\n".join(texts), encoding="utf-8")
        paths.append(path)
    return paths


# -- the command -------------------------------------------------------------------------------


def add_arguments(
    p: argparse.ArgumentParser, common: argparse.ArgumentParser, fmt: type = argparse.HelpFormatter
) -> None:
    """`ranker request check | add | replies`."""
    sub = p.add_subparsers(dest="request_command", required=True, metavar="ACTION")
    site_help = "public URL of the site, for the link to a model's page (default: $RANKER_SITE_URL)"

    c = sub.add_parser(
        "check", parents=[common], formatter_class=fmt,
        help="check an issue's model id; queue it and write the reply",
    )  # fmt: skip
    c.add_argument("--issue", type=int, required=True, help="the GitHub issue number")
    source = c.add_mutually_exclusive_group(required=True)
    source.add_argument(
        "--body-file", type=Path, metavar="FILE",
        help="the issue's body (the form's Markdown: '### Model id' and the id)",
    )  # fmt: skip
    source.add_argument("--model", metavar="MODEL_ID", help="the model id, given directly")
    c.add_argument(
        "--reply-file", type=Path, metavar="FILE",
        help="write the reply (Markdown) here instead of printing it",
    )  # fmt: skip
    c.add_argument(
        "--export", type=Path, metavar="FILE",
        help="when queued, also write the request and its catalog entry here, for "
        "`ranker request add`",
    )  # fmt: skip
    c.add_argument("--endpoint", help="hub URL (default: $HF_ENDPOINT, else the hub)")
    c.add_argument("--site-url", help=site_help)
    c.add_argument(
        "--max-params", type=int, default=None,
        help="exclude models with more parameters than this (default: the crawl's, 1e9)",
    )  # fmt: skip
    c.set_defaults(request_func=_check)

    a = sub.add_parser(
        "add", parents=[common], formatter_class=fmt,
        help="queue the request a `check --export` file holds (no hub request)",
    )  # fmt: skip
    a.add_argument("file", type=Path, metavar="FILE", help="the file `check --export` wrote")
    a.set_defaults(request_func=_add)

    r = sub.add_parser(
        "replies", parents=[common], formatter_class=fmt,
        help="write the replies owed to requests whose model now has a result; mark them replied",
    )  # fmt: skip
    r.add_argument(
        "--out-dir", type=Path, metavar="DIR",
        help="write one <issue>.md a issue here (default: print them)",
    )  # fmt: skip
    r.add_argument("--site-url", help=site_help)
    r.set_defaults(request_func=_replies)


def _site_url(args: argparse.Namespace) -> str | None:
    import os

    url = args.site_url or os.environ.get("RANKER_SITE_URL") or None
    if url and not _SITE_URL.fullmatch(url):
        raise RankerError(f"--site-url: expected an http(s) address, got {url!r}")
    return url


def _check(args: argparse.Namespace) -> int:
    from ranker.hub import Hub

    if not 0 < args.issue < 10**9:
        raise RankerError(f"--issue: expected an issue number, got {args.issue}")
    store = Store(args.data)
    store.check()
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


def _add(args: argparse.Namespace) -> int:
    store = Store(args.data)
    store.check()
    request = add_exported(store, args.file)
    print(f"queued {request.model_id} for issue {request.issue}")
    return 0


def _replies(args: argparse.Namespace) -> int:
    store = Store(args.data)
    store.check()
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
