"""Records -> DataFrames: the rankings the site shows and the downloads it offers.

Pure functions of records, so they are tested without rendering anything.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from ranker.records import (
    LEGACY_TASKS,
    Architecture,
    EvalResult,
    LegacyBaseline,
    LegacyModel,
)

HUB_URL = "https://huggingface.co/"

# Column order of the per-architecture table and its downloads.
COLUMNS: tuple[str, ...] = (
    "rank", "model_id", "avg", "gain", "mnli_lp", "probe_accuracy", "probe_low", "probe_high",
    "probe_gain", "probe_revision", "params", "last_modified", "flags", "shifted_from",
    *LEGACY_TASKS,
)  # fmt: skip


@dataclass(frozen=True)
class Baseline:
    """An architecture's pretrained model as the row every finetune is compared with."""

    model_id: str
    avg: float | None
    avg_std: float | None
    n_seeds: int | None
    mnli_lp: float | None
    scores: dict[str, float | None]


def latest_results(results: list[EvalResult]) -> dict[str, EvalResult]:
    """Per model, its newest successful result (by evaluation time)."""
    out: dict[str, EvalResult] = {}
    for r in sorted(results, key=lambda r: r.evaluated_at):
        if r.status == "ok":
            out[r.model_id] = r
    return out


def baseline_for(
    arch: Architecture, legacy: list[LegacyModel], baselines: list[LegacyBaseline]
) -> Baseline:
    stats = {b.metric: b for b in baselines if b.architecture == arch.id}
    pretrained = next((m for m in legacy if m.architecture == arch.id and m.is_pretrained), None)
    avg = stats.get("avg")
    return Baseline(
        model_id=arch.id,
        avg=avg.mean if avg else None,
        avg_std=avg.std if avg else None,
        n_seeds=avg.n_seeds if avg else None,
        mnli_lp=pretrained.mnli_lp if pretrained else None,
        scores={t: stats[t].mean if t in stats else None for t in LEGACY_TASKS},
    )


def architecture_table(
    arch: Architecture, legacy: list[LegacyModel], results: list[EvalResult]
) -> pd.DataFrame:
    """Every model of `arch` but its pretrained base, ranked by the 36-task average.

    Models with all 36 legacy scores get ranks 1..n in order of average (ties by id), which is
    the order of the published ranking; the others follow unranked, by legacy MNLI probe.
    """
    rows: dict[str, dict[str, object]] = {}
    for m in legacy:
        if m.architecture != arch.id or m.is_pretrained:
            continue
        rows[m.model_id] = {
            "model_id": m.model_id,
            "avg": m.avg,
            "gain": m.gain,
            "mnli_lp": m.mnli_lp,
            "params": m.params,
            "last_modified": m.last_modified,
            "flags": ";".join(f for f in m.flags if f != "probe_only"),
            "shifted_from": m.shifted_from,
            **m.scores,
        }
    for r in latest_results([r for r in results if r.architecture == arch.id]).values():
        if r.model_id in arch.hub_ids:
            continue
        row = rows.setdefault(r.model_id, {"model_id": r.model_id, "flags": ""})
        row.update(
            probe_accuracy=r.accuracy,
            probe_low=r.accuracy_low,
            probe_high=r.accuracy_high,
            probe_gain=r.gain,
            probe_revision=r.revision,
        )
    frame = pd.DataFrame(list(rows.values()), columns=list(COLUMNS))
    frame = frame.astype({"params": "Int64"})
    has_avg = frame["avg"].notna()
    ranked = frame[has_avg].sort_values(["avg", "model_id"], ascending=[False, True])
    ranked = ranked.assign(rank=range(1, len(ranked) + 1))
    rest = frame[~has_avg].sort_values(
        ["probe_accuracy", "mnli_lp", "model_id"],
        ascending=[False, False, True],
        na_position="last",
    )
    out = pd.concat([ranked, rest], ignore_index=True)
    return out.astype({"rank": "Int64"})


def to_download_records(table: pd.DataFrame) -> list[dict[str, object]]:
    """JSON-ready rows: NaN becomes null, flags become a list."""
    records = []
    for row in table.to_dict(orient="records"):
        clean = {k: (None if pd.isna(v) else v) for k, v in row.items()}
        clean["flags"] = [f for f in str(clean.get("flags") or "").split(";") if f]
        for key in ("rank", "params"):
            if clean[key] is not None:
                clean[key] = int(clean[key])
        clean["hub_url"] = HUB_URL + row["model_id"]
        records.append(clean)
    return records
