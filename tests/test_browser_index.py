"""The index and the start-here card in Chromium, at desktop and phone widths: they say how
many models share #1 (45 RoBERTa models on IBM's 2023 data), list the group collapsed and by
score, and say "no tie" only where there is none."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from browsing import open_page, shot

from conftest import make_baselines, make_legacy_model
from ranker.build import build_site
from ranker.store import Store

WIDTHS = [(1280, 900), (390, 844)]
CARD_MAX_HEIGHT = 220  # px at 1280 with the group collapsed: the table starts on screen one


@pytest.fixture(scope="module")
def legacy_site(imported_store: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The site of data/: IBM's 2023 results only, no probe result of ours."""
    out = tmp_path_factory.mktemp("legacy-site") / "site"
    build_site(imported_store, out)
    return out


@pytest.mark.parametrize("width,height", WIDTHS)
def test_the_card_says_45_share_the_top_and_lists_them(
    browser, legacy_site: Path, width: int, height: int
) -> None:
    page, watch = open_page(browser, legacy_site, "arch/roberta-base.html", width, height)
    card = page.locator("#start-here")
    text = " ".join(card.inner_text().split())
    assert (
        "45 models share #1 of 358 ranked by the 36-task average (IBM 2023, as of 2023-04)" in text
    )
    assert "best" not in text.lower() and "others" not in text  # no winner, no "1 others"
    group = card.locator("details#start-group")
    links = group.locator("ol.picks li a")
    assert group.get_attribute("open") is None and not links.first.is_visible()  # collapsed
    if width == 1280:
        box = card.bounding_box()
        assert box is not None and box["height"] <= CARD_MAX_HEIGHT, box
    shot(page, f"start-here-tie-{width}.png", "#start-here")
    group.locator("summary").click()
    assert links.count() == 45 and links.first.is_visible()
    summary = " ".join(group.locator("summary").inner_text().split())
    assert "listed by score, highest first" in summary and "not significant" in summary
    hrefs = [links.nth(i).get_attribute("href") or "" for i in range(45)]
    assert all(h.startswith("../models/roberta-base/") for h in hrefs) and len(set(hrefs)) == 45
    scores = [
        float(re.match(r"[\d.]+", m).group())  # type: ignore[union-attr]
        for m in group.locator(".pick-meta").all_inner_texts()
    ]
    assert scores == sorted(scores, reverse=True)  # the order the card tells, checkable
    shot(page, f"start-here-group-{width}.png", "#start-here")
    name = links.nth(44).inner_text()  # the last of the group is a page that opens
    links.nth(44).click()
    page.wait_for_load_state("load")
    assert page.locator("h1").inner_text() == name
    assert watch.errors == [] and watch.outside == []
    page.close()


@pytest.mark.parametrize("width,height", WIDTHS)
def test_a_clear_leader_is_said_to_be_alone(
    browser, store_dir: Path, tmp_path: Path, width: int, height: int
) -> None:
    store = Store(store_dir)
    store.write_legacy_baselines(make_baselines())  # 1.96·σ·√2 = 2.8 points
    store.write_legacy_models(
        [make_legacy_model("a/leader", score=0.6), make_legacy_model("b/next", score=0.55),
         make_legacy_model("c/close", score=0.54)]
    )  # fmt: skip
    out = tmp_path / "site"
    build_site(store_dir, out)
    page, watch = open_page(browser, out, "arch/roberta-base.html", width, height)
    card = page.locator("#start-here")
    text = " ".join(card.inner_text().split())
    assert "a/leader alone holds #1 (no tie) of 3 ranked" in text
    assert card.locator("details").count() == 0
    link = card.get_by_role("link", name="a/leader")
    assert (link.get_attribute("href") or "").endswith("models/roberta-base/a--leader.html")
    assert watch.errors == [] and watch.outside == []
    page.close()


@pytest.mark.parametrize("width,height", WIDTHS)
def test_the_index_says_who_ranks_and_shows_no_empty_column(
    browser, legacy_site: Path, width: int, height: int
) -> None:
    page, watch = open_page(browser, legacy_site, "index.html", width, height)
    main = " ".join(page.locator("main").inner_text().split())
    assert "Every rank here comes from IBM's published 2023 finetuning results" in main
    assert "has not evaluated any model yet" in main and "2,700" not in main
    heads = page.locator("table.summary thead th").all_inner_texts()
    assert "Newest additions" not in heads and any("Ranked by" in h for h in heads)
    row = page.locator("table.summary tbody tr[data-arch='roberta-base']")
    assert "36-task average (IBM 2023, as of 2023-04)" in " ".join(row.inner_text().split())
    tie = row.get_by_role("link", name="45 models share #1")
    assert (tie.get_attribute("href") or "").endswith("arch/roberta-base.html#start-here")
    if width == 1280:  # the summary table fits the screen
        wrap = page.locator("table.summary").evaluate(
            "t => [t.parentElement.scrollWidth, t.parentElement.clientWidth]"
        )
        assert wrap[0] <= wrap[1], wrap
    shot(page, f"index-top-{width}.png")
    tie.click()
    page.wait_for_load_state("load")
    assert "arch/roberta-base.html" in page.url
    box = page.locator("#start-here").bounding_box()  # the link lands on the card
    assert box is not None and -2 <= box["y"] < height, box
    assert watch.errors == [] and watch.outside == []
    page.close()
