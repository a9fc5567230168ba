"""Render the site from the store, one file at a time (ranker.build.SiteWriter writes them).

Per architecture, in one pass: its table (ranks included), downloads, page and row chunks,
then every model's page and badge; what the home, methodology and changelog pages need is kept
as a small summary. Every step is linear in the models of the architecture, except the paired
tests of the ranks (ranker.build.ranks), which compare results two by two.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd
from markupsafe import Markup

from ranker import __version__
from ranker.build import badges, charts
from ranker.build.compare import compare_page, task_gains, write_compare
from ranker.build.downloads import csv_text, download_record, gzipped, json_compact, json_text
from ranker.build.families import families, lineage_parents
from ranker.build.feeds import architecture_entries, atom_feed
from ranker.build.fidelity import PREDICTORS, Fidelity, fidelity_table, rank_correlation
from ranker.build.inputs import (
    usable_baselines,
    usable_catalog,
    usable_legacy,
    usable_meta,
    usable_results,
)
from ranker.build.missing import missing_rows, write_missing
from ranker.build.ranks import RESAMPLES, legacy_threshold
from ranker.build.render import TEMPLATES, environment
from ranker.build.start import Pick, start_here
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
from ranker.protocol import PROTOCOL_VERSION
from ranker.records import LEGACY_TASKS, Architecture, EvalResult
from ranker.store import Store
from ranker.urls import badge_base, model_page, rows_prefix

if TYPE_CHECKING:
    from ranker.build import SiteWriter

# Fields of a row that the architecture page's table needs (the downloads carry all), in the
# order of the arrays that the page and its row chunks hold. A row's page link is derived
# from its id (`model_page`), in the page as here.
ROW_FIELDS = (
    "probe_rank", "probe_tied", "legacy_rank", "legacy_tied", "model_id", "probe_accuracy",
    "probe_low", "probe_high", "probe_gain", "probe_gain_low", "probe_gain_high", "logme",
    "hscore", "avg", "gain", "mnli_lp", "nli", "downloads", "likes", "params", "license",
    "last_modified", "evaluated_at", "probe_revision", "flags", "shifted_from",
    "family", "family_size", "family_best",
)  # fmt: skip
# The architecture page holds the first rows in its order (the first view a person gets);
# the rest come as chunks, `rows/<slug>/<k>.js`, that the page's script loads and adds to the
# table. Chunks are scripts (`rankerRows(k, rows)`), not JSON files, because a page opened
# from file:// may not fetch() files beside it, but may load scripts.
FIRST_ROWS = 500
CHUNK_ROWS = 4000
# The home page's overview chart: at most this many points per architecture, spread evenly
# over the sorted gains (the best and the worst always among them).
OVERVIEW_POINTS = 500
# Columns every model keeps after its architecture is written: the fidelity table, the
# overview chart and the model count need no more.
SUMMARY_COLUMNS = (
    "architecture", "model_id", "flags", "probe_accuracy", "probe_gain", "logme", "hscore",
    "avg", "gain", "mnli_lp",
)  # fmt: skip


@dataclass
class ArchitectureView:
    """What the pages say about one architecture. `table` and `records` are set while the
    architecture is being written and dropped after; the rest is its summary."""

    arch: Architecture
    page: str
    baseline: Baseline
    updated: str
    has_probe: bool
    listed: int
    ranked: int
    sigma: float | None = None
    best: dict[str, Any] | None = None
    top_group: int = 0
    newest: list[dict[str, Any]] = field(default_factory=list)
    downloads: dict[str, str] = field(default_factory=dict)
    table: pd.DataFrame | None = None
    records: list[dict[str, Any]] = field(default_factory=list)
    start: list[Pick] = field(default_factory=list)  # the "start here" card
    feed: str = ""  # the Atom feed's path
    compare: str = ""  # the compare view's path

    @property
    def primary(self) -> str:
        """The rank column that orders this architecture: our probe once it ranks any model."""
        return "probe_rank" if self.has_probe else "legacy_rank"

    @property
    def tied(self) -> str:
        return "probe_tied" if self.has_probe else "legacy_tied"

    @property
    def legacy_threshold(self) -> float:
        return legacy_threshold(self.sigma)


def _updated(as_of: str | None, evaluated_at: Iterable[str]) -> str:
    """The newest of the legacy data's date and our evaluations' dates."""
    dates = {d[:10] for d in evaluated_at if d}  # "": no usable date
    if as_of:
        dates.add(as_of)
    return max(dates) if dates else "never"


def _round(value: Any) -> Any:
    return round(value, 5) if isinstance(value, float) else value


def _row(r: dict[str, Any]) -> list[Any]:
    """One table row as an array in ROW_FIELDS order; null where missing."""
    row = [_round(r[k]) for k in ROW_FIELDS]
    for k in ("last_modified", "evaluated_at"):
        i = ROW_FIELDS.index(k)
        row[i] = row[i][:10] if row[i] else None
    i = ROW_FIELDS.index("probe_revision")
    row[i] = row[i][:7] if row[i] else None
    i = ROW_FIELDS.index("flags")
    row[i] = row[i] or None
    i = ROW_FIELDS.index("nli")
    row[i] = True if row[i] else None
    return row


def _untrusted(flags: list[str]) -> bool:
    return any(f in UNRANKED_FLAGS for f in flags)


def nli_candidate(v: ArchitectureView, top: int = 5) -> dict[str, Any] | None:
    """The NLI-trained model whose 2023 MNLI probe flatters it most in one architecture: among
    its `top` 2023 probe scores, the NLI model with the worst position by 36-task average (over
    the trusted rows that have both). None when there is none."""
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
    best: dict[str, Any] | None = None
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


def nli_example(candidates: Iterable[dict[str, Any] | None]) -> dict[str, Any] | None:
    """Of the architectures' candidates (`nli_candidate`), the one the probe flatters most."""
    best: dict[str, Any] | None = None
    for c in candidates:
        if c is not None and (best is None or c["avg_position"] > best["avg_position"]):
            best = c
    return best


