"""The results store in `data/`: the only module that knows its files and formats.

Formats are text that diffs well in git (TOML, CSV, JSON Lines), written in a stable order and
atomically (temp file + rename), and validated on read: a malformed row raises `StoreError`
naming the file, the line and the field. The catalog, the results and the requests are
validated on write too, so the store never holds a row it cannot read back, and within the
store's limits (`limits_problem`: integers 0 to 2**63 - 1, text up to 64 Ki characters, nesting,
dates from 2018 to a day past the writer's clock, lines up to 1 MiB): a value out of them is
refused with the record and the field, never written. The results, which grow by one a
model, are the exception to whole-file rewrites: `results/<bucket>.jsonl` files that a result
is appended to (see "evaluation results" in `Store`).

Across versions: a line of a newer `schema_version`, or one an old version wrote out of the
limits, is not read as a record but kept byte for byte by every rewrite (`KeptLine`), with a
`KeptLineWarning` naming the file and line; fields of this schema that this version does not
know are kept with their record (`Record.from_dict`). Every writer takes one lock
(`Store.lock`), and a rename is followed by an fsync of its folder.
"""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import datetime as dt
import fcntl
import functools
import gc
import hashlib
import io
import json
import math
import operator
import os
import re
import tempfile
import threading
import time
import tomllib
import types
import typing
import warnings
from collections import defaultdict, deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from itertools import chain, compress, repeat
from pathlib import Path
from typing import Any

import orjson

from ranker.errors import StoreError, UnknownArchitectureError
from ranker.jsonlimits import MAX_INT
from ranker.records import (
    _REPO_ID,
    LEGACY_TASKS,
    SCHEMA_VERSION,
    Architecture,
    CatalogEntry,
    EvalResult,
    LegacyBaseline,
    LegacyModel,
    Record,
    RecordError,
    is_valid_repo_id,
)

ARCHITECTURES = "architectures.toml"
LEGACY_MODELS = "legacy/models.csv"
LEGACY_BASELINES = "legacy/baselines.csv"
LEGACY_META = "legacy/meta.json"
CATALOG = "catalog.jsonl"
RESULTS = "results.jsonl"  # the results' one file before they were split: read, then migrated
RESULTS_DIR = "results"  # the results: RESULTS_DIR/<bucket>.jsonl, see `result_bucket`
RESULT_BUCKETS = 64  # a power of two up to 256; changing it means rewriting every result
PROBE_PIN = "probe.json"  # the probe data's pinned hub commit (MNLI), set once
CRAWL_STATE = "crawl_state.json"  # where the crawl resumes: a hint, never a record

LEGACY_MODEL_COLUMNS: tuple[str, ...] = (
    "model_id", "architecture", "params", "tokenizer", "model_type", "last_modified",
    "mnli_lp", "avg", "gain", "flags", "shifted_from", *LEGACY_TASKS,
)  # fmt: skip
LEGACY_BASELINE_COLUMNS: tuple[str, ...] = ("architecture", "metric", "mean", "std", "n_seeds")

CATALOG_STATUSES: tuple[str, ...] = ("ok", "excluded", "unclassified", "removed")
RESULT_STATUSES: tuple[str, ...] = ("ok", "error")
_RESULT_STATUS_SET = frozenset(RESULT_STATUSES)
_SHA = re.compile(r"[0-9a-f]{40}")

# -- limits: the store writes only what it reads back, and what every later stage can use -----
# Why these: orjson (the reader) reads integers up to 2**64 - 1 as int and larger ones as a
# float, so a count of 2**64 came back as a float that no int field takes, and every later
# command stopped on it; a date past pandas' last Timestamp (2262) stopped `ranker build`; a
# line over GitHub's 100 MB file limit could not be pushed. One range for every integer (each
# is a count, a size, a seed, an issue number or a version): 0 <= n <= 2**63 - 1, the top of
# the range every boundary shares (`ranker.jsonlimits`), the bottom the store's own.
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


def _value_problem(value: Any, depth: int) -> str | None:
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
        problem = _value_problem(item, depth + 1)
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
        problem = _value_problem(value, 1)
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
def _int_fields(record: type) -> tuple[str, ...]:
    """The fields of a record type that hold an integer (or None)."""
    hints = typing.get_type_hints(record)
    return tuple(f.name for f in dataclasses.fields(record) if hints[f.name] in (int, int | None))


def _read_problem(record: type, data: dict[str, Any]) -> tuple[str, str, bool] | None:
    """(field, why, newer) when a parsed line is one to keep as written and not read: a newer
    schema_version, an integer field's number out of range (a count of 2**64 that orjson read
    as a float), a date outside `READ_YEARS`. Everything else a read checks as before."""
    version = data.get("schema_version")
    if (
        type(version) is int
        and version > SCHEMA_VERSION
        and "schema_version" in _int_fields(record)
    ):
        return "schema_version", f"schema_version {version} is newer than this version's " \
            f"{SCHEMA_VERSION}", True  # fmt: skip
    for name in _int_fields(record):
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


def _raw_key(record: type, data: dict[str, Any]) -> Any:
    """The key a parsed line would have as a record (`record.key`), or None."""
    names = _KEY_FIELDS.get(record.__name__)
    if names is None:
        return None
    values = tuple(data.get(n) for n in names)
    return values[0] if len(values) == 1 else values


_KEY_FIELDS = {
    "CatalogEntry": ("model_id",),
    "EvalResult": ("model_id", "revision", "protocol_version"),
    "ModelRequest": ("issue", "model_id"),
}


def _keep(kept: Iterable[KeptLine], written: Iterable[Any]) -> list[KeptLine]:
    """The kept lines a rewrite writes back: a newer version's always, an out-of-range one
    until a record of its key is written (`written`: the keys of the new content)."""
    keys = set(written)
    return [k for k in kept if k.newer or k.key is None or k.key not in keys]


def _kept_text(kept: Iterable[KeptLine]) -> str:
    return "".join(k.text + "\n" for k in kept)


def _fsync_dir(path: Path) -> None:
    """Make a rename or a new file in folder `path` durable (the entry is the folder's data)."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


# Temp files of atomic writes: `.{name}.{pid}.{random}.tmp` (before the pid was added:
# `.{name}.{random}.tmp`). A write killed between mkstemp and rename leaves one behind.
STALE_TEMP_AGE = 3600.0  # seconds: older than this, a temp file is stale whoever wrote it
STALE_TEMP_GRACE = 60.0  # seconds: a temp file of a dead writer is left alone this long


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_FILE_MODE = 0o666 & ~_umask()


def _pid_alive(pid: int) -> bool:
    """Whether a process `pid` exists on this machine (signal 0 checks without sending)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, OverflowError):
        return False
    except OSError:
        return True  # EPERM: it exists, it is someone else's
    return True


def remove_stale_temps(path: Path, *, now: float | None = None) -> list[Path]:
    """Delete the temp files that killed atomic writes of `path` left; return what went.

    A temp file is stale when it is older than `STALE_TEMP_AGE`, or when the process named in
    its name is gone and it is older than `STALE_TEMP_GRACE` (the grace spares a writer in
    another PID namespace sharing the folder). Temp files of other targets are never touched.
    """
    now = time.time() if now is None else now
    prefix, suffix = f".{path.name}.", ".tmp"
    removed = []
    try:
        candidates = list(path.parent.iterdir())
    except OSError:
        return []
    for tmp in candidates:
        name = tmp.name
        if not (name.startswith(prefix) and name.endswith(suffix)):
            continue
        middle = name[len(prefix) : -len(suffix)]
        with_pid = re.fullmatch(r"(\d+)\.[^.]+", middle)
        if with_pid is None and re.fullmatch(r"[^.]+", middle) is None:
            continue  # a temp file of another target, e.g. `.{name}.bak.{random}.tmp`
        try:
            stat = tmp.lstat()
        except OSError:
            continue
        age = now - stat.st_mtime
        dead = with_pid is not None and not _pid_alive(int(with_pid.group(1)))
        if age > STALE_TEMP_AGE or (dead and age > STALE_TEMP_GRACE):
            with contextlib.suppress(OSError):
                tmp.unlink()
                removed.append(tmp)
    return removed


