"""The start-here card: the group ranked #1, by score, the base left out, never one "best"."""

from __future__ import annotations

import re
from pathlib import Path
from types import SimpleNamespace

from browsing import open_page
from test_browser_index import CARD_MAX_HEIGHT

from conftest import make_baselines, make_legacy_model
from ranker import ft_protocol
from ranker.build import build_site
from ranker.build.families import families
from ranker.build.render import environment, signed_pct
from ranker.build.start import start_here
from ranker.build.verified import verified_gains
from ranker.records import Architecture, FinetuneResult
from ranker.store import Store


def _row(model_id: str, rank: int | None, score: float, tied: int = 1, **kw) -> dict:
    return {"model_id": model_id, "probe_rank": rank, "probe_tied": tied,
            "probe_accuracy": score, "probe_gain": score - 0.5, "license": "mit",
            "downloads": 10, "nli": False, "flags": None, **kw}  # fmt: skip


def test_the_whole_top_group_by_score_the_base_left_out() -> None:
    rows = [
        _row("roberta-base", 1, 0.70),
        _row("ibm/ColD-Fusion-itr2-seed0", 1, 0.59, tied=3),
        _row("ibm/ColD-Fusion-itr1-seed0", 1, 0.60, tied=3),
        _row("z/other", 1, 0.59, tied=3, nli=True),
        _row("b/second", 2, 0.58),
        _row("d/unranked", None, 0.99),
    ]
    fam = families(r["model_id"] for r in rows)
    card = start_here(rows, has_probe=True, base="roberta-base", families=fam)
    # by score, then id: the order the card tells the reader
    assert [p.model_id for p in card.top] == [
        "ibm/ColD-Fusion-itr1-seed0", "ibm/ColD-Fusion-itr2-seed0", "z/other"]  # fmt: skip
    assert card.tied == 3 and card.families == 2 and card.nli == 1
    assert card.top[0].gain is not None and round(card.top[0].gain, 2) == 0.10


def test_one_model_alone_at_the_top() -> None:
    card = start_here([_row("a/x", 1, 0.6), _row("a/y", 2, 0.5)], has_probe=True, base="b")
    assert card.tied == 1 and card.top[0].model_id == "a/x"


def test_2023_ranking_uses_the_2023_rank_and_nli_only_matters_to_the_probe() -> None:
    rows = [
        {"model_id": "a/shifted", "legacy_rank": None, "avg": 0.9, "gain": 0.1, "nli": True},
        {"model_id": "a/good", "legacy_rank": 1, "avg": 0.7, "gain": 0.02, "nli": True},
        {"model_id": "a/probe-top", "probe_rank": 1, "legacy_rank": 2, "avg": 0.6, "gain": 0.0},
    ]  # fmt: skip
    card = start_here(rows, has_probe=False, base="b")
    assert [p.model_id for p in card.top] == ["a/good"] and card.nli == 0


def test_nothing_ranked_gives_an_empty_card() -> None:
    assert start_here([_row("a/x", None, 0.6)], has_probe=True, base="b").tied == 0


# --- issue 21: finetuning's verified gains on the card (evidence, never a rank) ---

ARCH = Architecture(id="roberta-base", slug="roberta-base", title="RoBERTa", model_type="roberta",
                    hidden_size=768, num_layers=12, vocab_size=50265,
                    intermediate_size=3072)  # fmt: skip
BASE_SCORES = {"stsb": [0.80, 0.81, 0.79, 0.80, 0.82], "boolq": [0.70, 0.72, 0.69, 0.71, 0.70],
               "wic": [0.60, 0.62, 0.58, 0.61, 0.59]}  # fmt: skip
ABOVE = {"stsb": [0.85, 0.86, 0.855], "boolq": [0.76, 0.75, 0.77], "wic": [0.66, 0.65, 0.67]}
LEVEL = {"stsb": [0.80, 0.81, 0.79], "boolq": [0.70, 0.71, 0.70], "wic": [0.60, 0.61, 0.59]}


def _finetunes(model: str, scores: dict[str, list[float]]) -> list[FinetuneResult]:
    return [
        FinetuneResult(
            schema_version=1, model_id=model, architecture=ARCH.id, revision="a" * 40,
            protocol_version=ft_protocol.FT_PROTOCOL_VERSION, task=task, seed=seed,
            status="ok", evaluated_at="2026-12-01T00:00:00+00:00", score=score,
            metric=ft_protocol.TASKS[task].metric, is_base=model == ARCH.id,
        )
        for task, values in scores.items() for seed, score in enumerate(values)
    ]  # fmt: skip


def _verified() -> dict:
    return verified_gains(
        [*_finetunes(ARCH.id, BASE_SCORES), *_finetunes("c/verified", ABOVE),
         *_finetunes("a/level", LEVEL), *_finetunes("z/below-one", ABOVE),
         *_finetunes("d/partial", {"stsb": ABOVE["stsb"]})],
        [ARCH],
    )  # fmt: skip