def _changelog(results: list[EvalResult], legacy_meta: dict[str, Any]) -> list[dict[str, Any]]:
    """One entry per update (a date with evaluations), newest first, then the legacy import."""
    by_date: dict[str, Counter[str]] = {}
    seen: set[str] = set()
    for r in sorted(results, key=lambda r: r.evaluated_at):
        if not r.evaluated_at:  # no usable date (ranker.build.inputs): on no day's line
            continue
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
        counts = legacy_meta.get("per_architecture")
        entries.append(
            {
                "date": legacy_meta.get("as_of") or "2023",
                "legacy": sum(
                    n for n in (counts.values() if isinstance(counts, dict) else ())
                    if type(n) is int and n >= 0
                ),
            }
        )  # fmt: skip
    return entries


def _by_architecture(records: Iterable[Any]) -> defaultdict[str, list[Any]]:
    out: defaultdict[str, list[Any]] = defaultdict(list)
    for r in records:
        out[r.architecture].append(r)
    return out


def _overview_sample(frame: pd.DataFrame, limit: int = OVERVIEW_POINTS) -> pd.DataFrame:
    """At most `limit` rows per architecture, spread evenly over the sorted gains."""
    parts = []
    for _, group in frame.dropna(subset=["gain"]).groupby("architecture", sort=False):
        if len(group) > limit:
            ordered = group.sort_values("gain", kind="stable")
            picks = sorted({round(i * (len(ordered) - 1) / (limit - 1)) for i in range(limit)})
            group = ordered.iloc[picks]
        parts.append(group)
    return pd.concat(parts, ignore_index=True) if parts else frame.iloc[:0]


class _Pages:
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


