"""The downloads' columns: each one's name in the files, its unit and its source, and the column
guide page (`downloads/columns.html`) that says so next to every download link.

Scores and gains are fractions of one in the store and on the model pages' data, but the site
shows them as percentages and percentage points; the downloads give them as the site shows
them (100 times the stored value, nothing rounded), with the unit in the column's name:
`_pct` a percentage, `_pts` percentage points.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from ranker.build.tables import COLUMNS
from ranker.records import LEGACY_TASKS

GUIDE = "downloads/columns.html"

# Where a value comes from.
OURS = "our MNLI probe (ranker evaluate)"
VERIFY = "our finetuning (ranker verify, protocol ft-1)"
IBM = "IBM's 2023 model-recycling results, as published"
HUB = "the Hugging Face hub (the crawler)"
SITE = "computed by the site's build"

# Scores (fractions shown as percentages) and gains (fractions shown as percentage points).
PERCENT = ("probe_accuracy", "probe_low", "probe_high", "avg", "mnli_lp", *LEGACY_TASKS)
POINTS = ("probe_gain", "probe_gain_low", "probe_gain_high", "gain", "verified_gain",
          "verified_gain_low", "verified_gain_high")  # fmt: skip


@dataclass(frozen=True)
class Column:
    name: str  # in the downloads
    unit: str
    source: str
    meaning: str


def download_name(column: str) -> str:
    """A table column's name in the downloads: its unit added where it has one."""
    if column in PERCENT:
        return column + "_pct"
    if column in POINTS:
        return column + "_pts"
    return column


def in_unit(column: str, value: Any) -> Any:
    """A table value as the downloads give it: a score or gain times 100, others as they are."""
    scaled = column in PERCENT or column in POINTS
    if scaled and isinstance(value, float) and math.isfinite(value):
        return 100 * value
    return value


_RANK = "1 + the number of models significantly better"
_TIED = "how many models share this rank"
_GUIDE: tuple[tuple[str, str, str, str], ...] = (
    ("probe_rank", "rank", SITE, _RANK + " by our MNLI probe (paired bootstrap, 95%)"),
    ("probe_tied", "models", SITE, _TIED + " (probe_rank)"),
    ("legacy_rank", "rank", SITE, _RANK + " by the 2023 36-task average (by more than "
     "1.96·σ·√2, σ the base's seed-to-seed std); rows flagged shifted or incomplete are left out"),
    ("legacy_tied", "models", SITE, _TIED + " (legacy_rank)"),
    ("rank", "position", IBM, "the position in IBM's published 2023 order, by 36-task average"),
    ("model_id", "text", HUB, "the model's id on the hub"),
    ("architecture", "text", SITE, "the pretrained base model it is a finetune of"),
    ("probe_accuracy", "%", OURS, "MNLI probe accuracy on the held-out pairs"),
    ("probe_low", "%", OURS, "lower end of the probe accuracy's 95% interval (bootstrap)"),
    ("probe_high", "%", OURS, "upper end of the probe accuracy's 95% interval"),
    ("probe_gain", "percentage points", OURS, "probe accuracy minus the base's"),
    ("probe_gain_low", "percentage points", OURS, "lower end of the gain's 95% interval"),
    ("probe_gain_high", "percentage points", OURS, "upper end of the gain's 95% interval"),
    ("logme", "score (no unit)", OURS, "LogME of the model's features (higher is better)"),
    ("hscore", "score (no unit)", OURS, "H-score of the model's features (higher is better)"),
    ("verified_gain", "percentage points", VERIFY, "the mean over the suite's tasks (stsb "
     "Pearson, boolq and wic accuracy) of the model's mean score over its seeds minus the base's"),
    ("verified_gain_low", "percentage points", VERIFY, "lower end of the verified gain's 95% "
     "interval (Welch's t over both sets of seeds)"),
    ("verified_gain_high", "percentage points", VERIFY, "upper end of the verified gain's 95% "
     "interval"),
    ("verified_tasks", "tasks", VERIFY, "the suite's tasks with a verified gain (3: complete)"),
    ("avg", "%", IBM, "average score after finetuning on 36 datasets (2023)"),
    ("gain", "percentage points", IBM, "36-task average minus the base's (2023)"),
    ("mnli_lp", "%", IBM, "IBM's 2023 MNLI linear-probe accuracy"),
    ("nli", "true/false", SITE, "trained on NLI data, by its hub tags or name"),
    ("downloads", "count", HUB, "downloads as the hub reports them"),
    ("likes", "count", HUB, "likes on the hub"),
    ("params", "count", HUB + " or IBM 2023", "number of parameters"),
    ("license", "text", HUB, "the license the model's card declares"),
    ("last_modified", "date-time, UTC", HUB, "the repository's last change"),
    ("evaluated_at", "date-time, UTC", OURS, "when the probe result was made"),
    ("probe_revision", "commit hash", OURS, "the model revision the probe evaluated"),
    ("protocol_version", "text", OURS, "the probe protocol (only the current one is ranked)"),
    ("data_fingerprint", "hash", OURS, "a fingerprint of the probe's data"),
    ("flags", "list (; in the CSV)", IBM, "data notes: probe_failed, incomplete, duplicate, "
     "shifted"),
    ("shifted_from", "text", IBM, "for a shifted row, the column its scores seem shifted from"),
)  # fmt: skip
# Only in the JSON downloads.
JSON_ONLY: tuple[Column, ...] = (
    Column("page", "path", SITE, "the model's page on this site (per-architecture files)"),
    Column("family", "text", SITE, "the family of related models the row belongs to"),
    Column("family_size", "models", SITE, "how many rows of the page are in that family"),
    Column("family_best", "true", SITE, "the family's first row in the table's order"),
)


def guide() -> list[Column]:
    """Every column of the downloads, in the CSV's order (task scores last)."""
    rows = {c: Column(download_name(c), u, s, m) for c, u, s, m in _GUIDE}
    for task in LEGACY_TASKS:
        rows[task] = Column(
            download_name(task), "%", IBM, f"score on {task} after finetuning on it (2023)"
        )
    return [rows[c] for c in COLUMNS]
