"""The 2023 data in the store (`legacy/`): IBM's published results, read as CSV rows.

`LegacyStore` reads and writes `legacy/models.csv`, `legacy/baselines.csv` and
`legacy/meta.json`; `ranker.store.legacy_import` makes them from IBM's files.
"""

from __future__ import annotations

import csv
import io
import json
import shutil
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from ranker.errors import StoreError
from ranker.records import LEGACY_TASKS, LegacyBaseline, LegacyModel, RecordError, is_valid_repo_id
from ranker.store.catalog import CatalogStore
from ranker.store.files import atomic_write_text

LEGACY_MODELS = "legacy/models.csv"
LEGACY_BASELINES = "legacy/baselines.csv"
LEGACY_META = "legacy/meta.json"
LEGACY_SOURCE = "legacy/source"  # IBM's files as published, with their NOTICE

LEGACY_MODEL_COLUMNS: tuple[str, ...] = (
    "model_id", "architecture", "params", "tokenizer", "model_type", "last_modified",
    "mnli_lp", "avg", "gain", "flags", "shifted_from", *LEGACY_TASKS,
)  # fmt: skip
LEGACY_BASELINE_COLUMNS: tuple[str, ...] = ("architecture", "metric", "mean", "std", "n_seeds")


def fmt_cell(value: Any) -> str:
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


def parse_int(path: Path, line: int, name: str, text: str) -> int | None:
    if text == "":
        return None
    try:
        return int(text)
    except ValueError:
        raise StoreError(path, f"not an integer: {text!r}", line=line, field=name) from None


class LegacyStore(CatalogStore):
    """The 2023 data part of `ranker.store.Store` (it checks architectures)."""

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
                    params=parse_int(path, line, "params", row["params"]),
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
                m.model_id, m.architecture, fmt_cell(m.params), m.tokenizer, m.model_type,
                m.last_modified, fmt_cell(m.mnli_lp), fmt_cell(m.avg), fmt_cell(m.gain),
                ";".join(m.flags),
                fmt_cell(m.shifted_from), *(fmt_cell(m.scores.get(t)) for t in LEGACY_TASKS),
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
                "n_seeds": parse_int(path, line, "n_seeds", row["n_seeds"]),
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
            [b.architecture, b.metric, fmt_cell(b.mean), fmt_cell(b.std), fmt_cell(b.n_seeds)]
            for b in ordered
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

    def write_legacy_source(self, files: list[Path], notice: str) -> None:
        """Keep IBM's files as published (`files`, copied byte for byte unless they are the
        store's own copies already) with their `notice`, in `legacy/source/`."""
        target = self.path(LEGACY_SOURCE)
        if not files or files[0].parent.resolve() != target.resolve():
            target.mkdir(parents=True, exist_ok=True)
            for f in files:
                shutil.copyfile(f, target / f.name)
        (target / "NOTICE").write_text(notice, encoding="utf-8")
