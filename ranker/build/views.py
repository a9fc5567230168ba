"""One architecture as the pages see it: its table (ranks included), rows, baseline, "start
here" card and rank history, made from the site context (ranker.build.context).

A view is made, written and then released (`ArchitectureView.release`), so that the build
holds one architecture's table at a time; what the home and methodology pages need of it stays
as its summary.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from ranker.build.compare import compare_page, task_gains
from ranker.build.context import SiteContext
from ranker.build.families import families, lineage_parents
from ranker.build.numbers import missing
from ranker.build.pairs import PairData, pair_data
from ranker.build.ranks import legacy_threshold
from ranker.build.start import StartCard, start_here
from ranker.build.tables import (
    UNRANKED_FLAGS,
    Baseline,
    architecture_table,
    baseline_for,
    legacy_sigma,
    probe_comparison,
    rank_history,
    to_download_records,
)
from ranker.build.verified import Verified
from ranker.records import Architecture, CatalogEntry, LegacyModel
from ranker.urls import architecture_page, model_page

# Columns every model keeps after its architecture is written: the fidelity table, the
# overview chart and the model count need no more.
SUMMARY_COLUMNS = (
    "architecture", "model_id", "flags", "probe_accuracy", "probe_gain", "logme", "hscore",
    "avg", "gain", "mnli_lp",
)  # fmt: skip


@dataclass
class ArchitectureView:
    """What the pages say about one architecture. `table`, `records`, `legacy`, `tasks` and
    `history` are set while the architecture is being written and dropped after
    (`release`); the rest is its summary."""

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
    start: StartCard = field(default_factory=StartCard)  # the "start here" card
    evaluated: int = 0  # its models with a probe result of ours
    as_of: str = ""  # the date of the ranking's data: IBM's "2023-04", or our newest evaluation
    feed: str = ""  # the Atom feed's path
    compare: str = ""  # the compare view's path
    legacy: list[LegacyModel] = field(default_factory=list)  # its 2023 rows, unranked included
    tasks: dict[str, list[float | None]] = field(default_factory=dict)  # 2023 per-task gains
    history: dict[str, list[tuple[str, int]]] = field(default_factory=dict)  # probe ranks
    pairs: PairData | None = None  # the ranked probe models' resamples, for the compare view
    # `ranker verify`'s finetuning of this architecture's models, its base included
    verified: dict[str, Verified] = field(default_factory=dict)

    @property
    def primary(self) -> str:
        """The rank column that orders this architecture: our probe once it ranks any model."""
        return "probe_rank" if self.has_probe else "legacy_rank"

    @property
    def tied(self) -> str:
        return "probe_tied" if self.has_probe else "legacy_tied"

    @property
    def measure(self) -> str:
        """What the ranks and scores shown are: the page says it wherever it shows a number."""
        return "MNLI probe" if self.has_probe else "36-task average"

    @property
    def source(self) -> str:
        """Whose numbers and how fresh: ours with our newest evaluation's day, or IBM's 2023
        finetuning results with their date."""
        if self.has_probe:
            return f"ours, evaluated {self.as_of}" if self.as_of else "ours"
        return f"IBM 2023, as of {self.as_of}" if self.as_of else "IBM 2023"

    @property
    def baseline_score(self) -> float | None:
        """The base's score on the page's measure (never the other measure's): None if none."""
        value = self.baseline.probe_accuracy if self.has_probe else self.baseline.avg
        return None if missing(value) else float(value)

    @property
    def legacy_threshold(self) -> float:
        return legacy_threshold(self.sigma)

    def summary(self) -> pd.DataFrame:
        """Its models' SUMMARY_COLUMNS and the gain the overview chart shows."""
        assert self.table is not None
        gain = self.table["probe_gain" if self.has_probe else "gain"]
        return self.table[list(SUMMARY_COLUMNS)].assign(overview_gain=gain)

    def release(self) -> None:
        """Written: only the summary stays."""
        self.table, self.records, self.legacy = None, [], []
        self.tasks, self.history = {}, {}
        self.pairs = None


def architecture_view(context: SiteContext, arch: Architecture) -> ArchitectureView:
    """The view of `arch`: its table and rows, ranked by the paired tests run once for the
    table and the rank history."""
    own_results = context.ranked_results_of[arch.id]
    catalog = context.ranked_catalog_of[arch.id]
    legacy = context.legacy_of[arch.id]
    sigma = legacy_sigma(arch, context.baselines)
    comparison = probe_comparison(arch, own_results)
    table = architecture_table(
        arch, context.ranked_legacy_of[arch.id], own_results, catalog,
        sigma=sigma, comparison=comparison, verified=context.verified,
    )  # fmt: skip
    records = to_download_records(table)
    for r in records:
        r["page"] = model_page(arch, r["model_id"])
    add_families(records, catalog)
    has_probe = bool(table["probe_rank"].notna().any())
    primary = "probe_rank" if has_probe else "legacy_rank"
    baseline = baseline_for(arch, legacy, context.baselines, context.base_results)
    view = ArchitectureView(
        arch=arch,
        page=architecture_page(arch),
        baseline=baseline,
        updated=context.updated[arch.id],
        has_probe=has_probe,
        listed=len(records),
        ranked=int(table[primary].notna().sum()),
        sigma=sigma,
        best=_highest(records, primary, "probe_accuracy" if has_probe else "avg"),
        top_group=sum(1 for r in records if r[primary] == 1),
        newest=_newest(records),
        evaluated=sum(1 for r in records if r["probe_accuracy"] is not None),
        as_of=_as_of(records, has_probe, context.meta),
        downloads={  # plain files: a server may gzip them on the way
            "csv": f"downloads/{arch.slug}.csv",
            "json": f"downloads/{arch.slug}.json",
        },
        table=table,
        records=records,
        feed=f"feeds/{arch.slug}.xml",
        compare=compare_page(arch),
        legacy=legacy,
        tasks=task_gains(legacy, baseline.scores, arch),
        history=rank_history(arch, own_results, comparison),
        pairs=pair_data(comparison, _ranked_keys(records)),
        verified={m: x for m, x in context.verified.items() if x.architecture == arch.id},
    )
    view.start = start_here(
        records, has_probe=has_probe, base=arch.id,
        families={r["model_id"]: r["family"] for r in records}, verified=context.verified,
    )  # fmt: skip
    return view


def _highest(records: list[dict[str, Any]], rank: str, score: str) -> dict[str, Any] | None:
    """Of the rows ranked #1, the one with the highest score (the index names it as that,
    never as "the best" of a tie), whatever order the table keeps its rows in."""
    top = [r for r in records if r[rank] == 1 and r[score] is not None]
    return max(top, key=lambda r: float(r[score]), default=None)


def _as_of(records: list[dict[str, Any]], has_probe: bool, meta: dict[str, Any]) -> str:
    """The date of the data that ranks the page: our newest evaluation's day, or the date of
    IBM's 2023 data ("" when unknown)."""
    if has_probe:
        return max((str(r["evaluated_at"])[:10] for r in records if r["evaluated_at"]), default="")
    return str(meta.get("as_of") or "")


def _ranked_keys(records: list[dict[str, Any]]) -> list[tuple[str, str]]:
    """(model_id, revision) of the results that hold a probe rank (ranker.build.pairs)."""
    return [(r["model_id"], r["probe_revision"]) for r in records if r["probe_rank"] is not None]


def _newest(records: list[dict[str, Any]], count: int = 3) -> list[dict[str, Any]]:
    """The most recently evaluated rows, newest first."""
    dated = (r for r in records if r["evaluated_at"])
    return sorted(dated, key=lambda r: r["evaluated_at"], reverse=True)[:count]


def add_families(records: list[dict[str, Any]], catalog: Iterable[CatalogEntry]) -> None:
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


def untrusted(flags: list[str]) -> bool:
    """Whether a row's 2023 data is kept out of the 2023 rank (ranker.build.tables)."""
    return any(f in UNRANKED_FLAGS for f in flags)


def nli_candidate(v: ArchitectureView, top: int = 5) -> dict[str, Any] | None:
    """The NLI-trained model whose 2023 MNLI probe flatters it most in one architecture: among
    its `top` 2023 probe scores, the NLI model with the worst position by 36-task average (over
    the trusted rows that have both). None when there is none."""
    rows = [
        r
        for r in v.records
        if r["mnli_lp"] is not None and r["avg"] is not None and not untrusted(r["flags"])
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
