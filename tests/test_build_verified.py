"""The verified gain on the site (issue 21): the architecture table's column, the model page's
per-task section and the downloads, each checked against figures computed here from the seeds'
scores (not taken from ranker.build.verified)."""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

import numpy as np
import pytest
from test_fidelity_live import BASE_SCORES, JITTER, ROBERTA, _store

from ranker import ft_protocol
from ranker.build import build_site
from ranker.build.rows import ROW_FIELDS
from ranker.records import Architecture
from ranker.urls import model_page

ARCH = Architecture(id="roberta-base", slug="roberta-base", title="RoBERTa", model_type="roberta",
                    hidden_size=768, num_layers=12, vocab_size=50265,
                    intermediate_size=3072)  # fmt: skip


@pytest.fixture(scope="module")
def sites(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("verified-site")
    out = {}
    for name, verified in (("verified", True), ("plain", False)):
        build_site(_store(root / name / "data", verified=verified), root / name / "site")
        out[name] = root / name / "site"
    return out


def expected_gain(offset: float) -> tuple[float, dict[str, float]]:
    """The suite gain and the per-task gains of a model `offset` above the base's first seed."""
    per_task = {
        t: float(np.mean([BASE_SCORES[t][0] + offset + j for j in JITTER]) - np.mean(BASE_SCORES[t]))
        for t in ft_protocol.TASKS
    }  # fmt: skip
    return float(np.mean(list(per_task.values()))), per_task


def default_columns(html: str) -> list[str]:
    """The table's default columns, from the page's config."""
    return json.loads(re.search(r'default_columns":(\[[^]]*\])', html).group(1))


def text(path: Path) -> str:
    return re.sub(r"<[^>]+>", "", " ".join(path.read_text().split()))


def test_the_model_page_shows_the_suite_and_each_task(sites: dict[str, Path]) -> None:
    model, *_, offset = ROBERTA[2]
    page = text(sites["verified"] / model_page(ARCH, model))
    suite, per_task = expected_gain(offset)
    assert "Verified by finetuning" in page
    assert f"{100 * suite:+.2f}" in page
    for task, gain in per_task.items():
        assert re.search(rf"{task}\s*\w+.*?{re.escape(f'{100 * gain:+.2f}')}", page), task
    assert "(3 seeds)" in page and "(5 seeds)" in page
    plain = text(sites["plain"] / model_page(ARCH, model))
    assert "Verified by finetuning" not in plain


def test_the_table_and_downloads_carry_the_verified_gain(sites: dict[str, Path]) -> None:
    rows = {}
    with (sites["verified"] / "downloads/roberta-base.csv").open() as fh:
        for row in csv.DictReader(fh):
            rows[row["model_id"]] = row
    for model, *_, offset in ROBERTA:
        suite, _ = expected_gain(offset)
        assert float(rows[model]["verified_gain_pts"]) == pytest.approx(100 * suite, abs=1e-9)
        low, high = (float(rows[model][f"verified_gain_{e}_pts"]) for e in ("low", "high"))
        assert low < 100 * suite < high and rows[model]["verified_tasks"] == "3"
    html = (sites["verified"] / "arch/roberta-base.html").read_text()
    assert "Verified gain [95% CI]" in html
    assert "verified_gain" in default_columns(html)  # shown once a model is verified
    assert "verified_gain" in ROW_FIELDS


def test_a_site_with_no_finetuning_shows_no_verified_default_column(
    sites: dict[str, Path],
) -> None:
    with (sites["plain"] / "downloads/roberta-base.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    assert rows and all(r.get("verified_gain_pts", "") == "" for r in rows)
    columns = default_columns((sites["plain"] / "arch/roberta-base.html").read_text())
    assert "verified_gain" not in columns and "license" in columns
