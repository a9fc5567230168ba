"""The results store in `data/`: the only module that knows its files and formats.

Formats are text that diffs well in git (TOML, CSV, JSON Lines), written in a stable order and
atomically (temp file + rename), and validated on read: a malformed row raises `StoreError`
naming the file, the line and the field.
"""

from __future__ import annotations

import csv
import io
import json
import os
import tempfile
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
    RecordError,
    is_valid_repo_id,
)

ARCHITECTURES = "architectures.toml"
LEGACY_MODELS = "legacy/models.csv"
LEGACY_BASELINES = "legacy/baselines.csv"
LEGACY_META = "legacy/meta.json"
CATALOG = "catalog.jsonl"
RESULTS = "results.jsonl"

LEGACY_MODEL_COLUMNS: tuple[str, ...] = (
    "model_id", "architecture", "params", "tokenizer", "model_type", "last_modified",
    "mnli_lp", "avg", "gain", "flags", "shifted_from", *LEGACY_TASKS,
)  # fmt: skip
LEGACY_BASELINE_COLUMNS: tuple[str, ...] = ("architecture", "metric", "mean", "std", "n_seeds")


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_FILE_MODE = 0o666 & ~_umask()


def atomic_write_text(path: Path, text: str) -> None:
    """Replace `path` with `text` so that a reader sees the old file or the new, never half."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
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
        path = self.path(name)
        text = self._read_text(name, required=False)
        if text is None:
            return []
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
                out.append(record.from_dict(data))
            except RecordError as exc:
                raise StoreError(path, exc.reason, line=number, field=exc.field) from None
            if not is_valid_repo_id(out[-1].model_id):
                raise StoreError(
                    path, f"invalid hub repo id {out[-1].model_id!r}", line=number, field="model_id"
                )
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
        self._write_jsonl(CATALOG, sorted(entries, key=lambda e: (e.architecture, e.model_id)))

    def results(self) -> list[EvalResult]:
        return self._read_jsonl(RESULTS, EvalResult)

    def write_results(self, results: Iterable[EvalResult]) -> None:
        self._write_jsonl(RESULTS, sorted(results, key=lambda r: (r.architecture, *r.key)))

    def save_result(self, result: EvalResult) -> None:
        """Store one result, replacing any earlier one for the same (model, revision, protocol)."""
        kept = [r for r in self.results() if r.key != result.key]
        self.write_results([*kept, result])
