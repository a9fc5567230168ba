"""The site build: pages exist, every model is listed, links resolve, hostile strings are inert."""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import html
import io
import json
import re
import shutil
import signal
import subprocess
import sys
import time
import warnings
import xml.etree.ElementTree as ET
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import plotly.graph_objects as go
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from markupsafe import escape

from conftest import REPO, make_baselines, make_legacy_model
from ranker.build import MARKER, BuildReport, build_site, charts
from ranker.build.badges import badge_svg, markdown_snippet, shields_endpoint
from ranker.build.columns import download_name
from ranker.build.fidelity import rank_correlation
from ranker.build.inputs import RecordWarning
from ranker.build.links import IBM_URL, PAPER_URL
from ranker.build.pairs import SHARD_MODELS
from ranker.build.rows import CHUNK_ROWS, FIRST_ROWS
from ranker.build.tables import COLUMNS, architecture_table, rank_history, rankable
from ranker.errors import RankerError
from ranker.protocol import PROTOCOL_VERSION
from ranker.records import CatalogEntry, EvalResult, LegacyModel
from ranker.store import Store
from ranker.testing.synthetic import pack, synthetic_models

HOSTILE = '<script>alert("x")</script><img src=x onerror=alert(1)>'


class _Page(HTMLParser):
    """Links, scripts and embedded JSON of one page."""

    def __init__(self) -> None:
        super().__init__()
        self.links: list[str] = []
        self.scripts: list[dict[str, str | None]] = []
        self.json: dict[str, str] = {}
        self._json_id: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "script":
            self.scripts.append(a)
            if a.get("type") == "application/json":
                self._json_id = a.get("id")
        for key in ("href", "src"):
            if a.get(key):
                self.links.append(a[key] or "")

    def handle_data(self, data: str) -> None:
        if self._json_id:
            self.json[self._json_id] = self.json.get(self._json_id, "") + data

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._json_id = None


def _parse(path: Path) -> _Page:
    parser = _Page()
    parser.feed(path.read_text(encoding="utf-8"))
    return parser


def _downloaded(path: Path) -> dict:
    """A JSON download, every model with every column (named as in the downloads: units in
    the names): the files leave out missing values, empty flags and nli false."""
    data = json.loads(path.read_bytes())
    data["models"] = [
        {**{download_name(c): None for c in COLUMNS}, "flags": [], "nli": False, **m}
        for m in data["models"]
    ]
    return data


def _csv_rows(path: Path) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(path.read_text(encoding="utf-8"), newline="")))


CHUNK = re.compile(r"rankerRows\((\d+),(.*)\);\n", re.S)


def _table(site: Path, slug: str) -> tuple[dict, list[list[dict]]]:
    """An architecture page's table config and its rows as dicts, part by part: the rows in
    the page, then those of each chunk file it names, in the page's order."""
    config = json.loads(_parse(site / f"arch/{slug}.html").json["table-data"])
    parts = [config["rows"]]
    for k, path in enumerate(config["chunks"], start=1):
        match = CHUNK.fullmatch((site / path).read_text())
        assert match is not None and int(match.group(1)) == k, path
        parts.append(json.loads(match.group(2)))
    rows = [[dict(zip(config["fields"], row, strict=True)) for row in part] for part in parts]
    for part in rows:
        for row in part:
            row["page"] = config["pages"] + row["model_id"].replace("/", "--") + ".html"
    return config, rows


N_PAIRS = 1000


def _bits(*right: tuple[int, int], n: int = N_PAIRS) -> np.ndarray:
    """Per-pair correctness: right on the given [start, stop) ranges of pairs, wrong elsewhere."""
    out = np.zeros(n, dtype=bool)
    for start, stop in right:
        out[start:stop] = True
    return out


def _result(model_id: str, accuracy: float, day: str = "2026-11-20", **kw) -> EvalResult:
    """A current-protocol result. Unless `correct` is given, its bits are right on the first
    round(accuracy * N_PAIRS) pairs: nested, so any two different accuracies differ
    significantly. `correct=None` leaves the bits out."""
    bits = kw.pop("correct", _bits((0, round(accuracy * N_PAIRS))))
    values = dict(
        schema_version=1, model_id=model_id, architecture="roberta-base", revision="c" * 40,
        protocol_version=PROTOCOL_VERSION, status="ok", evaluated_at=f"{day}T10:00:00Z",
        accuracy=accuracy, accuracy_low=accuracy - 0.01, accuracy_high=accuracy + 0.01,
        gain=accuracy - 0.6, n_eval=None if bits is None else len(bits),
        data_fingerprint="f" * 64, correct=None if bits is None else pack(bits),
    )  # fmt: skip
    values.update(kw)
    return EvalResult(**values)


def _error(model_id: str, day: str = "2026-11-20") -> EvalResult:
    """A failed evaluation: an error record with no scores."""
    return dataclasses.replace(
        _result(model_id, 0.5, day=day), status="error", error="no safetensors",
        accuracy=None, accuracy_low=None, accuracy_high=None, gain=None,
    )  # fmt: skip


def _entry(model_id: str, status: str = "ok", **kw) -> CatalogEntry:
    values = dict(
        schema_version=1, model_id=model_id, architecture="roberta-base", sha="c" * 40,
        status=status, downloads=10, license="mit",
    )  # fmt: skip
    values.update(kw)
    return CatalogEntry(**values)


@pytest.fixture(scope="module")
def built(imported_store: Path, tmp_path_factory: pytest.TempPathFactory) -> BuildReport:
    out = tmp_path_factory.mktemp("site") / "site"
    return build_site(imported_store, out)


@pytest.fixture(scope="module")
def site(built: BuildReport) -> Path:
    return built.out


def test_pages_and_downloads_exist(site: Path, imported_store: Path) -> None:
    store = Store(imported_store)
    for rel in ("index.html", "methodology.html", "faq.html", "cite.html", "changelog.html",
                "downloads/all.csv", "downloads/roberta-base.json", "static/style.css", "static/ranker.js",
                "static/vendor/datatables/dataTables.min.js",
                "static/vendor/plotly/plotly-basic.min.js"):  # fmt: skip
        assert (site / rel).is_file(), rel
    for arch in store.architectures():
        for rel in (
            f"arch/{arch.slug}.html",
            f"downloads/{arch.slug}.csv",
            f"downloads/{arch.slug}.json",
        ):
            assert (site / rel).stat().st_size > 1000, rel
    index = (site / "index.html").read_text()
    assert "ibm/ColD-Fusion-itr13-seed2" in index  # the best roberta-base model
    assert "2023-04" in index  # when the data was last updated
    changes = " ".join((site / "changelog.html").read_text().split())
    assert (
        "2,696 rows imported from IBM's published 2023 results (2,703 rows in their files, 7"
        " duplicates merged)" in changes
    )


