"""The build's second half: pages, row chunks, badges and feeds written from the gathered
context (ranker.build.context) and the architectures' views (ranker.build.views).

Nothing here reads the store or decides a rank: it renders what it is given.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pandas as pd
from markupsafe import Markup

from ranker.build import badges, charts, columns
from ranker.build.compare import write_compare
from ranker.build.context import SiteContext
from ranker.build.downloads import json_text
from ranker.build.feeds import architecture_feed
from ranker.build.fidelity import (
    PREDICTORS,
    Fidelity,
    fidelity_table,
    live_fidelity,
    rank_correlation,
)
from ranker.build.missing import write_missing
from ranker.build.render import TEMPLATES, environment
from ranker.build.rows import (
    FIRST_ROWS,
    ROW_FIELDS,
    chunk_scripts,
    column_terms,
    default_columns,
    page_scheme,
    row_array,
    table_order,
)
from ranker.build.views import ArchitectureView, nli_example, untrusted
from ranker.records import LEGACY_TASKS, Architecture, EvalResult
from ranker.urls import badge_base, rows_prefix

if TYPE_CHECKING:
    from ranker.build import SiteWriter

# The home page's overview chart: at most this many points per architecture, spread evenly
# over the sorted gains (the best and the worst always among them).
OVERVIEW_POINTS = 500


class Pages:
    """Renders templates into the writer, with what every page shares."""

    def __init__(self, writer: SiteWriter, common: dict[str, Any]) -> None:
        self.writer = writer
        self.env = environment()
        self.common = common
        self.count = 0
        self._templates: dict[str, Any] = {}

    def __call__(self, path: str, template: str, **context: Any) -> None:
        if template not in self._templates:
            self._templates[template] = self.env.get_template(template)
        root = "../" * path.count("/")
        text = self._templates[template].render(**self.common, **context, root=root, path=path)
        self.writer.write(path, text)
        self.count += 1


def write_architecture(
    page: Pages, context: SiteContext, v: ArchitectureView, site_url: str | None
) -> None:
    """Everything of one architecture but its downloads: its page and row chunks, the compare
    view, the feed, and every model's page and badges."""
    writer, arch = page.writer, v.arch
    tasks_path = f"{rows_prefix(arch)}tasks.js"
    chunks = _architecture_page(page, v, tasks_path if v.tasks else None)
    writer.write(v.feed, architecture_feed(v, site_url, context.last_updated))
    write_compare(
        page, writer.write, arch, fields=ROW_FIELDS,
        chunks=chunks,
        tasks=v.tasks,
        tasks_path=tasks_path,
        pairs=v.pairs, sigma=v.sigma,
    )  # fmt: skip
    _model_pages(page, v, site_url, context.probe_history)


def _architecture_page(page: Pages, v: ArchitectureView, tasks: str | None) -> list[str]:
    """The page and its row chunks (their paths returned, chunk 0 included); `tasks`: the 2023
    per-task gains' file, when the architecture has any (the table's task column reads it)."""
    assert v.table is not None
    arch = v.arch
    rows = [row_array(r) for r in v.records]
    scripts = chunk_scripts(arch, rows)
    for path, text in scripts:
        page.writer.write(path, text)
    config = {
        "fields": ROW_FIELDS,
        "rows": rows[:FIRST_ROWS],
        "chunks": [path for path, _ in scripts[1:]],
        "total": len(rows),
        **page_scheme(arch),
        "compare": v.compare,
        "default_order": table_order(v.has_probe),
        "score": "probe_accuracy" if v.has_probe else "avg",  # the task column comes after it
        "default_columns": default_columns(
            v.has_probe, has_verified=bool(v.table["verified_gain"].notna().any())
        ),
        "terms": column_terms(),
        "tasks": tasks,
        "task_names": LEGACY_TASKS,
    }
    licenses = sorted({r["license"] for r in v.records if r["license"]})
    figures = _architecture_figures(v)
    page(v.page, "architecture.html", view=v, config=config, figures=figures, licenses=licenses)
    return [path for path, _ in scripts]


def _architecture_figures(v: ArchitectureView) -> dict[str, Any]:
    assert v.table is not None
    score, label = ("probe_accuracy", "MNLI probe accuracy") if v.has_probe else (
        "avg", "36-task average")  # fmt: skip
    base_score = v.baseline.probe_accuracy if v.has_probe else v.baseline.avg
    gain_col = "probe_gain" if v.has_probe else "gain"
    return {
        "distribution": charts.score_distribution(
            v.table[score], base_score, label=label, base_label=v.arch.id
        ),
        # the points come from the table's rows, once they are all loaded
        "downloads": charts.gain_vs_downloads(v.table, gain_col, "gain", points=False),
        "timeline": charts.evaluated_over_time(v.table["evaluated_at"]),
    }


