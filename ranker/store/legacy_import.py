"""`ranker import-legacy`: IBM's published 2023 model-recycling results into the store.

The published data (committed unmodified in `data/legacy/source/`, with its NOTICE) has known
defects. They are detected and flagged here, never silently trusted or dropped:

- ``probe_failed``: ``mnli_lp == 0`` is a failed probe; stored as missing, not as zero.
- ``incomplete``: some, but not all, of the 36 task scores are missing; no average is computed.
- ``probe_only``: no task scores at all (IBM finetuned only some models); not ranked by average.
- ``duplicate``: the model appears more than once; the row with a valid probe is kept.
- ``shifted``: the per-task values look shifted by one column from some task on (``shifted_from``);
  the average is kept (it is barely affected) but single task columns are not reliable.
- ``pretrained``: the row is an architecture's pretrained base model itself.
"""

from __future__ import annotations

import csv
import hashlib
import statistics
from collections import Counter, defaultdict
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from ranker.errors import StoreError
from ranker.records import LEGACY_TASKS, Architecture, LegacyBaseline, LegacyModel, is_valid_repo_id
from ranker.store import Store
from ranker.store.legacy import parse_float

MODELS_FILE = "models_tested.csv"
SOURCE_COLUMNS = (
    "model_name", "base_model", "size", "tokenizer", "model_type", "last_modified", "mnli_lp",
    *LEGACY_TASKS,
)  # fmt: skip
SOURCE_AS_OF = "2023-04"
SOURCE_URL = "https://ibm.github.io/model-recycling/"

# A row is flagged as column-shifted when reading its values one column to the left, from some
# task on, explains them with under this fraction of the squared error of reading them in place.
# On the published data the ratios split into a cluster below 0.12 and the rest above 0.2.
SHIFT_RATIO = 0.2
SHIFT_SCALE_FLOOR = 0.02

NOTICE = """\
The files in this folder are the published results of the IBM "model recycling" ranking
(https://ibm.github.io/model-recycling/), as last updated in April 2023.

Copyright IBM Corp. Licensed under the Apache License, Version 2.0
(https://www.apache.org/licenses/LICENSE-2.0). They are redistributed here unmodified;
ranker's imported, defect-flagged copies live one folder up (models.csv, baselines.csv).

Cite: Leshem Choshen, Elad Venezian, Shachar Don-Yehiya, Noam Slonim and Yoav Katz,
"Where to start? Analyzing the potential value of intermediate models", EMNLP 2023.
"""


def baseline_file_name(arch_id: str) -> str:
    return "models_results_" + arch_id.replace("/", "_").replace("-", "_") + "_pretrain.csv"


