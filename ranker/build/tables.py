"""Records -> DataFrames: the rankings the site shows and the downloads it offers.

Pure functions of records, so they are tested without rendering anything.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from ranker.records import (
    LEGACY_TASKS,
    Architecture,
    CatalogEntry,
    EvalResult,
    LegacyBaseline,
    LegacyModel,
)

HUB_URL = "https://huggingface.co/"

# Column order of the per-architecture table and its downloads (task scores last).
COLUMNS: tuple[str, ...] = (
    "rank", "probe_rank", "model_id", "architecture", "probe_accuracy", "probe_low",
    "probe_high", "probe_gain", "probe_gain_low", "probe_gain_high", "avg", "gain", "mnli_lp",
    "downloads", "likes", "params", "license", "last_modified", "evaluated_at",
    "probe_revision", "protocol_version", "flags", "shifted_from", *LEGACY_TASKS,
)  # fmt: skip
INT_COLUMNS = ("rank", "probe_rank", "downloads", "likes", "params")


@dataclass(frozen=True)
class Baseline:
    """An architecture's pretrained model as the row every finetune is compared with."""

    model_id: str
    avg: float | None
    avg_std: float | None
    n_seeds: int | None
    mnli_lp: float | None
    probe_accuracy: float | None
    scores: dict[str, float | None]


def gone_ids(catalog: list[CatalogEntry]) -> set[str]:
    """Ids the catalog says are no longer on the hub: removed, or renamed to another id."""
    return {e.model_id for e in catalog if e.status == "removed" or e.renamed_to is not None}


def rankable(
    legacy: list[LegacyModel], results: list[EvalResult], catalog: list[CatalogEntry]
) -> tuple[list[LegacyModel], list[EvalResult], list[CatalogEntry]]:
    """The records the site ranks and gives pages to: the one place that decides.

    - A model the catalog marks removed (deleted from the hub, or renamed: `renamed_to`) leaves
      the ranking, its 2023 row and its results alike; the store keeps them. A renamed model is
      ranked under its new id only, with the new id's own results, so it never appears twice.
    - Error records are never ranked; only successful results with an accuracy are kept.
    - A model the catalog does not know (2023 rows, `ranker evaluate` of an uncrawled model) is
      not known to be gone, so it stays.
    """
    gone = gone_ids(catalog)
    return (
        [m for m in legacy if m.model_id not in gone],
        [
            r
            for r in results
            if r.status == "ok" and r.accuracy is not None and r.model_id not in gone
        ],
        [e for e in catalog if e.model_id not in gone],
    )


def latest_results(results: list[EvalResult], until: str | None = None) -> dict[str, EvalResult]:
    """Per model, its newest successful result (by evaluation time, up to `until` if given)."""
    out: dict[str, EvalResult] = {}
    for r in sorted(results, key=lambda r: r.evaluated_at):
        if r.status == "ok" and r.accuracy is not None:
            if until is not None and r.evaluated_at[:10] > until:
                continue
            out[r.model_id] = r
    return out


def baseline_for(
    arch: Architecture,
    legacy: list[LegacyModel],
    baselines: list[LegacyBaseline],
    results: list[EvalResult],
) -> Baseline:
    stats = {b.metric: b for b in baselines if b.architecture == arch.id}
    pretrained = next((m for m in legacy if m.architecture == arch.id and m.is_pretrained), None)
    own = [r for r in latest_results(results).values() if r.model_id in arch.hub_ids]
    avg = stats.get("avg")
    return Baseline(
        model_id=arch.id,
        avg=avg.mean if avg else None,
        avg_std=avg.std if avg else None,
        n_seeds=avg.n_seeds if avg else None,
        mnli_lp=pretrained.mnli_lp if pretrained else None,
        probe_accuracy=own[0].accuracy if own else None,
        scores={t: stats[t].mean if t in stats else None for t in LEGACY_TASKS},
    )


def rank_groups(accuracy: list[float], low: list[float], high: list[float]) -> list[int]:
    """Competition ranks, where a model whose interval overlaps the one above shares its rank.

    Input is sorted by accuracy, best first.
    """
    groups: list[int] = []
    for i in range(len(accuracy)):
        if i > 0 and high[i] >= low[i - 1]:
            groups.append(groups[-1])
        else:
            groups.append(i + 1)
    return groups