def atomic_write_text(path: Path, text: str) -> None:
    """Replace `path` with `text` so that a reader sees the old file or the new, never half.

    First removes the stale temp files of earlier writes of `path` that were killed midway.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temps(path)
    fd, tmp = tempfile.mkstemp(
        prefix=f".{path.name}.{os.getpid()}.", suffix=".tmp", dir=path.parent
    )
    try:
        os.fchmod(fd, _FILE_MODE)  # mkstemp makes 0600; stored files are ordinary files
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)  # the rename itself: without it a crash can bring back the old file


def result_bucket(model_id: str) -> str:
    """The results file of `model_id`'s results: `RESULTS_DIR/<bucket>.jsonl`, two hex digits.

    Why a hash of the model id, not the architecture: every result of one key (model, revision,
    protocol) must be in one file, in the order written, for a later line to supersede an
    earlier one on read; the key holds no architecture (a reclassified model would otherwise
    have its results in two files, with no order between them). A hash also bounds every file
    however the results are spread over architectures (all 100k in one is the worst case for a
    per-architecture split), needs no file-name-safe architecture, and is stable: sha256, on
    every machine and Python. bench/bench_store.py measures it: a full ok record (5,000
    `correct` bits, timings, versions) is ~2 KB, so 100k results of one architecture make 64
    files of ~2.9 MB (the largest 3.0 MB); a file nears 25 MB only past ~800k results, and
    GitHub's 100 MB past 3 million. Fewer, larger files would load no faster (a load is the
    same lines), and each append and rewrite touches one file, whatever the count.
    """
    return _BUCKET_NAMES[hashlib.sha256(model_id.encode("utf-8")).digest()[0]]


_BUCKET_NAMES = [f"{byte % RESULT_BUCKETS:02x}" for byte in range(256)]
_BUCKET_BYTES = {  # the first sha256 bytes of each bucket's model ids
    name: frozenset(b for b in range(256) if _BUCKET_NAMES[b] == name) for name in _BUCKET_NAMES
}


_BUCKET_FILE = re.compile(r"[0-9a-f]{2}\.jsonl")
# A result's key (model, revision, protocol) and its place in a file and in `Store.results()`.
_RESULT_KEY = operator.attrgetter("model_id", "revision", "protocol_version")
_RESULT_ORDER = operator.attrgetter("architecture", "model_id", "revision", "protocol_version")
_MODEL_ID = operator.attrgetter("model_id")
_STATUS = operator.attrgetter("status")


class CrawlStateWarning(UserWarning):
    """`crawl_state.json` is malformed: ignored (it is only a resumption hint)."""


_CRAWL_STATE_MAX = 1_000_000  # bytes; a few cursors take a few hundred
_CRAWL_STATE_URL = re.compile(r"https?://[\x21-\x7e]{1,2000}")


def _crawl_state_problem(data: object) -> str | None:
    """What is wrong with a crawl state (None: it is fine): `{"cursors": {tag: URL}}`."""
    if not isinstance(data, dict) or set(data) - {"cursors"}:
        return 'expected a JSON object with "cursors" only'
    cursors = data.get("cursors", {})
    if not isinstance(cursors, dict):
        return '"cursors": expected an object'
    for tag, url in cursors.items():
        if not (isinstance(tag, str) and 0 < len(tag) <= 300 and tag.isprintable()):
            return f'"cursors": a listing name that is not plain text: {tag!r:.60}'
        if not (isinstance(url, str) and _CRAWL_STATE_URL.fullmatch(url)):
            return f'"cursors": {tag!r:.60}: expected an http(s) URL, got {url!r:.60}'
    return None


class TornLineWarning(UserWarning):
    """A JSON Lines file ends in a torn line: an append cut short (a crash, a full disk)."""


def _warn_torn(path: Path, line: int, size: int, action: str, stacklevel: int = 3) -> None:
    warnings.warn(
        f"{path}:{line}: {action} a torn last line ({size} bytes, no newline, not JSON): "
        "an append that did not finish",
        TornLineWarning,
        stacklevel=stacklevel,
    )


def result_line(record: Record) -> str:
    """A record's line in a JSON Lines file of the store: sorted keys, UTF-8, a newline."""
    return json.dumps(record.to_dict(), sort_keys=True, ensure_ascii=False) + "\n"


def results_text(results: Iterable[EvalResult]) -> str:
    """The text of a results file: one line a result, by (architecture, model, revision,
    protocol), so that a rewrite puts every line where it was and a git diff shows the change."""
    return "".join(result_line(r) for r in sorted(results, key=_RESULT_ORDER))


def _repair_tail(fd: int, path: Path) -> bytes:
    """Make the file open as `fd` (read-write) end at a line end; return what must precede the
    next line. A last line without a newline that is JSON (e.g. a hand-edited file) is kept and
    gets its newline; one that is not (a torn append) is cut off, with a `TornLineWarning`."""
    size = os.fstat(fd).st_size
    if size == 0 or os.pread(fd, 1, size - 1) == b"\n":
        return b""
    start, chunk = size, 64 * 1024
    while start > 0:  # back to the last newline, a chunk at a time
        begin = max(0, start - chunk)
        found = os.pread(fd, start - begin, begin).rfind(b"\n")
        if found >= 0:
            start = begin + found + 1
            break
        start = begin
    tail = os.pread(fd, size - start, start)
    try:
        json.loads(tail)
        return b"\n"
    except ValueError:  # JSONDecodeError, or bytes that are not UTF-8
        pass
    line = os.pread(fd, start, 0).count(b"\n") + 1
    os.ftruncate(fd, start)
    _warn_torn(path, line, len(tail), "removed")
    return b""


def append_line(path: Path, line: str) -> None:
    """Append one line (ending in a newline) to `path`, creating it, durably: one write() with
    O_APPEND, then fsync, so a crash leaves at most a torn last line (no newline), which a
    read ignores and the next append first removes (`_repair_tail`).

    O(1) whatever the file's size: nothing else in it is read or rewritten. The caller holds
    whatever lock excludes other writers of `path` (`Store` holds its results lock)."""
    if not line.endswith("\n") or "\n" in line[:-1]:
        raise ValueError("expected exactly one line, ending in a newline")
    path.parent.mkdir(parents=True, exist_ok=True)
    created = not path.exists()
    fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, _FILE_MODE)
    try:
        data = memoryview(_repair_tail(fd, path) + line.encode("utf-8"))
        while data:  # a regular file takes it in one write; loop in case it does not
            data = data[os.write(fd, data) :]
        os.fsync(fd)
    finally:
        os.close(fd)
    if created:
        _fsync_dir(path.parent)


def _fmt(value: Any) -> str:
    """CSV cell text; floats in shortest round-trip form so a reread is identical."""
    if value is None:
        return ""
    if isinstance(value, float):
        return repr(value)
    return str(value)


def parse_float(path: Path, line: int, name: str, text: str) -> float | None:
    """A CSV cell as a finite float, None when empty; errors name the file, line and field."""
    text = text.strip()
    if text == "":
        return None
    try:
        value = float(text)
    except ValueError:
        raise StoreError(path, f"not a number: {text!r}", line=line, field=name) from None
    if value != value or value in (float("inf"), float("-inf")):
        raise StoreError(path, f"not a finite number: {text!r}", line=line, field=name)
    return value


def _semantic_problem(
    record: CatalogEntry | EvalResult | ModelRequest,
) -> tuple[str, str] | None:
    """(field, what is wrong) for a well-typed record that is still invalid."""
    if isinstance(record, ModelRequest):
        return _request_problem(record)
    if not is_valid_repo_id(record.model_id):
        return "model_id", f"invalid hub repo id {record.model_id!r}"
    if isinstance(record, CatalogEntry):
        if _SHA.fullmatch(record.sha) is None:
            return "sha", f"expected 40 lowercase hex characters, got {record.sha!r}"
        if record.status not in CATALOG_STATUSES:
            return "status", f"expected one of {', '.join(CATALOG_STATUSES)}, got {record.status!r}"
        if record.renamed_to is not None:
            if not is_valid_repo_id(record.renamed_to):
                return "renamed_to", f"invalid hub repo id {record.renamed_to!r}"
            if record.status != "removed":
                return "renamed_to", f"set on a model with status {record.status!r}, not removed"
    elif record.status not in RESULT_STATUSES:
        return "status", f"expected one of {', '.join(RESULT_STATUSES)}, got {record.status!r}"
    return None


def _check_round_trip(path: Path, record: CatalogEntry | EvalResult) -> None:
    """Raise StoreError (file, model id, field) unless `record` is stored and read back as is.

    Records are frozen dataclasses that can be built without `from_dict`, so a field may hold
    anything: it is checked the way a reader will see it, through JSON and `from_dict`.
    """
    model = getattr(record, "model_id", None)
    who = f"model {model!r}" if isinstance(model, str) else f"record with model_id {model!r}"
    data = record.to_dict()
    try:
        back = type(record).from_dict(data)
    except RecordError as exc:
        raise StoreError(path, f"{who}: {exc.reason}", field=exc.field) from None
    if back != record:
        bad = next(
            (
                f.name
                for f in dataclasses.fields(record)
                if getattr(back, f.name) != getattr(record, f.name)
            ),
            "model_id",
        )
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
    problem = _semantic_problem(back) or limits_problem(data)
    if problem is not None:
        raise StoreError(path, f"{who}: {problem[1]}", field=problem[0])
    if size > MAX_LINE:  # sorted keys, as written, is the same size
        raise StoreError(path, f"{who}: a line of {size:,} bytes, more than {MAX_LINE:,}")


