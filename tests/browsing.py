"""What the browser tests share: Chromium through Playwright, the big site (the 2023 data plus
5,000 synthetic probe results for roberta-base), a watch on console errors and outside requests,
and small helpers to read the table. The fixtures themselves are in conftest.py.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import REPO
from ranker.build import build_site
from ranker.records import SCHEMA_VERSION, CatalogEntry
from ranker.store import Store
from ranker.testing.synthetic import synthetic_models

CHROMIUM = os.environ.get("RANKER_CHROMIUM", "/usr/bin/chromium")
ARTIFACTS = Path(os.environ.get("RANKER_ARTIFACTS", REPO / "test-artifacts"))
N_SYNTHETIC = 5000
N_ROBERTA = N_SYNTHETIC + 1277 - 300  # the legacy rows, 300 of them evaluated again
# A catalogued model the crawl excluded: no row, but a line on the "why is my model not here?"
EXCLUDED = "someone/roberta-base-lora-sst2"


def require_browser():
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


def make_big_site(imported_store: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The legacy data plus 5,000 synthetic probe results for roberta-base, built once."""
    data = tmp_path_factory.mktemp("big") / "data"
    shutil.copytree(imported_store, data)
    store = Store(data)
    legacy_ids = [m.model_id for m in store.legacy_models() if m.architecture == "roberta-base"]
    results, catalog = synthetic_models("roberta-base", N_SYNTHETIC, reuse=legacy_ids[:300])
    store.write_results(results)
    excluded = CatalogEntry(
        schema_version=SCHEMA_VERSION, model_id=EXCLUDED, architecture="roberta-base",
        sha="f" * 40, status="excluded", reason="adapter", tags=("peft",),
    )  # fmt: skip
    store.write_catalog([*catalog, excluded])
    out = tmp_path_factory.mktemp("bigsite") / "site"
    start = time.perf_counter()
    build_site(data, out)
    record("build_seconds_legacy_plus_5000", round(time.perf_counter() - start, 2))
    return out


def record(key: str, value: object) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / "site-figures.json"
    figures = json.loads(path.read_text()) if path.exists() else {}
    figures[key] = value
    path.write_text(json.dumps(figures, indent=1, sort_keys=True) + "\n")


def launch_browser() -> Iterator[object]:
    sync_playwright = require_browser()
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


def rows(page) -> list[str]:
    return page.locator("#ranking tbody tr td.model a:first-child").all_inner_texts()


def open_page(browser, site: Path, path: str, width: int = 1280, height: int = 900):
    """A fresh page at `path` of the site, watched; an architecture page once its table is ready."""
    page = browser.new_page(viewport={"width": width, "height": height})
    watch = Watch(page, site.resolve().as_uri())
    page.goto((site / path).as_uri() if "#" not in path else (site.resolve().as_uri() + "/" + path))
    if path.startswith("arch/"):
        page.wait_for_selector("html[data-table-ready]")
    return page, watch


def column(page, key: str) -> list[object]:
    """Every row's `key`, in the table's current order, after the filters (DataTables' API)."""
    return page.evaluate(
        "key => new DataTable.Api('#ranking').rows({order: 'current', search: 'applied'})"
        ".data().toArray().map(r => r[key] === undefined ? null : r[key])",
        key,
    )


def sort_by(page, header: str, key: str, direction: str) -> None:
    """Sort by a column with its header, as a person does, until the URL says `direction`."""
    button = page.get_by_role("columnheader", name=header)
    for _ in range(3):
        if f"sort={key}&" in page.url and f"dir={direction}" in page.url:
            return
        before = page.url
        button.click()
        page.wait_for_url(lambda url, before=before: url != before)
    assert f"sort={key}&" in page.url and f"dir={direction}" in page.url, page.url


def shot(page, name: str, element: str | None = None, full: bool = False) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    if element:
        page.locator(element).screenshot(path=str(ARTIFACTS / name))
    else:
        page.screenshot(path=str(ARTIFACTS / name), full_page=full)


def scroll_to(page, selector: str) -> None:
    page.evaluate(
        "s => window.scrollTo(0, document.querySelector(s).getBoundingClientRect().top"
        " + window.scrollY - 8)",
        selector,
    )


def rows_of(page) -> list[dict]:
    return page.evaluate("new DataTable.Api('#ranking').rows().data().toArray()")
