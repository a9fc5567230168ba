"""An architecture table's rows as the pages' scripts receive them: arrays in ROW_FIELDS order,
the first rows in the page, the rest as chunk scripts.

Chunks are scripts (`rankerRows(k, rows)`), not JSON files, because a page opened from
file:// may not fetch() files beside it, but may load scripts.
"""

from __future__ import annotations

import json
from typing import Any

from ranker.build.glossary import GLOSSARY
from ranker.build.numbers import compact
from ranker.records import Architecture
from ranker.urls import model_page, rows_prefix

# Fields of a row that the architecture page's table needs (the downloads carry all), in the
# order of the arrays that the page and its row chunks hold. A row's page link is derived
# from its id (`ranker.urls.model_page`), in the page as here.
ROW_FIELDS = (
    "probe_rank", "probe_tied", "legacy_rank", "legacy_tied", "model_id", "probe_accuracy",
    "probe_low", "probe_high", "probe_gain", "probe_gain_low", "probe_gain_high", "logme",
    "hscore", "verified_gain", "verified_gain_low", "verified_gain_high", "verified_tasks", "avg",
    "gain", "mnli_lp", "nli", "downloads", "likes", "params", "license",
    "last_modified", "evaluated_at", "probe_revision", "flags", "shifted_from",
    "family", "family_size", "family_best",
)  # fmt: skip
# The architecture page holds the first rows in its order (the first view a person gets);
# the rest come as chunks, `rows/<slug>/<k>.js`, that the page's script loads and adds to the
# table; chunk 0 holds the first rows again (the compare view loads every row from chunks).
FIRST_ROWS = 500
CHUNK_ROWS = 4000
# The columns shown before the reader picks others (the column chooser): with the chosen 2023
# task's column, they fit a 1280 px screen once probe results fill them. Rank and model always.
DEFAULT_COLUMNS = (
    "probe_rank", "model_id", "probe_accuracy", "probe_gain", "legacy_rank", "avg", "gain",
    "downloads", "params", "license",
)  # fmt: skip
# A column header's glossary entry (ranker.build.glossary): its tooltip.
COLUMN_TERMS = {
    "probe_rank": "rank", "probe_accuracy": "probe", "probe_gain": "gain", "logme": "logme",
    "hscore": "h-score", "legacy_rank": "threshold-2023", "avg": "36-task", "gain": "gain",
    "mnli_lp": "probe", "verified_gain": "verified-gain",
}  # fmt: skip
_DAY_FIELDS = (ROW_FIELDS.index("last_modified"), ROW_FIELDS.index("evaluated_at"))
_REVISION = ROW_FIELDS.index("probe_revision")
_FLAGS = ROW_FIELDS.index("flags")
_NLI = ROW_FIELDS.index("nli")


def row_array(r: dict[str, Any]) -> list[Any]:
    """One table row as an array in ROW_FIELDS order; null where missing."""
    row = [compact(r[k]) for k in ROW_FIELDS]  # shorter only where it shows the same
    for i in _DAY_FIELDS:
        row[i] = row[i][:10] if row[i] else None
    row[_REVISION] = row[_REVISION][:7] if row[_REVISION] else None
    row[_FLAGS] = row[_FLAGS] or None
    row[_NLI] = True if row[_NLI] else None
    return row


def chunk_scripts(arch: Architecture, rows: list[list[Any]]) -> list[tuple[str, str]]:
    """(path, text) of every row chunk: chunk 0 the first rows, then CHUNK_ROWS at a time."""
    spans = [(0, FIRST_ROWS)]
    spans += [(s, s + CHUNK_ROWS) for s in range(FIRST_ROWS, len(rows), CHUNK_ROWS)]
    out = []
    for k, (start, stop) in enumerate(spans):
        body = json.dumps(rows[start:stop], separators=(",", ":"))
        out.append((f"{rows_prefix(arch)}{k}.js", f"rankerRows({k},{body});\n"))
    return out


def page_scheme(arch: Architecture) -> dict[str, Any]:
    """`ranker.urls.model_page` as data for the pages' scripts, so that none re-derives it:
    the page of model "a/b" is `pages` + "a" + `page_name.slash` + "b" + `page_name.suffix`.
    Taken from the rule itself, so the scripts follow whatever it says."""
    page = model_page(arch, "\x00/\x01")
    pages, rest = page.split("\x00")
    slash, suffix = rest.split("\x01")
    scheme = {"pages": pages, "page_name": {"slash": slash, "suffix": suffix}}
    if model_page(arch, "o/n") != pages + "o" + slash + "n" + suffix:
        raise ValueError(f"ranker.urls.model_page is not a folder and a file name: {page!r}")
    return scheme


def table_order(has_probe: bool) -> list[tuple[str, str]]:
    """The table's default order, (column, direction) in turn: by the page's rank, then by its
    score within a shared rank, unranked rows last by score; so the rank column never goes
    down the page (a rank is 1 + the models significantly better, not a position)."""
    if has_probe:
        return [("probe_rank", "asc"), ("probe_accuracy", "desc"), ("avg", "desc")]
    return [("legacy_rank", "asc"), ("avg", "desc"), ("mnli_lp", "desc")]


def default_columns(has_probe: bool, has_verified: bool = False) -> tuple[str, ...]:
    """The columns shown by default: on a page of 2023 results only, the probe's columns are
    empty (hidden), which leaves room for the 2023 MNLI probe (the only score of many 2023
    rows) and the last modification date. The verified gain shows once any model of the
    architecture has been verified by finetuning (in place of the likes-free size column's
    neighbour, the licence, so the table still fits 1280 px)."""
    shown = DEFAULT_COLUMNS if has_probe else (*DEFAULT_COLUMNS, "mnli_lp", "last_modified")
    if has_verified:
        shown = (*(c for c in shown if c != "license"), "verified_gain")
    return shown


def column_terms() -> dict[str, str]:
    """Column key -> the glossary's one-sentence explanation, for the headers' tooltips."""
    return {column: GLOSSARY[key].short for column, key in COLUMN_TERMS.items()}