def _text(path: Path) -> str:
    """A page's words in its <main> (not the nav or the footer's credits), tags and scripts
    left out, spaces collapsed."""
    html = path.read_text()
    html = html[html.find("<main") : html.rfind("</main>")]
    html = re.sub(r"<script.*?</script>", " ", html, flags=re.S)
    return " ".join(re.sub(r"<[^>]+>", " ", html).split()).replace(" ,", ",").replace(" .", ".")


def _count(path: Path, name: str) -> list[int]:
    return [
        int(n.replace(",", ""))
        for n in re.findall(rf'data-count="{name}">([\d,]+)<', path.read_text())
    ]


def test_counts_agree_between_pages(built: BuildReport, imported_store: Path) -> None:
    """One count for one thing: the models listed, on the index, the architecture pages, the
    changelog and the build report; the 2023 rows as IBM's files and the import count them."""
    site = built.out
    listed, ranked = _count(site / "index.html", "listed"), _count(site / "index.html", "ranked")
    per_arch = [_count(p, "listed") + _count(p, "ranked") for p in sorted(site.glob("arch/*.html"))]
    assert len(per_arch) == 6 and all(len(c) == 2 for c in per_arch)
    assert listed == [sum(c[0] for c in per_arch)] == [built.models] == [2691]
    assert ranked == [sum(c[1] for c in per_arch)] == [1162]
    assert _count(site / "changelog.html", "ibm-finetuned") == [2691]
    changes = _text(site / "changelog.html")
    assert (
        "2,696 rows imported from IBM's published 2023 results (2,703 rows in their files, 7"
        " duplicates merged): 2,691 finetuned models and 5 pretrained bases; 1,262 of the"
        " finetuned models have a 36-task average" in changes
    )
    for page in ("index.html", "changelog.html", *(f"arch/{a.slug}.html" for a in
                 Store(imported_store).architectures())):  # fmt: skip
        assert "2,700" not in _text(site / page), page


def _index_store(store_dir: Path, *, legacy: bool, probe: bool) -> Path:
    store = Store(store_dir)
    if legacy:
        store.write_legacy_baselines(make_baselines())
        store.write_legacy_models(
            [make_legacy_model("a/top", score=0.6), make_legacy_model("a/low", score=0.5)]
        )
        store.write_legacy_meta({"as_of": "2023-04"})
    if probe:
        store.write_results([_result("b/new", 0.66), _result("c/old", 0.61, day="2026-11-02")])
    return store_dir


@pytest.mark.parametrize("legacy,probe", [(True, False), (False, True), (True, True)])
def test_the_index_says_what_its_data_holds(
    store_dir: Path, tmp_path: Path, legacy: bool, probe: bool
) -> None:
    """IBM's 2023 data only, our probe only (the demo), both: each sentence switches."""
    out = tmp_path / "site"
    build_site(_index_store(store_dir, legacy=legacy, probe=probe), out)
    index = _text(out / "index.html")
    page = _text(out / "arch/roberta-base.html")
    card = _text(out / "arch/roberta-base.html").split("Start here", 1)[1].split("All models")[0]
    assert "2,700" not in index and "every model on the hub" not in index
    assert ("IBM" in index) is legacy  # no IBM numbers where there are none
    if not probe:
        assert (
            "Every rank here comes from IBM's published 2023 finetuning results: the"
            " 36-task average of 2 models, data as of 2023-04" in index
        )
        assert (
            "Our MNLI probe, which predicts finetuning gains cheaply, has not evaluated any"
            " model yet" in index
        )
        assert "Newest additions" not in index  # empty everywhere: no column
        assert "36-task average (IBM 2023, as of 2023-04)" in index
        assert (
            "by IBM's published 2023 36-task average (data as of 2023-04); our probe has not"
            " evaluated any of them yet" in page
        )
        assert "Atom feed: new evaluations, none yet" in card
        assert "a/top alone holds #1 (no tie) of 2 ranked by the 36-task average" in card
    else:
        assert (
            "Our MNLI probe, which predicts finetuning gains cheaply, has evaluated 2 models"
            " (newest evaluation 2026-11-20); its ranks order RoBERTa base" in index
        )
        assert "has not evaluated" not in index
        assert "Newest additions" in index and "none yet" in index  # the other architectures
        assert "MNLI probe (ours, evaluated 2026-11-20)" in index
        assert "ranked by our MNLI probe (protocol" in page
        assert "Follow new evaluations (Atom feed)" in card
        assert "b/new alone holds #1 (no tie) of 2 ranked by the MNLI probe" in card
        # the baseline on the probe's measure, never the 36-task average beside a probe score
        row = index.split("RoBERTa base", 1)[1].split("BERT base")[0]
        assert "50.00" not in row and "(no MNLI probe score of its own yet)" in row
        assert ("still ranked by IBM" in index) is False  # no architecture has IBM ranks left
        assert ("are shown beside ours" in index) is legacy