def _model_pages(
    page: Pages,
    v: ArchitectureView,
    site_url: str | None,
    probe_history: dict[tuple[str, str], list[EvalResult]],
) -> None:
    """Every model's page and its badges (SVG and shields.io endpoint JSON)."""
    legacy_by_id = {m.model_id: m for m in v.legacy}
    site = site_url.rstrip("/") if site_url else None
    for r in v.records:
        rank, tied = r[v.primary], r[v.tied] or 1
        message = badges.badge_message(rank, v.ranked, v.arch.title, tied)
        color = badges.badge_color(rank, v.ranked)
        base = badge_base(v.arch, r["model_id"])
        page.writer.write(base + ".svg", badges.badge_svg(message, color))
        page.writer.write(base + ".json", json_text(badges.shields_endpoint(message, color)))
        lm = legacy_by_id.get(r["model_id"])
        page(
            r["page"],
            "model.html",
            view=v,
            row=r,
            rank=rank,
            total=v.ranked,
            tied=tied,
            badge_message=message,
            probe_history=probe_history.get((v.arch.id, r["model_id"]), []),
            legacy=lm,
            tasks=LEGACY_TASKS,
            badge_svg=base + ".svg",
            badge_json=base + ".json",
            markdown=badges.markdown_snippet(site_url, base + ".svg", r["page"]),
            shields_url=f"https://img.shields.io/endpoint?url={site}/{base}.json" if site else None,
            history=Markup(charts.rank_sparkline(v.history.get(r["model_id"], [])) or ""),
            figures={"tasks": charts.task_gains(lm.scores, v.baseline.scores) if lm else None},
            verified=v.verified.get(r["model_id"]),
            verified_base=v.verified.get(v.arch.id),
        )


def write_site_pages(
    page: Pages,
    context: SiteContext,
    views: list[ArchitectureView],
    everything: pd.DataFrame,
    nli_candidates: list[dict[str, Any] | None],
    site_url: str | None,
) -> None:
    """The pages about the whole site: home, methodology, FAQ, missing models, cite, changelog;
    `everything`: every model's summary (ArchitectureView.summary)."""
    page("index.html", "index.html", views=views, overview=_overview(context, everything))
    # The target is the 2023 average gain of rows that the 2023 rank trusts (not shifted).
    distrusted = everything["flags"].fillna("").str.split(";").map(untrusted).astype(bool)
    trusted = everything[~distrusted]  # astype: an empty map is not boolean (a column pick)
    page(
        "methodology.html",
        "methodology.html",
        fidelity=fidelity_table(trusted),
        primary_predictor=PREDICTORS[0][1],
        per_arch=[_fidelity(trusted, v.arch) for v in views],
        live=live_fidelity(everything, context.verified, [v.arch for v in views]),
        views=views,
        nli_example=nli_example(nli_candidates),
        meta=context.meta,
    )
    page("faq.html", "faq.html")
    page(columns.GUIDE, "columns.html", columns=columns.guide(), json_only=columns.JSON_ONLY)
    write_missing(page, page.writer.write, context.missing)
    page("cite.html", "cite.html", site_url=site_url)
    page("changelog.html", "changelog.html", entries=context.changelog)


def _fidelity(trusted: pd.DataFrame, arch: Architecture) -> tuple[Architecture, Fidelity, Fidelity]:
    own = trusted[trusted["architecture"] == arch.id]
    return (
        arch,
        rank_correlation(own, "probe_accuracy", "gain"),
        rank_correlation(own, "mnli_lp", "gain"),
    )


def _overview(context: SiteContext, everything: pd.DataFrame) -> Any:
    titles = {a.id: a.title for a in context.archs}
    gains = pd.DataFrame(
        {
            "architecture": everything["architecture"].map(titles),
            "model_id": everything["model_id"],
            "gain": everything["overview_gain"],
        }
    )
    return charts.overview(overview_sample(gains))


def overview_sample(frame: pd.DataFrame, limit: int = OVERVIEW_POINTS) -> pd.DataFrame:
    """At most `limit` rows per architecture, spread evenly over the sorted gains."""
    parts = []
    for _, group in frame.dropna(subset=["gain"]).groupby("architecture", sort=False):
        if len(group) > limit:
            ordered = group.sort_values("gain", kind="stable")
            picks = sorted({round(i * (len(ordered) - 1) / (limit - 1)) for i in range(limit)})
            group = ordered.iloc[picks]
        parts.append(group)
    return pd.concat(parts, ignore_index=True) if parts else frame.iloc[:0]


def write_static(writer: SiteWriter) -> None:
    """The scripts, style sheet and vendored libraries, as they are in the package."""
    for asset in sorted((TEMPLATES / "static").rglob("*")):
        if asset.is_file():
            rel = asset.relative_to(TEMPLATES / "static").as_posix()
            writer.write(f"static/{rel}", asset.read_bytes())
