"""The store's limits: what it writes (and reads back), and the lines it keeps without reading.

Why these: orjson reads integers up to 2**64 - 1 as int and larger ones as a float, so a count
of 2**64 came back as a float that no int field takes, and every later command stopped on it;
a date past pandas' last Timestamp (2262) stopped `ranker build`; a line over GitHub's 100 MB
file limit could not be pushed. One range for every integer (each is a count, a size, a seed,
an issue number or a version): 0 <= n <= 2**63 - 1, the top of the range every boundary shares
(`ranker.jsonlimits`), the bottom the store's own.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import operator
import typing
from collections.abc import Iterable
from itertools import chain
from typing import Any

from ranker.jsonlimits import MAX_INT
from ranker.records import SCHEMA_VERSION

MIN_INT = 0
MAX_TEXT = 64 * 1024  # characters in one string (an error message, a detail, `correct` bits)
MAX_DEPTH = 6  # objects and lists nested in a record, the record counted
MAX_LINE = 1024 * 1024  # bytes of one JSON Lines line, its newline included
EARLIEST = dt.datetime(2018, 1, 1, tzinfo=dt.UTC)  # before the hub held models
FUTURE_SLACK = dt.timedelta(days=1)  # a written date may be this far past the writer's clock
# The dates a read accepts: wider than a write's window and fixed (a read must not depend on
# the reader's clock), but inside what pandas can hold.
READ_YEARS = ("1970", "2200")
DATE_FIELDS = frozenset(
    {"evaluated_at", "requested_at", "replied_at", "first_seen", "last_seen", "last_modified"}
)


class KeptLineWarning(UserWarning):
    """A line of the store that this version keeps as written but does not read (see
    `KeptLine`): a record of a newer schema, or one with a value out of the store's limits."""


@dataclasses.dataclass(frozen=True)
class KeptLine:
    """A line that a read left out but that every rewrite of its file writes back unchanged.

    Why kept, not an error: one such line must not stop every later crawl, update and build
    (the whole read would fail on it), and it must not be lost either: a newer version's
    record is that version's data (`newer`: kept whatever this version writes), and a value out
    of range written by an old version is kept until a valid record of the same key replaces
    it (its model is crawled or evaluated again), so nothing stored is dropped silently.
    """

    line: int
    text: str  # the line as it is in the file, without its newline
    key: Any  # the record's key where the line shows it (model id, ...), else None
    why: str
    newer: bool  # a newer schema_version: kept even when a record of its key is written


def value_problem(value: Any, depth: int) -> str | None:
    """What is out of the store's limits in one JSON value (None: nothing)."""
    if value is None or isinstance(value, (bool, float)):
        return None
    if isinstance(value, int):
        if not MIN_INT <= value <= MAX_INT:
            return f"integer {value} out of range ({MIN_INT} to 2**63 - 1)"
        return None
    if isinstance(value, str):  # a subclass too (torch's TorchVersion): JSON text all the same
        if len(value) > MAX_TEXT:
            return f"text of {len(value):,} characters, more than {MAX_TEXT:,}"
        return None
    if depth >= MAX_DEPTH:
        return f"nested more than {MAX_DEPTH} deep"
    if isinstance(value, dict):
        items: Iterable[Any] = chain.from_iterable(value.items())
    elif isinstance(value, (list, tuple)):
        items = value
    else:
        return f"not a JSON value: {type(value).__name__}"
    for item in items:
        problem = value_problem(item, depth + 1)
        if problem is not None:
            return problem
    return None


def parse_time(text: str) -> dt.datetime | None:
    """An ISO 8601 time as an aware datetime (naive ones are UTC); None if it is not one."""
    try:
        when = dt.datetime.fromisoformat(text)
    except (TypeError, ValueError):
        return None
    return when if when.tzinfo is not None else when.replace(tzinfo=dt.UTC)