def test_every_imported_model_is_listed_with_a_page(site: Path, imported_store: Path) -> None:
    store = Store(imported_store)
    models = store.legacy_models()
    for arch in store.architectures():
        ids = {m.model_id for m in models if m.architecture == arch.id} - {arch.id}
        _, parts = _table(site, arch.slug)
        rows = [r for part in parts for r in part]
        assert {r["model_id"] for r in rows} == ids and len(rows) == len(ids)
        for row in rows:
            assert (site / row["page"]).is_file()
        assert {r["model_id"] for r in _csv_rows(site / f"downloads/{arch.slug}.csv")} == ids
        data = _downloaded(site / f"downloads/{arch.slug}.json")
        ranks = [m["rank"] for m in data["models"] if m["rank"] is not None]
        assert sorted(ranks) == list(range(1, len(ranks) + 1))  # IBM's published positions
        assert data["baseline"]["model_id"] == arch.id and data["baseline"]["n_seeds"] >= 16
        # the 2023 rank: shifted rows are out; 1 + the number of rows better by > 1.96·σ·√2
        margin = 1.96 * data["baseline"]["avg_std_pts"] * 2**0.5  # all in percent
        ranked = [m for m in data["models"] if m["legacy_rank"] is not None]
        assert not [m for m in ranked if "shifted" in m["flags"] or m["avg_pct"] is None]
        shifted = [
            m for m in data["models"] if "shifted" in m["flags"] and m["avg_pct"] is not None
        ]
        assert all(m["legacy_rank"] is None for m in shifted)
        averages = sorted(m["avg_pct"] for m in ranked)
        for m in ranked:
            better = sum(a - m["avg_pct"] > margin for a in averages)
            assert m["legacy_rank"] == 1 + better, m["model_id"]
        if arch.id == "roberta-base":  # the ColD-Fusion iterations tie at #1; no chain below
            top = [m for m in ranked if m["legacy_rank"] == 1]
            assert 10 < len(top) < 100 and all(m["legacy_tied"] == len(top) for m in top)
            assert len({m["legacy_rank"] for m in ranked}) > 50
    everything = _csv_rows(site / "downloads/all.csv")
    assert len(everything) == len(models) - 5  # less the 5 pretrained rows


def test_internal_links_resolve_and_nothing_is_fetched_from_outside(site: Path) -> None:
    pages = sorted(site.rglob("*.html"))
    assert len(pages) > 2000
    for page in pages:
        parsed = _parse(page)
        for script in parsed.scripts:
            assert script.get("type") == "application/json" or "://" not in (
                script.get("src") or ""
            )
        for link in parsed.links:
            # links out, never fetched: the hub, the paper, IBM's 2023 site (ranker.build.links)
            if link.startswith("https://huggingface.co/") or link in (PAPER_URL, IBM_URL):
                continue
            assert "://" not in link and not link.startswith("//"), (page, link)
            if link.startswith(("data:", "#")):
                continue
            target = (page.parent / link.split("#")[0].split("?")[0]).resolve()
            assert target.is_file(), (page, link)
            assert site.resolve() in target.parents, (page, link)


def test_hostile_strings_render_inert(store_dir: Path, tmp_path: Path) -> None:
    toml = (store_dir / "architectures.toml").read_text()
    (store_dir / "architectures.toml").write_text(
        toml.replace('title = "RoBERTa base"', f"title = {json.dumps(HOSTILE)}")
    )
    store = Store(store_dir)
    store.write_legacy_baselines(make_baselines())
    store.write_legacy_models(
        [make_legacy_model("evil/model", flags=(HOSTILE,), shifted_from=HOSTILE, tokenizer=HOSTILE)]
    )
    out = tmp_path / "site"
    build_site(store_dir, out)
    pages = ["index.html", "arch/roberta-base.html", "models/roberta-base/evil--model.html"]
    for page in pages:
        text = (out / page).read_text()
        assert "<script>alert" not in text and "<img src=x" not in text
        assert str(escape(HOSTILE)) in text or "\\u003cscript\\u003e" in text
        for script in _parse(out / page).scripts:
            assert (
                script.get("src", "").startswith("../")
                or script.get("type") == "application/json"
                or script.get("src", "").startswith("static/")
            )
    svg = (out / "badges/roberta-base/evil--model.svg").read_text()
    assert "<script" not in svg and "&lt;script&gt;" in svg
    assert (
        HOSTILE in json.loads((out / "badges/roberta-base/evil--model.json").read_text())["message"]
    )


def test_probe_results_rank_and_join(store_dir: Path, tmp_path: Path) -> None:
    store = Store(store_dir)
    store.write_legacy_baselines(make_baselines())
    store.write_legacy_models([make_legacy_model("a/legacy", score=0.6)])
    n = 10_000
    store.write_results(
        [
            # b and c differ on 957 pairs, 500 to 457: no test separates them, they share #1
            _result("b/new", 0.6543, gain=0.0123, gain_low=0.001, gain_high=0.02,
                    correct=_bits((0, 6543), n=n), logme=-0.4321, hscore=2.5),
            _result("c/close", 0.65, correct=_bits((0, 6043), (6543, 7000), n=n)),
            _result("d/far", 0.55, correct=_bits((0, 5500), n=n)),  # beaten by both: #3
            _result("e/nobits", 0.70, correct=None),  # no per-pair bits: no probe rank
            _result("roberta-base", 0.6, day="2026-11-19"),  # the base: baseline, not ranked
        ]
    )  # fmt: skip
    out = tmp_path / "site"
    build_site(store_dir, out)
    data = _downloaded(out / "downloads/roberta-base.json")
    rows = [
        (m["model_id"], m["probe_rank"], m["probe_tied"], m["legacy_rank"]) for m in data["models"]
    ]
    assert rows == [  # by accuracy; a result without bits is listed, not ranked
        ("e/nobits", None, None, None),
        ("b/new", 1, 2, None),
        ("c/close", 1, 2, None),
        ("d/far", 3, 1, None),
        ("a/legacy", None, None, 1),
    ]
    index = (out / "index.html").read_text()  # the best: the top score of rank 1, shared
    best = re.search(r'RoBERTa base</a></th>\s*<td class="top-group"[^>]*>(.*?)</td>', index, re.S)
    assert best is not None, index
    assert re.search(r">2 models share #1</a>;.*highest score:.*>b/new</a>", best.group(1), re.S)
    assert data["baseline"]["probe_accuracy_pct"] == 60.0
    page = (out / "arch/roberta-base.html").read_text()
    assert '"default_order":[["probe_rank","asc"],["probe_accuracy","desc"]' in page
    assert "rank is 1 + the number of models that are significantly better" in page
    model = (out / "models/roberta-base/b--new.html").read_text()
    assert "65.43" in model and "+1.23" in model and "[+0.10, +2.00]" in model
    assert "-0.432" in model  # LogME
    assert "tied: 2 models share this rank" in model
    badge = json.loads((out / "badges/roberta-base/b--new.json").read_text())
    assert badge["message"] == "#1 of 3 RoBERTa base (tied, 2 models)"
    badge = json.loads((out / "badges/roberta-base/d--far.json").read_text())
    assert badge["message"] == "#3 of 3 RoBERTa base"
    badge = json.loads((out / "badges/roberta-base/e--nobits.json").read_text())
    assert badge["message"] == "unranked RoBERTa base"
    assert "2026-11-20" in (out / "index.html").read_text()  # last updated moves forward
    assert "4 models evaluated (4 for the first time)" in (out / "changelog.html").read_text()


