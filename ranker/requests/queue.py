"""Queueing an accepted request: the request and the model's catalog entry change together.

An accepted model is queued in the store's request queue (`Store.save_request`) and put into
the catalog at that commit if the catalog does not have it there, so that the next nightly run
evaluates it, first (`ranker.pipeline.pending`). The workflow checks in a job that may comment
but not push (`export_decision` writes what it queued) and queues in a job that may push but
talks to no hub (`add_exported` folds that file into the store).
"""

from __future__ import annotations

import json
from pathlib import Path

from ranker import jsonlimits
from ranker.crawl import with_entry
from ranker.errors import StoreError
from ranker.records import CatalogEntry, ModelRequest, RecordError
from ranker.requests.decision import Decision
from ranker.store import Store, check_storable, read_text_file

MAX_EXPORT_BYTES = 1_000_000  # a `check --export` file: one request and one catalog entry


def queue(store: Store, request: ModelRequest, entry: CatalogEntry, now: str) -> None:
    """Save the request, and the model's catalog entry unless the catalog has it at its sha."""
    with store.lock():  # the catalog and the request queue change together, or not at all
        entries = with_entry(store.catalog(), entry, now=now)
        if entries is not None:
            store.write_catalog(entries)
        store.save_request(request)


def add_exported(store: Store, path: Path) -> ModelRequest:
    """Fold a `check --export` file into the store (validated as the store validates)."""
    request, entry = _read_export(path)
    if request.model_id != entry.model_id or request.sha != entry.sha or entry.status != "ok":
        raise StoreError(path, "the request and its catalog entry do not agree")
    if request.architecture != entry.architecture:
        raise StoreError(
            path, "the request and its catalog entry do not agree", field="architecture"
        )
    store.architecture(entry.architecture)  # a tracked one, or UnknownArchitectureError
    known = {r.key for r in store.requests()}
    if request.key not in known:
        queue(store, request, entry, request.requested_at)
    return request


def _read_export(path: Path) -> tuple[ModelRequest, CatalogEntry]:
    """The request and the catalog entry an export file holds, each checked as the store
    checks what it reads."""
    text = read_text_file(path)
    try:
        data = jsonlimits.loads(text, what="the export", max_bytes=MAX_EXPORT_BYTES)
    except jsonlimits.JsonRefused as exc:
        raise StoreError(path, str(exc)) from None
    if not isinstance(data, dict) or set(data) != {"request", "entry"}:
        raise StoreError(path, "expected a JSON object with `request` and `entry`")
    try:
        request = ModelRequest.from_dict(data["request"])
        entry = CatalogEntry.from_dict(data["entry"])
    except (RecordError, TypeError, AttributeError) as exc:
        raise StoreError(path, f"malformed record: {exc}") from None
    problem = request.problem()
    if problem is not None:
        raise StoreError(path, f"request: {problem[1]}", field=problem[0])
    check_storable(path, entry)  # the catalog's own checks
    return request, entry


def export_decision(decision: Decision, path: Path) -> None:
    """The request and its catalog entry, for `add_exported` (one JSON object)."""
    assert decision.request is not None and decision.entry is not None
    data = {"request": decision.request.to_dict(), "entry": decision.entry.to_dict()}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, sort_keys=True, indent=1) + "\n", encoding="utf-8")
