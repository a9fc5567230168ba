"""Checking an issue's request: the id before anything else, then the model by the crawl's
own rules (`ranker.crawl.classify_listing`), then queued, answered at once, or refused.

An id that is not a valid hub repo id is refused without a single hub request and is never
repeated in the reply. A valid id is looked up through the one door: the model's listing at
its default branch, then, when needed, its config.json at that commit. No model file is
downloaded, no code of the model is run. A check that could not be made is never a verdict on
the model (`unchecked`).
"""

from __future__ import annotations

from typing import Any

from ranker.crawl import Verdict, classify_listing
from ranker.errors import HubFailure, Reason, RunFailure
from ranker.explain import REASONS
from ranker.hub import Hub, Listing
from ranker.protocol import DEFAULT_MAX_PARAMS
from ranker.records import SCHEMA_VERSION, ModelRequest, describe_dims, is_valid_repo_id
from ranker.requests.body import MAX_BODY, model_id_from_body
from ranker.requests.decision import Decision, rejected, unchecked
from ranker.requests.queue import queue
from ranker.requests.replies import result_text, settled_results
from ranker.requests.words import ID_RULE, PLAIN_DETAIL, code_span
from ranker.store import Store
from ranker.timestamps import utc_now


def check_request(
    store: Store,
    hub: Hub,
    issue: int,
    raw_id: str | None,
    *,
    site_url: str | None = None,
    max_params: int | None = None,
    now: str | None = None,
) -> Decision:
    """Decide an issue's request for `raw_id` (untrusted text) and store what it queues."""
    if raw_id is None or not raw_id.strip():
        return rejected("no-id", "The issue names no model.", f"Please edit it: {ID_RULE}.")
    if not is_valid_repo_id(raw_id):
        return _invalid_id(raw_id)
    try:
        listing = hub.listing(raw_id)
    except (HubFailure, RunFailure) as exc:
        return _not_listed(raw_id, exc)
    model = listing.model_id  # a renamed repo answers with its new id
    renamed = f" (now {code_span(model)})" if model != raw_id else ""
    cap = max_params if max_params is not None else DEFAULT_MAX_PARAMS
    try:
        verdict = classify_listing(store, hub, listing, max_params=cap)
    except (HubFailure, RunFailure) as exc:
        return unchecked(code_span(model), exc.reason)
    name = code_span(raw_id) + renamed
    if verdict.status != "ok":
        return _not_ranked(store, verdict, listing, name)
    return _accepted(store, issue, verdict, name, site_url=site_url, now=now)


def check_body(store: Store, hub: Hub, issue: int, body: str, **options: Any) -> Decision:
    """Decide an issue from its whole body (untrusted text): refused with a reason when it is
    longer than an issue body can be, else `check_request` on the id the form holds."""
    if len(body) > MAX_BODY:
        return rejected(
            "body-too-long",
            f"The issue's text is longer than an issue can hold ({MAX_BODY} characters), so it "
            "was not read.",
            f"Please edit the issue to hold only the form's fields: {ID_RULE}.",
        )
    return check_request(store, hub, issue, model_id_from_body(body), **options)


def _invalid_id(raw_id: str) -> Decision:
    """Not an id: never repeated, for it is untrusted text that failed the only check that
    makes it safe; a hint when it holds look-alike or invisible characters."""
    odd = any(not (c.isascii() and c.isprintable()) for c in raw_id)
    hint = (
        " It holds characters that only look like these, or invisible ones: type the id "
        "rather than paste it."
        if odd
        else ""
    )
    return rejected(
        "invalid-id",
        "This is not a valid Hugging Face model id, so nothing was looked up.",
        f"Please edit the issue: {ID_RULE}.{hint}",
    )


def _not_listed(model: str, exc: HubFailure | RunFailure) -> Decision:
    """The hub gave no listing: a verdict only when the model's own state is why."""
    if isinstance(exc, RunFailure) or exc.transient or exc.reason is Reason.INVALID:
        return unchecked(code_span(model), exc.reason)
    if exc.reason in (Reason.GATED, Reason.DISABLED):
        why = REASONS[exc.reason.value]
        return rejected(exc.reason.value, f"{code_span(model)} is not ranked: {why}.")
    return rejected(
        "not-found", f"There is no public model {code_span(model)} on the Hugging Face hub."
    )


def _not_ranked(store: Store, verdict: Verdict, listing: Listing, name: str) -> Decision:
    """The reply to a model the crawl does not rank (or could not classify just now)."""
    if verdict.status == "untracked":
        tracked = ", ".join(code_span(a.id) for a in store.architectures())
        kind = (
            f"its model type is {code_span(listing.model_type)}"
            if listing.model_type
            else "the hub names no model type for it"
        )
        return rejected(
            "untracked", f"{name} is not one of the tracked architectures ({tracked}): {kind}."
        )
    if verdict.status == "unclassified":  # its config.json read failed for a passing reason
        return unchecked(name, None)
    reason = verdict.reason or "excluded"
    why = REASONS.get(reason, reason)
    detail = (verdict.entry.detail if verdict.entry else None) or ""  # from config.json
    plain = reason == "config-mismatch" and PLAIN_DETAIL.fullmatch(detail)  # quoted if plain
    home = verdict.arch
    want = f"; {code_span(home.id)} has {describe_dims(home.dims)}" if home else ""
    seen = f" (it has {detail}{want})" if plain else ""
    return rejected(reason, f"{name} is not ranked: {why}{seen}.")


def _accepted(
    store: Store, issue: int, verdict: Verdict, name: str, *, site_url: str | None, now: str | None
) -> Decision:
    """An accepted model: answered at once if it is already evaluated at this commit (or
    already queued on this issue), else queued."""
    entry, arch = verdict.entry, verdict.arch
    assert entry is not None and arch is not None  # an ok verdict has both
    stamp = now or utc_now()
    known = {r.key: r for r in store.requests()}
    if (issue, entry.model_id) in known:
        r = known[(issue, entry.model_id)]
        text = (
            f"{name} is already queued (since {r.requested_at}); the next nightly run evaluates "
            "it first."
            if r.status == "queued"
            else f"{name} was already answered on this issue."
        )
        return Decision("already-queued", text + "\n")
    request = ModelRequest(
        schema_version=SCHEMA_VERSION, issue=issue, model_id=entry.model_id,
        architecture=arch.id, sha=entry.sha, status="queued", requested_at=stamp,
    )  # fmt: skip
    result = settled_results(store.results()).get((entry.model_id, entry.sha))
    if result is not None:
        # nothing to queue or store: asking again answers again
        return Decision("answered", result_text(result, arch, site_url, name))
    queue(store, request, entry, stamp)
    text = (
        f"Thanks! {name} at commit {code_span(entry.sha[:12])} is a {code_span(arch.id)} model, "
        "and it is queued: the next nightly run evaluates it first. This issue will get its "
        "score and the link to its page once the site is published.\n"
    )
    return Decision("queued", text, request=request, entry=entry)