def test_rank_history_follows_updates(store_dir: Path) -> None:
    arch = Store(store_dir).architecture("roberta-base")
    results = [
        _result("a/m", 0.70, day="2026-11-01"),
        _result("b/m", 0.60, day="2026-11-01"),
        _result("c/m", 0.80, day="2026-11-02"),  # a new model overtakes both
    ]
    history = rank_history(arch, results)
    assert history["a/m"] == [("2026-11-01", 1), ("2026-11-02", 2)]
    assert history["b/m"] == [("2026-11-01", 2), ("2026-11-02", 3)]
    assert history["c/m"] == [("2026-11-02", 1)]


def test_charts_are_valid_plotly_and_escape_hover_text(store_dir: Path) -> None:
    arch = Store(store_dir).architecture("roberta-base")
    legacy = [make_legacy_model("a/x", score=0.6), make_legacy_model("b/y", score=0.4)]
    table = architecture_table(arch, legacy, [_result("a/x", 0.7)])
    table["downloads"] = [10, 5]
    table.loc[0, "model_id"] = HOSTILE
    figures = [
        charts.score_distribution(table["avg"], 0.5, label="36-task average", base_label="base"),
        charts.gain_vs_downloads(table, "gain", "gain"),
        charts.evaluated_over_time(table["evaluated_at"]),
        charts.task_gains(legacy[0].scores, legacy[1].scores),
        charts.rank_movement([("2026-11-01", 3), ("2026-11-02", 1)]),
        charts.overview(table.assign(architecture="RoBERTa")[["architecture", "model_id", "gain"]]),
    ]
    for fig in figures:
        assert fig is not None
        go.Figure(fig)  # raises on anything plotly.js would not understand
    assert HOSTILE not in json.dumps(figures) and str(escape(HOSTILE)).replace(
        "&#34;", "&quot;"
    ) in json.dumps(figures)
    assert charts.gain_vs_downloads(table.assign(downloads=None), "gain", "gain") is None
    assert charts.rank_movement([("2026-11-01", 3)]) is None


def test_fidelity_matches_scipy_on_a_known_case() -> None:
    import pandas as pd

    frame = pd.DataFrame({"x": [1, 2, 3, 4, None], "y": [10, 20, 40, 30, 50]})
    fid = rank_correlation(frame, "x", "y")
    assert fid.n == 4 and fid.spearman == pytest.approx(0.8) and fid.kendall == pytest.approx(2 / 3)
    assert rank_correlation(frame.head(2), "x", "y").spearman is None


def test_badges() -> None:
    svg = badge_svg("#3 of 385 RoBERTa base", "green")
    assert svg.startswith("<svg") and "#3 of 385 RoBERTa base" in svg
    assert shields_endpoint("m", "blue") == {
        "schemaVersion": 1,
        "label": "ranker",
        "message": "m",
        "color": "blue",
    }
    snippet = markdown_snippet("https://x.io/r/", "badges/a/b.svg", "models/a/b.html")
    assert snippet == "[![ranker](https://x.io/r/badges/a/b.svg)](https://x.io/r/models/a/b.html)"


def test_methodology_reports_fidelity_of_the_2023_probe(site: Path) -> None:
    text = (site / "methodology.html").read_text()
    rows = re.findall(r'<th scope="row">RoBERTa base</th>(.*?)</tr>', text, re.S)
    cells = re.findall(r'<td class="num">([^<]*)</td>', rows[0])
    assert cells[0] == "0" and cells[1] == "–"  # no probe results of ours yet
    assert int(cells[3]) > 300 and -1 <= float(cells[4]) <= 1
    # the pooled table: the 2023 probe's row is filled, with intervals; the others wait for data
    table = re.search(r'<table class="summary" id="fidelity-table">(.*?)</table>', text, re.S)
    assert table is not None
    body = {
        html.unescape(re.sub(r"<[^>]+>", "", label)).strip(): cells
        for label, cells in re.findall(
            r'<th scope="row">(.*?)</th>(.*?)</tr>', table.group(1), re.S
        )
    }
    assert list(body) == [
        "Our MNLI probe: accuracy (ranks the site)",
        "Our MNLI probe: gain over the base",
        "LogME (our features)",
        "H-score (our features)",
        "IBM's 2023 MNLI probe",
    ]
    ibm = re.findall(r'<td class="num">(.*?)</td>', body["IBM's 2023 MNLI probe"], re.S)
    assert int(ibm[0]) > 1000
    for cell in ibm[1:]:  # Spearman and Kendall, each with its interval
        value, low, high = map(float, re.findall(r"-?\d\.\d{3}", cell))
        assert -1 <= low < value < high <= 1
    for label in list(body)[:4]:
        assert re.findall(r'<td class="num">(.*?)</td>', body[label], re.S) == ["0", "–", "–"]
    assert "rows fill in as" in text


def test_rebuild_replaces_only_a_ranker_site(store_dir: Path, tmp_path: Path) -> None:
    Store(store_dir).write_legacy_models([make_legacy_model("a/m")])
    Store(store_dir).write_legacy_baselines(make_baselines())
    out = tmp_path / "site"
    build_site(store_dir, out)
    (out / "stale.html").write_text("old")
    build_site(store_dir, out)
    assert not (out / "stale.html").exists() and (out / MARKER).exists()

    precious = tmp_path / "precious"
    precious.mkdir()
    (precious / "thesis.tex").write_text("do not delete")
    with pytest.raises(RankerError, match="not built by ranker"):
        build_site(store_dir, precious)
    assert (precious / "thesis.tex").read_text() == "do not delete"