def render_site(store: Store, site_url: str | None, writer: SiteWriter) -> tuple[int, int]:
    """Write every file of the site through `writer`; return (HTML pages, models listed)."""
    now = datetime.now(UTC)
    archs = store.architectures()
    # every record through the build's rules for dates and counts (ranker.build.inputs)
    legacy = usable_legacy(store.legacy_models(), now) if store.has_legacy() else []
    baselines = usable_baselines(store.legacy_baselines()) if store.has_legacy() else []
    meta = usable_meta(store.legacy_meta(), now)
    results = usable_results(store.results(), now)
    catalog = usable_catalog(store.catalog(), now)
    # Only present models are ranked; the raw records still date updates and fill the changelog.
    ranked_legacy, ranked_results, ranked_catalog = rankable(legacy, results, catalog)
    legacy_of = _by_architecture(legacy)
    ranked_legacy_of = _by_architecture(ranked_legacy)
    ranked_results_of = _by_architecture(ranked_results)
    ranked_catalog_of = _by_architecture(ranked_catalog)
    dates_of: defaultdict[str, set[str]] = defaultdict(set)
    for r in results:
        if r.evaluated_at:
            dates_of[r.architecture].add(r.evaluated_at[:10])
    hub_ids = {i for a in archs for i in a.hub_ids}
    base_results = [r for r in results if r.model_id in hub_ids]
    probe_history = result_history(ranked_results)  # every protocol version, newest first
    not_here = missing_rows(catalog, results, archs, PROTOCOL_VERSION)
    del results  # the changelog reads the store again at the end

    updated = {
        a.id: _updated(meta.get("as_of") if legacy_of.get(a.id) else None, dates_of[a.id])
        for a in archs
    }
    last_updated = max((u for u in updated.values() if u != "never"), default="never")
    common = {
        "version": __version__,
        "built_at": now.strftime("%Y-%m-%d %H:%M UTC"),
        "hub_url": HUB_URL,
        "last_updated": last_updated,
        "architectures": archs,
        "protocol_version": PROTOCOL_VERSION,
        "resamples": RESAMPLES,
    }
    page = _Pages(writer, common)

    views: list[ArchitectureView] = []
    summaries: list[pd.DataFrame] = []
    nli_candidates: list[dict[str, Any] | None] = []
    # everything in one file each, gzip-compressed: the per-architecture files hold the same
    all_csv_file = writer.stream("downloads/all.csv.gz")
    all_json_file = writer.stream("downloads/all.json.gz")
    with all_csv_file as all_csv, all_json_file as all_json:
        all_json.write(f'{{"updated":{json.dumps(last_updated)},"models":[')
        first = True
        for arch in archs:
            own_results = ranked_results_of[arch.id]
            sigma = legacy_sigma(arch, baselines)
            # The paired tests between every current-protocol result, run once for the table
            # and the history.
            comparison = probe_comparison(arch, own_results)
            table = architecture_table(
                arch, ranked_legacy_of[arch.id], own_results, ranked_catalog_of[arch.id],
                sigma=sigma, comparison=comparison,
            )  # fmt: skip
            records = to_download_records(table)
            for r in records:
                r["page"] = model_page(arch, r["model_id"])
            _add_families(records, ranked_catalog_of[arch.id])
            has_probe = bool(table["probe_rank"].notna().any())
            primary = "probe_rank" if has_probe else "legacy_rank"
            view = ArchitectureView(
                arch=arch,
                page=f"arch/{arch.slug}.html",
                baseline=baseline_for(arch, legacy_of[arch.id], baselines, base_results),
                updated=updated[arch.id],
                has_probe=has_probe,
                listed=len(records),
                ranked=int(table[primary].notna().sum()),
                sigma=sigma,
                # rows are ordered by point estimate: the first of rank 1 is the best estimate
                best=next((r for r in records if r[primary] == 1), None),
                top_group=sum(1 for r in records if r[primary] == 1),
                newest=sorted(
                    (r for r in records if r["evaluated_at"]),
                    key=lambda r: r["evaluated_at"],
                    reverse=True,
                )[:3],
                downloads={  # gzip-compressed: a tenth of the size
                    "csv": f"downloads/{arch.slug}.csv.gz",
                    "json": f"downloads/{arch.slug}.json.gz",
                },
                table=table,
                records=records,
                feed=f"feeds/{arch.slug}.xml",
                compare=compare_page(arch),
            )
            view.start = start_here(
                records, has_probe=has_probe, base=arch.id,
                families={r["model_id"]: r["family"] for r in records},
            )  # fmt: skip
            views.append(view)

            # -- downloads ------------------------------------------------------------------
            writer.write(view.downloads["csv"], gzipped(csv_text(table, COLUMNS)))
            all_csv.write(csv_text(table, COLUMNS, header=not summaries))
            writer.write(
                view.downloads["json"],
                gzipped(
                    json_text(
                        {
                            "architecture": arch.id,
                            "baseline": view.baseline.__dict__,
                            "updated": view.updated,
                            "models": [download_record(r) for r in records],
                        }
                    )
                ),
            )
            for r in records:
                all_json.write(("" if first else ",") + json_compact(download_record(r, False)))
                first = False

            # -- the architecture page and its row chunks ---------------------------------------
            tasks = task_gains(legacy_of[arch.id], view.baseline.scores, arch)
            tasks_path = f"{rows_prefix(arch)}tasks.js"
            _architecture_page(page, writer, view, tasks_path if tasks else None)

            # -- model pages and badges -------------------------------------------------------
            history = rank_history(arch, own_results, comparison)
            _feed(writer, view, history, site_url, last_updated)
            write_compare(
                page, writer.write, arch, fields=ROW_FIELDS,
                chunks=[f"{rows_prefix(arch)}{k}.js" for k in range(_chunk_count(records))],
                pages=f"models/{arch.slug}/",
                tasks=tasks,
                tasks_path=tasks_path,
            )  # fmt: skip
            _model_pages(page, writer, view, site_url, history, probe_history, legacy_of[arch.id])

            nli_candidates.append(nli_candidate(view))
            summaries.append(table[list(SUMMARY_COLUMNS)].assign(
                overview_gain=table["probe_gain" if has_probe else "gain"]
            ))  # fmt: skip
            view.table, view.records = None, []  # written: only the summary stays
        all_json.write("]}\n")

    everything = pd.concat(summaries, ignore_index=True) if summaries else pd.DataFrame(
        columns=[*SUMMARY_COLUMNS, "overview_gain"]
    )  # fmt: skip

    # -- home --------------------------------------------------------------------------------
    titles = {a.id: a.title for a in archs}
    gains = pd.DataFrame(
        {
            "architecture": everything["architecture"].map(titles),
            "model_id": everything["model_id"],
            "gain": everything["overview_gain"],
        }
    )
    page("index.html", "index.html", views=views, overview=charts.overview(_overview_sample(gains)))

    # -- methodology, FAQ, cite, changelog -----------------------------------------------------
    # The target is the 2023 average gain of rows that the 2023 rank trusts (not shifted).
    untrusted = everything["flags"].fillna("").str.split(";").map(_untrusted).astype(bool)
    trusted = everything[~untrusted]  # astype: an empty map is not boolean (a column pick)
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
        nli_example=nli_example(nli_candidates),
        meta=meta,
    )
    page("faq.html", "faq.html")
    write_missing(page, writer.write, not_here)
    page("cite.html", "cite.html", site_url=site_url)
    results = usable_results(store.results(), now, warn=False)  # warned about above
    page("changelog.html", "changelog.html", entries=_changelog(results, meta))

    for asset in sorted((TEMPLATES / "static").rglob("*")):
        if asset.is_file():
            rel = Path("static") / asset.relative_to(TEMPLATES / "static")
            writer.write(rel.as_posix(), asset.read_bytes())
    return page.count, len(everything)


