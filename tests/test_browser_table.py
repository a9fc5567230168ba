"""The architecture page's table as a reader meets it (issue 20): ranks never go down the
default order, the default columns fit 1280 px, the table starts on the first screen, an opened
family stays together, ticking a row never moves the table, and unranked scores say why.

Chromium through Playwright, as tests/test_site_browser.py; skipped as browsing.py says.
"""

from __future__ import annotations

import dataclasses
import itertools
import re
import time
from pathlib import Path

import numpy as np
import pytest
from browsing import Watch, column, open_page, record, rows_of, shot, sort_by

from ranker.build import build_site
from ranker.build.glossary import GLOSSARY
from ranker.store import Store
from ranker.testing.synthetic import correctness, pack, synthetic_models

N_DENSE = 300
WIDTHS = [(1280, 900), (390, 844)]


@pytest.fixture(scope="module")
def dense_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One architecture of 300 models within ~3 points of each other and one clear leader:
    paired ranks that a sort by score would contradict (a rank is not a position)."""
    data = tmp_path_factory.mktemp("dense") / "data"
    data.mkdir()
    repo = Path(__file__).resolve().parents[1]
    (data / "architectures.toml").write_text((repo / "data/architectures.toml").read_text())
    ids = [f"author{i:03d}/dense-roberta" for i in range(N_DENSE + 1)]  # no shared family
    results, catalog = synthetic_models("roberta-base", N_DENSE + 1, reuse=ids)
    truth = np.array([0.70, *(0.60 + 0.03 * i / N_DENSE for i in range(N_DENSE))])
    bits = correctness(truth, 5_000, seed=7)
    ours = [r for r in results if r.protocol_version == results[0].protocol_version]
    dense = []
    for r, b in zip(ours, bits, strict=True):
        acc = float(b.mean())
        half = 1.96 * (acc * (1 - acc) / b.size) ** 0.5
        dense.append(
            dataclasses.replace(
                r, accuracy=acc, accuracy_low=acc - half, accuracy_high=acc + half,
                correct=pack(b), gain=acc - 0.55, gain_low=acc - 0.55 - half,
                gain_high=acc - 0.55 + half,
            )
        )  # fmt: skip
    store = Store(data)
    store.write_results(dense)
    store.write_catalog(catalog)
    out = data.parent / "site"
    build_site(data, out)
    return out


def _shown_ranks(page) -> list[int]:
    """The rank column as drawn on the current page, top to bottom ("3=" reads 3)."""
    texts = page.locator("#ranking tbody tr td:nth-child(2)").all_inner_texts()
    return [int(m.group()) for t in texts if (m := re.match(r"\d+", t))]


@pytest.mark.parametrize(("width", "height"), WIDTHS)
def test_dense_ranks_never_go_down_in_the_default_order(browser, dense_site, width, height):
    page, watch = open_page(browser, dense_site, "arch/roberta-base.html", width, height)
    page.locator(".dt-length select").select_option("250")
    ranks = column(page, "probe_rank")
    assert len(ranks) == N_DENSE + 1 and None not in ranks
    assert ranks == sorted(ranks) and ranks[0] == 1 and len(set(ranks)) > 10
    # within a shared rank, by score
    scores = column(page, "probe_accuracy")
    for a, b, ra, rb in zip(scores, scores[1:], ranks, ranks[1:], strict=False):
        assert ra < rb or a >= b
    drawn = _shown_ranks(page)
    assert len(drawn) == 250 and drawn == sorted(drawn)
    caption = page.locator("#ranking caption").inner_text()
    assert "sorted by rank, then by MNLI probe accuracy within a shared rank" in caption
    shot(page, f"dense-ranks-{width}.png")
    # the same cloud sorted by score: the rank column goes down (what the default order avoids)
    sort_by(page, "MNLI probe [95% CI]", "probe_accuracy", "desc")
    by_score = column(page, "probe_rank")
    assert any(b < a for a, b in itertools.pairwise(by_score))
    assert watch.errors == [] and watch.outside == []


def test_table_fits_1280_and_starts_on_the_first_screen(browser, big_site: Path) -> None:
    page, watch = open_page(browser, big_site, "arch/roberta-base.html")
    wrap = "document.querySelector('.table-wrap')"
    assert page.evaluate(f"{wrap}.scrollWidth <= {wrap}.clientWidth")  # no horizontal scroll
    assert page.evaluate("document.documentElement.scrollWidth") <= 1280
    top = page.locator("#ranking").bounding_box()["y"]
    record("architecture_table_top_px_at_1280x900", round(top))
    record("architecture_table_width_px_at_1280", page.evaluate(f"{wrap}.scrollWidth"))
    assert top < 900
    assert page.locator("#start-here").bounding_box()["y"] < 900
    assert all(v is not None for v in column(page, "probe_accuracy")[:50])  # probe columns filled
    # the task picked appears right after the score, on screen
    page.select_option("#f-task", "rte")
    head = page.get_by_role("columnheader", name="2023 gain: rte")
    head.wait_for()
    heads = page.locator("#ranking thead th").all_inner_texts()
    at = [h.replace("\n", " ") for h in heads].index("2023 gain: rte")
    assert heads[at - 1].startswith("MNLI probe")
    assert head.bounding_box()["x"] + head.bounding_box()["width"] <= 1280
    assert page.evaluate(f"{wrap}.scrollWidth <= {wrap}.clientWidth")
    shot(page, "table-1280.png")
    assert watch.errors == [] and watch.outside == []


def test_column_chooser_keeps_the_choice_in_the_address(browser, big_site: Path) -> None:
    page, watch = open_page(browser, big_site, "arch/roberta-base.html")
    assert page.get_by_role("columnheader", name="LogME").count() == 0  # not a default column
    page.locator("#col-chooser summary").click()
    page.get_by_label("LogME column").check()
    page.get_by_label("License column").uncheck()
    page.wait_for_url("**cols=**")
    assert page.get_by_role("columnheader", name="LogME").count() == 1
    heads = page.locator("#ranking thead th").all_inner_texts()
    assert "License" not in heads
    again, watch_again = open_page(browser, big_site, page.url.split("/site/")[-1])
    assert again.get_by_role("columnheader", name="LogME").count() == 1
    assert "License" not in again.locator("#ranking thead th").all_inner_texts()
    again.locator("#col-chooser summary").click()
    again.get_by_role("button", name="Default columns").click()
    assert "cols=" not in again.url
    assert again.get_by_role("columnheader", name="LogME").count() == 0
    assert watch.errors == [] and watch_again.errors == []


def test_sorting_pages_are_bounded(browser, big_site: Path) -> None:
    page, watch = open_page(browser, big_site, "arch/roberta-base.html#family=0")
    options = page.locator(".dt-length select option").all_inner_texts()
    assert "All" not in options and max(int(o) for o in options) <= 250
    page.locator(".dt-length select").select_option("250")
    start = time.perf_counter()
    sort_by(page, "Downloads", "downloads", "desc")
    seconds = time.perf_counter() - start
    assert seconds < 2.0, seconds  # bench/bench_build.py measures it (0.5 s budget)
    assert watch.errors == []


def test_an_opened_family_stays_under_its_head_in_any_sort(browser, big_site: Path) -> None:
    page, watch = open_page(browser, big_site, "arch/roberta-base.html")
    page.get_by_label("Search models").fill("ColD-Fusion")
    page.wait_for_timeout(300)
    cold = [r for r in rows_of(page) if r["family"] == "ibm/ColD-Fusion"]
    widths = page.evaluate(
        "[...document.querySelectorAll('#ranking thead th')].map(t => t.offsetWidth)"
    )
    button = page.locator("#ranking button.fam").first
    n = int(re.search(r"\d+", button.inner_text()).group())
    assert n == len(cold) - 1
    button.click()
    members = page.locator("#ranking tbody tr.fam-member")
    assert members.count() == n
    after = page.evaluate(
        "[...document.querySelectorAll('#ranking thead th')].map(t => t.offsetWidth)"
    )
    assert all(abs(a - b) <= 2 for a, b in zip(widths, after, strict=True)), (widths, after)
    for header, key in [("Downloads", "downloads"), ("Model", "model_id"), ("36-task avg", "avg")]:
        for direction in ("asc", "desc"):
            sort_by(page, header, key, direction)
            trs = page.locator("#ranking tbody tr")
            classes = trs.evaluate_all("rs => rs.map(r => r.className)")
            first = next(i for i, c in enumerate(classes) if "fam-member" in c)
            # the head row, then every member, in a block
            assert all("fam-member" in c for c in classes[first : first + n])
            head = trs.nth(first - 1).locator("td.model a").first.inner_text()
            assert head == next(r["model_id"] for r in cold if r.get("family_best"))
    shot(page, "family-grouped.png")
    button = page.locator("#ranking button.fam").first
    button.click()
    assert page.locator("#ranking tbody tr.fam-member").count() == 0
    assert watch.errors == [] and watch.outside == []


def test_ticking_a_row_does_not_move_the_table(browser, big_site: Path) -> None:
    page, watch = open_page(browser, big_site, "arch/roberta-base.html")
    before = page.locator("#ranking tbody tr").nth(3).bounding_box()["y"]
    page.locator("#ranking tbody input.cmp-box").first.check()
    assert page.locator("#compare-bar").is_visible()
    assert page.locator("#ranking tbody tr").nth(3).bounding_box()["y"] == before
    assert watch.errors == []


def test_rows_without_a_rank_say_why(browser, big_site: Path) -> None:
    page, watch = open_page(browser, big_site, "arch/roberta-base.html#family=0")
    rows = rows_of(page)
    probe_only = [r for r in rows if r["mnli_lp"] is not None and r["avg"] is None]
    assert probe_only and all(r["legacy_rank"] is None for r in probe_only)
    note = page.locator("#table-norank")
    assert note.is_visible() and f"{len(probe_only):,} of {len(rows):,}" in note.inner_text()
    page.get_by_label("Search models").fill(probe_only[0]["model_id"])
    page.wait_for_timeout(300)
    mark = page.locator("#ranking tbody tr").first.locator(".norank")
    assert mark.inner_text() == "probe only" and mark.is_visible()
    assert "MNLI probe score only" in (mark.get_attribute("title") or "")
    assert watch.errors == []


def test_column_headers_carry_the_glossary(browser, big_site: Path) -> None:
    page, watch = open_page(browser, big_site, "arch/roberta-base.html")
    title = page.get_by_role("columnheader", name="36-task avg").get_attribute("title")
    assert title == GLOSSARY["36-task"].short
    title = page.get_by_role("columnheader", name="MNLI probe [95% CI]").get_attribute("title")
    assert title == GLOSSARY["probe"].short
    assert watch.errors == []


def test_phone_reaches_the_answer_and_only_the_table_scrolls(browser, big_site: Path) -> None:
    page, watch = open_page(browser, big_site, "arch/roberta-base.html", 390, 844)
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    assert page.locator("#start-here").bounding_box()["y"] < 844
    assert page.locator("#ranking tbody tr").first.bounding_box()["y"] < 2 * 844
    wide = page.evaluate(
        "[...document.querySelectorAll('main *')].filter(e => !e.closest('.table-wrap') &&"
        " e.getBoundingClientRect().right > 391 && e.checkVisibility()).map(e => e.tagName + '#' + e.id)"
    )
    assert wide == []
    shot(page, "table-phone.png")
    assert watch.errors == [] and Watch is not None


def test_the_table_config_comes_from_the_build_tables() -> None:
    """The default order starts with the page's rank and its score; default columns and header
    tooltips name real row fields, the tooltips in the glossary's words."""
    from ranker.build.rows import (
        COLUMN_TERMS,
        ROW_FIELDS,
        column_terms,
        default_columns,
        table_order,
    )

    assert table_order(True)[:2] == [("probe_rank", "asc"), ("probe_accuracy", "desc")]
    assert table_order(False)[:2] == [("legacy_rank", "asc"), ("avg", "desc")]
    for has_probe in (True, False):
        assert set(default_columns(has_probe)) <= set(ROW_FIELDS)
        assert {k for k, _ in table_order(has_probe)} <= set(ROW_FIELDS)
    assert "mnli_lp" in default_columns(False) and "mnli_lp" not in default_columns(True)
    terms = column_terms()
    assert set(terms) == set(COLUMN_TERMS) and set(terms) <= set(ROW_FIELDS)
    assert terms["avg"] == GLOSSARY["36-task"].short