def test_only_present_models_are_ranked(store_dir: Path, tmp_path: Path) -> None:
    store = Store(store_dir)
    store.write_legacy_baselines(make_baselines())
    store.write_legacy_models(
        [make_legacy_model("a/kept", score=0.6), make_legacy_model("a/deleted", score=0.7)]
    )
    store.write_catalog(
        [
            _entry("a/deleted", status="removed"),  # a 2023 model gone from the hub
            _entry("b/old", status="removed", renamed_to="b/new"),
            _entry("b/new"),
            _entry("c/deleted", status="removed"),
            _entry("d/ok"),
            _entry("e/failed"),
            _entry("f/excluded", status="excluded", reason="gated"),
        ]
    )
    results = [
        _result("b/old", 0.70, day="2026-11-01"),
        _result("b/new", 0.70, day="2026-11-10", revision="d" * 40),  # evaluated again,
        _result("b/new", 0.70, day="2026-11-20"),  # twice: a rank history
        _result("c/deleted", 0.80, day="2026-11-05"),
        _result("d/ok", 0.60),
        _error("e/failed"),
        _result("g/uncatalogued", 0.50),  # `ranker evaluate` of a model not crawled yet
    ]
    store.write_results(results)
    out = tmp_path / "site"
    report = build_site(store_dir, out)

    data = _downloaded(out / "downloads/roberta-base.json")
    assert [(m["model_id"], m["probe_rank"], m["legacy_rank"]) for m in data["models"]] == [
        ("b/new", 1, None),
        ("d/ok", 2, None),
        ("g/uncatalogued", 3, None),
        ("a/kept", None, 1),
        ("e/failed", None, None),  # catalogued, listed, never ranked by its error record
    ]
    assert report.models == 5
    gone = ("a/deleted", "b/old", "c/deleted")
    for model_id in gone:
        name = model_id.replace("/", "--")
        assert not (out / f"models/roberta-base/{name}.html").exists(), model_id
        assert not (out / f"badges/roberta-base/{name}.svg").exists(), model_id
    everything = _downloaded(out / "downloads/roberta-base.json")["models"]
    assert not {m["model_id"] for m in everything} & set(gone)
    assert not {r["model_id"] for r in _csv_rows(out / "downloads/all.csv")} & set(gone)
    arch_page = (out / "arch/roberta-base.html").read_text()
    assert "b/new" in arch_page and "b/old" not in arch_page and "c/deleted" not in arch_page
    badge = json.loads((out / "badges/roberta-base/b--new.json").read_text())
    assert badge["message"] == "#1 of 3 RoBERTa base"  # the gone models are not counted
    page = (out / "models/roberta-base/b--new.html").read_text()
    assert "#1 <span" in page and "of 3 RoBERTa base models" in page
    # never behind the deleted c/deleted
    assert "2 updates: #1 on 2026-11-10, #1 on 2026-11-20; best #1, worst #1</title>" in page
    # the store keeps every record
    assert len(Store(store_dir).results()) == len(results)
    assert len(Store(store_dir).legacy_models()) == 2


def test_rankable_is_the_one_filter() -> None:
    legacy = [make_legacy_model("a/kept"), make_legacy_model("a/gone")]
    catalog = [
        _entry("a/gone", status="removed"),
        _entry("b/old", status="removed", renamed_to="b/new"),
        _entry("b/new"),
        _entry("x/inconsistent", renamed_to="b/new"),  # the store refuses it; gone all the same
    ]
    results = [
        _result("x/inconsistent", 0.7),
        _result("b/old", 0.7),
        _result("b/new", 0.7),
        _error("b/new", day="2026-11-21"),
        dataclasses.replace(_result("c/none", 0.5), accuracy=None),  # "ok" without a score
    ]
    kept_legacy, kept_results, kept_catalog = rankable(legacy, results, catalog)
    assert [m.model_id for m in kept_legacy] == ["a/kept"]
    assert [(r.model_id, r.status) for r in kept_results] == [("b/new", "ok")]
    assert [e.model_id for e in kept_catalog] == ["b/new"]


def test_csv_downloads_neutralise_formulas_but_keep_numbers(
    store_dir: Path, tmp_path: Path
) -> None:
    formula = '=HYPERLINK("http://x","y")'
    store = Store(store_dir)
    store.write_legacy_baselines(make_baselines())
    store.write_legacy_models(
        [make_legacy_model("a/legacy", score=0.4, flags=("-2+3",), shifted_from="@SUM(A1)")]
    )
    store.write_catalog(
        [
            _entry("b/new", license=formula),
            _entry("c/tab", license="\t=1+1"),
            _entry("d/crlf", license="mit\r\n=1+1", detail="x"),  # a row break inside a cell
            _entry("e/wide", license="\u200f \uff1dSUM(A1)"),  # an RTL mark, a fullwidth =
        ]
    )
    store.write_results([_result("b/new", 0.59, gain=-0.0123), _result("c/tab", 0.61)])
    out = tmp_path / "site"
    build_site(store_dir, out)
    for name in ("roberta-base.csv", "all.csv"):
        rows = {r["model_id"]: r for r in _csv_rows(out / "downloads" / name)}
        assert rows["b/new"]["license"] == "'" + formula
        assert rows["c/tab"]["license"] == "'\t=1+1"
        assert rows["b/new"]["probe_gain_pts"] == "-1.23"  # a number stays a number
        assert float(rows["a/legacy"]["gain_pts"]) == pytest.approx(-10)
        assert rows["a/legacy"]["gain_pts"].startswith("-")
        assert rows["a/legacy"]["flags"] == "'-2+3"
        assert rows["a/legacy"]["shifted_from"] == "'@SUM(A1)"
        assert rows["c/tab"]["probe_accuracy_pct"] == "61.0"
        assert rows["d/crlf"]["license"] == "mit  =1+1"  # one row: the break is a space
        assert rows["e/wide"]["license"] == "'\u200f \uff1dSUM(A1)"
        raw = (out / "downloads" / name).read_text(encoding="utf-8")
        assert raw.count("\n") == len(rows) + 1 and "\r" not in raw
        assert ",-1.23," in raw and ',"mit  =1+1",' in raw  # numbers bare, text quoted
    data = _downloaded(out / "downloads/roberta-base.json")
    assert {m["model_id"]: m["license"] for m in data["models"]}["b/new"] == formula  # JSON as is


# -- a site with many models: row chunks, lean pages, bounded files ---------------------------

N_MANY = 6000