@functools.cache
def _fast_plan(cls: type) -> tuple[Any, ...] | None:
    """How `_fast_from_dict` reads `cls`, or None when a field's type is beyond it.

    (field names, their set, a getter of their values, the types each field takes, its kind:
    None, "float", ("dict", value type) or ("tuple", item type), and a cache of verdicts on
    the tuples of value types seen so far)."""
    hints = typing.get_type_hints(cls)
    names, allowed, kinds = [], [], []
    for f in dataclasses.fields(cls):
        hint, accepted = hints[f.name], set()
        if typing.get_origin(hint) in (typing.Union, types.UnionType):
            inner = [a for a in typing.get_args(hint) if a is not type(None)]
            if len(inner) != 1 or len(typing.get_args(hint)) != 2:
                return None
            hint, accepted = inner[0], {type(None)}
        origin, args = typing.get_origin(hint), typing.get_args(hint)
        kind: Any = None
        if hint in (str, int, bool):
            accepted.add(hint)
        elif hint is float:
            accepted.add(float)
            kind = "float"
        elif origin is dict and args[0] is str and args[1] in (str, int, float, bool):
            accepted.add(dict)
            kind = ("dict", args[1])
        elif origin is tuple and len(args) == 2 and args[1] is ... and args[0] in (str, int):
            accepted.add(list)
            kind = ("tuple", args[0])
        else:
            return None
        names.append(f.name)
        allowed.append(frozenset(accepted))
        kinds.append(kind)
    if len(names) < 2:
        return None
    # Built as `__init__` would (all fields given, every one assigned), skipping it: a frozen
    # dataclass's __init__ sets each field through object.__setattr__, half the read's time.
    # Only for a plain dataclass: nothing in __post_init__, no slots, no custom __init__.
    plain = not hasattr(cls, "__post_init__") and "__slots__" not in vars(cls)
    return tuple(names), frozenset(names), operator.itemgetter(*names), allowed, kinds, {}, plain


def _positions(indexes: list[int]) -> Callable[[tuple[Any, ...]], tuple[Any, ...]] | None:
    if not indexes:
        return None
    if len(indexes) == 1:
        (i,) = indexes
        return lambda values: (values[i],)
    return operator.itemgetter(*indexes)


def _verdict(plan: tuple[Any, ...], signature: tuple[type, ...]) -> Any:
    """False when a value of this tuple of types is not for the fast path, else (a getter of
    its float values, its dict and tuple fields)."""
    _, _, _, allowed, kinds, _, _ = plan
    if any(t not in ok for t, ok in zip(signature, allowed, strict=True)):
        return False
    floats = [i for i, t in enumerate(signature) if t is float]
    special = [
        (i, kind, _FLOAT_SET if item is float else frozenset({item}))
        for i, t in enumerate(signature)
        if t in (dict, list)
        for kind, item in [kinds[i]]
    ]
    return _positions(floats), tuple(special)


def _fast_from_dict(cls: type, data: dict[str, Any]) -> Any:
    """`cls.from_dict(data)` for a dict parsed from JSON, or None: then call `from_dict`,
    which either accepts it too or raises the RecordError that names the field.

    Why: `from_dict` checks each field against its type hint in Python, which made reading
    100k results take most of 10 s. Here every field must be present, each value of exactly
    a type its field takes (a float field takes a float: an int, which `from_dict` would
    convert, goes the slow way), floats finite, dict values of their type (keys of a JSON
    object are always text); what the writer writes always is. The types of the values, as
    one tuple, are judged once per distinct tuple (a store holds a handful: ok, error, older
    records), so most of the check runs in C. It accepts nothing `from_dict` refuses and
    builds an equal record. `data` becomes the record's own dict when it has no other keys.
    """
    plan = _fast_plan(cls)
    if plan is None:
        return None
    names, _, getter, _, _, verdicts, plain = plan
    try:
        values = getter(data)
    except KeyError:
        return None  # a field is missing: from_dict says which, or fills in its default
    signature = tuple(map(type, values))
    verdict = verdicts.get(signature)
    if verdict is None:
        verdict = verdicts[signature] = _verdict(plan, signature)
    if verdict is False:
        return None
    floats, special = verdict
    if floats is not None and not math.isfinite(sum(floats(values))):
        return None  # a NaN or infinity (or an overflowing sum): from_dict decides
    tuples = []
    for i, kind, item in special:
        value = values[i]
        items = value.values() if kind == "dict" else value
        if value and not {*map(type, items)} <= item:
            return None
        if value and item is _FLOAT_SET and not math.isfinite(sum(items)):
            return None
        if kind == "tuple":
            tuples.append(i)
    if len(data) != len(names):
        return None  # fields it does not know: `from_dict` keeps them (`Record.extra_fields`)
    fields = data  # exactly the fields: the parsed dict serves as the record's own
    for i in tuples:
        fields[names[i]] = tuple(values[i])
    if not plain:
        return cls(**fields)
    out = object.__new__(cls)
    object.__setattr__(out, "__dict__", fields)
    return out


_FLOAT_SET = frozenset({float})


@contextlib.contextmanager
def _gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while a load makes its records: each of 100k records
    is ~40 tracked objects, so collections ran again and again over everything loaded so far
    (a quarter of a 100k load), and records hold no cycles for them to find."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def parse_jsonl(
    path: Path,
    text: str,
    record: type,
    *,
    torn_tail: bool = False,
    kept: list[KeptLine] | None = None,
) -> list[tuple[int, Any]]:
    """(line number, record) for each non-blank line of JSON Lines `text` read from `path`.

    Each line must be a JSON object that `record.from_dict` accepts and that passes the store's
    checks (repo ids, sha, status); else StoreError naming the file, the line and the field.
    With `torn_tail`, a last line that has no newline and is not JSON (an append that did not
    finish: see `append_line`) is left out with a `TornLineWarning` naming the file and line,
    and the lines before it are read; without, it is an error like any malformed line.
    Lines end at "\\n" only (a record's text may hold U+2028, which `str.splitlines` splits at).

    A line this version must not read as a record but keeps (`_read_problem`: a newer
    schema_version, a value out of range; or a line over `MAX_LINE`) goes into `kept` with a
    `KeptLineWarning` naming the file and line; without `kept` (a file from outside the store,
    e.g. a shard's) it is an error like any malformed line.
    """
    numbers, records = _parse_jsonl(
        path, text, record, torn_tail=torn_tail, kept=kept, stacklevel=4
    )
    return list(zip(numbers, records, strict=True))


def _parse_jsonl(
    path: Path,
    text: str,
    record: type,
    *,
    torn_tail: bool = False,
    kept: list[KeptLine] | None = None,
    stacklevel: int = 3,
) -> tuple[Sequence[int], list[Any]]:
    """`parse_jsonl` as (line numbers, records): a file at a time (`_bulk_records`) when
    every line is a valid record, else line by line, which raises the first line's error.
    A `TornLineWarning` points `stacklevel` frames up: by default, at the caller."""
    lines = text.split("\n")
    complete = lines[-1] == ""  # the text ends with a newline (or is empty)
    if complete:
        lines.pop()
    # a character is at most 4 bytes: only a file with a line this long is looked at closely
    long = bool(lines) and max(map(len, lines)) >= MAX_LINE // 4
    records = None if long else _bulk_records(record, lines)
    if records is not None:
        return range(1, len(lines) + 1), records
    numbers, records = [], []
    loads, from_dict = orjson.loads, record.from_dict

    def keep(number: int, raw: str, key: Any, field: str | None, why: str, newer: bool) -> None:
        if kept is None:
            raise StoreError(path, why, line=number, field=field)
        kept.append(KeptLine(number, raw, key, why, newer))
        where = f"{path}:{number}" + (f": field {field!r}" if field else "")
        warnings.warn(
            f"{where}: kept as written, not read: {why}", KeptLineWarning, stacklevel=stacklevel
        )

    for number, raw in enumerate(lines, start=1):
        if not raw or raw.isspace():
            continue
        size = len(raw.encode("utf-8")) + 1 if long and len(raw) * 4 >= MAX_LINE else 0
        if size > MAX_LINE:
            keep(number, raw, None, None, f"a line of {size:,} bytes, over {MAX_LINE:,}", False)
            continue
        try:
            try:  # orjson: a third of json.loads's time on a 100k-record store
                data = loads(raw)
            except ValueError:  # json.loads decides (NaN, huge ints), and says why
                data = json.loads(raw)
        except json.JSONDecodeError as exc:
            if torn_tail and not complete and number == len(lines):
                _warn_torn(path, number, len(raw.encode("utf-8")), "ignored", stacklevel)
                break
            raise StoreError(path, f"not valid JSON: {exc.msg}", line=number) from None
        except RecursionError:
            raise StoreError(path, "not valid JSON: nested too deeply", line=number) from None
        if not isinstance(data, dict):
            raise StoreError(path, "expected a JSON object", line=number)
        soft = _read_problem(record, data)
        if soft is not None:
            keep(number, raw, _raw_key(record, data), *soft)
            continue
        value = _fast_from_dict(record, data)
        if value is None:
            try:
                value = from_dict(data)
            except RecordError as exc:
                raise StoreError(path, exc.reason, line=number, field=exc.field) from None
        problem = _semantic_problem(value)
        if problem is not None:
            raise StoreError(path, problem[1], line=number, field=problem[0])
        numbers.append(number)
        records.append(value)
    return numbers, records


