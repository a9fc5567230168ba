"""The results store in `data/`: the only module that knows its files and formats.

Formats are text that diffs well in git (TOML, CSV, JSON Lines), written in a stable order and
atomically (temp file + rename), and validated on read: a malformed row raises `StoreError`
naming the file, the line and the field. The catalog and the results are validated on write
too, so the store never holds a row it cannot read back.
"""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import datetime as dt
import io
import json
import os
import re
import tempfile
import time
import tomllib
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from ranker.errors import StoreError, UnknownArchitectureError
from ranker.records import (
    LEGACY_TASKS,
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
RESULTS = "results.jsonl"
PROBE_PIN = "probe.json"  # the probe data's pinned hub commit (MNLI), set once

LEGACY_MODEL_COLUMNS: tuple[str, ...] = (
    "model_id", "architecture", "params", "tokenizer", "model_type", "last_modified",
    "mnli_lp", "avg", "gain", "flags", "shifted_from", *LEGACY_TASKS,
)  # fmt: skip
LEGACY_BASELINE_COLUMNS: tuple[str, ...] = ("architecture", "metric", "mean", "std", "n_seeds")

CATALOG_STATUSES: tuple[str, ...] = ("ok", "excluded", "unclassified", "removed")
RESULT_STATUSES: tuple[str, ...] = ("ok", "error")
_SHA = re.compile(r"[0-9a-f]{40}")

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


def _semantic_problem(record: CatalogEntry | EvalResult) -> tuple[str, str] | None:
    """(field, what is wrong) for a well-typed catalog or result record that is still invalid."""
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
    for name, value in data.items():
        try:
            json.dumps(value, allow_nan=False, ensure_ascii=False).encode("utf-8")
        except (TypeError, ValueError) as exc:  # e.g. a lone surrogate in a string
            raise StoreError(path, f"{who}: not storable as JSON: {exc}", field=name) from None
    problem = _semantic_problem(back)
    if problem is not None:
        raise StoreError(path, f"{who}: {problem[1]}", field=problem[0])


def parse_jsonl(path: Path, text: str, record: type) -> list[tuple[int, Any]]:
    """(line number, record) for each non-blank line of JSON Lines `text` read from `path`.

    Each line must be a JSON object that `record.from_dict` accepts and that passes the store's
    checks (repo ids, sha, status); else StoreError naming the file, the line and the field.
    """
    out = []
    for number, raw in enumerate(text.splitlines(), start=1):
        if not raw.strip():
            continue
        try:
            data = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise StoreError(path, f"not valid JSON: {exc.msg}", line=number) from None
        if not isinstance(data, dict):
            raise StoreError(path, "expected a JSON object", line=number)
        try:
            value = record.from_dict(data)
        except RecordError as exc:
            raise StoreError(path, exc.reason, line=number, field=exc.field) from None
        problem = _semantic_problem(value)
        if problem is not None:
            raise StoreError(path, problem[1], line=number, field=problem[0])
        out.append((number, value))
    return out


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


def read_results_file(path: Path | str) -> list[EvalResult]:
    """The results of a JSON Lines file of EvalResult records (`ranker update --results-out`),
    checked as the store checks its own: every line a valid, storable record with a parseable
    `evaluated_at`, and no key (model, revision, protocol) twice with different content (a
    line repeated verbatim is read once). Any malformed line refuses the whole file: StoreError
    naming the file, the line and the field. An empty file holds no results.
    """
    path = Path(path)
    seen: dict[tuple[str, str, str], tuple[int, EvalResult]] = {}
    for number, result in parse_jsonl(path, read_text_file(path), EvalResult):
        try:
            _check_round_trip(path, result)
        except StoreError as exc:
            raise StoreError(path, exc.reason, line=number, field=exc.field) from None
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
    return [result for _, result in seen.values()]


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


def _precedence(result: EvalResult) -> tuple[dt.datetime, str]:
    """Which of two results for one key wins a merge: the later `evaluated_at`, then (a tie of
    different records) the greater canonical JSON, so that merging is order-independent."""
    when = evaluated_at(result) or dt.datetime.min.replace(tzinfo=dt.UTC)
    return when, json.dumps(result.to_dict(), sort_keys=True, ensure_ascii=False)


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

    def _read_jsonl(self, name: str, record: type) -> list[Any]:
        text = self._read_text(name, required=False)
        if text is None:
            return []
        return [r for _, r in parse_jsonl(self.path(name), text, record)]

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

    def _write_jsonl(self, name: str, records: Iterable[Any]) -> None:
        lines = [json.dumps(r.to_dict(), sort_keys=True, ensure_ascii=False) for r in records]
        atomic_write_text(self.path(name), "".join(line + "\n" for line in lines))

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
        self._write_jsonl(CATALOG, sorted(checked, key=lambda e: (e.architecture, e.model_id)))

    def results(self) -> list[EvalResult]:
        return self._read_jsonl(RESULTS, EvalResult)

    def write_results(self, results: Iterable[EvalResult]) -> None:
        """Replace the results; a record that would not read back raises StoreError, unwritten."""
        self._write_results(self._checked(RESULTS, EvalResult, results))

    def _write_results(self, checked: list[EvalResult]) -> None:
        self._write_jsonl(RESULTS, sorted(checked, key=lambda r: (r.architecture, *r.key)))

    def rename_results(self, old: str, new: str) -> int:
        """Move `old`'s results to `new` (a renamed repo); return how many left `old`.

        Where `new` already has a result for the same (revision, protocol), that one is kept
        and `old`'s is dropped. Nothing is written when `old` has no results.
        """
        for name, value in (("old", old), ("new", new)):
            if not is_valid_repo_id(value):
                raise StoreError(self.path(RESULTS), f"invalid hub repo id {value!r}", field=name)
        results = self.results()
        moving = [r for r in results if r.model_id == old]
        if not moving or old == new:
            return 0
        kept = [r for r in results if r.model_id != old]
        have = {r.key for r in kept}
        moved = [dataclasses.replace(r, model_id=new) for r in moving]
        # read (so validated) records under a checked id: nothing new to check
        self._write_results([*kept, *(r for r in moved if r.key not in have)])
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
        atomic_write_text(self.path(PROBE_PIN), text)

    def save_result(self, result: EvalResult) -> None:
        """Store one result, replacing any earlier one for the same (model, revision, protocol).

        Only `result` is checked: the others were just read, and reading validates them.
        """
        (checked,) = self._checked(RESULTS, EvalResult, [result])
        kept = [r for r in self.results() if r.key != checked.key]
        self._write_results([*kept, checked])

    def merge_results(self, records: Iterable[EvalResult]) -> MergeCounts:
        """Fold `records` (e.g. one shard's `ranker update --results-out` file) into the results,
        in one atomic write, and count what each did.

        Keyed by (model, revision, protocol): a record for a new key is added; for a stored key,
        the record with the later `evaluated_at` is kept, which is what a local run does (its
        later evaluation replaces the earlier) and keeps an old shard file, merged again, from
        undoing a newer result; a tie of two different records keeps the greater canonical JSON,
        so the store's bytes do not depend on the order files are merged in. Merging the same
        records again changes nothing and writes nothing. Every record is checked first (as
        `write_results` does, plus a parseable `evaluated_at`, and no key twice with different
        content); one bad record raises StoreError and nothing is written.
        """
        path = self.path(RESULTS)
        incoming: dict[tuple[str, str, str], EvalResult] = {}
        for result in self._checked(RESULTS, EvalResult, records):
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
        results = self.results()
        stored = {r.key: r for r in results}
        counts = MergeCounts()
        taken: dict[tuple[str, str, str], EvalResult] = {}
        for key, result in incoming.items():
            have = stored.get(key)
            if have is None:
                counts.new += 1
            elif have == result:
                counts.unchanged += 1
                continue
            elif _precedence(result) > _precedence(have):
                counts.replaced += 1
            else:
                counts.older += 1
                continue
            taken[key] = result
        if taken:
            # read (so validated) records and checked new ones: nothing more to check
            self._write_results([*(r for r in results if r.key not in taken), *taken.values()])
        return counts