@pytest.fixture(scope="module")
def many(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, BuildReport]:
    """One architecture with N_MANY synthetic evaluated models (small evaluations: fast ranks)."""
    data = tmp_path_factory.mktemp("many") / "data"
    data.mkdir()
    shutil.copyfile(REPO / "data" / "architectures.toml", data / "architectures.toml")
    store = Store(data)
    store.write_legacy_baselines(make_baselines())
    store.write_legacy_models([make_legacy_model("a/legacy", score=0.6)])
    results, catalog = synthetic_models("roberta-base", N_MANY, n_eval=400)
    store.write_results(results)
    store.write_catalog(catalog)
    out = tmp_path_factory.mktemp("many-site") / "site"
    return out, build_site(data, out)


def test_row_chunks_hold_every_row_exactly_once(many: tuple[Path, BuildReport]) -> None:
    site, _ = many
    config, parts = _table(site, "roberta-base")
    assert len(parts[0]) == FIRST_ROWS and len(parts) == 1 + -(
        -(N_MANY + 1 - FIRST_ROWS) // CHUNK_ROWS
    )
    assert all(0 < len(p) <= CHUNK_ROWS for p in parts[1:])
    rows = [r for part in parts for r in part]
    downloads = _downloaded(site / "downloads/roberta-base.json")["models"]
    # every row once, in the table's order, with the download's values
    assert [r["model_id"] for r in rows] == [m["model_id"] for m in downloads]
    assert config["total"] == len(rows) == N_MANY + 1
    for row, model in zip(rows, downloads, strict=True):
        assert row["page"] == model["page"] and (site / row["page"]).is_file()
        assert row["probe_rank"] == model["probe_rank"] and row["downloads"] == model["downloads"]
    # no chunk file that the page does not name, but chunk 0 (the first rows again, for the
    # compare view) and the compare view's 2023 task gains
    assert sorted(p.name for p in (site / "rows/roberta-base").iterdir()) == sorted(
        [*(Path(c).name for c in config["chunks"]), "0.js", "tasks.js", "pairs"]
    )  # and the compare view's shards of resampled answers (ranker.build.pairs)
    zero = (site / "rows/roberta-base/0.js").read_text()
    assert zero.startswith("rankerRows(0,")
    assert json.loads(zero[len("rankerRows(0,") : -3]) == config["rows"]


def test_pages_stay_small_with_many_models(many: tuple[Path, BuildReport]) -> None:
    site, report = many
    # the architecture page carries its shell and first rows, whatever the number of models
    assert (site / "arch/roberta-base.html").stat().st_size < 200_000
    assert (site / "index.html").stat().st_size < 200_000  # the overview chart is sampled
    assert report.largest_page_bytes < 200_000
    # one page and two badge files per model, each small
    pages = list((site / "models/roberta-base").iterdir())
    assert len(pages) == N_MANY + 1
    assert len(list((site / "badges/roberta-base").iterdir())) == 2 * (N_MANY + 1)
    sizes = sorted(p.stat().st_size for p in pages if p.name.startswith("synthetic--"))
    assert sizes[-1] < 4096, sizes[-1]  # a disk block
    assert (site / "models/roberta-base/a--legacy.html").stat().st_size < 12_000  # 36 tasks
    # the whole site, downloads included, per model
    # (7 kB: ~4.9 kB before plain downloads, the compare view's per-pair bits and "not here"'s
    # every listed model; at 5,000 pairs a real site adds ~0.8 kB more: 100k models stay under
    # GitHub Pages' 1 GB; docs/benchmarks.md, "Site size per model")
    assert report.bytes / (N_MANY + 1) < 7000, report.bytes
    # a page and two badges a model, and the compare view's pair shards (ranker.build.pairs)
    assert report.files < 3 * N_MANY + N_MANY // SHARD_MODELS + 100
    # no model page loads plotly.js for its rank history (a small inline SVG instead)
    text = (site / "models/roberta-base/synthetic--roberta-base-model-00010.html").read_text()
    assert "plotly" not in text and '<svg class="spark"' in text


SIGTERM_BUILD = """
import sys
from ranker.build import build_site
build_site(sys.argv[1], sys.argv[2])
"""


