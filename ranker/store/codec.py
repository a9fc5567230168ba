"""JSON Lines <-> records: the one decoder and encoder of the store's records.

A file is decoded a file at a time by msgspec into the record dataclasses (`bulk_records`)
when every line is a plain, valid record of this version: typed, in C, no Python per field.
Anything else (a blank line, a torn tail, a field this version does not know, a newer schema,
a value out of range, an invalid record) goes line by line, where `Record.from_dict` keeps
unknown fields and names the field a value does not fit, and `StoreError` names the file
and the line. Both paths accept the same lines and build equal records (tests/test_store.py).
"""

from __future__ import annotations

import dataclasses
import functools
import json
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import msgspec
import orjson

from ranker.errors import StoreError
from ranker.records import EXTRA, EvalResult, Record, RecordError
from ranker.store.files import warn_torn
from ranker.store.limits import (
    MAX_LINE,
    KeptLine,
    KeptLineWarning,
    limits_problem,
    raw_key,
    read_problem,
    within_read_limits,
)


def record_line(record: Record) -> str:
    """A record's line in a JSON Lines file of the store: sorted keys, UTF-8, a newline."""
    return canonical(record) + "\n"


def canonical(record: Record) -> str:
    """A record as the store writes it, without the newline: what ties are broken on."""
    return json.dumps(record.to_dict(), sort_keys=True, ensure_ascii=False)


def first_difference(a: Record, b: Record) -> str:
    """The name of the first field (in record order) where two records of one type differ."""
    return next(
        (
            f.name
            for f in dataclasses.fields(a)  # type: ignore[arg-type]
            if f.compare and getattr(a, f.name) != getattr(b, f.name)
        ),
        "model_id",
    )


def check_storable(path: Path, record: Any) -> None:
    """Raise StoreError (file, model id, field) unless `record` is stored and read back as is.

    Records are frozen dataclasses that can be built without `from_dict`, so a field may hold
    anything: it is checked the way a reader will see it, through JSON and `from_dict`, then
    by the record's own rules (`problem`) and the store's limits.
    """
    model = getattr(record, "model_id", None)
    who = f"model {model!r}" if isinstance(model, str) else f"record with model_id {model!r}"
    data = record.to_dict()
    try:
        back = type(record).from_dict(data)
    except RecordError as exc:
        raise StoreError(path, f"{who}: {exc.reason}", field=exc.field) from None
    if back != record:
        bad = first_difference(back, record)
        raise StoreError(
            path,
            f"{who}: {getattr(record, bad)!r} would read back as {getattr(back, bad)!r}",
            field=bad,
        )
    try:  # the whole record at once; field by field only to name the one that fails
        size = len(json.dumps(data, allow_nan=False, ensure_ascii=False).encode("utf-8")) + 1
    except (TypeError, ValueError):
        for name, value in data.items():
            try:
                json.dumps(value, allow_nan=False, ensure_ascii=False).encode("utf-8")
            except (TypeError, ValueError) as exc:  # e.g. a lone surrogate in a string
                raise StoreError(path, f"{who}: not storable as JSON: {exc}", field=name) from None
        raise StoreError(path, f"{who}: not storable as JSON") from None
    problem = back.problem() or limits_problem(data)
    if problem is not None:
        raise StoreError(path, f"{who}: {problem[1]}", field=problem[0])
    if size > MAX_LINE:  # sorted keys, as written, is the same size
        raise StoreError(path, f"{who}: a line of {size:,} bytes, more than {MAX_LINE:,}")


@functools.cache
def _decoders(record: type) -> tuple[msgspec.json.Decoder, msgspec.json.Decoder]:
    """(a decoder that refuses a line with a field `record` does not have, a decoder of
    `record`): msgspec ignores unknown fields of a dataclass, which must go the slow way to
    be kept (`Versioned`), so a first pass over raw values refuses them."""
    names = [f.name for f in dataclasses.fields(record) if f.name != EXTRA]
    shape = msgspec.defstruct(
        f"{record.__name__}Fields",
        [(name, msgspec.Raw, msgspec.UNSET) for name in names],
        forbid_unknown_fields=True,
        gc=False,
    )
    return msgspec.json.Decoder(shape), msgspec.json.Decoder(record)


