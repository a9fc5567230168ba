"""One number format everywhere, in Chromium: a model's values as the table draws them (ranker.js),
as its page shows them (Jinja), as the compare view shows them (compare.js) and as its CSV
download holds them, are the same text, at both widths.

The values are chosen where rounding twice goes wrong: 0.8479454841334418, IBM's 2023 probe
score of a real model, showed 84.80 in the table (its rows rounded to 5 decimals, then to 2)
and 84.79 on its page. Parameter counts of tiny models showed "0M".
"""

from __future__ import annotations

import csv
import dataclasses
import io
import random
import shutil
from pathlib import Path
from urllib.parse import quote

import pytest
from browsing import Watch

from conftest import REPO, make_baselines, make_legacy_model
from ranker.build import build_site
from ranker.build.numbers import count, fixed, scaled, size
from ranker.protocol import PROTOCOL_VERSION
from ranker.store import Store
from ranker.testing.synthetic import synthetic_models
from ranker.urls import model_page

ARCH = "roberta-base"
RANKED = "synthetic/roberta-base-model-00000"  # ranked by our probe, a tiny model
SMALL = "synthetic/roberta-base-model-00001"  # ranked by our probe, under a thousand parameters
LEGACY = "t/legacy"  # IBM 2023 only, ranked there
UNRANKED = "t/unranked"  # IBM 2023 only, flagged incomplete: no rank, a tiny model
MODELS = (RANKED, SMALL, LEGACY, UNRANKED)

# What each must show: the site's rule, written out (the old table showed the second value).
EXPECTED = {
    RANKED: {"probe_accuracy": "60.01", "probe_gain": "+5.01", "logme": "-3.000",
             "params": "4.4M", "downloads": "1,234,567", "likes": "0"},  # was 60.00, +5.00, -2.999
    SMALL: {"params": "950", "probe_accuracy": "70.00"},
    LEGACY: {"mnli_lp": "84.79", "avg": "73.30", "gain": "+23.30", "params": "108M"},  # was 84.80
    UNRANKED: {"mnli_lp": "60.01", "params": "420K"},  # was 60.00, "0M"
}  # fmt: skip
# A model page's label (its start) and the values its cell holds, " · " apart.
PAGE_LABELS = (
    ("MNLI probe accuracy", ("probe_accuracy",)),
    ("Gain over", ("probe_gain",)),
    ("LogME", ("logme", "hscore")),
    ("2023 36-task average", ("avg",)),
    ("2023 gain", ("gain",)),
    ("2023 MNLI probe", ("mnli_lp",)),
    ("Parameters", ("params",)),
    ("Downloads", ("downloads", "likes")),
)
COMPARE_LABELS = (
    ("MNLI probe accuracy", "probe_accuracy"),
    ("Gain over the base", "probe_gain"),
    ("LogME", "logme"),
    ("H-score", "hscore"),
    ("2023 36-task average", "avg"),
    ("2023 gain", "gain"),
    ("2023 MNLI probe", "mnli_lp"),
    ("Parameters", "params"),
    ("Downloads", "downloads"),
)
# A CSV column and how the site writes its value.
CSV_FORMATS = {
    "probe_accuracy": ("probe_accuracy_pct", lambda v: fixed(float(v), 2)),
    "probe_gain": ("probe_gain_pts", lambda v: scaled(float(v), 1, 2, sign=True)),
    "logme": ("logme", lambda v: fixed(float(v), 3)),
    "hscore": ("hscore", lambda v: fixed(float(v), 3)),
    "avg": ("avg_pct", lambda v: fixed(float(v), 2)),
    "gain": ("gain_pts", lambda v: scaled(float(v), 1, 2, sign=True)),
    "mnli_lp": ("mnli_lp_pct", lambda v: fixed(float(v), 2)),
    "params": ("params", lambda v: size(int(v))),
    "downloads": ("downloads", lambda v: count(int(v))),
    "likes": ("likes", lambda v: count(int(v))),
}


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    data = tmp_path_factory.mktemp("numbers") / "data"
    data.mkdir()
    shutil.copyfile(REPO / "data" / "architectures.toml", data / "architectures.toml")
    store = Store(data)
    store.write_legacy_baselines(make_baselines())
    store.write_legacy_models(
        [
            make_legacy_model(
                LEGACY, mnli_lp=0.8479454841334418, avg=0.7330335786170703,
                gain=0.2330335786170703, params=108_310_272,
            ),
            make_legacy_model(UNRANKED, mnli_lp=0.6000501453, params=420_000, flags=("incomplete",)),
        ]
    )  # fmt: skip
    results, catalog = synthetic_models(ARCH, 4, n_eval=400)
    changes = {
        RANKED: {"accuracy": 0.6000500083, "gain": 0.0500500083, "logme": -2.9995048787},
        SMALL: {"accuracy": 0.7},
    }
    results = [
        dataclasses.replace(r, **changes[r.model_id])
        if r.model_id in changes and r.protocol_version == PROTOCOL_VERSION
        else r
        for r in results
    ]
    catalog[0] = dataclasses.replace(catalog[0], params=4_400_000, downloads=1_234_567, likes=0)
    catalog[1] = dataclasses.replace(catalog[1], params=950)
    store.write_results(results)
    store.write_catalog(catalog)
    out = tmp_path_factory.mktemp("numbers-site") / "site"
    build_site(data, out)
    return out