def _tie_rows() -> list[dict]:
    return [_row("roberta-base", 1, 0.70), _row("a/level", 1, 0.62, tied=4),
            _row("b/unverified", 1, 0.61, tied=4), _row("c/verified", 1, 0.58, tied=4),
            _row("d/partial", 1, 0.57, tied=4), _row("z/below-one", 2, 0.56),
            _row("y/below", 3, 0.50)]  # fmt: skip


def _render(card, ranked: int = 6) -> str:
    view = SimpleNamespace(start=card, ranked=ranked, measure="MNLI probe", source="ours",
                           compare="compare.html", feed="feed.xml", evaluated=1)  # fmt: skip
    html = environment().get_template("_start.html").render(view=view, root="../")
    return re.sub(r"<[^>]+>", "", " ".join(html.split()))


def test_a_verified_significant_model_leads_the_tie_and_the_card_says_so() -> None:
    verified = _verified()
    assert verified["c/verified"].significant and verified["a/level"].complete
    assert not verified["a/level"].significant and not verified["d/partial"].complete
    card = start_here(_tie_rows(), has_probe=True, base=ARCH.id, verified=verified)
    # significant first, the rest by score as before; the tie's size and ranks unchanged
    assert [p.model_id for p in card.top] == ["c/verified", "a/level", "b/unverified", "d/partial"]
    assert card.tied == 4 and card.verified_first == 1 and card.verified == 3  # complete only
    assert card.top[2].verified is None  # never verified: no words
    assert [(p.model_id, p.rank) for p in card.elsewhere] == [("z/below-one", 2)]
    text = _render(card)
    v = verified["c/verified"]
    mark = (f"verified by finetuning on 3 tasks: {signed_pct(v.gain)} [{signed_pct(v.low)}, "
            f"{signed_pct(v.high)}] points over the base")  # fmt: skip
    assert mark in text and text.index("c/verified") < text.index("a/level")
    assert (
        "a/level 62.00 (+12.00) · mit · 10 downloads · verified by finetuning on 3 tasks: "
        "not significantly above the base" in text
    )
    assert "on 1 of 3 tasks: no verdict over the suite yet" in text
    assert "1 of them was verified by finetuning significantly above the base" in text
    assert "listed verified first, then by score" in text
    assert "Below #1, z/below-one (#2) was verified by finetuning on 3 tasks: +" in text
    assert "its rank stands (finetuning adds evidence, not a rank)" in text


def test_no_verified_model_leaves_the_card_as_it_was() -> None:
    rows = _tie_rows()
    plain = start_here(rows, has_probe=True, base=ARCH.id)
    empty = start_here(rows, has_probe=True, base=ARCH.id, verified={})
    assert plain == empty and plain.verified == 0 and not plain.elsewhere
    assert [p.model_id for p in plain.top] == ["a/level", "b/unverified", "c/verified", "d/partial"]
    text = _render(plain)
    assert "verified by" not in text and "finetuning" not in text
    assert "listed by score, highest first" in text


def test_a_lone_leader_carries_its_verification() -> None:
    rows = [_row("c/verified", 1, 0.6), _row("a/level", 2, 0.5)]
    card = start_here(rows, has_probe=True, base=ARCH.id, verified=_verified())
    text = _render(card, ranked=2)
    assert "alone holds #1" in text and "It was verified by finetuning on 3 tasks: +" in text
    assert card.elsewhere == []  # a/level is verified but not significantly: not named below


def test_in_a_browser_the_verified_card_stays_short_and_leads_with_the_evidence(
    browser, store_dir: Path, tmp_path: Path
) -> None:
    """A 2023 tie of 12 with one verified-significant model, one verified level with the base,
    one verified below #1: the collapsed card still fits above the table at 1280 px."""
    store = Store(store_dir)
    store.write_legacy_baselines(make_baselines())
    tied = [f"t/model-{i:02d}" for i in range(11)] + ["z/verified"]
    store.write_legacy_models(
        [make_legacy_model(m, score=0.6) for m in tied] + [make_legacy_model("y/below", score=0.5)]
    )
    store.merge_finetunes([*_finetunes(ARCH.id, BASE_SCORES), *_finetunes("z/verified", ABOVE),
                           *_finetunes("t/model-03", LEVEL), *_finetunes("y/below", ABOVE)])  # fmt: skip
    out = tmp_path / "site"
    build_site(store_dir, out)
    page, watch = open_page(browser, out, "arch/roberta-base.html", 1280, 900)
    card = page.locator("#start-here")
    text = " ".join(card.inner_text().split())
    assert "12 models share #1" in text and "1 of them was verified by finetuning" in text
    assert "Below #1, y/below (#13) was verified by finetuning on 3 tasks: +" in text, text
    box = card.bounding_box()
    assert box is not None and box["height"] <= CARD_MAX_HEIGHT, box
    card.locator("details#start-group summary").click()
    first = card.locator("ol.picks li").first
    assert " ".join(first.inner_text().split()).startswith("z/verified")
    assert "verified by finetuning on 3 tasks: +" in first.inner_text()
    assert watch.errors == [] and watch.outside == []
    page.close()