def _probe_ranks(results: dict[str, EvalResult]) -> dict[str, int]:
    ordered = sorted(results.values(), key=lambda r: (-(r.accuracy or 0.0), r.model_id))
    acc = [r.accuracy or 0.0 for r in ordered]
    low = [
        a if r.accuracy_low is None else r.accuracy_low for r, a in zip(ordered, acc, strict=True)
    ]
    high = [
        a if r.accuracy_high is None else r.accuracy_high for r, a in zip(ordered, acc, strict=True)
    ]
    return {r.model_id: g for r, g in zip(ordered, rank_groups(acc, low, high), strict=True)}


def architecture_table(
    arch: Architecture,
    legacy: list[LegacyModel],
    results: list[EvalResult],
    catalog: list[CatalogEntry] | None = None,
) -> pd.DataFrame:
    """Every model of `arch` but its pretrained base, with both rankings.

    Pass the records through `rankable` first: this function ranks whatever it is given.

    `rank`: models with all 36 legacy scores, 1..n by average (ties by id), which is the order
    of the published ranking. `probe_rank`: models with a probe result, by accuracy, in rank
    groups (see `rank_groups`). Rows are ordered by probe rank, then legacy rank, then id.
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
    for e in catalog or []:
        if e.architecture != arch.id or e.model_id in arch.hub_ids or e.status != "ok":
            continue
        row = rows.setdefault(e.model_id, {"model_id": e.model_id, "flags": ""})
        row.update(
            downloads=e.downloads,
            likes=e.likes,
            license=e.license,
            last_modified=e.last_modified or row.get("last_modified"),
        )
        if e.params is not None:
            row["params"] = e.params
    latest = {
        k: r
        for k, r in latest_results([r for r in results if r.architecture == arch.id]).items()
        if k not in arch.hub_ids
    }
    for r in latest.values():
        row = rows.setdefault(r.model_id, {"model_id": r.model_id, "flags": ""})
        row.update(
            probe_accuracy=r.accuracy,
            probe_low=r.accuracy_low,
            probe_high=r.accuracy_high,
            probe_gain=r.gain,
            probe_gain_low=r.gain_low,
            probe_gain_high=r.gain_high,
            probe_revision=r.revision,
            protocol_version=r.protocol_version,
            evaluated_at=r.evaluated_at,
        )
    probe_ranks = _probe_ranks(latest)
    frame = pd.DataFrame(list(rows.values()), columns=list(COLUMNS))
    frame["architecture"] = arch.id
    frame["probe_rank"] = frame["model_id"].map(probe_ranks)
    has_avg = frame["avg"].notna()
    legacy_order = frame[has_avg].sort_values(["avg", "model_id"], ascending=[False, True])
    frame.loc[legacy_order.index, "rank"] = range(1, len(legacy_order) + 1)
    frame = frame.astype({c: "Int64" for c in INT_COLUMNS})
    frame = frame.sort_values(
        ["probe_rank", "probe_accuracy", "rank", "mnli_lp", "model_id"],
        ascending=[True, False, True, False, True],
        na_position="last",
    )
    return frame.reset_index(drop=True)


def rank_history(arch: Architecture, results: list[EvalResult]) -> dict[str, list[tuple[str, int]]]:
    """Per model, its probe rank group after each update (a date with evaluations)."""
    own = [r for r in results if r.architecture == arch.id]
    dates = sorted({r.evaluated_at[:10] for r in own if r.status == "ok"})
    history: dict[str, list[tuple[str, int]]] = {}
    for date in dates:
        latest = {k: r for k, r in latest_results(own, until=date).items() if k not in arch.hub_ids}
        for model_id, rank in _probe_ranks(latest).items():
            history.setdefault(model_id, []).append((date, rank))
    return history


def to_download_records(table: pd.DataFrame) -> list[dict[str, object]]:
    """JSON-ready rows: NaN becomes null, flags become a list, ints stay ints."""
    records = []
    for row in table.to_dict(orient="records"):
        clean = {k: (None if pd.isna(v) else v) for k, v in row.items()}
        clean["flags"] = [f for f in str(clean.get("flags") or "").split(";") if f]
        for key in INT_COLUMNS:
            if clean[key] is not None:
                clean[key] = int(clean[key])
        clean["hub_url"] = HUB_URL + str(row["model_id"])
        records.append(clean)
    return records