def _first(text: str) -> str:
    """A cell's value without its interval ("60.01 [58.2, 61.9]" -> "60.01")."""
    return text.split(" [")[0].strip()


def _table_values(page, model_id: str) -> dict[str, str]:
    """The model's row as the table renders it for display, every column, hidden ones too."""
    cells = page.evaluate(
        """id => {
          const api = new DataTable.Api('#ranking'), out = {};
          const i = api.rows().indexes().toArray().find(k => api.row(k).data().model_id === id);
          api.columns().every(function (c) {
            const src = this.dataSrc();
            if (typeof src !== 'string') { return; }
            const div = document.createElement('div');
            div.innerHTML = api.cell(i, c).render('display');
            div.querySelectorAll('.ci').forEach(s => s.remove());
            out[src] = div.textContent;
          });
          return out;
        }""",
        model_id,
    )
    return {k: _first(v) for k, v in cells.items() if k in CSV_FORMATS}


def _page_values(browser, site: Path, model_id: str, width: int) -> tuple[dict[str, str], Watch]:
    page = browser.new_page(viewport={"width": width, "height": 900})
    watch = Watch(page, site.resolve().as_uri())
    page.goto((site / model_page_path(model_id)).as_uri())
    out: dict[str, str] = {}
    for tr in page.locator("table.kv").first.locator("tr").all():
        label, cell = tr.locator("th").inner_text(), tr.locator("td").first.inner_text()
        for start, keys in PAGE_LABELS:
            if label.startswith(start) and not (start == "2023 gain" and "rank" in label):
                for key, part in zip(keys, cell.split(" · "), strict=False):
                    out[key] = _first(part)
    page.close()
    return out, watch


def model_page_path(model_id: str) -> str:
    arch = next(a for a in Store(REPO / "data").architectures() if a.id == ARCH)
    return model_page(arch, model_id)


def _compare_values(browser, site: Path, width: int) -> tuple[dict[str, dict[str, str]], Watch]:
    page = browser.new_page(viewport={"width": width, "height": 900})
    watch = Watch(page, site.resolve().as_uri())
    query = "&".join(f"m={quote(m, safe='')}" for m in MODELS)
    page.goto(f"{site.resolve().as_uri()}/compare/{ARCH}.html?{query}")
    page.wait_for_selector("html[data-compare-ready]")
    order = page.locator("#compare-table thead th a").all_inner_texts()
    out: dict[str, dict[str, str]] = {m: {} for m in order}
    for tr in page.locator("#compare-table tbody tr").all():
        label = tr.locator("th").inner_text()
        for start, key in COMPARE_LABELS:
            if label.startswith(start) and not (start == "2023 gain" and "rank" in label):
                for m, text in zip(order, tr.locator("td").all_inner_texts(), strict=True):
                    out[m][key] = _first(text)
    page.close()
    return out, watch