def _bulk_records(record: type, lines: list[str]) -> list[Any] | None:
    """The records of `lines` (a JSON Lines file's lines, without their newlines) as the
    line-by-line loop of `_parse_jsonl` makes them, one per line, or None when any line is
    not for this path: blank, not JSON to orjson (a torn last line, NaN, a huge int), not an
    object, refused by `from_dict`, or failing `_semantic_problem`; the loop then skips it,
    reads it or raises its error, naming the line.

    Why: the loop's Python work per line (calls, the type check of `_fast_from_dict` value by
    value, the checks of `_semantic_problem`) was half of loading 100k results. Here the same
    checks run a file at a time, mostly in C (map, set, zip): orjson parses every line; each
    line's keys and the types of its values, as a pair of tuples, are judged once per distinct
    pair (a file holds a handful: ok, error, older records) by the rules of `_fast_from_dict`;
    the items of dict and list fields, of all lines at once; the lines it does not judge
    (another key set, an int in a float field) go through `_fast_from_dict` and `from_dict`
    one by one. No float check is needed: orjson refuses NaN and infinities, and numbers that
    overflow a double (tests/test_store.py checks it does), so a float it makes is finite.
    """
    plan = _fast_plan(record)
    if plan is None:
        return None
    names, _, _, _, kinds, _, plain = plan
    try:
        parsed = list(map(orjson.loads, lines))
    except ValueError:  # orjson.JSONDecodeError
        return None
    if not parsed:
        return []
    if {*map(type, parsed)} != {dict}:
        return None
    keys = list(map(tuple, parsed))
    types = list(map(tuple, map(map, repeat(type), map(dict.values, parsed))))
    if keys.count(keys[0]) == len(keys):  # as the store writes them: one order of keys
        verdicts = {sig: _bulk_verdict(plan, keys[0], sig) for sig in set(types)}
        sigs = types
    else:
        sigs = list(zip(keys, types, strict=True))
        verdicts = {sig: _bulk_verdict(plan, *sig) for sig in set(sigs)}
    # which lines it builds; None: all of them
    fast = None if all(verdicts.values()) else list(map(verdicts.__getitem__, sigs))
    specials = [
        (names[i], container, _FLOAT_SET if item is float else frozenset({item}))
        for i, kind in enumerate(kinds)
        if isinstance(kind, tuple)
        for container, item in [kind]
    ]
    for name, container, item_types in specials:  # their items, of every line at once
        items = dict.values if container == "dict" else iter
        lines_built = parsed if fast is None else compress(parsed, fast)
        values = filter(None, map(operator.itemgetter(name), lines_built))
        if {*map(type, chain.from_iterable(map(items, values)))} <= item_types:
            continue
        fast = [True] * len(parsed) if fast is None else fast
        for n, data in enumerate(parsed):  # an item of a type it does not take: whose?
            value = data[name] if fast[n] else None
            if value and not {*map(type, items(value))} <= item_types:
                fast[n] = False
    built = parsed if fast is None else list(compress(parsed, fast))
    for name, container, _ in specials:
        if container == "tuple":
            for data in built:
                if data[name] is not None:
                    data[name] = tuple(data[name])
    if plain:  # as `_fast_from_dict` builds them: the parsed dict is the record's own
        made = list(map(object.__new__, repeat(record, len(built))))
        deque(map(object.__setattr__, made, repeat("__dict__"), built), maxlen=0)
    else:
        made = [record(**data) for data in built]
    out = made
    if fast is not None and len(made) < len(parsed):  # the lines it did not judge, one by one
        out, next_made = [], iter(made).__next__
        for data, ok in zip(parsed, fast, strict=True):
            if ok:
                out.append(next_made())
                continue
            value = _fast_from_dict(record, data)
            if value is None:
                try:
                    value = record.from_dict(data)
                except RecordError:
                    return None
            out.append(value)
    return out if _no_semantic_problem(out) and _within_read_limits(record, out) else None


def _within_read_limits(record: type, records: list[Any]) -> bool:
    """Whether `_read_problem` would find nothing in any of `records` (all of one type), in
    bulk: the smallest and largest value of each integer field and each date field."""
    if not records:
        return True
    for name in _int_fields(record):
        values = {*map(operator.attrgetter(name), records)}  # a few distinct values: in C
        values.discard(None)
        top = SCHEMA_VERSION if name == "schema_version" else MAX_INT
        if values and not (min(values) >= MIN_INT and max(values) <= top):
            return False
    for name in DATE_FIELDS.intersection(f.name for f in dataclasses.fields(record)):
        values = {*map(operator.attrgetter(name), records)}
        values.discard(None)
        if values and not (READ_YEARS[0] <= min(values) and max(values) < READ_YEARS[1]):
            return False  # perhaps only another spelling (`_read_problem` parses it)
    return True


def _bulk_verdict(plan: tuple[Any, ...], keys: tuple[str, ...], types: tuple[type, ...]) -> bool:
    """Whether a parsed line with these keys and these types of values (in the same order)
    is for `_bulk_records`: exactly the record's fields, each value of a type it takes."""
    names, name_set, _, allowed, _, _, _ = plan
    if len(keys) != len(names) or not name_set.issuperset(keys):
        return False
    by_name = dict(zip(keys, types, strict=True))
    return all(by_name[name] in ok for name, ok in zip(names, allowed, strict=True))


def _no_semantic_problem(records: list[Any]) -> bool:
    """Whether `_semantic_problem` finds nothing wrong with any of `records` (all of one
    type); for results, in bulk: ids by `is_valid_repo_id`'s rules, a pattern match each."""
    if not records or type(records[0]) is not EvalResult:
        return not any(map(_semantic_problem, records))
    if not {*map(_STATUS, records)} <= _RESULT_STATUS_SET:
        return False
    ids = list(map(_MODEL_ID, records))
    if not all(map(_REPO_ID.fullmatch, ids)):  # so no id holds a newline
        return False
    joined = "\n".join(ids) + "\n"
    return ".." not in joined and "--" not in joined and ".git\n" not in joined