def limits_problem(
    data: dict[str, Any], *, now: dt.datetime | None = None
) -> tuple[str, str] | None:
    """(field, what is wrong) when a record (as `to_dict` makes it) is out of the limits the
    store writes within: integers, text lengths, nesting, dates between 2018 and a day past
    `now` (the writer's clock); None when it is within them. The line size is the caller's."""
    for name, value in data.items():
        problem = value_problem(value, 1)
        if problem is not None:
            return name, problem
        if name in DATE_FIELDS and value is not None:
            when = parse_time(value) if isinstance(value, str) else None
            if when is None:
                return name, f"not an ISO 8601 time: {value!r}"
            latest = (now or dt.datetime.now(dt.UTC)) + FUTURE_SLACK
            if not EARLIEST <= when <= latest:
                return name, f"{value!r} is not between {EARLIEST:%Y-%m-%d} and a day from now"
    return None


@functools.cache
def int_fields(record: type) -> tuple[str, ...]:
    """The fields of a record type that hold an integer (or None)."""
    hints = typing.get_type_hints(record)
    return tuple(f.name for f in dataclasses.fields(record) if hints[f.name] in (int, int | None))


def read_problem(record: type, data: dict[str, Any]) -> tuple[str, str, bool] | None:
    """(field, why, newer) when a parsed line is one to keep as written and not read: a newer
    schema_version, an integer field's number out of range (a count of 2**64 that orjson read
    as a float), a date outside `READ_YEARS`. Everything else a read checks as before."""
    version = data.get("schema_version")
    if type(version) is int and version > SCHEMA_VERSION and "schema_version" in int_fields(record):
        return "schema_version", f"schema_version {version} is newer than this version's " \
            f"{SCHEMA_VERSION}", True  # fmt: skip
    for name in int_fields(record):
        value = data.get(name)
        if type(value) in (int, float) and not MIN_INT <= value <= MAX_INT:
            return name, f"number {value!r} out of range ({MIN_INT} to 2**63 - 1)", False
    for name in DATE_FIELDS.intersection(data):
        value = data[name]
        if isinstance(value, str) and not READ_YEARS[0] <= value < READ_YEARS[1]:
            when = parse_time(value)
            if when is not None and not READ_YEARS[0] <= f"{when.year:04d}" < READ_YEARS[1]:
                return name, f"date {value!r} outside the years {'-'.join(READ_YEARS)}", False
    return None


def raw_key(record: type, data: dict[str, Any]) -> Any:
    """The key a parsed line would have as a record (`record.key`), or None."""
    names = KEY_FIELDS.get(record.__name__)
    if names is None:
        return None
    values = tuple(data.get(n) for n in names)
    return values[0] if len(values) == 1 else values


KEY_FIELDS = {
    "CatalogEntry": ("model_id",),
    "EvalResult": ("model_id", "revision", "protocol_version"),
    "ModelRequest": ("issue", "model_id"),
}


def keep_lines(kept: Iterable[KeptLine], written: Iterable[Any]) -> list[KeptLine]:
    """The kept lines a rewrite writes back: a newer version's always, an out-of-range one
    until a record of its key is written (`written`: the keys of the new content)."""
    keys = set(written)
    return [k for k in kept if k.newer or k.key is None or k.key not in keys]


def kept_text(kept: Iterable[KeptLine]) -> str:
    return "".join(k.text + "\n" for k in kept)


def within_read_limits(record: type, records: list[Any]) -> bool:
    """Whether `read_problem` would find nothing in any of `records` (all of one type), in
    bulk: the smallest and largest value of each integer field and each date field."""
    if not records:
        return True
    for name in int_fields(record):
        values = {*map(operator.attrgetter(name), records)}  # a few distinct values: in C
        values.discard(None)
        top = SCHEMA_VERSION if name == "schema_version" else MAX_INT
        if values and not (min(values) >= MIN_INT and max(values) <= top):
            return False
    for name in DATE_FIELDS.intersection(f.name for f in dataclasses.fields(record)):
        values = {*map(operator.attrgetter(name), records)}
        values.discard(None)
        if values and not (READ_YEARS[0] <= min(values) and max(values) < READ_YEARS[1]):
            return False  # perhaps only another spelling (`read_problem` parses it)
    return True