def _csv_values(site: Path) -> dict[str, dict[str, str]]:
    text = (site / f"downloads/{ARCH}.csv").read_text(encoding="utf-8")
    out = {}
    for row in csv.DictReader(io.StringIO(text, newline="")):
        out[row["model_id"]] = {
            key: show(row[name]) if row.get(name) else "–"
            for key, (name, show) in CSV_FORMATS.items()
        }
    return out


@pytest.mark.parametrize("width", [1280, 390])
def test_table_page_compare_and_csv_show_the_same_numbers(browser, site: Path, width: int) -> None:
    page = browser.new_page(viewport={"width": width, "height": 900 if width > 400 else 844})
    watch = Watch(page, site.resolve().as_uri())
    page.goto((site / f"arch/{ARCH}.html").as_uri())
    page.wait_for_selector("html[data-table-ready]")
    table = {m: _table_values(page, m) for m in MODELS}
    page.close()
    compare, compare_watch = _compare_values(browser, site, width)
    downloads = _csv_values(site)
    assert set(compare) == set(MODELS)
    for m in MODELS:
        shown, page_watch = _page_values(browser, site, m, width)
        views = {"table": table[m], "model page": shown, "compare": compare[m],
                 "csv": downloads[m]}  # fmt: skip
        for key, want in EXPECTED[m].items():
            for view, values in views.items():
                if key in values or view in ("table", "csv"):
                    assert values.get(key) == want, (m, key, view, values)
        # and every value any two of them show agrees ("–" where missing, in each)
        for key in CSV_FORMATS:
            seen = {view: values[key] for view, values in views.items() if key in values}
            assert len(set(seen.values())) == 1, (m, key, seen)
        assert not page_watch.errors and not page_watch.outside
    assert not watch.errors and not watch.outside
    assert not compare_watch.errors and not compare_watch.outside


def test_the_scripts_format_as_python_does(browser, site: Path) -> None:
    """ranker.js's fixed2 and size against ranker.build.numbers on awkward values: exact ties,
    values a hair under a tie, negative zero, unit boundaries."""
    rng = random.Random(7)
    values = [0.125, -0.125, 0.00125, 0.6000500083, 0.8479454841334418, -0.00001, -0.0, 0.005]
    values += [rng.random() for _ in range(300)] + [
        round(rng.uniform(-1, 1), 5) for _ in range(300)
    ]
    sizes = [0, 1, 949, 999, 999.5, 1000, 9949, 9950, 99_950, 999_499, 999_500, 4_400_000,
             9_949_999, 9_950_000, 108_310_272, 999_500_000, 1_300_000_000, 11_000_000_000]  # fmt: skip
    sizes += [rng.randrange(10**10) for _ in range(200)]
    page = browser.new_page()
    page.goto((site / f"arch/{ARCH}.html").as_uri())
    page.wait_for_selector("html[data-table-ready]")
    got = page.evaluate(
        """([values, sizes]) => [
          values.map(v => window.ranker.fixed2(v, 100)),
          values.map(v => window.ranker.fixed2(v, 100, true)),
          values.map(v => window.ranker.fixed2(v, 1)),
          sizes.map(n => window.ranker.size(n))]""",
        [values, sizes],
    )
    page.close()
    assert got[0] == [scaled(v) for v in values]
    assert got[1] == [scaled(v, sign=True) for v in values]
    assert got[2] == [scaled(v, 1) for v in values]
    assert got[3] == [size(n) for n in sizes]
    assert got[3][:4] == ["0", "1", "949", "999"] and "0M" not in got[3]
