"""The one rule of every keyed merge of the store, and which of two records of a key wins.

Why one rule: results, catalog entries and requests are all folded in by key (a shard's
results, the night's crawl, another copy's queue); each differs only in its precedence.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable
from typing import Any

from ranker.records import CatalogEntry, EvalResult, ModelRequest
from ranker.store.codec import canonical
from ranker.store.limits import parse_time

_NEVER = dt.datetime.min.replace(tzinfo=dt.UTC)


@dataclasses.dataclass
class MergeCounts:
    """What a keyed merge (`Store.merge_results`, ...) did with each incoming record."""

    new: int = 0  # no stored result had its key
    replaced: int = 0  # it was newer than the stored result for its key, which it replaced
    unchanged: int = 0  # the stored result for its key is the same record
    older: int = 0  # the stored result for its key is newer: that one is kept

    def __add__(self, other: MergeCounts) -> MergeCounts:
        return MergeCounts(*(getattr(self, f) + getattr(other, f) for f in MERGE_FIELDS))

    def text(self) -> str:
        return ", ".join(f"{getattr(self, f)} {f}" for f in MERGE_FIELDS)


MERGE_FIELDS = ("new", "replaced", "unchanged", "older")


def merge_keyed(
    stored: dict[Any, Any],
    incoming: dict[Any, Any],
    precedence: Callable[[Any], Any],
    keep: Callable[[Any], bool] | None = None,
) -> tuple[MergeCounts, dict[Any, Any]]:
    """(what each incoming record did, the merged records by key): a new key is added, a stored
    key keeps the record of greater `precedence`, and a stored record that `keep` holds is
    never replaced. The one rule of every keyed merge."""
    counts, merged = MergeCounts(), dict(stored)
    for key, record in incoming.items():
        have = stored.get(key)
        if have is None:
            counts.new += 1
        elif have == record:
            counts.unchanged += 1
            continue
        elif precedence(record) > precedence(have) and not (keep is not None and keep(have)):
            counts.replaced += 1
        else:
            counts.older += 1
            continue
        merged[key] = record
    return counts, merged


def evaluated_at(record: EvalResult) -> dt.datetime | None:
    """A result's `evaluated_at` as an aware datetime (naive ones are UTC); None if malformed."""
    return parse_time(record.evaluated_at)


def seen_precedence(entry: CatalogEntry) -> tuple[dt.datetime, str]:
    """Which of two catalog entries of one model wins a merge: the one seen later."""
    return parse_time(entry.last_seen or "") or _NEVER, canonical(entry)


def request_precedence(request: ModelRequest) -> tuple[bool, dt.datetime, str]:
    """Which of two copies of one request wins a merge: replied, then replied later."""
    when = parse_time(request.replied_at or "") or _NEVER
    return request.status == "replied", when, canonical(request)


def result_precedence(result: EvalResult) -> tuple[dt.datetime, str]:
    """Which of two results for one key wins a merge: the later `evaluated_at`, then (a tie of
    different records) the greater canonical JSON, so that merging is order-independent."""
    return evaluated_at(result) or _NEVER, canonical(result)
