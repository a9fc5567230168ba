"""The "why is my model not here?" rows: every catalogued model without a current score, with
its reason in plain words, and nothing that is on the site."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

from ranker.build.missing import CHUNK_ROWS, FIELDS, listed_rows, missing_rows, write_missing
from ranker.explain import advice
from ranker.records import Architecture, CatalogEntry, EvalResult

SHA, OLD = "a" * 40, "b" * 40
ARCH = Architecture(id="roberta-base", slug="roberta-base", title="RoBERTa-base",
                    model_type="roberta", hidden_size=768, num_layers=12, vocab_size=50265,
                    intermediate_size=3072)  # fmt: skip


def _entry(model_id: str, status: str = "ok", **kw) -> CatalogEntry:
    return CatalogEntry(schema_version=1, model_id=model_id, architecture="roberta-base",
                        sha=kw.pop("sha", SHA), status=status, **kw)  # fmt: skip


def _result(model_id: str, status: str = "ok", **kw) -> EvalResult:
    return EvalResult(schema_version=1, model_id=model_id, architecture="roberta-base",
                      revision=kw.pop("revision", SHA), protocol_version=kw.pop("protocol", "lp-2"),
                      status=status, evaluated_at=kw.pop("at", "2026-11-27T03:00:00Z"), **kw)  # fmt: skip


def _rows() -> dict[str, dict[str, str]]:
    catalog = [
        _entry("a/scored"),
        _entry("a/custom", "excluded", reason="custom-code", detail="auto_map in config.json"),
        _entry("a/pending", "unclassified", reason="config-pending"),
        _entry("a/gone", "removed"),
        _entry("a/moved", "removed", renamed_to="b/moved"),
        _entry("a/pickle", reason=None),
        _entry("a/flaky"),
        _entry("a/big"),
        _entry("a/new"),
        _entry("a/old-protocol"),
        _entry("a/new-commit"),
    ]
    results = [
        _result("a/scored", accuracy=0.6),
        _result("a/pickle", "error", reason="unsafe-pickle", failure="permanent"),
        _result("a/flaky", "error", reason="timeout", failure="transient"),
        _result("a/big", "error", reason="out-of-memory", failure="resource"),
        _result("a/old-protocol", accuracy=0.6, protocol="lp-1"),
        _result("a/new-commit", accuracy=0.6, revision=OLD),
    ]
    rows = missing_rows(catalog, results, [ARCH], "lp-2")
    return {r[0]: dict(zip(FIELDS, r, strict=True)) for r in rows}


def test_scored_models_are_not_missing_and_every_other_one_is() -> None:
    rows = _rows()
    assert "a/scored" not in rows
    assert set(rows) == {"a/custom", "a/pending", "a/gone", "a/moved", "a/pickle", "a/flaky",
                         "a/big", "a/new", "a/old-protocol", "a/new-commit"}  # fmt: skip
    assert all(r["architecture"] == "RoBERTa-base" for r in rows.values())


def test_each_row_says_why_in_words_and_what_the_owner_can_do() -> None:
    rows = _rows()
    custom = rows["a/custom"]
    assert custom["status"] == "excluded" and "remote code" in custom["why"]
    assert (
        custom["advice"] == advice("custom-code") and custom["detail"] == "auto_map in config.json"
    )
    assert rows["a/pickle"]["status"] == "failed" and "pickle" in rows["a/pickle"]["why"]
    assert rows["a/pickle"]["advice"] == advice("unsafe-pickle")
    assert rows["a/flaky"]["status"] == "queued" and "tried again" in rows["a/flaky"]["why"]
    assert "hub's side" in rows["a/flaky"]["why"]
    # a model that needed more memory than the run had: not the hub's fault, tried again
    big = rows["a/big"]
    assert big["status"] == "queued" and "more memory" in big["why"] and "hub" not in big["why"]
    assert rows["a/pending"]["status"] == "pending"
    assert rows["a/moved"]["why"] == "renamed to b/moved"
    # a result of another protocol or commit is not the current score: still waiting
    assert rows["a/old-protocol"]["status"] == rows["a/new-commit"]["status"] == "queued"


def test_rows_go_out_in_chunks_that_hold_each_row_once(tmp_path: Path) -> None:
    rows = [[f"o/m{i:06d}", "RoBERTa-base", "queued", "in the queue", "", ""]
            for i in range(CHUNK_ROWS * 2 + 7)]  # fmt: skip
    written: dict[str, str] = {}
    pages = []
    write_missing(lambda *a, **kw: pages.append((a, kw)), written.__setitem__, rows)
    assert sorted(written) == ["missing/1.js", "missing/2.js", "missing/3.js"]
    back = []
    for k, path in enumerate(sorted(written), start=1):
        text = written[path]
        prefix = f"rankerMissing({k},"
        assert text.startswith(prefix) and text.endswith(");\n")
        back += json.loads(text[len(prefix) : -3])
    assert back == rows
    ((args, kw),) = pages
    assert args == ("missing.html", "missing.html")
    assert kw["config"]["total"] == len(rows) and kw["counts"]["queued"] == len(rows)


def _view(has_probe: bool, records: list[dict]) -> SimpleNamespace:
    """What listed_rows reads of an ArchitectureView."""
    primary, tied = ("probe_rank", "probe_tied") if has_probe else ("legacy_rank", "legacy_tied")
    return SimpleNamespace(
        arch=ARCH, has_probe=has_probe, primary=primary, tied=tied, legacy=[SimpleNamespace(model_id="a/partial")],
        ranked=sum(1 for r in records if r[primary] is not None), records=records,
    )  # fmt: skip


def _record(model_id: str, rank: int | None, tied: int | None = None, **kw) -> dict:
    page = f"models/roberta-base/{model_id.replace('/', '--')}.html"
    return {"model_id": model_id, "page": page, "flags": [], "legacy_rank": rank,
            "legacy_tied": tied, "probe_rank": rank, "probe_tied": tied, **kw}  # fmt: skip


def test_listed_models_are_found_with_their_rank_and_page() -> None:
    view = _view(False, [_record("a/first", 1, 3), _record("a/alone", 4, 1),
                         _record("a/shifted", None, flags=["shifted"]),
                         _record("a/partial", None), _record("a/no-2023", None)])  # fmt: skip
    rows = {r[0]: dict(zip(FIELDS, r, strict=True)) for r in listed_rows(view)}  # type: ignore[arg-type]
    first = rows["a/first"]
    assert first["status"] == "ranked" and first["page"] == "models/roberta-base/a--first.html"
    assert first["why"].startswith("ranked #1= of 2 RoBERTa-base models by the 2023 36-task")
    assert "3 models share this rank" in first["why"]
    assert (
        rows["a/alone"]["why"].startswith("ranked #4 of 2")
        and "share" not in rows["a/alone"]["why"]
    )
    assert rows["a/shifted"]["status"] == "not ranked" and "shifted" in rows["a/shifted"]["why"]
    assert "not all 36" in rows["a/partial"]["why"]
    assert "no 2023 results" in rows["a/no-2023"]["why"]
    probe = dict(zip(FIELDS, listed_rows(_view(True, [_record("a/p", None)]))[0], strict=True))  # type: ignore[arg-type]
    assert probe["status"] == "not ranked" and "no probe result of ours" in probe["why"]
    assert dict(zip(FIELDS, listed_rows(_view(True, [_record("a/q", 2, 2)]))[0], strict=True))[
        "why"].startswith("ranked #2= of 1 RoBERTa-base models by the MNLI probe")  # type: ignore[arg-type]  # fmt: skip


def test_the_page_counts_listed_and_missing_models_apart(tmp_path: Path) -> None:
    listed = listed_rows(_view(False, [_record("z/first", 1, 1), _record("a/partial", None)]))  # type: ignore[arg-type]
    missing = [["m/x", "RoBERTa-base", "excluded", "why", "what", "", ""]]
    written: dict[str, str] = {}
    pages = []
    write_missing(lambda *a, **kw: pages.append(kw), written.__setitem__, [*listed, *missing])
    ((kw,),) = [pages]
    assert kw["tally"] == [
        (1, "ranked"),
        (1, "listed without a rank"),
        (1, "excluded by the crawl"),
    ]
    back = json.loads(written["missing/1.js"][len("rankerMissing(1,") : -3])
    assert [r[0] for r in back] == ["a/partial", "m/x", "z/first"]  # sorted by id, all kinds
