"""Gather every page, chart, badge and download of the site in memory, from the store."""

from __future__ import annotations

import functools
import json
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from ranker import __version__
from ranker.build import badges, charts
from ranker.build.fidelity import PREDICTORS, Fidelity, fidelity_table, rank_correlation
from ranker.build.ranks import RESAMPLES, legacy_threshold
from ranker.build.render import TEMPLATES, environment
from ranker.build.tables import (
    COLUMNS,
    HUB_URL,
    UNRANKED_FLAGS,
    Baseline,
    architecture_table,
    baseline_for,
    legacy_sigma,
    probe_comparison,
    rank_history,
    rankable,
    result_history,
    to_download_records,
)
from ranker.evaluate.protocol import PROTOCOL_VERSION
from ranker.records import LEGACY_TASKS, Architecture, EvalResult
from ranker.store import Store

SiteFiles = dict[str, bytes]

# Fields of a row that the architecture page's table needs (the downloads carry all).
TABLE_FIELDS = (
    "probe_rank", "probe_tied", "legacy_rank", "legacy_tied", "model_id", "probe_accuracy",
    "probe_low", "probe_high", "probe_gain", "probe_gain_low", "probe_gain_high", "logme",
    "hscore", "avg", "gain", "mnli_lp", "nli", "downloads", "likes", "params", "license",
    "last_modified", "evaluated_at", "probe_revision", "flags", "shifted_from",
)  # fmt: skip


def model_page(arch: Architecture, model_id: str) -> str:
    """Path of a model's page; ids never hold "--", so the file name is unique and safe."""
    return f"models/{arch.slug}/{model_id.replace('/', '--')}.html"


def badge_base(arch: Architecture, model_id: str) -> str:
    return f"badges/{arch.slug}/{model_id.replace('/', '--')}"


@dataclass
class ArchitectureView:
    """Everything the pages say about one architecture."""

    arch: Architecture
    page: str
    table: pd.DataFrame
    records: list[dict[str, Any]]
    baseline: Baseline
    updated: str
    sigma: float | None = None
    newest: list[dict[str, Any]] = field(default_factory=list)
    history: dict[str, list[tuple[str, int]]] = field(default_factory=dict)
    downloads: dict[str, str] = field(default_factory=dict)

    @functools.cached_property
    def has_probe(self) -> bool:
        """Whether any model has a probe rank of ours (current protocol, with per-pair bits)."""
        return bool(self.table["probe_rank"].notna().any())

    @functools.cached_property
    def ranked(self) -> int:
        return int(self.table[self.primary].notna().sum())

    @functools.cached_property
    def primary(self) -> str:
        """The rank column that orders this architecture: our probe once it ranks any model."""
        return "probe_rank" if self.has_probe else "legacy_rank"

    @functools.cached_property
    def tied(self) -> str:
        return "probe_tied" if self.has_probe else "legacy_tied"

    @property
    def best(self) -> dict[str, Any] | None:
        """The best point estimate of rank 1 (rows are ordered by point estimate)."""
        return next((r for r in self.records if r[self.primary] == 1), None)

    @functools.cached_property
    def top_group(self) -> int:
        """How many models share rank 1: no test separates them."""
        return sum(1 for r in self.records if r[self.primary] == 1)

    @property
    def legacy_threshold(self) -> float:
        return legacy_threshold(self.sigma)


def _updated(as_of: str | None, evaluated_at: list[str]) -> str:
    """The newest of the legacy data's date and our evaluations' dates."""
    dates = [d[:10] for d in evaluated_at]
    if as_of:
        dates.append(as_of)
    return max(dates) if dates else "never"


def _round(value: Any) -> Any:
    return round(value, 5) if isinstance(value, float) else value


def _table_rows(view: ArchitectureView) -> list[dict[str, Any]]:
    rows = []
    for r in view.records:
        row = {k: _round(r[k]) for k in (*TABLE_FIELDS, "page")}
        for k in ("last_modified", "evaluated_at"):
            row[k] = row[k][:10] if row[k] else None
        row["probe_revision"] = row["probe_revision"][:7] if row["probe_revision"] else None
        # Missing values, empty flags and "not NLI" are left out: the page reads them as such.
        rows.append({k: v for k, v in row.items() if v is not None and v != [] and v is not False})
    return rows


def _untrusted(flags: list[str]) -> bool:
    return any(f in UNRANKED_FLAGS for f in flags)


