"""The start-here card: the group ranked #1, by score, the base left out, never one "best"."""

from __future__ import annotations

from ranker.build.families import families
from ranker.build.start import start_here


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