def all_valid(records: list[Any]) -> bool:
    """Whether every record's own `problem` finds nothing (results checked in bulk)."""
    if records and type(records[0]) is EvalResult:
        return EvalResult.all_valid(records)
    return not any(r.problem() for r in records)


def bulk_records(record: type, lines: list[str]) -> list[Any] | None:
    """The records of `lines` (a JSON Lines file's lines, without their newlines), one per
    line, as the line-by-line path makes them; or None when any line is not for this path:
    blank, not JSON, a field unknown or missing, a value of another type or out of range,
    a newer schema, or a record whose `problem` is not None. The line-by-line path then skips
    it, keeps it, reads it or raises its error, naming the line."""
    return _bulk_text(record, "".join(line + "\n" for line in lines), lines)


def _bulk_text(record: type, text: str, lines: list[str] | None = None) -> list[Any] | None:
    """`bulk_records` of a file's text, each line ending in a newline (`lines`: its lines,
    when the caller has them split)."""
    if not text:
        return []
    fields, typed = _decoders(record)
    try:
        if len(fields.decode_lines(text)) != text.count("\n"):
            return None  # a blank line, or one of whitespace only
        records: list[Any] | None = typed.decode_lines(text)
    except msgspec.ValidationError:  # a field unknown, missing or of another type: see which
        records = _each_line(record, text.split("\n")[:-1] if lines is None else lines)
    except (msgspec.DecodeError, UnicodeEncodeError):  # not JSON; a lone surrogate
        return None
    if records is None or not (within_read_limits(record, records) and all_valid(records)):
        return None
    return records