@dataclass
class ImportReport:
    """What an import found: counts per architecture and the defects it flagged."""

    per_architecture: dict[str, int]
    flags: Counter[str]
    examples: dict[str, list[str]] = field(default_factory=dict)
    baselines: dict[str, tuple[float, float, int]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def summary(self) -> str:
        lines = [f"imported {sum(self.per_architecture.values())} models:"]
        for arch, n in self.per_architecture.items():
            mean, std, seeds = self.baselines.get(arch, (float("nan"), float("nan"), 0))
            lines.append(
                f"  {arch}: {n} models; baseline 36-task avg {mean:.4f} ± {std:.4f} ({seeds} seeds)"
            )
        lines.append("defects and roles flagged:")
        for flag, n in sorted(self.flags.items()):
            shown = ", ".join(self.examples.get(flag, [])[:3])
            lines.append(f"  {flag}: {n} (e.g. {shown})")
        lines += [f"note: {note}" for note in self.notes]
        return "\n".join(lines)

    def to_dict(self) -> dict[str, object]:
        return {
            "per_architecture": self.per_architecture,
            "flags": dict(sorted(self.flags.items())),
            "notes": self.notes,
        }


def _read_models(path: Path, archs: dict[str, Architecture]) -> list[tuple[int, LegacyModel]]:
    rows: list[tuple[int, LegacyModel]] = []
    try:
        fh = path.open(encoding="utf-8", newline="")
    except FileNotFoundError:
        raise StoreError(path, "file not found") from None
    except OSError as exc:
        raise StoreError(path, f"cannot read: {exc.strerror}") from None
    with fh:
        reader = csv.DictReader(fh)
        try:
            header = reader.fieldnames or []
            missing = [c for c in SOURCE_COLUMNS if c not in header]
            if missing:
                raise StoreError(path, f"missing columns: {', '.join(missing)}", line=1)
            for row in reader:
                line = reader.line_num
                if None in row or any(v is None for v in row.values()):
                    raise StoreError(path, "wrong number of fields", line=line)
                rows.append((line, _model_row(path, line, row, archs)))
        except csv.Error as exc:
            raise StoreError(path, f"malformed CSV: {exc}", line=reader.line_num) from None
    if not rows:
        raise StoreError(path, "no model rows")
    return rows


def _model_row(
    path: Path, line: int, row: dict[str, str], archs: dict[str, Architecture]
) -> LegacyModel:
    """One row of IBM's models file as a LegacyModel, its defects flagged."""
    model_id = row["model_name"].strip()
    if not is_valid_repo_id(model_id):
        raise StoreError(path, f"invalid hub repo id {model_id!r}", line=line, field="model_name")
    arch = archs.get(row["base_model"].strip())
    if arch is None:
        raise StoreError(
            path,
            f"unknown architecture {row['base_model']!r}; tracked: {', '.join(archs)}",
            line=line,
            field="base_model",
        )
    size = parse_float(path, line, "size", row["size"])
    mnli_lp = parse_float(path, line, "mnli_lp", row["mnli_lp"])
    scores = {t: parse_float(path, line, t, row[t]) for t in LEGACY_TASKS}
    flags = []
    if mnli_lp == 0:
        flags.append("probe_failed")
        mnli_lp = None
    n_missing = sum(v is None for v in scores.values())
    if n_missing == len(LEGACY_TASKS):
        flags.append("probe_only")
    elif n_missing:
        flags.append("incomplete")
    if model_id in arch.hub_ids:
        flags.append("pretrained")
    return LegacyModel(
        model_id=model_id,
        architecture=arch.id,
        params=int(size) if size is not None else None,
        tokenizer=row["tokenizer"].strip(),
        model_type=row["model_type"].strip(),
        last_modified=row["last_modified"].strip(),
        mnli_lp=mnli_lp,
        scores=scores,
        avg=None if n_missing else float(np.mean(list(scores.values()))),
        gain=None,
        flags=tuple(flags),
    )


def _dedupe(rows: list[tuple[int, LegacyModel]]) -> list[LegacyModel]:
    """Keep one row per model: the first with a valid probe, else the first; flag both kinds."""
    by_id: dict[str, list[LegacyModel]] = defaultdict(list)
    for _, model in rows:
        by_id[model.model_id].append(model)
    out = []
    for versions in by_id.values():
        if len(versions) == 1:
            out.append(versions[0])
            continue
        keep = next((m for m in versions if m.mnli_lp is not None), versions[0])
        out.append(replace(keep, flags=(*keep.flags, "duplicate")))
    return out


def detect_shifts(models: list[LegacyModel]) -> dict[str, str]:
    """Model id -> first shifted task, for complete rows whose values sit one column left."""
    complete = [m for m in models if m.avg is not None]
    if len(complete) < 10:
        return {}
    x = np.array([[m.scores[t] for t in LEGACY_TASKS] for m in complete], dtype=float)
    med = np.median(x, axis=0)
    scale = np.maximum(np.median(np.abs(x - med), axis=0) * 1.4826, SHIFT_SCALE_FLOOR)
    n = len(LEGACY_TASKS)
    err_in_place = ((x - med) / scale) ** 2
    err_left = np.zeros_like(err_in_place)  # value at task j read as the typical value of j + 1
    err_left[:, : n - 1] = ((x[:, : n - 1] - med[1:]) / scale[1:]) ** 2
    prefix = np.concatenate([np.zeros((len(x), 1)), np.cumsum(err_in_place, axis=1)], axis=1)
    suffix = np.cumsum(err_left[:, ::-1], axis=1)[:, ::-1]
    # shift starting at task k: tasks before k in place, tasks k..n-2 shifted, the last unknown
    costs = np.stack([prefix[:, k] + suffix[:, k] for k in range(n - 2)], axis=1)
    start = costs.argmin(axis=1)
    ratio = costs.min(axis=1) / err_in_place.sum(axis=1)
    return {
        m.model_id: LEGACY_TASKS[start[i]] for i, m in enumerate(complete) if ratio[i] < SHIFT_RATIO
    }


def _read_baseline(path: Path, arch: Architecture, notes: list[str]) -> list[LegacyBaseline]:
    """Per task and for the 36-task average: mean and sample std over the seeds.

    A task's statistics use every seed that has it; the average uses the seeds that have all 36.
    """
    per_seed: dict[int, dict[str, float]] = defaultdict(dict)
    try:
        fh = path.open(encoding="utf-8", newline="")
    except FileNotFoundError:
        raise StoreError(path, f"baseline file for {arch.id} not found") from None
    with fh:
        reader = csv.DictReader(fh, delimiter="\t")
        need = ("dataset name", "accuracy", "spearmanr", "stage")
        missing = [c for c in need if c not in (reader.fieldnames or [])]
        if missing:
            raise StoreError(path, f"missing columns: {', '.join(missing)}", line=1)
        for row in reader:
            line = reader.line_num
            task = row["dataset name"]
            if task not in LEGACY_TASKS:
                raise StoreError(path, f"unknown dataset {task!r}", line=line, field="dataset name")
            metric = "spearmanr" if task == "stsb" else "accuracy"
            value = parse_float(path, line, metric, row[metric] or "")
            stage = parse_float(path, line, "stage", row["stage"])
            if stage is None:
                raise StoreError(path, "missing seed", line=line, field="stage")
            if value is None:  # a seed that lacks a task drops out of the average only
                notes.append(f"{path.name}:{line}: seed {int(stage)} has no {metric} for {task}")
                continue
            per_seed[int(stage)][task] = value
    complete = {s: v for s, v in per_seed.items() if len(v) == len(LEGACY_TASKS)}
    if len(complete) < 2:
        raise StoreError(path, f"fewer than 2 seeds with all {len(LEGACY_TASKS)} tasks")

    def summarise(metric: str, values: list[float]) -> LegacyBaseline:
        return LegacyBaseline(
            architecture=arch.id,
            metric=metric,
            mean=statistics.fmean(values),
            std=statistics.stdev(values),
            n_seeds=len(values),
        )

    out = [summarise("avg", [statistics.fmean(v.values()) for v in complete.values()])]
    out += [summarise(t, [v[t] for v in per_seed.values() if t in v]) for t in LEGACY_TASKS]
    return out


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _report(
    models: list[LegacyModel], baselines: list[LegacyBaseline], notes: list[str], archs: list[str]
) -> ImportReport:
    """What an import found, per architecture and per flag."""
    per_arch = Counter(m.architecture for m in models)
    flags: Counter[str] = Counter(f for m in models for f in m.flags)
    examples: dict[str, list[str]] = defaultdict(list)
    for m in models:
        for f in m.flags:
            examples[f].append(m.model_id)
    return ImportReport(
        per_architecture={a: per_arch[a] for a in archs if per_arch[a]},
        flags=flags,
        examples=dict(examples),
        baselines={
            b.architecture: (b.mean, b.std, b.n_seeds) for b in baselines if b.metric == "avg"
        },
        notes=notes,
    )


def import_legacy(source: Path | str, data: Path | str) -> ImportReport:
    """Read the published files in `source`, validate them all, then write the store.

    Nothing in the store is modified unless every input file is read without error.
    """
    source, store = Path(source), Store(data)
    if not source.is_dir():
        raise StoreError(source, "legacy source folder not found")
    archs = {a.id: a for a in store.architectures()}
    rows = _read_models(source / MODELS_FILE, archs)
    models = _dedupe(rows)
    shifts = detect_shifts(models)
    baselines: list[LegacyBaseline] = []
    notes: list[str] = []
    for arch in archs.values():
        baselines += _read_baseline(source / baseline_file_name(arch.id), arch, notes)
    base_avg = {b.architecture: b.mean for b in baselines if b.metric == "avg"}
    models = [
        replace(
            m,
            gain=None if m.avg is None else m.avg - base_avg[m.architecture],
            flags=(*m.flags, "shifted") if m.model_id in shifts else m.flags,
            shifted_from=shifts.get(m.model_id),
        )
        for m in models
    ]

    report = _report(models, baselines, notes, list(archs))
    files = [source / MODELS_FILE] + [source / baseline_file_name(a) for a in archs]
    meta = {
        "source": SOURCE_URL,
        "license": "Apache-2.0",
        "as_of": SOURCE_AS_OF,
        "source_files": {f.name: _sha256(f) for f in files},
        "source_rows": len(rows),
        "source_rows_probe_failed": sum("probe_failed" in m.flags for _, m in rows),
        "duplicate_rows": len(rows) - len(models),
        **report.to_dict(),
    }

    # Everything is validated: now write, each file atomically.
    store.write_legacy_source(files, NOTICE)
    store.write_legacy_baselines(baselines)
    store.write_legacy_models(models)
    store.write_legacy_meta(meta)
    return report
