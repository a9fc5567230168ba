"""The "why is my model not here?" page: every catalogued model that has no score on the site,
with the reason in plain words and what its owner can do, and every listed model with its rank
(or why it has none) and page, so that a search never says "not found" of a model on the site.

The catalog keeps every exclusion the crawl made and the evaluator's failures keep their typed
reason; this page is where a model's author finds them. Rows go out as chunk scripts
(`missing/<k>.js`, each calling `rankerMissing(k, rows)`) as the architecture tables' rows do,
so the page stays small however many models the hub has, and works from file://.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from ranker.explain import REMOVED_WORDS, advice, reason_words
from ranker.protocol import PROTOCOL_VERSION
from ranker.records import Architecture, CatalogEntry, EvalResult

if TYPE_CHECKING:
    from ranker.build.views import ArchitectureView

CHUNK_ROWS = 5000
# `page`: a listed model's page (relative to the site's root), "" for a model without one
FIELDS = ("model_id", "architecture", "status", "why", "advice", "detail", "page")
# The page's statuses, in the order the page lists their counts.
STATUSES = {
    "excluded": "excluded by the crawl",
    "failed": "evaluation failed",
    "queued": "waiting to be evaluated",
    "pending": "not classified yet",
    "removed": "no longer on the hub",
}
# Models on the site: searching one finds its rank or why it has none, not "not found".
LISTED = {"ranked": "ranked", "not ranked": "listed without a rank"}


def _latest(results: Iterable[EvalResult], protocol: str) -> dict[tuple[str, str], EvalResult]:
    latest: dict[tuple[str, str], EvalResult] = {}
    for r in results:
        if r.protocol_version != protocol:
            continue
        key = (r.model_id, r.revision)
        if key not in latest or r.evaluated_at > latest[key].evaluated_at:
            latest[key] = r
    return latest


def missing_rows(
    catalog: Iterable[CatalogEntry],
    results: Iterable[EvalResult],
    archs: Iterable[Architecture],
    protocol: str,
) -> list[list[Any]]:
    """One row (in FIELDS order) per catalogued model without a current score, sorted by id."""
    titles = {a.id: a.title for a in archs}
    latest = _latest(results, protocol)
    rows = []
    for e in catalog:
        arch = titles.get(e.architecture, e.architecture)
        result = latest.get((e.model_id, e.sha))
        if e.status == "ok":
            if result is not None and result.status == "ok":
                continue  # on the site
            if result is not None and result.failure == "permanent":
                row = ["failed", reason_words(result.reason), advice(result.reason)]
            elif result is not None and result.failure == "resource":
                why = f"the last try failed: {reason_words(result.reason)}; it is tried again"
                row = ["queued", why, ""]
            elif result is not None:
                row = ["queued", "the last try failed on the hub's side; it is tried again", ""]
            else:
                row = ["queued", "in the queue for a coming night", ""]
        elif e.status == "excluded":
            row = ["excluded", reason_words(e.reason), advice(e.reason)]
        elif e.status == "unclassified":
            row = ["pending", reason_words(e.reason), ""]
        else:  # removed
            why = f"renamed to {e.renamed_to}" if e.renamed_to else REMOVED_WORDS
            row = ["removed", why, ""]
        status, why, what = row
        rows.append([e.model_id, arch, status, why, what, e.detail or "", ""])
    return sorted(rows, key=lambda r: (r[0], r[1]))


def listed_rows(v: ArchitectureView) -> list[list[Any]]:
    """One row (in FIELDS order) per model the architecture's table lists: its rank and page,
    or why it has no rank, in the words of its model page."""
    rows = []
    source = "the MNLI probe" if v.has_probe else "the 2023 36-task average"
    legacy = {m.model_id for m in v.legacy}
    for r in v.records:
        rank, tied = r[v.primary], r[v.tied] or 1
        if rank is not None:
            shared = f"{rank}=" if tied > 1 else str(rank)  # "1=", as the table writes it
            why = f"ranked #{shared} of {v.ranked} {v.arch.title} models by {source}"
            why += f"; {tied} models share this rank" if tied > 1 else ""
            row = ["ranked", why, "Its page: its scores, and a badge for its card"]
        else:
            why = f"listed without a rank: {unranked_why(v, r, r['model_id'] in legacy)}"
            row = ["not ranked", why, "Ask for an evaluation: our probe ranks it once run."]
        status, why, what = row
        rows.append([r["model_id"], v.arch.title, status, why, what, "", r["page"]])
    return rows


def unranked_why(v: ArchitectureView, r: dict[str, Any], has_2023: bool) -> str:
    """Why a listed model has no rank (as its model page says)."""
    if v.has_probe:
        return (
            "no probe result of ours with per-pair scores under the current protocol "
            f"({PROTOCOL_VERSION}) yet"
        )
    if "shifted" in (r.get("flags") or []):
        return "its 2023 task columns look shifted, so it is kept out of the 2023 rank"
    if has_2023:
        return "not all 36 of its 2023 task scores were published, and no probe result of ours yet"
    return "no 2023 results, and no probe result of ours yet"


def write_missing(
    page: Callable[..., None],
    write: Callable[[str, str], None],
    rows: list[list[Any]],
) -> None:
    """The page (`missing.html`) and its row chunks. `page(path, template, **context)` renders
    a template, `write(path, text)` writes a file of the site."""
    rows = sorted(rows, key=lambda r: (r[0], r[1]))
    chunks = []
    for k, start in enumerate(range(0, len(rows), CHUNK_ROWS), start=1):
        path = f"missing/{k}.js"
        body = json.dumps(rows[start : start + CHUNK_ROWS], separators=(",", ":"))
        write(path, f"rankerMissing({k},{body});\n")
        chunks.append(path)
    counts = {s: 0 for s in {**STATUSES, **LISTED}}
    for row in rows:
        counts[row[2]] += 1
    config = {"fields": FIELDS, "chunks": chunks, "total": len(rows)}
    tally = [(counts[s], label) for s, label in {**LISTED, **STATUSES}.items() if counts[s]]
    page("missing.html", "missing.html", config=config, counts=counts, tally=tally)
