"""Records -> DataFrames: the rankings the site shows and the downloads it offers.

Pure functions of records, so they are tested without rendering anything.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ranker.build.ranks import (
    ProbeComparison,
    compare_probe_results,
    legacy_ranks,
    tie_counts,
)
from ranker.build.verified import Verified
from ranker.protocol import PROTOCOL_VERSION
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
# `probe_rank`, `legacy_rank`: 1 + the number of models significantly better (ranker.build.ranks);
# `*_tied`: how many models share that rank. `rank`: the position in IBM's published 2023 order
# (by average, every row with 36 scores, shifted ones included), for comparison with that page.
COLUMNS: tuple[str, ...] = (
    "probe_rank", "probe_tied", "legacy_rank", "legacy_tied", "rank", "model_id", "architecture",
    "probe_accuracy", "probe_low", "probe_high", "probe_gain", "probe_gain_low",
    "probe_gain_high", "logme", "hscore", "verified_gain", "verified_gain_low",
    "verified_gain_high", "verified_tasks", "avg", "gain", "mnli_lp", "nli", "downloads", "likes",
    "params", "license", "last_modified", "evaluated_at", "probe_revision", "protocol_version",
    "data_fingerprint", "flags", "shifted_from", *LEGACY_TASKS,
)  # fmt: skip
INT_COLUMNS = (
    "probe_rank", "probe_tied", "legacy_rank", "legacy_tied", "rank", "downloads", "likes",
    "params", "verified_tasks",
)  # fmt: skip

# 2023 rows with these flags keep their scores on the page but are kept out of the 2023 rank.
UNRANKED_FLAGS = ("shifted", "incomplete")

# NLI training data: the probe is an MNLI probe, so it favours models already trained on NLI.
# A word of a model name or of a `dataset:` tag that names an NLI set.
NLI_WORD = re.compile(r"^(?:multi|m|s|a|x|es)?nli\d*$", re.IGNORECASE)

# A table's rows while they are being made: model id -> column -> value.
Rows = dict[str, dict[str, object]]


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


def _words(text: str) -> list[str]:
    return [w for w in re.split(r"[-_./:]", text) if w]


def is_nli(model_id: str, tags: tuple[str, ...] = ()) -> bool:
    """Whether a model was trained on NLI data, by its hub tags or its name.

    A word (split at `-`, `_`, `.`, `/`) of the name or of a `dataset:` tag that is nli, mnli,
    snli, anli, xnli, esnli or multinli (with an optional number): `roberta-base-mnli`,
    `nli-roberta-base`, `dataset:multi_nli`, `dataset:nyu-mll/multi_nli`, `dataset:anli`; or
    `dataset:glue` with `mnli` in the name or another tag (GLUE holds MNLI, but not only).
    Words that merely contain the letters (`clinical`) do not count.
    """
    if any(NLI_WORD.match(w) for w in _words(model_id)):
        return True
    datasets = [t[len("dataset:") :].lower() for t in tags if t.lower().startswith("dataset:")]
    if any(NLI_WORD.match(w) for d in datasets for w in _words(d)):
        return True
    if "glue" in datasets:
        return "mnli" in model_id.lower() or any("mnli" in t.lower() for t in tags)
    return False


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


def current(results: Iterable[EvalResult], protocol: str = PROTOCOL_VERSION) -> list[EvalResult]:
    """The results of one protocol version (the current one by default): the only ones ranked.

    Results of other versions are never compared with them; the model pages show them as history.
    """
    return [r for r in results if r.protocol_version == protocol]


def latest_results(
    results: Iterable[EvalResult], until: str | None = None, protocol: str | None = PROTOCOL_VERSION
) -> dict[str, EvalResult]:
    """Per model, its newest successful result of `protocol` (None: of any), up to `until`."""
    out: dict[str, EvalResult] = {}
    for r in sorted(results, key=lambda r: r.evaluated_at):
        if r.status != "ok" or r.accuracy is None:
            continue
        if protocol is not None and r.protocol_version != protocol:
            continue
        if until is not None and r.evaluated_at[:10] > until:
            continue
        out[r.model_id] = r
    return out


def legacy_sigma(arch: Architecture, baselines: list[LegacyBaseline]) -> float | None:
    """The seed-to-seed standard deviation of the base's 36-task average: one run's noise."""
    return next((b.std for b in baselines if b.architecture == arch.id and b.metric == "avg"), None)


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


def probe_comparison(arch: Architecture, results: list[EvalResult]) -> ProbeComparison:
    """The paired tests between every current-protocol result of `arch`'s finetunes (every
    revision, so the rank history can use it too); the base itself is not ranked."""
    own = [
        r
        for r in current(results)
        if r.architecture == arch.id and r.model_id not in arch.hub_ids and r.status == "ok"
    ]
    return compare_probe_results(own)


def _latest_keys(latest: dict[str, EvalResult]) -> list[tuple[str, str]]:
    return [(r.model_id, r.revision) for r in latest.values()]


def architecture_table(
    arch: Architecture,
    legacy: list[LegacyModel],
    results: list[EvalResult],
    catalog: list[CatalogEntry] | None = None,
    *,
    sigma: float | None = None,
    comparison: ProbeComparison | None = None,
    verified: Mapping[str, Verified] | None = None,
) -> pd.DataFrame:
    """Every model of `arch` but its pretrained base, with both rankings.

    Pass the records through `rankable` first: this function ranks whatever it is given.

    - `probe_rank`: models whose newest current-protocol result carries per-pair bits, 1 + the
      number of them significantly better by a paired bootstrap (`ranker.build.ranks`). Results
      of other protocol versions are not shown here (the model page lists them as history).
    - `legacy_rank`: models with all 36 2023 scores and no `shifted` flag, 1 + the number whose
      average is higher by more than 1.96·σ·√2 (σ: the base's seed-to-seed std, `sigma`).
    - `rank`: the position in IBM's published order (every row with an average, 1..n).

    Rows are ordered by the point estimate of the ranking in use (probe accuracy once any model
    has a probe rank, else the 36-task average: IBM's published order), missing ones last.
    """
    rows = _legacy_rows(arch, legacy)
    _add_catalog(rows, arch, catalog or [])
    own = [r for r in results if r.architecture == arch.id and r.model_id not in arch.hub_ids]
    # A model evaluated only under an older protocol is listed (its page shows that history).
    for model_id in latest_results(own, protocol=None):
        rows.setdefault(model_id, {"model_id": model_id, "flags": ""})
    latest = latest_results(own)
    _add_results(rows, latest.values())
    for row in rows.values():
        row.setdefault("nli", is_nli(str(row["model_id"])))
    if comparison is None:
        comparison = probe_comparison(arch, own)
    frame = pd.DataFrame(list(rows.values()), columns=list(COLUMNS))
    frame["architecture"] = arch.id
    frame["nli"] = frame["nli"].fillna(False).astype(bool)
    frame["probe_rank"] = frame["model_id"].map(comparison.ranks(_latest_keys(latest)))
    frame = _legacy_ranked(frame, sigma)
    _add_verified(frame, verified or {})
    for column, tied in (("probe_rank", "probe_tied"), ("legacy_rank", "legacy_tied")):
        frame[tied] = frame[column].map(tie_counts(frame[column].dropna().astype(int)))
    frame = frame.astype({c: "Int64" for c in INT_COLUMNS})
    score = "probe_accuracy" if frame["probe_rank"].notna().any() else "avg"
    frame = frame.sort_values(
        [score, "probe_accuracy", "avg", "mnli_lp", "model_id"],
        ascending=[False, False, False, False, True],
        na_position="last",
    )
    return frame.reset_index(drop=True)


def _add_verified(frame: pd.DataFrame, verified: Mapping[str, Verified]) -> None:
    """`ranker verify`'s suite gain over the base (ranker.build.verified), with its interval,
    and the number of tasks with a gain; empty for a model not verified."""
    found = [verified.get(m) for m in frame["model_id"]]
    frame["verified_gain"] = [v.gain if v else None for v in found]
    frame["verified_gain_low"] = [v.low if v else None for v in found]
    frame["verified_gain_high"] = [v.high if v else None for v in found]
    frame["verified_tasks"] = [v.n_tasks if v else None for v in found]


def _legacy_rows(arch: Architecture, legacy: list[LegacyModel]) -> Rows:
    """model id -> row, from the 2023 rows of `arch`'s finetunes."""
    rows: Rows = {}
    for m in legacy:
        if m.architecture != arch.id or m.is_pretrained:
            continue
        rows[m.model_id] = {
            "model_id": m.model_id,
            "avg": m.avg,
            "gain": m.gain,
            "mnli_lp": m.mnli_lp,
            "params": m.params,
            "last_modified": m.last_modified or None,
            "flags": ";".join(f for f in m.flags if f != "probe_only"),
            "shifted_from": m.shifted_from,
            "nli": is_nli(m.model_id),
            **m.scores,
        }
    return rows


def _add_catalog(rows: Rows, arch: Architecture, catalog: list[CatalogEntry]) -> None:
    """The hub's facts of every present finetune: a row for each, or added to its 2023 row."""
    for e in catalog:
        if e.architecture != arch.id or e.model_id in arch.hub_ids or e.status != "ok":
            continue
        row = rows.setdefault(e.model_id, {"model_id": e.model_id, "flags": ""})
        row.update(
            downloads=e.downloads,
            likes=e.likes,
            license=e.license,
            last_modified=e.last_modified or row.get("last_modified"),
            nli=is_nli(e.model_id, e.tags),
        )
        if e.params is not None:
            row["params"] = e.params


def _add_results(rows: Rows, latest: Iterable[EvalResult]) -> None:
    """Each model's newest current-protocol result."""
    for r in latest:
        row = rows.setdefault(r.model_id, {"model_id": r.model_id, "flags": ""})
        row.update(
            probe_accuracy=r.accuracy,
            probe_low=r.accuracy_low,
            probe_high=r.accuracy_high,
            probe_gain=r.gain,
            probe_gain_low=r.gain_low,
            probe_gain_high=r.gain_high,
            logme=r.logme,
            hscore=r.hscore,
            probe_revision=r.revision,
            protocol_version=r.protocol_version,
            data_fingerprint=r.data_fingerprint,
            evaluated_at=r.evaluated_at or None,  # "": no usable date (ranker.build.inputs)
        )


def _legacy_ranked(frame: pd.DataFrame, sigma: float | None) -> pd.DataFrame:
    """`rank` (IBM's published order) and `legacy_rank` (the 2023 averages' honest rank)."""
    has_avg = frame["avg"].notna()
    legacy_order = frame[has_avg].sort_values(["avg", "model_id"], ascending=[False, True])
    frame.loc[legacy_order.index, "rank"] = range(1, len(legacy_order) + 1)
    flags = frame["flags"].fillna("").str.split(";")
    eligible = has_avg & ~flags.map(lambda fs: any(f in UNRANKED_FLAGS for f in fs))
    averages = dict(zip(frame.loc[eligible, "model_id"], frame.loc[eligible, "avg"], strict=True))
    frame["legacy_rank"] = frame["model_id"].map(legacy_ranks(averages, sigma))
    return frame


def rank_history(
    arch: Architecture, results: list[EvalResult], comparison: ProbeComparison | None = None
) -> dict[str, list[tuple[str, int]]]:
    """Per model, its probe rank after each update (a date with current-protocol evaluations).

    The same ranks as `comparison.ranks` over the results that were the newest on each date:
    each result is the newest of its model over an interval of dates (from its own until its
    model's next result), and each date is ranked on the comparison's sparse relation, in time
    linear in its models and near pairs, so no pair is tested twice.
    """
    own = [
        r for r in current(results) if r.architecture == arch.id and r.model_id not in arch.hub_ids
    ]
    if comparison is None:
        comparison = probe_comparison(arch, own)
    # results without a usable date ("", ranker.build.inputs) have no place in a history
    own = [r for r in own if r.evaluated_at]
    dates = sorted({r.evaluated_at[:10] for r in own if r.status == "ok"})
    index = {k: i for i, k in enumerate(comparison.keys)}
    m = len(comparison.keys)
    history: dict[str, list[tuple[str, int]]] = {}
    if not dates or m == 0:
        return history
    day = {d: i for i, d in enumerate(dates)}
    # active[d, i]: result i (a key of the comparison) is its model's newest on date d
    active = np.zeros((len(dates), m), dtype=bool)
    per_model: dict[str, list[EvalResult]] = {}
    for r in sorted(own, key=lambda r: r.evaluated_at):
        if r.status == "ok" and r.accuracy is not None:
            per_model.setdefault(r.model_id, []).append(r)
    for rs in per_model.values():
        for j, r in enumerate(rs):
            i = index.get((r.model_id, r.revision))
            start = day[r.evaluated_at[:10]]
            stop = day[rs[j + 1].evaluated_at[:10]] if j + 1 < len(rs) else len(dates)
            if i is not None and start < stop:
                active[start:stop, i] = True
    for d, date in enumerate(dates):
        chosen = np.flatnonzero(active[d])
        ranks = comparison.relation.ranks(active[d])[chosen]
        for i, rank in zip(chosen.tolist(), ranks.tolist(), strict=True):
            history.setdefault(comparison.keys[i][0], []).append((date, int(rank)))
    return history


def result_history(results: Iterable[EvalResult]) -> dict[tuple[str, str], list[EvalResult]]:
    """Per (architecture, model), every successful result of any protocol, newest first."""
    out: dict[tuple[str, str], list[EvalResult]] = {}
    for r in sorted(results, key=lambda r: r.evaluated_at, reverse=True):
        if r.status == "ok" and r.accuracy is not None:
            out.setdefault((r.architecture, r.model_id), []).append(r)
    return out


def plain_column(series: pd.Series, integer: bool) -> list[object]:
    """A column as Python values, None where missing (column by column: fast on 100k rows)."""
    if integer:
        return [None if v is pd.NA else int(v) for v in series.astype("Int64").array]
    values = series.tolist()
    return [None if v is None or v is pd.NA or (isinstance(v, float) and v != v) else v
            for v in values]  # fmt: skip


def to_download_records(table: pd.DataFrame) -> list[dict[str, object]]:
    """JSON-ready rows: NaN becomes None, flags become a list, ints stay ints."""
    columns = list(table.columns)
    values = [plain_column(table[c], c in INT_COLUMNS) for c in columns]
    records = []
    for row in zip(*values, strict=True):
        clean = dict(zip(columns, row, strict=True))
        clean["flags"] = [f for f in str(clean.get("flags") or "").split(";") if f]
        clean["nli"] = bool(clean["nli"])
        records.append(clean)
    return records
