"""The site build: pages exist, every model is listed, hostile strings render inert."""

from __future__ import annotations

import csv
import json
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest
from markupsafe import escape

from conftest import make_baselines, make_legacy_model
from ranker.build import MARKER, build_site
from ranker.errors import RankerError
from ranker.records import EvalResult
from ranker.store import Store

HOSTILE = '<script>alert("x")</script><img src=x onerror=alert(1)>'


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.links: list[str] = []
        self.scripts = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attrs_d = dict(attrs)
        if tag == "script":
            self.scripts += 1
        for key in ("href", "src"):
            if attrs_d.get(key):
                self.links.append(attrs_d[key] or "")


def _parse(path: Path) -> _Links:
    parser = _Links()
    parser.feed(path.read_text(encoding="utf-8"))
    return parser


@pytest.fixture(scope="module")
def site(imported_store: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("site") / "site"
    build_site(imported_store, out)
    return out


def test_pages_and_downloads_exist(site: Path, imported_store: Path) -> None:
    store = Store(imported_store)
    assert (site / "index.html").is_file() and (site / "static" / "style.css").is_file()
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


def test_every_imported_model_is_listed(site: Path, imported_store: Path) -> None:
    store = Store(imported_store)
    models = store.legacy_models()
    for arch in store.architectures():
        page = (site / f"arch/{arch.slug}.html").read_text()
        ids = {m.model_id for m in models if m.architecture == arch.id}
        listed = set(
            re.findall(r'<th scope="row"><a href="https://huggingface\.co/([^"]+)">', page)
        )
        assert listed == ids | {arch.id}  # the pretrained model is the baseline row
        with (site / f"downloads/{arch.slug}.csv").open() as fh:
            rows = list(csv.DictReader(fh))
        data = json.loads((site / f"downloads/{arch.slug}.json").read_text())
        assert {r["model_id"] for r in rows} == {m["model_id"] for m in data["models"]}
        assert {r["model_id"] for r in rows} == ids - {arch.id}
        ranks = [m["rank"] for m in data["models"] if m["rank"] is not None]
        assert ranks == list(range(1, len(ranks) + 1))
        assert data["baseline"]["model_id"] == arch.id and data["baseline"]["n_seeds"] >= 16


def test_pages_link_only_inside_the_site_or_to_the_hub(site: Path) -> None:
    for page in site.rglob("*.html"):
        parsed = _parse(page)
        assert parsed.scripts == 0
        for link in parsed.links:
            if link.startswith("https://huggingface.co/"):
                continue
            assert "://" not in link, (page, link)
            assert (page.parent / link).resolve().is_file(), (page, link)


def test_hostile_strings_render_escaped(store_dir: Path, tmp_path: Path) -> None:
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
    for page in ("index.html", "arch/roberta-base.html"):
        text = (out / page).read_text()
        assert "<script>" not in text and "<img" not in text
        assert str(escape(HOSTILE)) in text
        assert _parse(out / page).scripts == 0


def test_probe_results_join_the_table(store_dir: Path, tmp_path: Path) -> None:
    store = Store(store_dir)
    store.write_legacy_baselines(make_baselines())
    store.write_legacy_models([make_legacy_model("a/legacy", score=0.6)])
    store.save_result(
        EvalResult(
            schema_version=1, model_id="b/new", architecture="roberta-base", revision="c" * 40,
            protocol_version="1", status="ok", evaluated_at="2026-11-20T10:00:00Z",
            accuracy=0.6543, gain=0.0123,
        )
    )  # fmt: skip
    out = tmp_path / "site"
    build_site(store_dir, out)
    data = json.loads((out / "downloads/roberta-base.json").read_text())
    assert [(m["model_id"], m["rank"], m["probe_accuracy"]) for m in data["models"]] == [
        ("a/legacy", 1, None),
        ("b/new", None, 0.6543),
    ]
    page = (out / "arch/roberta-base.html").read_text()
    assert "65.43" in page and "+1.23" in page
    assert "2026-11-20" in (out / "index.html").read_text()  # last updated moves forward


def test_rebuild_replaces_only_a_ranker_site(imported_store: Path, tmp_path: Path) -> None:
    out = tmp_path / "site"
    build_site(imported_store, out)
    (out / "stale.html").write_text("old")
    build_site(imported_store, out)
    assert not (out / "stale.html").exists() and (out / MARKER).exists()

    precious = tmp_path / "precious"
    precious.mkdir()
    (precious / "thesis.tex").write_text("do not delete")
    with pytest.raises(RankerError, match="not built by ranker"):
        build_site(imported_store, precious)
    assert (precious / "thesis.tex").read_text() == "do not delete"