def nli_example(views: list[ArchitectureView], top: int = 5) -> dict[str, Any] | None:
    """The NLI-trained model whose 2023 MNLI probe flatters it most: among the `top` 2023 probe
    scores of an architecture, the NLI model with the worst position by 36-task average (over
    the trusted rows that have both). None when no such model exists."""
    best: dict[str, Any] | None = None
    for v in views:
        rows = [
            r
            for r in v.records
            if r["mnli_lp"] is not None and r["avg"] is not None and not _untrusted(r["flags"])
        ]
        by_probe = sorted(rows, key=lambda r: (-r["mnli_lp"], r["model_id"]))
        by_avg = {
            r["model_id"]: i + 1
            for i, r in enumerate(sorted(rows, key=lambda r: (-r["avg"], r["model_id"])))
        }
        for position, r in enumerate(by_probe[:top], start=1):
            if r["nli"] and (best is None or by_avg[r["model_id"]] > best["avg_position"]):
                best = {
                    "model_id": r["model_id"],
                    "page": r["page"],
                    "title": v.arch.title,
                    "probe_position": position,
                    "avg_position": by_avg[r["model_id"]],
                    "of": len(rows),
                }
    return best


def _json_bytes(data: Any) -> bytes:
    return (json.dumps(data, indent=1, ensure_ascii=False) + "\n").encode()


# What makes a spreadsheet read a cell as a formula (OWASP's "CSV injection" list).
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def csv_safe(value: Any) -> Any:
    """A text cell that starts like a formula, prefixed with `'`; anything else as it is.

    Only text is neutralised: a number (a negative gain) stays a number for the spreadsheet.
    """
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value


def _csv_bytes(table: pd.DataFrame) -> bytes:
    frame = table[list(COLUMNS)].copy()
    for column in frame.columns:
        if not pd.api.types.is_numeric_dtype(frame[column]):  # text (or mixed): from strings
            frame[column] = frame[column].map(csv_safe).astype(object)
    return frame.to_csv(index=False, lineterminator="\n").encode()


def _changelog(results: list[EvalResult], legacy_meta: dict[str, Any]) -> list[dict[str, Any]]:
    """One entry per update (a date with evaluations), newest first, then the legacy import."""
    by_date: dict[str, Counter[str]] = {}
    seen: set[str] = set()
    for r in sorted(results, key=lambda r: r.evaluated_at):
        day = by_date.setdefault(r.evaluated_at[:10], Counter())
        day[r.status] += 1
        if r.status == "ok" and r.model_id not in seen:
            day["new"] += 1
            seen.add(r.model_id)
    entries = [
        {"date": d, "evaluated": c["ok"], "failed": c["error"], "new": c["new"]}
        for d, c in sorted(by_date.items(), reverse=True)
    ]
    if legacy_meta:
        entries.append(
            {
                "date": legacy_meta.get("as_of", "2023"),
                "legacy": sum(legacy_meta.get("per_architecture", {}).values()),
            }
        )
    return entries


