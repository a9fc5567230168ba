"""Gather every page, chart, badge and download of the site in memory, from the store."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from ranker import __version__
from ranker.build import badges, charts
from ranker.build.fidelity import Fidelity, rank_correlation
from ranker.build.render import TEMPLATES, environment
from ranker.build.tables import (
    COLUMNS,
    HUB_URL,
    Baseline,
    architecture_table,
    baseline_for,
    rank_history,
    rankable,
    to_download_records,
)
from ranker.records import LEGACY_TASKS, Architecture, EvalResult
from ranker.store import Store

SiteFiles = dict[str, bytes]

# Fields of a row that the architecture page's table needs (the downloads carry all).
TABLE_FIELDS = (
    "rank", "probe_rank", "model_id", "probe_accuracy", "probe_low", "probe_high", "probe_gain",
    "probe_gain_low", "probe_gain_high", "avg", "gain", "mnli_lp", "downloads", "likes", "params",
    "license", "last_modified", "evaluated_at", "probe_revision", "flags",
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
    newest: list[dict[str, Any]] = field(default_factory=list)
    history: dict[str, list[tuple[str, int]]] = field(default_factory=dict)
    downloads: dict[str, str] = field(default_factory=dict)

    @property
    def has_probe(self) -> bool:
        return bool(self.table["probe_accuracy"].notna().any())

    @property
    def ranked(self) -> int:
        return int(self.table[self.primary].notna().sum())

    @property
    def primary(self) -> str:
        """The rank column that orders this architecture: our probe once it has results."""
        return "probe_rank" if self.has_probe else "rank"

    @property
    def best(self) -> dict[str, Any] | None:
        top = self.records[0] if self.records else None
        return top if top is not None and top[self.primary] == 1 else None


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
        rows.append(row)
    return rows


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
        table = architecture_table(arch, ranked_legacy, ranked_results, ranked_catalog)
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
                updated=_updated(
                    meta.get("as_of") if any(m.architecture == arch.id for m in legacy) else None,
                    [r.evaluated_at for r in arch_results],
                ),
                newest=newest,
                history=rank_history(arch, ranked_results),
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
    for v in views:
        total = v.ranked
        for r in v.records:
            rank = r[v.primary]
            message = badges.badge_message(rank, total, v.arch.title)
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
    fidelity: list[tuple[Architecture, Fidelity, Fidelity]] = [
        (
            v.arch,
            rank_correlation(v.table, "probe_accuracy", "avg"),
            rank_correlation(v.table, "mnli_lp", "avg"),
        )
        for v in views
    ]
    page("methodology.html", "methodology.html", fidelity=fidelity, meta=meta)
    page("faq.html", "faq.html")
    page("cite.html", "cite.html", site_url=site_url)
    page("changelog.html", "changelog.html", entries=_changelog(results, meta))

    for asset in sorted((TEMPLATES / "static").rglob("*")):
        if asset.is_file():
            rel = Path("static") / asset.relative_to(TEMPLATES / "static")
            files[rel.as_posix()] = asset.read_bytes()
    return files, pages, len(everything)