def _has_long_line(text: str, limit: int = MAX_LINE // 4) -> bool:
    """Whether `text` has a line of `limit` characters or more (a character is at most 4
    bytes: only a file with a line this long is looked at closely), without splitting it."""
    if len(text) < limit:
        return False
    start = 0
    while (end := text.find("\n", start)) >= 0:
        if end - start >= limit:
            return True
        start = end + 1
    return len(text) - start >= limit


def _each_line(record: type, lines: list[str]) -> list[Any] | None:
    """`bulk_records` for a file with lines msgspec does not decode as they are: those
    through `from_dict` (which keeps unknown fields), the rest as before; None at the first
    line that is not an object, or that `from_dict` refuses."""
    fields, typed = _decoders(record)
    out = []
    for line in lines:
        try:
            fields.decode(line)
            out.append(typed.decode(line))
            continue
        except (msgspec.DecodeError, UnicodeEncodeError):
            pass
        try:
            data = orjson.loads(line)
            out.append(record.from_dict(data) if isinstance(data, dict) else None)
        except (ValueError, RecordError):  # orjson.JSONDecodeError is a ValueError
            return None
    return None if None in out else out


def parse_jsonl(
    path: Path,
    text: str,
    record: type,
    *,
    torn_tail: bool = False,
    kept: list[KeptLine] | None = None,
) -> list[tuple[int, Any]]:
    """(line number, record) for each non-blank line of JSON Lines `text` read from `path`.

    Each line must be a JSON object that `record.from_dict` accepts and whose `problem` is
    None; else StoreError naming the file, the line and the field. With `torn_tail`, a last
    line that has no newline and is not JSON (an append that did not finish: see
    `append_line`) is left out with a `TornLineWarning` naming the file and line, and the
    lines before it are read; without, it is an error like any malformed line. Lines end at
    "\\n" only (a record's text may hold U+2028, which `str.splitlines` splits at).

    A line this version must not read as a record but keeps (`read_problem`: a newer
    schema_version, a value out of range; or a line over `MAX_LINE`) goes into `kept` with a
    `KeptLineWarning` naming the file and line; without `kept` (a file from outside the store,
    e.g. a shard's) it is an error like any malformed line.
    """
    numbers, records = decode_jsonl(
        path, text, record, torn_tail=torn_tail, kept=kept, stacklevel=4
    )
    return list(zip(numbers, records, strict=True))


def decode_jsonl(
    path: Path,
    text: str,
    record: type,
    *,
    torn_tail: bool = False,
    kept: list[KeptLine] | None = None,
    stacklevel: int = 3,
) -> tuple[Sequence[int], list[Any]]:
    """`parse_jsonl` as (line numbers, records): a file at a time (`bulk_records`) when every
    line is a valid record, else line by line, which raises the first line's error. A
    `TornLineWarning` points `stacklevel` frames up: by default, at the caller."""
    complete = not text or text.endswith("\n")
    long = _has_long_line(text)
    records = None if long else _bulk_text(record, text if complete else text + "\n")
    if records is not None:
        return range(1, len(records) + 1), records
    lines = text.split("\n")
    if complete:
        lines.pop()
    reader = _LineReader(path, record, kept, stacklevel, torn=torn_tail and not complete)
    for number, raw in enumerate(lines, start=1):
        if not reader.read(number, raw, long, last=number == len(lines)):
            break
    return reader.numbers, reader.records


@dataclasses.dataclass
class _LineReader:
    """The line-by-line path of `decode_jsonl`: one line at a time, each error named."""

    path: Path
    record: type
    kept: list[KeptLine] | None
    stacklevel: int
    torn: bool  # the text ends without a newline: its last line may be a torn append
    numbers: list[int] = dataclasses.field(default_factory=list)
    records: list[Any] = dataclasses.field(default_factory=list)

    def keep(
        self, number: int, raw: str, key: Any, field: str | None, why: str, newer: bool
    ) -> None:
        if self.kept is None:
            raise StoreError(self.path, why, line=number, field=field)
        self.kept.append(KeptLine(number, raw, key, why, newer))
        where = f"{self.path}:{number}" + (f": field {field!r}" if field else "")
        warnings.warn(
            f"{where}: kept as written, not read: {why}",
            KeptLineWarning,
            stacklevel=self.stacklevel + 1,
        )

    def read(self, number: int, raw: str, long: bool, *, last: bool) -> bool:
        """Read one line; False when it was a torn last line (left out, with a warning)."""
        path = self.path
        if not raw or raw.isspace():
            return True
        size = len(raw.encode("utf-8")) + 1 if long and len(raw) * 4 >= MAX_LINE else 0
        if size > MAX_LINE:
            self.keep(
                number, raw, None, None, f"a line of {size:,} bytes, over {MAX_LINE:,}", False
            )
            return True
        try:
            try:  # orjson: fast; json.loads decides what it refuses (NaN, huge ints), and why
                data = orjson.loads(raw)
            except ValueError:
                data = json.loads(raw)
        except json.JSONDecodeError as exc:
            if self.torn and last:
                warn_torn(path, number, len(raw.encode("utf-8")), "ignored", self.stacklevel + 1)
                return False
            raise StoreError(path, f"not valid JSON: {exc.msg}", line=number) from None
        except RecursionError:
            raise StoreError(path, "not valid JSON: nested too deeply", line=number) from None
        if not isinstance(data, dict):
            raise StoreError(path, "expected a JSON object", line=number)
        soft = read_problem(self.record, data)
        if soft is not None:
            self.keep(number, raw, raw_key(self.record, data), *soft)
            return True
        try:
            value = self.record.from_dict(data)
        except RecordError as exc:
            raise StoreError(path, exc.reason, line=number, field=exc.field) from None
        problem = value.problem()
        if problem is not None:
            raise StoreError(path, problem[1], line=number, field=problem[0])
        self.numbers.append(number)
        self.records.append(value)
        return True
