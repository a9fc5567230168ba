"""The compare view: 2 to 4 models of one architecture side by side, chosen in the URL
(`compare/<slug>.html?m=owner/a&m=owner/b`), so a comparison can be shared as a link, and for
every pair of them whether one is significantly better, by the ranks' own tests
(ranker.build.pairs).

The page holds no model data of its own: its script loads the architecture's row chunks (the
same files the table loads), one small file of 2023 per-task gains (`rows/<slug>/tasks.js`,
only the models that have them) and the paired tests' shards of the chosen models only, so the
site does not grow with another copy of every row.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from ranker.build.numbers import fixed
from ranker.build.pairs import PairData, write_pairs
from ranker.build.rows import page_scheme
from ranker.records import LEGACY_TASKS, Architecture, LegacyModel

MAX_MODELS = 4


def compare_page(arch: Architecture) -> str:
    return f"compare/{arch.slug}.html"


def task_gains(
    legacy: Iterable[LegacyModel], base: Mapping[str, float | None], arch: Architecture
) -> dict[str, list[float | None]]:
    """model id -> per task (LEGACY_TASKS order), its 2023 score minus the base's seed mean, in
    points (2 decimals); None where either is missing. Models with no task gain are left out."""
    out: dict[str, list[float | None]] = {}
    for m in legacy:
        if m.architecture != arch.id or m.is_pretrained:
            continue
        gains = [
            float(fixed(100 * (s - b), 2)) if (s := m.scores.get(t)) is not None
            and (b := base.get(t)) is not None else None
            for t in LEGACY_TASKS
        ]  # fmt: skip
        if any(g is not None for g in gains):
            out[m.model_id] = gains
    return out


def write_compare(
    page: Callable[..., None],
    write: Callable[[str, str], None],
    arch: Architecture,
    *,
    fields: tuple[str, ...],
    chunks: list[str],
    tasks: dict[str, list[float | None]],
    tasks_path: str,
    pairs: PairData | None = None,
    sigma: float | None = None,
) -> None:
    """The tasks file, the paired tests' shards and the page. `chunks`: every row chunk of the
    architecture, the first rows included; `pairs`: the ranked probe models' resamples;
    `sigma`: the 2023 seed noise of the base's average. The model pages' addresses go to the
    script as data (ranker.build.rows.page_scheme)."""
    scheme = page_scheme(arch)
    body = json.dumps({"tasks": LEGACY_TASKS, "gains": tasks}, separators=(",", ":"))
    write(tasks_path, f"rankerTasks({body});\n")
    config: dict[str, Any] = {
        "fields": fields,
        "chunks": chunks,
        "tasks": tasks_path,
        **scheme,
        "base": arch.id,
        "max": MAX_MODELS,
        "pairs": write_pairs(write, arch, pairs, sigma),
    }
    page(compare_page(arch), "compare.html", arch=arch, config=config)