def test_sigterm_removes_the_unfinished_build(imported_store: Path, tmp_path: Path) -> None:
    """A build stopped by SIGTERM removes its hidden folder and leaves the old site as it was."""
    out = tmp_path / "site"
    out.mkdir()
    (out / MARKER).write_text("built by ranker\n")
    (out / "index.html").write_text("the old site")
    proc = subprocess.Popen(
        [sys.executable, "-c", SIGTERM_BUILD, str(imported_store), str(out)],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    deadline = time.monotonic() + 120
    hidden: list[Path] = []
    while time.monotonic() < deadline and proc.poll() is None:
        hidden = [p for p in tmp_path.glob(".site.*") if (p / "models").is_dir()]
        if hidden:  # mid-build: model pages are being written
            break
        time.sleep(0.05)
    assert hidden and proc.poll() is None, "the build ended before it could be stopped"
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 128 + signal.SIGTERM, err.decode()[-2000:]
    assert not hidden[0].exists()
    assert [p.name for p in tmp_path.iterdir()] == ["site"]
    assert (out / "index.html").read_text() == "the old site"


def test_the_signal_handler_is_restored(store_dir: Path, tmp_path: Path) -> None:
    Store(store_dir).write_legacy_models([make_legacy_model("a/m")])
    Store(store_dir).write_legacy_baselines(make_baselines())
    before = signal.getsignal(signal.SIGTERM)
    build_site(store_dir, tmp_path / "site")
    assert signal.getsignal(signal.SIGTERM) is before


# -- whatever the store holds, the build goes on: one odd record is left out, named ------------

FAR = "\u202e</script><script>alert(1)</script>\x00\x1b\r\n=1+1 \u200f" * 200  # 10,000+ chars


def _hold(monkeypatch: pytest.MonkeyPatch, legacy=(), catalog=(), results=(), meta=None) -> None:
    """Make every Store read return these records as they are: values an older store version
    wrote, or that a hand edit left, which today's store would refuse to write."""
    monkeypatch.setattr(Store, "has_legacy", lambda self: True)
    monkeypatch.setattr(Store, "legacy_models", lambda self: list(legacy))
    monkeypatch.setattr(Store, "legacy_baselines", lambda self: make_baselines())
    monkeypatch.setattr(Store, "legacy_meta", lambda self: dict(meta or {}))
    monkeypatch.setattr(Store, "catalog", lambda self: list(catalog))
    monkeypatch.setattr(Store, "results", lambda self: list(results))


def test_records_no_page_can_show_are_left_out_and_named(
    store_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    legacy = [make_legacy_model("a/old", last_modified=FAR, params=2**64 - 1, avg=1e308,
                                flags=(FAR,), shifted_from=FAR, tokenizer=FAR)]  # fmt: skip
    catalog = [
        _entry("b/future", downloads=2**63 - 1, likes=-(2**63), params=2**63, license=FAR,
               last_modified="9999-12-31T23:59:59Z", tags=(FAR, "base_model:finetune:" + FAR)),
        _entry("c/past", downloads=7, license="nan", last_modified="0001-01-01T00:00:00Z"),
        _entry("d/good", downloads=3, license="mit"),
    ]  # fmt: skip
    results = [
        _result("b/future", 0.70, evaluated_at="9999-12-31T23:59:59Z", logme=1e308),
        _result("c/past", 0.65, evaluated_at="0001-01-01T00:00:00Z"),
        _result("d/good", 0.60, day="2026-11-20"),
        _result("e/nan", 0.55, evaluated_at="NaN", gain=-1e308, accuracy_high=1e308),
        _result("f/long", 0.50, evaluated_at=FAR, tokenizer=FAR, device=FAR),
        dataclasses.replace(_error("g/error"), error=FAR, reason=FAR, failure=FAR,
                            evaluated_at="9999-01-01"),
    ]  # fmt: skip
    _hold(monkeypatch, legacy, catalog, results, meta={"as_of": "9999-01-01"})
    out = tmp_path / "site"
    with pytest.warns(RecordWarning) as caught:
        build_site(store_dir, out)
    messages = [str(w.message) for w in caught]
    for model, field in [("a/old", "last_modified"), ("a/old", "params"), ("a/old", "avg"),
                         ("b/future", "evaluated_at"), ("b/future", "downloads"),
                         ("b/future", "likes"), ("b/future", "last_modified"),
                         ("c/past", "evaluated_at"), ("e/nan", "evaluated_at"),
                         ("e/nan", "gain"), ("f/long", "evaluated_at"), ("g/error", "evaluated_at")]:  # fmt: skip
        assert any(m.startswith(f"{field} of ") and f"{model!r} (" in m for m in messages), (
            model,
            field,
        )

    # every model is still listed, with its score; what could not be used is missing
    _, parts = _table(out, "roberta-base")
    rows = {r["model_id"]: r for part in parts for r in part}
    assert set(rows) == {"a/old", "b/future", "c/past", "d/good", "e/nan", "f/long"}
    assert rows["b/future"]["probe_accuracy"] == 0.7 and rows["b/future"]["probe_rank"] == 1
    assert rows["b/future"]["evaluated_at"] is None and rows["b/future"]["downloads"] is None
    assert rows["d/good"]["evaluated_at"] == "2026-11-20"
    assert rows["b/future"]["license"] == FAR  # text as it is, inert in the page's JSON
    assert rows["e/nan"]["probe_gain"] is None
    data = _downloaded(out / "downloads/roberta-base.json")
    by_id = {m["model_id"]: m for m in data["models"]}
    assert by_id["b/future"]["evaluated_at"] is None and by_id["b/future"]["likes"] is None
    assert by_id["a/old"]["params"] is None and by_id["a/old"]["avg_pct"] is None

    # dated things use only usable dates
    page = _parse(out / "arch/roberta-base.html")
    timeline = json.loads(page.json["fig-timeline"])
    assert timeline["data"][0]["x"] == ["2026-11-20"]  # the one usable date
    assert "Data last updated: <strong>2026-11-20</strong>" in (out / "index.html").read_text()
    changelog = (out / "changelog.html").read_text()
    assert "9999" not in changelog and "0001-01-01" not in changelog
    feed = ET.parse(out / "feeds/roberta-base.xml").getroot()
    updated = [e.text for e in feed.iter("{http://www.w3.org/2005/Atom}updated")]
    assert updated and all(u and u.startswith("2026-") for u in updated)

    # the CSV: one row a model, every row as wide as the header, nothing a spreadsheet runs
    raw = (out / "downloads/roberta-base.csv").read_text(encoding="utf-8")
    table = list(csv.reader(io.StringIO(raw, newline="")))
    assert len(table) == 1 + len(rows) and {len(r) for r in table} == {len(table[0])}
    assert set(table[0]) <= {download_name(c) for c in COLUMNS}
    assert all(not cell.startswith(("=", "+", "@", "\t", "\r")) for r in table for cell in r)


def test_a_store_holding_out_of_window_lines_still_builds(store_dir: Path, tmp_path: Path) -> None:
    """Through the store's own reader: lines written by hand (or by an older version) with
    dates the build does not show; whatever the reader makes of them, the build goes on."""
    store = Store(store_dir)
    store.write_results([_result("a/good", 0.6)])
    lines = []
    for model_id, when in (("b/late", "2199-12-31T00:00:00Z"), ("c/early", "1970-01-01T00:00:00Z"),
                           ("d/far", "9999-12-31T23:59:59Z")):  # fmt: skip
        record = dataclasses.replace(_result(model_id, 0.7), evaluated_at=when)
        lines.append((store.results_file(model_id), json.dumps(record.to_dict()) + "\n"))
    for path, line in lines:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "a", encoding="utf-8") as fh:
            fh.write(line)
    out = tmp_path / "site"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the store's and the build's warnings alike
        build_site(store_dir, out)
    _, parts = _table(out, "roberta-base")
    rows = {r["model_id"]: r for part in parts for r in part}
    assert rows["a/good"]["evaluated_at"] == "2026-11-20"
    assert all(r["evaluated_at"] in (None, "2026-11-20") for r in rows.values())


# -- property: generated records, through the record classes, always build a site ------------

_ids = st.sampled_from(["a/x", "b/y", "c", "nan", "None", "d-e/f.g", "roberta-base"])
_texts = st.one_of(
    st.text(st.characters(codec="utf-8"), max_size=12),
    st.sampled_from([FAR, "</script>", "\u202e\u200f", "nan", "NaN", "-inf", "=1+1", ""]),
)
_dates = st.one_of(
    st.sampled_from(["9999-12-31T23:59:59Z", "0001-01-01T00:00:00Z", "2262-04-12T00:00:00Z",
                     "1970-01-01", "2026-11-20T10:00:00Z", "2026-11-21", "NaT", "20261120"]),
    st.datetimes(min_value=dt.datetime(1, 1, 1), max_value=dt.datetime(9999, 12, 31)).map(
        lambda d: d.isoformat() + "Z"
    ),
    _texts,
)  # fmt: skip
_ints = st.one_of(st.none(), st.integers(-(2**63), 2**64 - 1), st.sampled_from([0, 2**63 - 1]))
_floats = st.one_of(st.none(), st.floats(0, 1), st.floats(allow_nan=False, allow_infinity=False))
_n_eval = st.sampled_from([None, 0, -1, 8, 200, 2**63 - 1])


@st.composite
def _results(draw: st.DrawFn) -> EvalResult:
    n = draw(_n_eval)
    bits = draw(st.lists(st.booleans(), min_size=200, max_size=200))
    accuracy = draw(_floats)
    return EvalResult.from_dict(
        {
            "schema_version": 1, "model_id": draw(_ids),
            "architecture": draw(st.sampled_from(["roberta-base", "bert-base-uncased", "zz"])),
            "revision": draw(st.sampled_from(["c" * 40, "d" * 40, "main"])),
            "protocol_version": draw(st.sampled_from([PROTOCOL_VERSION, "lp-1", "x"])),
            "status": draw(st.sampled_from(["ok", "error"])), "evaluated_at": draw(_dates),
            "error": draw(st.none() | _texts), "reason": draw(st.none() | _texts),
            "failure": draw(st.sampled_from([None, "permanent", "transient", "resource", "?"])),
            "accuracy": accuracy, "accuracy_low": draw(_floats), "accuracy_high": draw(_floats),
            "gain": draw(_floats), "gain_low": draw(_floats), "gain_high": draw(_floats),
            "n_eval": n, "n_train": draw(_ints), "seed": draw(_ints),
            "data_fingerprint": draw(st.sampled_from([None, "f" * 64, "g"])),
            "correct": draw(st.sampled_from([None, pack(np.array(bits)), "!!", ""])),
            "logme": draw(_floats), "hscore": draw(_floats), "tokenizer": draw(st.none() | _texts),
            "timings": {draw(_texts): draw(st.floats(allow_nan=False, allow_infinity=False))},
            "versions": {draw(_texts): draw(_texts)},
        }
    )  # fmt: skip


@st.composite
def _entries(draw: st.DrawFn) -> CatalogEntry:
    status = draw(st.sampled_from(["ok", "excluded", "unclassified", "removed"]))
    return CatalogEntry.from_dict(
        {
            "schema_version": 1, "model_id": draw(_ids), "architecture": "roberta-base",
            "sha": draw(st.sampled_from(["c" * 40, "d" * 40])), "status": status,
            "reason": draw(st.none() | _texts), "last_modified": draw(st.none() | _dates),
            "downloads": draw(_ints), "likes": draw(_ints), "params": draw(_ints),
            "license": draw(st.none() | _texts), "tags": draw(st.lists(_texts, max_size=3)),
            "detail": draw(st.none() | _texts),
            "renamed_to": draw(st.sampled_from([None, "b/y"])) if status == "removed" else None,
        }
    )  # fmt: skip


@st.composite
def _legacy(draw: st.DrawFn) -> LegacyModel:
    return make_legacy_model(
        draw(_ids), last_modified=draw(_dates), params=draw(_ints), mnli_lp=draw(_floats),
        avg=draw(_floats), gain=draw(_floats), score=draw(st.floats(-1, 1)),
        flags=tuple(draw(st.lists(_texts, max_size=2))), shifted_from=draw(st.none() | _texts),
    )  # fmt: skip


@settings(
    max_examples=20,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    legacy=st.lists(_legacy(), max_size=3),
    catalog=st.lists(_entries(), max_size=4),
    results=st.lists(_results(), max_size=5),
    as_of=_dates,
)
def test_generated_records_always_build(
    store_dir: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    legacy,
    catalog,
    results,
    as_of,
) -> None:
    _hold(monkeypatch, legacy, catalog, results, meta={"as_of": as_of})
    out = tmp_path / "site"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RecordWarning)
        build_site(store_dir, out)
    raw = (out / "downloads/all.csv").read_text(encoding="utf-8")
    table = list(csv.reader(io.StringIO(raw, newline="")))
    assert {len(r) for r in table} == {len(table[0])}  # every row as wide as the header
    json.loads((out / "downloads/roberta-base.json").read_bytes())  # strict JSON


