"""Merge one crawl into the previous catalog: what is new, changed, unchanged or removed.

Pure: the crawl hands in entries and the time; nothing here talks to the hub or the disk.
Models that disappear stay in the catalog marked `removed` (the history keeps them), but only
for architectures this crawl actually listed, so a partial or failed crawl removes nothing.

`last_seen` moves only when an entry changes (new, new sha, new metadata, removed): a crawl that
finds nothing new leaves the catalog byte-identical, so the nightly job commits nothing.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from dataclasses import dataclass, field

from ranker.records import CatalogEntry
from ranker.store import limits_problem

_REQUIRED = frozenset({"schema_version", "model_id", "architecture", "sha", "status"})


def within_limits(entry: CatalogEntry) -> tuple[CatalogEntry | None, list[str]]:
    """The entry with every optional value the store would refuse dropped (a date the hub
    puts in the future, say), and what was dropped; None when a value it cannot do without
    is out. Why here: the store refuses a whole catalog for one bad entry, and one model's
    odd metadata must fail alone."""
    dropped: list[str] = []
    while (problem := limits_problem(entry.to_dict())) is not None:
        name, why = problem
        if name in _REQUIRED or name in dropped or not hasattr(entry, name):
            return None, [*dropped, f"{name}: {why}"]
        empty = () if isinstance(getattr(entry, name), tuple) else None
        entry = dataclasses.replace(entry, **{name: empty})
        dropped.append(f"{name}: {why}")
    return entry, dropped


@dataclass
class MergeResult:
    """The merged catalog and the model ids in each bucket (sorted)."""

    entries: list[CatalogEntry]
    new: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)


def merge(
    previous: Iterable[CatalogEntry],
    crawled: Iterable[CatalogEntry],
    *,
    architectures: set[str],
    now: str,
) -> MergeResult:
    """Fold `crawled` (this crawl's entries) into `previous`, stamping first/last seen."""
    before = {e.model_id: e for e in previous}
    result = MergeResult(entries=[])
    seen: set[str] = set()
    for entry in crawled:
        seen.add(entry.model_id)
        old = before.get(entry.model_id)
        if old is None or old.status == "removed":
            result.new.append(entry.model_id)  # a model that comes back counts as new
        elif old.sha != entry.sha:
            result.changed.append(entry.model_id)
        else:
            result.unchanged.append(entry.model_id)
        first_seen = old.first_seen if old is not None and old.first_seen else now
        merged = dataclasses.replace(entry, first_seen=first_seen, last_seen=now)
        if old is not None and dataclasses.replace(merged, last_seen=old.last_seen) == old:
            merged = old  # nothing about it changed: keep the stored entry as it was
        result.entries.append(merged)
    for model_id, old in before.items():
        if model_id in seen:
            continue
        if old.architecture in architectures and old.status != "removed":
            result.removed.append(model_id)
            old = dataclasses.replace(old, status="removed", reason=None)
        result.entries.append(old)
    for bucket in (result.new, result.changed, result.unchanged, result.removed):
        bucket.sort()
    return result


def with_entry(
    catalog: list[CatalogEntry], entry: CatalogEntry, *, now: str
) -> list[CatalogEntry] | None:
    """The catalog with one entry (within the store's limits) folded in, as a crawl that found
    only it would; None when nothing is to change: the catalog has the model ok at that sha
    already, or the entry holds a value it cannot do without that the store would refuse."""
    kept, _ = within_limits(entry)
    have = next((e for e in catalog if e.model_id == entry.model_id), None)
    if kept is None or (have is not None and have.sha == kept.sha and have.status == "ok"):
        return None
    return merge(catalog, [kept], architectures=set(), now=now).entries