def _architecture_page(
    page: _Pages, writer: SiteWriter, v: ArchitectureView, tasks: str | None = None
) -> None:
    """The page and its row chunks; `tasks`: the 2023 per-task gains' file, when the
    architecture has any (the table's task column reads it)."""
    assert v.table is not None
    arch = v.arch
    rows = [_row(r) for r in v.records]
    # the first rows as chunk 0 too: the compare view loads every row from chunks
    body = json.dumps(rows[:FIRST_ROWS], separators=(",", ":"))
    writer.write(f"{rows_prefix(arch)}0.js", f"rankerRows(0,{body});\n")
    chunks = []
    for k, start in enumerate(range(FIRST_ROWS, len(rows), CHUNK_ROWS), start=1):
        path = f"{rows_prefix(arch)}{k}.js"
        body = json.dumps(rows[start : start + CHUNK_ROWS], separators=(",", ":"))
        writer.write(path, f"rankerRows({k},{body});\n")
        chunks.append(path)
    score, label = ("probe_accuracy", "MNLI probe accuracy") if v.has_probe else (
        "avg", "36-task average")  # fmt: skip
    base_score = v.baseline.probe_accuracy if v.has_probe else v.baseline.avg
    gain_col = "probe_gain" if v.has_probe else "gain"
    figures = {
        "distribution": charts.score_distribution(
            v.table[score], base_score, label=label, base_label=arch.id
        ),
        # the points come from the table's rows, once they are all loaded
        "downloads": charts.gain_vs_downloads(v.table, gain_col, "gain", points=False),
        "timeline": charts.evaluated_over_time(v.table["evaluated_at"]),
    }
    licenses = sorted({r["license"] for r in v.records if r["license"]})
    config = {
        "fields": ROW_FIELDS,
        "rows": rows[:FIRST_ROWS],
        "chunks": chunks,
        "total": len(rows),
        "pages": f"models/{arch.slug}/",
        "default_sort": "probe_accuracy" if v.has_probe else "avg",
        "default_dir": "desc",
        "tasks": tasks,
        "task_names": LEGACY_TASKS,
    }
    page(v.page, "architecture.html", view=v, config=config, figures=figures, licenses=licenses)