def read_text_file(path: Path | str) -> str:
    """A UTF-8 text file; a missing, unreadable or non-UTF-8 file is a StoreError naming it."""
    path = Path(path)
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise StoreError(path, "file not found") from None
    except IsADirectoryError:
        raise StoreError(path, "is a directory, expected a file") from None
    except UnicodeDecodeError as exc:
        raise StoreError(path, f"not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except OSError as exc:
        raise StoreError(path, f"cannot read: {exc.strerror}") from None


def _read_appended(path: Path, *, required: bool = False) -> str | None:
    """The text of a file that grows by appends (None if it does not exist, unless `required`).

    As `read_text_file`, except that bytes that are not UTF-8 in a last line with no newline
    that is not JSON are a torn append cut inside a character, not an error: that line is
    decoded with replacement characters, for `parse_jsonl(torn_tail=True)` to leave out."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        if required:
            raise StoreError(path, "file not found") from None
        return None
    except IsADirectoryError:
        raise StoreError(path, "is a directory, expected a file") from None
    except OSError as exc:
        raise StoreError(path, f"cannot read: {exc.strerror}") from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        cut = data.rfind(b"\n") + 1
        bad = StoreError(path, f"not UTF-8 text ({exc.reason} at byte {exc.start})")
        if exc.start < cut:
            raise bad from None
        tail = data[cut:].decode("utf-8", errors="replace")
        try:
            json.loads(tail)
        except ValueError:
            return data[:cut].decode("utf-8") + tail
        raise bad from None


def evaluated_at(record: EvalResult) -> dt.datetime | None:
    """A result's `evaluated_at` as an aware datetime (naive ones are UTC); None if malformed."""
    try:
        when = dt.datetime.fromisoformat(record.evaluated_at)
    except ValueError:
        return None
    return when if when.tzinfo is not None else when.replace(tzinfo=dt.UTC)


def _first_difference(a: Record, b: Record) -> str:
    """The name of the first field (in record order) where two records of one type differ."""
    return next(
        (f.name for f in dataclasses.fields(a) if getattr(a, f.name) != getattr(b, f.name)),
        "model_id",
    )


def check_line_sizes(path: Path | str, *, max_line: int = MAX_LINE) -> None:
    """Refuse (StoreError, file and line) a file with a line longer than `max_line` bytes (its
    newline counted), reading it a chunk at a time: a file from outside the store (a shard's)
    is refused before a line of 110 MB is read whole, let alone parsed."""
    path = Path(path)
    try:
        fh = path.open("rb")
    except FileNotFoundError:
        raise StoreError(path, "file not found") from None
    except IsADirectoryError:
        raise StoreError(path, "is a directory, expected a file") from None
    except OSError as exc:
        raise StoreError(path, f"cannot read: {exc.strerror}") from None
    with fh:
        line, run = 1, 0
        while chunk := fh.read(1 << 20):
            start = 0
            while (end := chunk.find(b"\n", start)) >= 0:
                if run + end - start + 1 > max_line:
                    break
                line, run, start = line + 1, 0, end + 1
            else:
                run += len(chunk) - start
                if run <= max_line:
                    continue
            raise StoreError(path, f"a line of more than {max_line:,} bytes", line=line)


def read_results_file(path: Path | str) -> list[EvalResult]:
    """The results of a JSON Lines file of EvalResult records (`ranker update --results-out`),
    as `read_results_lines` reads them, without their line numbers."""
    return [result for _, result in read_results_lines(path)]


def read_results_lines(
    path: Path | str, *, max_line: int = MAX_LINE
) -> list[tuple[int, EvalResult]]:
    """(line number, result) of a JSON Lines file of EvalResult records (`ranker update
    --results-out`), checked as the store checks what it writes: no line over `max_line`
    bytes (`check_line_sizes`, before anything is parsed), every line a valid, storable
    record within the store's limits with a parseable `evaluated_at`, no field EvalResult
    does not have and no newer schema (what this version cannot check, it does not take
    from outside), and no key (model, revision, protocol) twice with different content (a
    line repeated verbatim is read once). Any malformed line refuses the whole file:
    StoreError naming the file, the line and the field. An empty file holds no results. A
    torn last line (no newline, not JSON: a run killed mid-append, see `append_line`) is left
    out with a `TornLineWarning`: its model was not stored, so it stays in the queue, as when
    a run is killed before storing it; the file's other results are read.
    """
    path = Path(path)
    check_line_sizes(path, max_line=max_line)
    seen: dict[tuple[str, str, str], tuple[int, EvalResult]] = {}
    text = _read_appended(path, required=True)
    assert text is not None
    for number, result in parse_jsonl(path, text, EvalResult, torn_tail=True):
        try:
            _check_round_trip(path, result)
        except StoreError as exc:
            raise StoreError(path, exc.reason, line=number, field=exc.field) from None
        if result.extra_fields:
            unknown = ", ".join(sorted(result.extra_fields))
            raise StoreError(path, f"not a field of a result: {unknown}", line=number)
        if evaluated_at(result) is None:
            raise StoreError(
                path,
                f"not an ISO 8601 time: {result.evaluated_at!r}",
                line=number,
                field="evaluated_at",
            )
        if result.key in seen:
            first, earlier = seen[result.key]
            if earlier != result:
                raise StoreError(
                    path,
                    f"{result.model_id!r} at revision {result.revision!r}, protocol "
                    f"{result.protocol_version!r} is on line {first} too, with another value",
                    line=number,
                    field=_first_difference(earlier, result),
                )
            continue
        seen[result.key] = (number, result)
    return [(number, result) for number, result in seen.values()]


@dataclasses.dataclass
class MergeCounts:
    """What `Store.merge_results` did with each incoming record."""

    new: int = 0  # no stored result had its key
    replaced: int = 0  # it was newer than the stored result for its key, which it replaced
    unchanged: int = 0  # the stored result for its key is the same record
    older: int = 0  # the stored result for its key is newer: that one is kept

    @property
    def changed(self) -> int:
        return self.new + self.replaced

    def __add__(self, other: MergeCounts) -> MergeCounts:
        return MergeCounts(*(getattr(self, f) + getattr(other, f) for f in _MERGE_FIELDS))

    def text(self) -> str:
        return ", ".join(f"{getattr(self, f)} {f}" for f in _MERGE_FIELDS)


_MERGE_FIELDS = ("new", "replaced", "unchanged", "older")


def _canonical(record: Record) -> str:
    return json.dumps(record.to_dict(), sort_keys=True, ensure_ascii=False)


def _merge_keyed(
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


def _seen_precedence(entry: CatalogEntry) -> tuple[dt.datetime, str]:
    """Which of two catalog entries of one model wins a merge: the one seen later."""
    when = parse_time(entry.last_seen or "") or dt.datetime.min.replace(tzinfo=dt.UTC)
    return when, _canonical(entry)


def _request_precedence(request: ModelRequest) -> tuple[bool, dt.datetime, str]:
    """Which of two copies of one request wins a merge: replied, then replied later."""
    when = parse_time(request.replied_at or "") or dt.datetime.min.replace(tzinfo=dt.UTC)
    return request.status == "replied", when, _canonical(request)


def _precedence(result: EvalResult) -> tuple[dt.datetime, str]:
    """Which of two results for one key wins a merge: the later `evaluated_at`, then (a tie of
    different records) the greater canonical JSON, so that merging is order-independent."""
    when = evaluated_at(result) or dt.datetime.min.replace(tzinfo=dt.UTC)
    return when, json.dumps(result.to_dict(), sort_keys=True, ensure_ascii=False)


# A results file as loaded: (its text, {key: result} with the last line of a key, kept lines)
_Bucket = tuple[str, dict[Any, EvalResult], list[KeptLine]]


def _parse_int(path: Path, line: int, name: str, text: str) -> int | None:
    if text == "":
        return None
    try:
        return int(text)
    except ValueError:
        raise StoreError(path, f"not an integer: {text!r}", line=line, field=name) from None


class Store:
    """A results store rooted at a data directory (by default the repo's `data/`)."""

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root)
        self._mutex = threading.RLock()  # the threads of this process, before the flock
        self._depth = 0  # how deep this Store holds `lock` (it is re-entrant)

    def __getstate__(self) -> dict[str, Any]:
        return {"root": self.root}  # a lock is not sent (e.g. to a worker process)

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["root"])  # type: ignore[misc]

    @contextlib.contextmanager
    def lock(self) -> Iterator[None]:
        """Hold the store's one write lock: every writer of `data/` takes it (the results, the
        catalog, the requests, the MNLI pin, the crawl state), so a read-modify-write of one
        never interleaves with another's in any process. A caller that reads, decides and
        writes (e.g. a request check that updates the catalog and the queue) holds it around
        all three: it is re-entrant in one `Store`. flock on the data folder itself (no lock
        file to commit); a crashed holder's lock goes with its process. Two `Store` objects of
        one folder in one thread must not nest it (flock would wait on itself)."""
        with self._mutex:
            if self._depth:
                self._depth += 1
                try:
                    yield
                finally:
                    self._depth -= 1
                return
            self.root.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.root, os.O_RDONLY | os.O_DIRECTORY)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
                self._depth = 1
                try:
                    yield
                finally:
                    self._depth = 0
            finally:
                os.close(fd)  # releases the lock

    # -- helpers -------------------------------------------------------------------------------

    def path(self, name: str) -> Path:
        return self.root / name

    def check(self) -> None:
        """Fail early, with the path, when the data directory is missing or unreadable."""
        if not self.root.exists():
            raise StoreError(self.root, "data directory not found")
        if not self.root.is_dir():
            raise StoreError(self.root, "not a directory")
        if not os.access(self.root, os.R_OK | os.X_OK):
            raise StoreError(self.root, "data directory is not readable")

    def _read_text(self, name: str, *, required: bool = True) -> str | None:
        path = self.path(name)
        try:
            return path.read_text(encoding="utf-8")
        except FileNotFoundError:
            if required:
                self.check()
                raise StoreError(path, "file not found") from None
            return None
        except UnicodeDecodeError as exc:
            raise StoreError(path, f"not UTF-8 text ({exc.reason} at byte {exc.start})") from None
        except OSError as exc:
            raise StoreError(path, f"cannot read: {exc.strerror}") from None

    def _read_csv(
        self, name: str, columns: tuple[str, ...]
    ) -> Iterator[tuple[int, dict[str, str]]]:
        path = self.path(name)
        text = self._read_text(name)
        assert text is not None
        reader = csv.reader(io.StringIO(text, newline=""))
        try:
            header = next(reader)
        except StopIteration:
            raise StoreError(path, "empty file, expected a header row", line=1) from None
        except csv.Error as exc:
            raise StoreError(path, f"malformed CSV: {exc}", line=1) from None
        missing = [c for c in columns if c not in header]
        if missing:
            raise StoreError(path, f"missing columns: {', '.join(missing)}", line=1)
        try:
            for row in reader:
                line = reader.line_num
                if not row:
                    continue
                if len(row) != len(header):
                    raise StoreError(
                        path, f"expected {len(header)} fields, found {len(row)}", line=line
                    )
                yield line, dict(zip(header, row, strict=True))
        except csv.Error as exc:
            raise StoreError(path, f"malformed CSV: {exc}", line=reader.line_num) from None

    def _write_csv(self, name: str, columns: tuple[str, ...], rows: Iterable[list[str]]) -> None:
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(columns)
        writer.writerows(rows)
        atomic_write_text(self.path(name), buf.getvalue())

    def _read_jsonl(self, name: str, record: type, kept: list[KeptLine] | None = None) -> list[Any]:
        """The records of a JSON Lines file of the store; the lines kept as written (a newer
        schema, out of range) go to `kept` with a warning (a list is made when none is given:
        a store's own file never fails on one)."""
        text = self._read_text(name, required=False)
        if text is None:
            return []
        kept = [] if kept is None else kept
        return [r for _, r in parse_jsonl(self.path(name), text, record, kept=kept)]

    def _kept_lines(self, name: str, record: type) -> list[KeptLine]:
        """The lines of a file of the store that a rewrite must write back (`KeptLine`)."""
        kept: list[KeptLine] = []
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", KeptLineWarning)  # the reads warn about them
            self._read_jsonl(name, record, kept)
        return kept

    def _checked(self, name: str, record: type, records: Iterable[Any]) -> list[Any]:
        """`records` as a list, each shown to read back as itself; else StoreError, no write."""
        path = self.path(name)
        out = list(records)
        for r in out:
            if type(r) is not record:
                kind = f"expected a record of type {record.__name__}, got {type(r).__name__}"
                raise StoreError(path, kind)
            _check_round_trip(path, r)
        return out

    def _write_jsonl(self, name: str, record: type, records: Iterable[Any]) -> None:
        """Replace a JSON Lines file of the store with `records` (in order), then the lines it
        keeps as written (`_keep`). The caller holds the lock."""
        records = list(records)
        kept = _keep(self._kept_lines(name, record), (r.key for r in records))
        lines = [json.dumps(r.to_dict(), sort_keys=True, ensure_ascii=False) for r in records]
        atomic_write_text(
            self.path(name), "".join(line + "\n" for line in lines) + _kept_text(kept)
        )

    # -- architectures -------------------------------------------------------------------------

    def architectures(self) -> list[Architecture]:
        path = self.path(ARCHITECTURES)
        text = self._read_text(ARCHITECTURES)
        assert text is not None
        try:
            doc = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise StoreError(path, f"malformed TOML: {exc}") from None
        entries = doc.get("architecture")
        if not isinstance(entries, list) or not entries:
            raise StoreError(path, "expected one or more [[architecture]] tables")
        out: list[Architecture] = []
        seen: set[str] = set()
        for index, entry in enumerate(entries, start=1):
            where = f"architecture #{index}"
            if not isinstance(entry, dict):
                raise StoreError(path, f"{where}: expected a table")
            try:
                arch = Architecture.from_dict(entry)
            except RecordError as exc:
                raise StoreError(path, f"{where}, field {exc.field!r}: {exc.reason}") from None
            for hub_id in arch.hub_ids:
                if not is_valid_repo_id(hub_id):
                    raise StoreError(path, f"{where}: invalid hub repo id {hub_id!r}")
                if hub_id in seen:
                    raise StoreError(path, f"{where}: hub id {hub_id!r} is listed twice")
                seen.add(hub_id)
            if not is_valid_repo_id(arch.slug) or "/" in arch.slug:
                raise StoreError(path, f"{where}: slug {arch.slug!r} is not file-name safe")
            out.append(arch)
        return out

    def architecture(self, name: str) -> Architecture:
        """Resolve an architecture by its id, any alias, or its slug."""
        archs = self.architectures()
        for arch in archs:
            if name in arch.hub_ids or name == arch.slug:
                return arch
        raise UnknownArchitectureError(name, [a.id for a in archs])

    # -- legacy (2023) results -----------------------------------------------------------------

    def has_legacy(self) -> bool:
        return self.path(LEGACY_MODELS).exists()

    def legacy_models(self) -> list[LegacyModel]:
        path = self.path(LEGACY_MODELS)
        known = {a.id for a in self.architectures()}
        out = []
        for line, row in self._read_csv(LEGACY_MODELS, LEGACY_MODEL_COLUMNS):
            model_id = row["model_id"]
            if not is_valid_repo_id(model_id):
                raise StoreError(
                    path, f"invalid hub repo id {model_id!r}", line=line, field="model_id"
                )
            if row["architecture"] not in known:
                raise StoreError(
                    path,
                    f"unknown architecture {row['architecture']!r}",
                    line=line,
                    field="architecture",
                )
            out.append(
                LegacyModel(
                    model_id=model_id,
                    architecture=row["architecture"],
                    params=_parse_int(path, line, "params", row["params"]),
                    tokenizer=row["tokenizer"],
                    model_type=row["model_type"],
                    last_modified=row["last_modified"],
                    mnli_lp=parse_float(path, line, "mnli_lp", row["mnli_lp"]),
                    scores={t: parse_float(path, line, t, row[t]) for t in LEGACY_TASKS},
                    avg=parse_float(path, line, "avg", row["avg"]),
                    gain=parse_float(path, line, "gain", row["gain"]),
                    flags=tuple(f for f in row["flags"].split(";") if f),
                    shifted_from=row["shifted_from"] or None,
                )
            )
        return out

    def write_legacy_models(self, models: Iterable[LegacyModel]) -> None:
        ordered = sorted(models, key=lambda m: (m.architecture, m.model_id))
        rows = [
            [
                m.model_id, m.architecture, _fmt(m.params), m.tokenizer, m.model_type,
                m.last_modified, _fmt(m.mnli_lp), _fmt(m.avg), _fmt(m.gain), ";".join(m.flags),
                _fmt(m.shifted_from), *(_fmt(m.scores.get(t)) for t in LEGACY_TASKS),
            ]
            for m in ordered
        ]  # fmt: skip
        self._write_csv(LEGACY_MODELS, LEGACY_MODEL_COLUMNS, rows)

    def legacy_baselines(self) -> list[LegacyBaseline]:
        path = self.path(LEGACY_BASELINES)
        out = []
        for line, row in self._read_csv(LEGACY_BASELINES, LEGACY_BASELINE_COLUMNS):
            values: dict[str, Any] = {
                "architecture": row["architecture"],
                "metric": row["metric"],
                "mean": parse_float(path, line, "mean", row["mean"]),
                "std": parse_float(path, line, "std", row["std"]),
                "n_seeds": _parse_int(path, line, "n_seeds", row["n_seeds"]),
            }
            try:
                out.append(LegacyBaseline.from_dict(values))
            except RecordError as exc:
                raise StoreError(path, exc.reason, line=line, field=exc.field) from None
        return out

    def write_legacy_baselines(self, baselines: Iterable[LegacyBaseline]) -> None:
        order = {t: i for i, t in enumerate(("avg", *LEGACY_TASKS))}
        ordered = sorted(
            baselines, key=lambda b: (b.architecture, order.get(b.metric, 99), b.metric)
        )
        rows = [
            [b.architecture, b.metric, _fmt(b.mean), _fmt(b.std), _fmt(b.n_seeds)] for b in ordered
        ]
        self._write_csv(LEGACY_BASELINES, LEGACY_BASELINE_COLUMNS, rows)

    def legacy_meta(self) -> dict[str, Any]:
        path = self.path(LEGACY_META)
        text = self._read_text(LEGACY_META, required=False)
        if text is None:
            return {}
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise StoreError(path, f"not valid JSON: {exc.msg}", line=exc.lineno) from None
        if not isinstance(data, dict):
            raise StoreError(path, "expected a JSON object")
        return data

    def write_legacy_meta(self, meta: dict[str, Any]) -> None:
        text = json.dumps(meta, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
        atomic_write_text(self.path(LEGACY_META), text)

    # -- crawl catalog and evaluation results --------------------------------------------------

    def catalog(self) -> list[CatalogEntry]:
        return self._read_jsonl(CATALOG, CatalogEntry)

    def write_catalog(self, entries: Iterable[CatalogEntry]) -> None:
        """Replace the catalog; a record that would not read back raises StoreError, unwritten."""
        checked = self._checked(CATALOG, CatalogEntry, entries)
        ordered = sorted(checked, key=lambda e: (e.architecture, e.model_id))
        with self.lock():
            self._write_jsonl(CATALOG, CatalogEntry, ordered)

    # -- evaluation results: RESULTS_DIR/<bucket>.jsonl -----------------------------------------
    #
    # Why this layout: one results.jsonl rewritten whole per result made a backfill O(n^2),
    # lost updates between parallel writers, and passes GitHub's 100 MB file limit near 100k
    # results. Now a result is one appended line (`save_result`, O(1)), in the file of its
    # model's hash bucket (`result_bucket`), under a lock that every writer of the results
    # takes; a later line for a key supersedes an earlier one on read. Bulk operations
    # (write, merge, rename) and `compact` rewrite the files they change, sorted and without
    # superseded lines, each atomically. The old single `results.jsonl` is still read (under
    # the buckets: a bucket's line wins) and the first write migrates it: buckets written
    # first, the old file removed last, so a crash between the two loses nothing.

    @property
    def results_dir(self) -> Path:
        return self.path(RESULTS_DIR)

    def results_file(self, model_id: str) -> Path:
        """The file that holds (and is appended) `model_id`'s results."""
        return self.results_dir / f"{result_bucket(model_id)}.jsonl"

    def _result_path(self, record: Any) -> Path:
        """Where an error about `record` points: its file, or the results folder."""
        model = getattr(record, "model_id", None)
        return self.results_file(model) if isinstance(model, str) else self.results_dir

    def _results_lock(self) -> contextlib.AbstractContextManager[None]:
        """The store's write lock (`lock`), with the results folder made."""
        self.results_dir.mkdir(parents=True, exist_ok=True)
        return self.lock()

    def _bucket_files(self) -> list[Path]:
        try:
            paths = sorted(self.results_dir.iterdir())
        except FileNotFoundError:
            return []
        except NotADirectoryError:
            raise StoreError(self.results_dir, "not a directory") from None
        out = []
        for path in paths:
            if path.name.startswith(".") or not path.name.endswith(".jsonl"):
                continue  # temp files of atomic writes, notes; a stray .jsonl is an error
            if _BUCKET_FILE.fullmatch(path.name) is None or path.stem >= f"{RESULT_BUCKETS:02x}":
                raise StoreError(path, f"not a results file (expected 00.jsonl to "
                                       f"{RESULT_BUCKETS - 1:02x}.jsonl)")  # fmt: skip
            out.append(path)
        return out

    def _load_results(self) -> tuple[dict[str, _Bucket], list[Any]]:
        """({bucket: (file text, {key: result}, kept lines)}, results of the old single file).

        In a bucket the last line of a key wins; each line must be in its model's bucket (else
        a later line could not supersede it). Every line is validated (`parse_jsonl`)."""
        with _gc_paused():
            return self._load_results_now()

    def _load_results_now(self) -> tuple[dict[str, _Bucket], list]:
        buckets: dict[str, _Bucket] = {}
        for path in self._bucket_files():
            text = _read_appended(path)
            if text is None:
                continue  # emptied and removed since listed
            kept: list[KeptLine] = []
            numbers, results = _parse_jsonl(path, text, EvalResult, torn_tail=True, kept=kept)
            bucket, sha256 = path.stem, hashlib.sha256  # `result_bucket`, for a file at once
            firsts = [
                sha256(model.encode("utf-8")).digest()[0] for model in map(_MODEL_ID, results)
            ]
            if not _BUCKET_BYTES[bucket].issuperset(firsts):
                n = next(n for n, first in enumerate(firsts) if _BUCKET_NAMES[first] != bucket)
                model = results[n].model_id
                raise StoreError(path, f"model {model!r} belongs in "
                                       f"{self.results_file(model).name}",
                                 line=numbers[n], field="model_id")  # fmt: skip
            # the last line of a key wins (at the place of its first)
            records = dict(zip(map(_RESULT_KEY, results), results, strict=True))
            buckets[bucket] = (text, records, kept)
        return buckets, self._read_jsonl(RESULTS, EvalResult)

    @staticmethod
    def _merged(buckets: dict[str, _Bucket], old: list[Any]) -> dict:
        merged = {r.key: r for r in old}
        for _, records, _ in buckets.values():
            merged.update(records)
        return merged

    def results(self) -> list[EvalResult]:
        """Every stored result, one per key, by (architecture, model, revision, protocol)."""
        results = list(self._merged(*self._load_results()).values())
        # `_RESULT_ORDER` as one string a result, which sorts 100k results in half the time of
        # tuples (the same order unless a field holds a NUL character, which no stored result
        # does); the strings made, and the results put in order, with no Python call each
        keys = list(map("\0".join, map(_RESULT_ORDER, results)))
        return list(map(results.__getitem__, sorted(range(len(keys)), key=keys.__getitem__)))

    def write_results(self, results: Iterable[EvalResult]) -> None:
        """Replace the results; a record that would not read back raises StoreError, unwritten."""
        checked = self._checked_results(results)
        with self._results_lock():
            self._commit_results(checked, self._load_results())

    def _checked_results(self, records: Iterable[Any]) -> list[EvalResult]:
        """As `_checked`, with errors naming the file the record would go to."""
        out = list(records)
        for r in out:
            path = self._result_path(r)
            if type(r) is not EvalResult:
                kind = f"expected a record of type EvalResult, got {type(r).__name__}"
                raise StoreError(path, kind)
            _check_round_trip(path, r)
        return out

    def _commit_results(
        self,
        results: Iterable[EvalResult],
        loaded: tuple[dict[str, _Bucket], list[Any]],
        *,
        only: set[str] | None = None,
    ) -> int:
        """Make the results files hold exactly `results` (the caller holds the lock; `loaded`
        is what it read under it); return how many files were written or removed.

        Only files whose sorted text differs are written (each atomically), and with `only`
        only those buckets are looked at (the caller knows the rest is unchanged). Files that
        keep or gain results are written before those that lose some, and emptied files are
        removed after, so a crash midway can leave a result in two files (a rename), never in
        none. The old single file, when there is one, is migrated: every bucket is written
        first (`only` is ignored) and the old file removed last.
        """
        buckets, _ = loaded
        if self.path(RESULTS).exists():
            only = None
        by_bucket: dict[str, list[EvalResult]] = defaultdict(list)
        for r in results:
            by_bucket[result_bucket(r.model_id)].append(r)
        names = set(by_bucket) | set(buckets) if only is None else only
        writes, removals = [], []
        for name in sorted(names):
            path = self.results_dir / f"{name}.jsonl"
            text, records, kept = buckets.get(name, ("", {}, []))
            new = by_bucket.get(name, [])
            kept = _keep(kept, (r.key for r in new))  # lines this version keeps as written
            if not new and not kept:
                if name in buckets:
                    removals.append(path)
                continue
            content = results_text(new) + _kept_text(kept)
            if content != text:
                loses = bool(records.keys() - {r.key for r in new})
                writes.append((loses, path, content))
        for _, path, content in sorted(writes, key=lambda w: w[0]):
            atomic_write_text(path, content)
        for path in removals:
            path.unlink(missing_ok=True)
        if self.path(RESULTS).exists():
            self.path(RESULTS).unlink()
            removals.append(self.path(RESULTS))
        for folder in {p.parent for p in removals}:
            _fsync_dir(folder)
        return len(writes) + len(removals)

    def compact(self) -> int:
        """Rewrite the results files that are not as a bulk write leaves them (superseded
        lines, a torn last line, out of order), each atomically, and migrate the old single
        file; return how many files changed (0: nothing written). O(all results): for the
        nightly job to run before it commits `data/`, so the committed files are sorted lines
        (appends between runs only add lines at the ends of files, which diffs as well)."""
        with self._results_lock():
            loaded = self._load_results()
            return self._commit_results(self._merged(*loaded).values(), loaded)

    def rename_results(self, old: str, new: str) -> int:
        """Move `old`'s results to `new` (a renamed repo); return how many left `old`.

        Where `new` already has a result for the same (revision, protocol), that one is kept
        and `old`'s is dropped. Nothing is written when `old` has no results.
        """
        for name, value in (("old", old), ("new", new)):
            if not is_valid_repo_id(value):
                raise StoreError(self.results_dir, f"invalid hub repo id {value!r}", field=name)
        if old == new:
            return 0
        with self._results_lock():
            loaded = self._load_results()
            results = list(self._merged(*loaded).values())
            moving = [r for r in results if r.model_id == old]
            if not moving:
                return 0
            kept = [r for r in results if r.model_id != old]
            have = {r.key for r in kept}
            moved = [dataclasses.replace(r, model_id=new) for r in moving]
            # read (so validated) records under a checked id: nothing new to check
            final = [*kept, *(r for r in moved if r.key not in have)]
            self._commit_results(final, loaded, only={result_bucket(old), result_bucket(new)})
        return len(moved)

    # -- the probe data's pin ------------------------------------------------------------------

    PROBE_PIN = PROBE_PIN

    def mnli_revision(self) -> str | None:
        """The MNLI commit every run reads (None until the first run pins it)."""
        path = self.path(PROBE_PIN)
        text = self._read_text(PROBE_PIN, required=False)
        if text is None:
            return None
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise StoreError(path, f"not valid JSON: {exc.msg}", line=exc.lineno) from None
        sha = data.get("mnli_revision") if isinstance(data, dict) else None
        if not isinstance(sha, str) or not re.fullmatch(r"[0-9a-f]{40}", sha):
            raise StoreError(path, "expected a 40-hex commit sha", field="mnli_revision")
        return sha

    def write_mnli_revision(self, sha: str) -> None:
        if not re.fullmatch(r"[0-9a-f]{40}", sha):
            raise StoreError(self.path(PROBE_PIN), f"not a commit sha: {sha!r}")
        text = json.dumps({"mnli_revision": sha}, indent=2, sort_keys=True) + "\n"
        with self.lock():
            atomic_write_text(self.path(PROBE_PIN), text)

    # -- where the crawl resumes (a hint: anything odd in it is ignored, never fatal) -----------

    CRAWL_STATE = CRAWL_STATE

    def crawl_state(self) -> dict[str, Any]:
        """The crawl's resumption state (`{"cursors": {listing tag: next page URL}}`), or {}.

        Only a hint for the next crawl (a listing that failed midway resumes at its failed
        page): a missing file is {}, and a malformed one is ignored with a `CrawlStateWarning`
        rather than stopping every later crawl."""
        text = self._read_text(CRAWL_STATE, required=False)
        if text is None:
            return {}
        from ranker import jsonlimits

        try:
            data = jsonlimits.loads(text, what=CRAWL_STATE, max_bytes=_CRAWL_STATE_MAX)
            problem = _crawl_state_problem(data)
        except jsonlimits.JsonRefused as exc:
            problem = str(exc)
        if problem is not None:
            warnings.warn(
                f"{self.path(CRAWL_STATE)}: ignored ({problem}); the crawl starts its listings "
                "from the first page",
                CrawlStateWarning,
                stacklevel=2,
            )
            return {}
        return data

    def write_crawl_state(self, state: dict[str, Any]) -> None:
        """Replace the crawl's resumption state (checked as `crawl_state` reads it)."""
        problem = _crawl_state_problem(state)
        if problem is not None:
            raise StoreError(self.path(CRAWL_STATE), f"refused: {problem}")
        text = json.dumps(state, indent=1, sort_keys=True, ensure_ascii=True) + "\n"
        if len(text) > _CRAWL_STATE_MAX:
            raise StoreError(self.path(CRAWL_STATE), f"refused: over {_CRAWL_STATE_MAX} bytes")
        with self.lock():
            atomic_write_text(self.path(CRAWL_STATE), text)

    def save_result(self, result: EvalResult) -> None:
        """Store one result, replacing any earlier one for the same (model, revision, protocol).

        O(1): `result` is checked (it must read back as itself), then appended as one line to
        its model's file under the results lock (`append_line`): nothing else is read or
        rewritten, and on read this line supersedes any earlier one for its key. The one
        exception is the first write to a store in the old layout, which migrates it whole.
        """
        (checked,) = self._checked_results([result])
        with self._results_lock():
            if self.path(RESULTS).exists():
                loaded = self._load_results()
                merged = self._merged(*loaded)
                merged[checked.key] = checked
                self._commit_results(merged.values(), loaded)
                return
            append_line(self.results_file(checked.model_id), result_line(checked))

    def merge_results(
        self, records: Iterable[EvalResult], *, keep_settled: bool = False
    ) -> MergeCounts:
        """Fold `records` (e.g. one shard's `ranker update --results-out` file) into the results,
        and count what each did. Only the files of the buckets it changes are rewritten, each
        atomically and sorted (a crash midway leaves some merged, and merging again is safe).

        Keyed by (model, revision, protocol): a record for a new key is added; for a stored key,
        the record with the later `evaluated_at` is kept, which is what a local run does (its
        later evaluation replaces the earlier) and keeps an old shard file, merged again, from
        undoing a newer result; a tie of two different records keeps the greater canonical JSON,
        so the store's bytes do not depend on the order files are merged in. Merging the same
        records again changes nothing and writes nothing. Every record is checked first (as
        `write_results` does, plus a parseable `evaluated_at`, and no key twice with different
        content); one bad record raises StoreError and nothing is written. With `keep_settled`
        (`ranker merge --plan`), a stored settled result (ok, or a permanent failure) is never
        replaced: it counts as `older`, so one shard cannot overwrite another's result.
        """
        incoming: dict[tuple[str, str, str], EvalResult] = {}
        for result in self._checked_results(records):
            path = self.results_file(result.model_id)
            if evaluated_at(result) is None:
                raise StoreError(
                    path,
                    f"model {result.model_id!r}: not an ISO 8601 time: {result.evaluated_at!r}",
                    field="evaluated_at",
                )
            earlier = incoming.setdefault(result.key, result)
            if earlier != result:
                raise StoreError(
                    path,
                    f"model {result.model_id!r}: two different records for revision "
                    f"{result.revision!r}, protocol {result.protocol_version!r}",
                    field=_first_difference(earlier, result),
                )
        with self._results_lock():
            return self._merge_locked(incoming, keep_settled=keep_settled)

    def _merge_locked(
        self, incoming: dict[tuple[str, str, str], EvalResult], *, keep_settled: bool = False
    ) -> MergeCounts:
        """`merge_results` once its records are checked, under the results lock: the files
        of the buckets it changes are rewritten (sorted, superseded lines dropped)."""
        loaded = self._load_results()
        stored = self._merged(*loaded)
        settled = (lambda r: r.status == "ok" or r.failure == "permanent") if keep_settled else None
        counts, merged = _merge_keyed(stored, incoming, _precedence, keep=settled)
        taken = {key: r for key, r in incoming.items() if merged.get(key) is r}
        if taken:
            # read (so validated) records and checked new ones: nothing more to check
            stored.update(taken)
            changed = {result_bucket(model) for model, _, _ in taken}
            self._commit_results(stored.values(), loaded, only=changed)
        return counts

    def merge_catalog(self, entries: Iterable[CatalogEntry]) -> MergeCounts:
        """Fold another copy's catalog (the night's crawl) into this one, keyed by model id.

        Why keyed, not copied over: while the night ran, main may have gained entries (a
        request's check adds its model) that a copy would drop. Per model the entry seen more
        recently wins (`last_seen`, which a crawl moves only when an entry changes; then the
        greater canonical JSON, so the result does not depend on the order of merges); an entry
        on one side only is kept; `first_seen` is the earlier of the two. Merging the same
        catalog again changes nothing and writes nothing. Every entry is checked first (as
        `write_catalog` does; one model twice with different content is refused): one bad
        entry raises StoreError and nothing is written.
        """
        path = self.path(CATALOG)
        incoming: dict[str, CatalogEntry] = {}
        for entry in self._checked(CATALOG, CatalogEntry, entries):
            earlier = incoming.setdefault(entry.model_id, entry)
            if earlier != entry:
                raise StoreError(path, f"model {entry.model_id!r} is listed twice, differently",
                                 field=_first_difference(earlier, entry))  # fmt: skip
        with self.lock():
            stored = {e.model_id: e for e in self.catalog()}
            for model, entry in incoming.items():  # the earlier first sighting, either side's
                have = stored.get(model)
                if (
                    have is not None
                    and have.first_seen
                    and (entry.first_seen is None or have.first_seen < entry.first_seen)
                ):
                    incoming[model] = dataclasses.replace(entry, first_seen=have.first_seen)
            counts, merged = _merge_keyed(stored, incoming, _seen_precedence)
            if counts.changed:
                ordered = sorted(merged.values(), key=lambda e: (e.architecture, e.model_id))
                self._write_jsonl(CATALOG, CatalogEntry, ordered)
        return counts

    def merge_requests(self, requests: Iterable[ModelRequest]) -> MergeCounts:
        """Fold another copy's request queue into this one, keyed by (issue, model id).

        A request only on one side is kept (one asked on main during the night survives); for
        one on both sides, a replied request wins over a queued one (a reply is never undone),
        then the later `replied_at`, then the greater canonical JSON. Idempotent; each request
        checked as `write_requests` checks it, nothing written when one is bad."""
        incoming: dict[tuple[int, str], ModelRequest] = {}
        for request in requests:
            if type(request) is not ModelRequest:
                kind = type(request).__name__
                raise StoreError(self.path(self.REQUESTS), f"expected a ModelRequest, got {kind}")
            earlier = incoming.setdefault(request.key, request)
            if earlier != request:
                raise StoreError(self.path(self.REQUESTS),
                                 f"request {request.key!r} is listed twice, differently",
                                 field=_first_difference(earlier, request))  # fmt: skip
        with self.lock():
            stored = {r.key: r for r in self.requests()}
            counts, merged = _merge_keyed(stored, incoming, _request_precedence)
            if counts.changed:
                self.write_requests(merged.values())
        return counts

    # -- evaluation requests (data/requests.jsonl) ---------------------------------------------
    # One `ModelRequest` a line (defined below the class), keyed by (issue, model_id), sorted by
    # that key; written by `ranker request` (ranker/requests.py) and read by `pipeline.pending`.
    # Only accepted requests are stored: an invalid id, an unknown model or an excluded one is
    # answered on its issue and never written here.

    REQUESTS = "requests.jsonl"

    def requests(self) -> list[ModelRequest]:
        """The request queue (empty when the file does not exist), each line validated."""
        path = self.path(self.REQUESTS)
        text = self._read_text(self.REQUESTS, required=False)
        out: dict[tuple[int, str], ModelRequest] = {}
        for number, request in parse_jsonl(path, text or "", ModelRequest, kept=[]):
            if request.key in out:
                raise StoreError(path, f"request {request.key} is listed twice", line=number)
            out[request.key] = request
        return list(out.values())

    def write_requests(self, requests: Iterable[ModelRequest]) -> None:
        """Replace the request queue; a record that would not read back raises StoreError."""
        path = self.path(self.REQUESTS)
        checked: dict[tuple[int, str], ModelRequest] = {}
        for r in requests:
            if type(r) is not ModelRequest:
                raise StoreError(path, f"expected a ModelRequest, got {type(r).__name__}")
            try:
                back = ModelRequest.from_dict(json.loads(json.dumps(r.to_dict())))
            except (RecordError, TypeError, ValueError) as exc:
                raise StoreError(path, f"request {r.key!r}: {exc}") from None
            problem = _request_problem(back) or limits_problem(r.to_dict())
            if back != r or problem is not None:
                field, why = problem or ("issue", "would not read back as itself")
                raise StoreError(path, f"request {r.key!r}: {why}", field=field)
            checked[r.key] = r
        with self.lock():
            self._write_jsonl(
                self.REQUESTS, ModelRequest, sorted(checked.values(), key=lambda r: r.key)
            )

    def save_request(self, request: ModelRequest) -> None:
        """Add one request, replacing the stored one with the same (issue, model_id)."""
        with self.lock():  # the read and the write as one
            kept = [r for r in self.requests() if r.key != request.key]
            self.write_requests([*kept, request])


REQUEST_STATUSES: tuple[str, ...] = ("queued", "replied")


@dataclasses.dataclass(frozen=True)
class ModelRequest(Record):
    """An accepted request (a GitHub issue) to evaluate one model; see `ranker.requests`."""

    schema_version: int
    issue: int  # the GitHub issue number that asked
    model_id: str
    architecture: str
    sha: str  # the model's commit when it was requested
    status: str  # "queued" (waiting for a result) or "replied" (answered on the issue)
    requested_at: str
    replied_at: str | None = None
    outcome: str | None = None  # once replied: "ok", or the failure or exclusion reason

    @property
    def key(self) -> tuple[int, str]:
        return (self.issue, self.model_id)


def _request_problem(r: ModelRequest) -> tuple[str, str] | None:
    """(field, what is wrong) for a well-typed request that is still invalid."""
    if not 0 < r.issue < 10**9:
        return "issue", f"expected an issue number, got {r.issue!r}"
    if not is_valid_repo_id(r.model_id):
        return "model_id", f"invalid hub repo id {r.model_id!r}"
    if _SHA.fullmatch(r.sha) is None:
        return "sha", f"expected 40 lowercase hex characters, got {r.sha!r}"
    if r.status not in REQUEST_STATUSES:
        return "status", f"expected one of {', '.join(REQUEST_STATUSES)}, got {r.status!r}"
    for name in ("requested_at", "replied_at"):
        value = getattr(r, name)
        if value is None:
            continue
        try:
            dt.datetime.fromisoformat(value)
        except ValueError:
            return name, f"not an ISO 8601 time: {value!r}"
    if r.outcome is not None and re.fullmatch(r"[a-z0-9-]{1,40}", r.outcome) is None:
        return "outcome", f"expected a reason word, got {r.outcome!r}"
    return None
