"""The pages a reader meets, at a desktop's and a phone's width, photographed for the record
(test-artifacts/<page>-desktop.png, -phone.png); the charts without a toolbar and uncut; every
glossary term with its entry.

Each screen must load without a console error or an outside request, and at phone width the
page itself must not scroll sideways (a wide table scrolls inside its own box, which is fine).
Written against stable selectors and paths only: other changes reshape these pages.
"""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import quote

import pytest
from browsing import Watch, shot

from ranker.build.glossary import GLOSSARY, TERMS_PAGE

WIDTHS = {"desktop": (1280, 900), "phone": (390, 844)}
# 2023 data, task scores and a (synthetic) probe result in big_site: one of the 300 reused ids
MODEL = "123tarunanand/roberta-base-finetuned"
# the 2023 leader (no probe result of ours), a model with both, one with our probe's only
COMPARED = ("ibm/ColD-Fusion-itr13-seed2", MODEL, "synthetic/roberta-base-model-00000")
PAGES = {
    "index": "index.html",
    "architecture": "arch/roberta-base.html",
    "compare": "compare/roberta-base.html?" + "&".join(f"m={quote(m, safe='')}" for m in COMPARED),
    "not-here": "missing.html",
    "model": "models/roberta-base/" + MODEL.replace("/", "--") + ".html",
}


def _open(browser, site: Path, path: str, size: str):
    width, height = WIDTHS[size]
    page = browser.new_page(viewport={"width": width, "height": height})
    watch = Watch(page, site.resolve().as_uri())
    page.goto(site.resolve().as_uri() + "/" + path)
    page.wait_for_load_state("load")
    return page, watch


def _settle(page, name: str) -> None:
    """Wait for what a page fills in by script: the table, the search's answer, the charts."""
    if name == "architecture":
        page.wait_for_selector("html[data-table-ready]")
    if name == "compare":
        page.wait_for_selector("#compare-table thead th:nth-child(4)", state="attached")
    if name == "not-here":
        page.wait_for_function(
            "!document.getElementById('missing-status').textContent.startsWith('Loading')"
        )
        page.get_by_label("Model id").fill("ColD-Fusion-itr13")
        page.wait_for_timeout(300)
    for chart in page.locator(".chart[data-figure]").all():
        if chart.is_visible():
            chart.locator(".main-svg").first.wait_for()


def _page_overflow(page) -> int:
    """How far the page itself is wider than the window (0 when it fits)."""
    return page.evaluate(
        "Math.max(document.documentElement.scrollWidth, document.body.scrollWidth)"
        " - window.innerWidth"
    )


@pytest.mark.parametrize("size", list(WIDTHS))
@pytest.mark.parametrize("name", list(PAGES))
def test_screens_load_cleanly_and_fit(browser, big_site: Path, name: str, size: str) -> None:
    page, watch = _open(browser, big_site, PAGES[name], size)
    _settle(page, name)
    shot(page, f"{name}-{size}.png")
    assert watch.errors == [], watch.errors
    assert watch.outside == [], watch.outside
    if size == "phone":
        assert _page_overflow(page) <= 0, f"{name} is wider than a 390 px phone"
    assert _covered_cells(page) == [], f"{name}: a cell's label covers its value"
    page.close()


def _covered_cells(page) -> list[str]:
    """Cells whose label (a `::before` set beside the value on a phone) is placed over the
    value: absolutely positioned with less room kept for it than its width."""
    return page.evaluate(
        """() => Array.from(document.querySelectorAll("td")).filter(td => {
             const b = getComputedStyle(td, "::before");
             if (b.content === "none" || b.position !== "absolute" || !td.offsetParent) return false;
             return parseFloat(getComputedStyle(td).paddingLeft) < parseFloat(b.width);
           }).map(td => td.textContent.slice(0, 40))"""
    )


CHARTS = {
    "index.html": "fig-overview",
    "arch/t5-base.html": "fig-distribution",
    PAGES["model"]: "fig-tasks",
}


@pytest.mark.parametrize("size", list(WIDTHS))
@pytest.mark.parametrize("path", list(CHARTS))
def test_charts_have_no_toolbar_and_nothing_cut(browser, big_site: Path, path, size) -> None:
    """No plotly mode bar over the title (it shows on touch); the title and every x tick label
    inside the chart's box at both widths: a long title is broken into lines, labels push the
    margins (automargin)."""
    page, watch = _open(browser, big_site, path, size)
    chart = page.locator(f"[data-figure={CHARTS[path]}]")
    chart.scroll_into_view_if_needed()
    chart.locator(".main-svg").first.wait_for()
    assert chart.locator(".modebar").count() == 0
    cut = page.evaluate(
        """el => {
          const box = el.getBoundingClientRect(), out = [];
          const parts = el.querySelectorAll(".gtitle, .xtick text");
          parts.forEach(t => {
            const r = t.getBoundingClientRect();
            if (r.width === 0 && r.height === 0) { return; }  // a tick plotly left out
            if (r.left < box.left - 1 || r.right > box.right + 1 || r.bottom > box.bottom + 1) {
              out.push(t.textContent);
            }
          });
          return {cut: out, shown: parts.length};
        }""",
        chart.element_handle(),
    )
    assert cut["shown"] > 2 and cut["cut"] == [], cut
    assert watch.errors == [] and watch.outside == []
    page.close()


def test_every_glossary_term_has_its_entry_and_every_term_link_resolves(big_site: Path) -> None:
    """The methodology page's "Terms" list every key of GLOSSARY under its anchor, and every
    `#term-` link of the site (the tooltips' links) leads to one of them."""
    terms_page = (big_site / TERMS_PAGE).read_text(encoding="utf-8")
    entries = dict(re.findall(r'<dt id="term-([^"]+)">([^<]*)</dt>', terms_page))
    assert set(entries) == set(GLOSSARY)
    for key, term in GLOSSARY.items():
        assert entries[key] == str(term.label), key
    links = 0
    for html in big_site.rglob("*.html"):
        for target, key in re.findall(r'href="([^"#]*)#term-([^"]+)"', html.read_text("utf-8")):
            links += 1
            assert (html.parent / target).resolve() == (big_site / TERMS_PAGE).resolve(), html
            assert key in entries, (html, key)
    assert links >= len(GLOSSARY)  # the pages do use the terms
