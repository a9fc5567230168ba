"""Gather every page and download of the site in memory, from the store's records."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from ranker import __version__
from ranker.build.render import TEMPLATES, environment
from ranker.build.tables import (
    COLUMNS,
    HUB_URL,
    Baseline,
    architecture_table,
    baseline_for,
    to_download_records,
)
from ranker.records import LEGACY_TASKS, Architecture
from ranker.store import Store

SiteFiles = dict[str, bytes]


@dataclass(frozen=True)
class ArchitectureSummary:
    """One row of the home page."""

    arch: Architecture
    page: str
    baseline: Baseline
    best: dict[str, Any] | None
    ranked: int
    listed: int
    evaluated: int
    updated: str


def _updated(as_of: str | None, evaluated_at: list[str]) -> str:
    """The newest of the legacy data's date and our evaluations' dates, as YYYY-MM-DD/YYYY-MM."""
    dates = [d[:10] for d in evaluated_at]
    if as_of:
        dates.append(as_of)
    return max(dates) if dates else "never"


def _csv(table: pd.DataFrame) -> bytes:
    return table.to_csv(index=False, columns=list(COLUMNS), lineterminator="\n").encode()


def render_site(store: Store) -> tuple[SiteFiles, int, int]:
    """Return (files by relative path, number of HTML pages, number of models listed)."""
    archs = store.architectures()
    legacy = store.legacy_models() if store.has_legacy() else []
    baselines = store.legacy_baselines() if store.has_legacy() else []
    meta = store.legacy_meta()
    results = store.results()
    env = environment()
    built_at = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    common = {"version": __version__, "built_at": built_at, "hub_url": HUB_URL}

    files: SiteFiles = {}
    summaries: list[ArchitectureSummary] = []
    listed_total = 0
    for arch in archs:
        table = architecture_table(arch, legacy, results)
        baseline = baseline_for(arch, legacy, baselines)
        records = to_download_records(table)
        arch_results = [r for r in results if r.architecture == arch.id]
        updated = _updated(
            meta.get("as_of") if any(m.architecture == arch.id for m in legacy) else None,
            [r.evaluated_at for r in arch_results],
        )
        page = f"arch/{arch.slug}.html"
        summaries.append(
            ArchitectureSummary(
                arch=arch,
                page=page,
                baseline=baseline,
                best=records[0] if records and records[0]["rank"] == 1 else None,
                ranked=int(table["rank"].notna().sum()),
                listed=len(table),
                evaluated=sum(1 for r in arch_results if r.status == "ok"),
                updated=updated,
            )
        )
        listed_total += len(table)
        downloads = {"csv": f"downloads/{arch.slug}.csv", "json": f"downloads/{arch.slug}.json"}
        files[downloads["csv"]] = _csv(table)
        files[downloads["json"]] = (
            json.dumps(
                {
                    "architecture": arch.id,
                    "baseline": baseline.__dict__,
                    "updated": updated,
                    "models": records,
                },
                indent=1,
                ensure_ascii=False,
            )
            + "\n"
        ).encode()
        files[page] = (
            env.get_template("architecture.html")
            .render(
                **common,
                root="../",
                arch=arch,
                baseline=baseline,
                rows=records,
                tasks=LEGACY_TASKS,
                ranked=summaries[-1].ranked,
                updated=updated,
                downloads=downloads,
                has_probe=any(r["probe_accuracy"] is not None for r in records),
            )
            .encode()
        )

    last_updated = max((s.updated for s in summaries if s.updated != "never"), default="never")
    files["index.html"] = (
        env.get_template("index.html")
        .render(**common, root="", summaries=summaries, last_updated=last_updated)
        .encode()
    )
    for asset in sorted((TEMPLATES / "static").rglob("*")):
        if asset.is_file():
            files[str(Path("static") / asset.relative_to(TEMPLATES / "static"))] = (
                asset.read_bytes()
            )
    return files, len(archs) + 1, listed_total
