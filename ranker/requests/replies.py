"""Answering after a nightly run: for each queued request whose model now has a settled result
(a score, or a failure that waits for a new commit), a reply with the result and the absolute
link to the model's page; the request is then marked replied."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable
from pathlib import Path

from ranker.errors import RankerError
from ranker.explain import ADVICE, FAILURE_WORDS, REASONS
from ranker.protocol import PROTOCOL_VERSION
from ranker.records import Architecture, CatalogEntry, EvalResult, ModelRequest
from ranker.requests.words import code_span
from ranker.store import Store
from ranker.timestamps import utc_now
from ranker.urls import architecture_page, model_page

_SITE_URL = re.compile(r"^https?://[A-Za-z0-9.-]+(?::\d{1,5})?(?:/[A-Za-z0-9._~%/-]*)?$")
_RENAMES_FOLLOWED = 5  # a chain of renames is followed this far


def settled_results(results: Iterable[EvalResult]) -> dict[tuple[str, str], EvalResult]:
    """(model, revision) -> the result that settles it under this protocol."""
    return {
        (r.model_id, r.revision): r
        for r in results
        if r.protocol_version == PROTOCOL_VERSION and r.settled
    }


def check_site_url(url: str) -> str:
    """The site's address, refused unless it is a plain http(s) URL (it goes into replies)."""
    if not _SITE_URL.fullmatch(url):
        raise RankerError(f"--site-url: expected an http(s) address, got {url!r}")
    return url


def page_url(site_url: str | None, arch: Architecture, model_id: str) -> str | None:
    """The absolute address of the model's page (the architecture's page for its base)."""
    if not site_url:
        return None
    check_site_url(site_url)
    page = architecture_page(arch) if model_id in arch.hub_ids else model_page(arch, model_id)
    return site_url.rstrip("/") + "/" + page


def result_text(result: EvalResult, arch: Architecture, site_url: str | None, name: str) -> str:
    """The reply that gives a settled result: the score, or why there is none."""
    url = page_url(site_url, arch, result.model_id)
    commit = code_span(result.revision[:12])
    if result.status == "ok" and result.accuracy is not None:
        score = f"MNLI linear-probe accuracy {result.accuracy:.4f}"
        if result.accuracy_low is not None and result.accuracy_high is not None:
            score += f" (95% interval {result.accuracy_low:.4f} to {result.accuracy_high:.4f})"
        if result.gain is not None:
            score += f", {result.gain:+.4f} over the base model {code_span(arch.id)}"
        lines = [f"{name} at commit {commit} is evaluated: {score}."]
    else:
        reason = result.reason or "error"
        words = FAILURE_WORDS.get(reason, "the evaluation failed")
        lines = [
            f"{name} at commit {commit} could not be evaluated: {words} ({code_span(reason)})."
        ]
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
    requests = store.requests()
    queued = [r for r in requests if r.status == "queued"]
    if not queued:
        return []
    stamp = now or utc_now()
    catalog = {e.model_id: e for e in store.catalog()}
    archs = {a.id: a for a in store.architectures()}
    settled = settled_results(store.results())
    out: list[tuple[ModelRequest, str]] = []
    updated = {r.key: r for r in requests}
    for r in queued:
        reply = _reply(r, catalog, archs, settled, site_url)
        if reply is None:
            continue  # not evaluated yet: the next run's turn
        text, outcome = reply
        done = dataclasses.replace(r, status="replied", replied_at=stamp, outcome=outcome)
        updated[r.key] = done
        out.append((done, text))
    if out:
        store.write_requests(updated.values())
    return out


def _reply(
    r: ModelRequest,
    catalog: dict[str, CatalogEntry],
    archs: dict[str, Architecture],
    settled: dict[tuple[str, str], EvalResult],
    site_url: str | None,
) -> tuple[str, str] | None:
    """(the reply, its outcome) owed to one queued request; None while none is owed."""
    name = code_span(r.model_id)
    entry = catalog.get(r.model_id)
    seen = 0
    while entry is not None and entry.renamed_to and seen < _RENAMES_FOLLOWED:
        name = f"{code_span(r.model_id)} (now {code_span(entry.renamed_to)})"
        entry, seen = catalog.get(entry.renamed_to), seen + 1
    if entry is None or entry.status == "removed":
        return f"{name} is no longer listed on the hub, so it was not evaluated.\n", "removed"
    if entry.status == "excluded":
        reason = entry.reason or "excluded"
        why = REASONS.get(reason, reason)
        advice = ADVICE.get(reason, "")
        text = f"{name} changed and is no longer ranked: {why}.\n"
        text += f"\n{advice}\n" if advice else ""
        return text, reason
    result = settled.get((entry.model_id, entry.sha))
    arch = archs.get(entry.architecture)
    if result is None or arch is None:
        return None
    outcome = "ok" if result.status == "ok" else (result.reason or "error")
    return result_text(result, arch, site_url, name), outcome


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