def _model_pages(
    page: _Pages,
    writer: SiteWriter,
    v: ArchitectureView,
    site_url: str | None,
    history: dict[str, list[tuple[str, int]]],
    probe_history: dict[tuple[str, str], list[EvalResult]],
    legacy: list[Any],
) -> None:
    legacy_by_id = {m.model_id: m for m in legacy}
    total = v.ranked
    site = site_url.rstrip("/") if site_url else None
    for r in v.records:
        rank = r[v.primary]
        tied = r[v.tied] or 1
        message = badges.badge_message(rank, total, v.arch.title, tied)
        color = badges.badge_color(rank, total)
        base = badge_base(v.arch, r["model_id"])
        writer.write(base + ".svg", badges.badge_svg(message, color))
        writer.write(base + ".json", json_text(badges.shields_endpoint(message, color)))
        path = r["page"]
        lm = legacy_by_id.get(r["model_id"])
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
            shields_url=f"https://img.shields.io/endpoint?url={site}/{base}.json" if site else None,
            history=Markup(charts.rank_sparkline(history.get(r["model_id"], [])) or ""),
            figures={"tasks": charts.task_gains(lm.scores, v.baseline.scores) if lm else None},
        )


def _chunk_count(records: list[dict[str, Any]]) -> int:
    """Row chunks of an architecture page, chunk 0 (the first rows) included."""
    return 1 + max(0, -(-(len(records) - FIRST_ROWS) // CHUNK_ROWS))


def _add_families(records: list[dict[str, Any]], catalog: Iterable[Any]) -> None:
    """Each row's family (ranker.build.families): its name, its size on this page, and whether
    the row is the family's best (rows are in the page's order, best estimate first)."""
    parents = {e.model_id: lineage_parents(e.tags) for e in catalog}
    names = families((r["model_id"] for r in records), parents)
    sizes = Counter(names.values())
    seen: set[str] = set()
    for r in records:
        name = names[r["model_id"]]
        r["family"], r["family_size"] = name, sizes[name]
        r["family_best"] = True if name not in seen else None
        seen.add(name)


def _feed(
    writer: SiteWriter,
    v: ArchitectureView,
    history: dict[str, list[tuple[str, int]]],
    site_url: str | None,
    updated: str,
) -> None:
    """The architecture's Atom feed: the newest evaluations and the models that entered the
    top 10 at an update (their probe rank after each update, `rank_history`)."""
    evaluated = [
        (r["model_id"], r["evaluated_at"], r.get("probe_accuracy"), r.get("probe_rank"), r["page"])
        for r in v.records
        if r.get("evaluated_at")
    ]
    pages = {r["model_id"]: r["page"] for r in v.records}
    entrants = []
    for model_id, ranks in history.items():
        before = None
        for day, rank in ranks:
            if rank <= 10 and (before is None or before > 10) and model_id in pages:
                entrants.append((model_id, day, rank, pages[model_id]))
            before = rank
    stamp = updated if updated != "never" else "1970-01-01"
    text = atom_feed(
        key=v.arch.slug,
        title=f"ranker: {v.arch.title}: new evaluations and new top-10 models",
        feed_path=v.feed,
        page_path=v.page,
        entries=architecture_entries(evaluated, entrants),
        updated=stamp,
        site_url=site_url,
    )
    writer.write(v.feed, text)