# -- downloads: plain files, the site's units, no empty column, a guide by every link ---------


def test_downloads_are_plain_in_percent_without_empty_columns_and_guided(site: Path) -> None:
    folder = site / "downloads"
    assert not list(folder.glob("*.gz"))  # plain files; gzip is the server's business
    guide = (folder / "columns.html").read_text()
    for path in sorted(folder.glob("*.csv")):
        table = list(csv.reader(io.StringIO(path.read_text(encoding="utf-8"), newline="")))
        header, body = table[0], table[1:]
        assert {len(r) for r in table} == {len(header)}, path
        for i, name in enumerate(header):  # every column has a value, and a line in the guide
            assert any(r[i] != "" for r in body), (path.name, name)
            assert f'id="col-{name}"' in guide, name
        assert "probe_accuracy_pct" not in header  # no probe result in data/: an empty column
    rows = {r["model_id"]: r for r in _csv_rows(folder / "all.csv")}
    best = rows["ibm/ColD-Fusion-itr13-seed2"]
    assert float(best["mnli_lp_pct"]) == 100 * 0.8479454841334418  # unrounded, in percent
    data = json.loads((folder / "roberta-base.json").read_text())
    model = next(m for m in data["models"] if m["model_id"] == "ibm/ColD-Fusion-itr13-seed2")
    assert model["mnli_lp_pct"] == float(best["mnli_lp_pct"]) and "mnli_lp" not in model
    page = (site / "models/roberta-base/ibm--ColD-Fusion-itr13-seed2.html").read_text()
    assert "<td>84.79</td>" in page  # as the CSV's value shows to 2 decimals
    for rel in ("index.html", "faq.html", "arch/roberta-base.html", "arch/t5-base.html"):
        text = (site / rel).read_text()
        assert "downloads/columns.html" in text and ".gz" not in text, rel
