"""The start-here card: the best ranks first, one per family, untrusted rows left out."""

from __future__ import annotations

from ranker.build.families import families
from ranker.build.start import start_here


def _row(model_id: str, rank: int | None, score: float, tied: int = 1, **kw) -> dict:
    return {"model_id": model_id, "probe_rank": rank, "probe_tied": tied,
            "probe_accuracy": score, "probe_gain": score - 0.5, "license": "mit",
            "downloads": 10, "nli": False, "flags": None, **kw}  # fmt: skip


def test_best_rank_first_one_per_family_and_the_base_left_out() -> None:
    rows = [
        _row("roberta-base", 3, 0.50),
        _row("ibm/ColD-Fusion-itr1-seed0", 1, 0.60, tied=2),
        _row("ibm/ColD-Fusion-itr2-seed0", 1, 0.59, tied=2),
        _row("b/other", 2, 0.58),
        _row("c/third", 2, 0.57),
        _row("d/unranked", None, 0.99),
    ]
    fam = families(r["model_id"] for r in rows)
    picks = start_here(rows, has_probe=True, base="roberta-base", families=fam)
    assert [p.model_id for p in picks] == ["ibm/ColD-Fusion-itr1-seed0", "b/other", "c/third"]
    first = picks[0]
    assert first.rank == 1 and first.tied == 2
    assert "the best of 2 related models" in first.why
    assert "1 others share #1" in first.why and "+10.00 points over roberta-base" in first.why
    assert "1 models are significantly better" in picks[1].why


def test_without_families_every_row_counts_and_nli_is_flagged() -> None:
    rows = [_row("a/x-seed1", 1, 0.6, nli=True), _row("a/x-seed2", 1, 0.59)]
    picks = start_here(rows, has_probe=True, base="b")
    assert [p.model_id for p in picks] == ["a/x-seed1", "a/x-seed2"]
    assert "trained on NLI data" in picks[0].why
    assert "trained on NLI data" not in picks[1].why


def test_2023_ranking_leaves_out_shifted_and_incomplete_rows() -> None:
    rows = [
        {"model_id": "a/shifted", "legacy_rank": 1, "legacy_tied": 1, "avg": 0.9, "gain": 0.1,
         "flags": "shifted"},
        {"model_id": "a/partial", "legacy_rank": 1, "legacy_tied": 1, "avg": 0.8, "gain": 0.05,
         "flags": ["incomplete"]},
        {"model_id": "a/good", "legacy_rank": 1, "legacy_tied": 1, "avg": 0.7, "gain": 0.02,
         "flags": None},
    ]  # fmt: skip
    (pick,) = start_here(rows, has_probe=False, base="b")
    assert pick.model_id == "a/good" and pick.why.startswith("2023 36-task average 70.00%")