def render_site(store: Store, site_url: str | None = None) -> tuple[SiteFiles, int, int]:
    """Return (files by relative path, number of HTML pages, number of models listed)."""
    archs = store.architectures()
    legacy = store.legacy_models() if store.has_legacy() else []
    baselines = store.legacy_baselines() if store.has_legacy() else []
    meta = store.legacy_meta()
    results = store.results()
    catalog = store.catalog()
    # Only present models are ranked; the raw records still date updates and fill the changelog.
    ranked_legacy, ranked_results, ranked_catalog = rankable(legacy, results, catalog)
    env = environment()
    built_at = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")

    views: list[ArchitectureView] = []
    for arch in archs:
        sigma = legacy_sigma(arch, baselines)
        # The paired tests between every current-protocol result, run once for table and history.
        comparison = probe_comparison(arch, ranked_results)
        table = architecture_table(
            arch, ranked_legacy, ranked_results, ranked_catalog, sigma=sigma, comparison=comparison
        )
        arch_results = [r for r in results if r.architecture == arch.id]
        records = to_download_records(table)
        for r in records:
            r["page"] = model_page(arch, r["model_id"])
        newest = sorted(
            (r for r in records if r["evaluated_at"]), key=lambda r: r["evaluated_at"], reverse=True
        )[:3]
        views.append(
            ArchitectureView(
                arch=arch,
                page=f"arch/{arch.slug}.html",
                table=table,
                records=records,
                baseline=baseline_for(arch, legacy, baselines, results),
                sigma=sigma,
                updated=_updated(
                    meta.get("as_of") if any(m.architecture == arch.id for m in legacy) else None,
                    [r.evaluated_at for r in arch_results],
                ),
                newest=newest,
                history=rank_history(arch, ranked_results, comparison),
                downloads={
                    "csv": f"downloads/{arch.slug}.csv",
                    "json": f"downloads/{arch.slug}.json",
                },
            )
        )
    last_updated = max((v.updated for v in views if v.updated != "never"), default="never")
    common = {
        "version": __version__,
        "built_at": built_at,
        "hub_url": HUB_URL,
        "last_updated": last_updated,
        "architectures": archs,
        "protocol_version": PROTOCOL_VERSION,
        "resamples": RESAMPLES,
    }
    files: SiteFiles = {}
    pages = 0

    def page(path: str, template: str, **context: Any) -> None:
        nonlocal pages
        root = "../" * path.count("/")
        text = env.get_template(template).render(**common, **context, root=root, path=path)
        files[path] = text.encode()
        pages += 1

    # -- downloads --------------------------------------------------------------------------
    everything = pd.concat([v.table for v in views], ignore_index=True)
    files["downloads/all.csv"] = _csv_bytes(everything)
    files["downloads/all.json"] = _json_bytes(
        {"updated": last_updated, "models": to_download_records(everything)}
    )
    for v in views:
        files[v.downloads["csv"]] = _csv_bytes(v.table)
        files[v.downloads["json"]] = _json_bytes(
            {
                "architecture": v.arch.id,
                "baseline": v.baseline.__dict__,
                "updated": v.updated,
                "models": v.records,
            }
        )

    # -- home --------------------------------------------------------------------------------
    gains = pd.concat(
        [
            pd.DataFrame(
                {
                    "architecture": v.arch.title,
                    "model_id": v.table["model_id"],
                    "gain": v.table["probe_gain" if v.has_probe else "gain"],
                }
            )
            for v in views
        ],
        ignore_index=True,
    )
    page("index.html", "index.html", views=views, overview=charts.overview(gains))

    # -- architecture pages --------------------------------------------------------------------
    for v in views:
        score, label = ("probe_accuracy", "MNLI probe accuracy") if v.has_probe else (
            "avg", "36-task average")  # fmt: skip
        base_score = v.baseline.probe_accuracy if v.has_probe else v.baseline.avg
        gain_col = "probe_gain" if v.has_probe else "gain"
        figures = {
            "distribution": charts.score_distribution(
                v.table[score], base_score, label=label, base_label=v.arch.id
            ),
            "downloads": charts.gain_vs_downloads(v.table, gain_col, "gain"),
            "timeline": charts.evaluated_over_time(v.table["evaluated_at"]),
        }
        licenses = sorted({r["license"] for r in v.records if r["license"]})
        page(
            v.page,
            "architecture.html",
            view=v,
            rows=_table_rows(v),
            figures=figures,
            licenses=licenses,
        )

    # -- model pages and badges ----------------------------------------------------------------
    legacy_by_id = {(m.architecture, m.model_id): m for m in legacy}
    probe_history = result_history(ranked_results)  # every protocol version, newest first
    for v in views:
        total = v.ranked
        for r in v.records:
            rank = r[v.primary]
            tied = r[v.tied] or 1
            message = badges.badge_message(rank, total, v.arch.title, tied)
            color = badges.badge_color(rank, total)
            base = badge_base(v.arch, r["model_id"])
            files[base + ".svg"] = badges.badge_svg(message, color).encode()
            files[base + ".json"] = _json_bytes(badges.shields_endpoint(message, color))
            path = r["page"]
            lm = legacy_by_id.get((v.arch.id, r["model_id"]))
            page(
                path,
                "model.html",
                view=v,
                row=r,
                rank=rank,
                total=total,
                tied=tied,
                badge_message=message,
                probe_history=probe_history.get((v.arch.id, r["model_id"]), []),
                legacy=lm,
                tasks=LEGACY_TASKS,
                badge_svg=base + ".svg",
                badge_json=base + ".json",
                markdown=badges.markdown_snippet(site_url, base + ".svg", path),
                shields_url=(
                    f"https://img.shields.io/endpoint?url={site_url.rstrip('/')}/{base}.json"
                    if site_url
                    else None
                ),
                figures={
                    "history": charts.rank_movement(v.history.get(r["model_id"], [])),
                    "tasks": charts.task_gains(lm.scores, v.baseline.scores) if lm else None,
                },
            )

    # -- methodology, FAQ, cite, changelog -----------------------------------------------------
    # The target is the 2023 average gain of rows that the 2023 rank trusts (not shifted).
    trusted = everything[~everything["flags"].fillna("").str.split(";").map(_untrusted)]
    per_arch: list[tuple[Architecture, Fidelity, Fidelity]] = []
    for v in views:
        own = trusted[trusted["architecture"] == v.arch.id]
        per_arch.append(
            (
                v.arch,
                rank_correlation(own, "probe_accuracy", "gain"),
                rank_correlation(own, "mnli_lp", "gain"),
            )
        )
    page(
        "methodology.html",
        "methodology.html",
        fidelity=fidelity_table(trusted),
        primary_predictor=PREDICTORS[0][1],
        per_arch=per_arch,
        views=views,
        nli_example=nli_example(views),
        meta=meta,
    )
    page("faq.html", "faq.html")
    page("cite.html", "cite.html", site_url=site_url)
    page("changelog.html", "changelog.html", entries=_changelog(results, meta))

    for asset in sorted((TEMPLATES / "static").rglob("*")):
        if asset.is_file():
            rel = Path("static") / asset.relative_to(TEMPLATES / "static")
            files[rel.as_posix()] = asset.read_bytes()
    return files, pages, len(everything)
