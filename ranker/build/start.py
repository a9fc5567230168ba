"""The "start here" card: the answer an architecture page opens with.

A practitioner asks "which model do I start from?". The honest answer is the group ranked #1
(rank: 1 + the models significantly better), which is often large: 45 RoBERTa models share #1
on the 2023 data, and the data cannot tell them apart. So the card says how many share #1,
never calls one of them "the best", and lists the group (collapsed) in an order the reader is
told and can check: by score, highest first, with each score shown.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Pick:
    """One model of the group ranked #1."""

    model_id: str
    score: float
    gain: float | None
    license: str | None
    downloads: int | None
    nli: bool = False
    page: str | None = None  # the model page's path in the site


@dataclass(frozen=True)
class StartCard:
    """The models ranked #1 by the page's ranking, by score (highest first), and what the card
    says of them. `families`: how many families of related models the group spans."""

    top: list[Pick] = field(default_factory=list)
    families: int = 0

    @property
    def tied(self) -> int:
        return len(self.top)

    @property
    def nli(self) -> int:
        return sum(1 for p in self.top if p.nli)


def _present(value: Any) -> bool:
    return value is not None and not (isinstance(value, float) and math.isnan(value))


def start_here(
    records: list[dict[str, Any]],
    *,
    has_probe: bool,
    base: str,
    families: Mapping[str, str] | None = None,
) -> StartCard:
    """The group ranked #1 by the page's ranking (our probe once it ranks any model, else the
    2023 36-task average), the base left out, by score then id."""
    rank_key, score_key, gain_key = (
        ("probe_rank", "probe_accuracy", "probe_gain") if has_probe else
        ("legacy_rank", "avg", "gain"))  # fmt: skip
    top = [
        r for r in records
        if _present(r.get(rank_key)) and int(r[rank_key]) == 1 and _present(r.get(score_key))
        and r["model_id"] != base
    ]  # fmt: skip
    top.sort(key=lambda r: (-float(r[score_key]), r["model_id"]))
    families = families or {}
    picks = [
        Pick(
            model_id=r["model_id"],
            score=float(r[score_key]),
            gain=float(r[gain_key]) if _present(r.get(gain_key)) else None,
            license=r.get("license") if _present(r.get("license")) else None,
            downloads=int(r["downloads"]) if _present(r.get("downloads")) else None,
            nli=bool(r.get("nli")) and has_probe,
            page=r.get("page"),
        )
        for r in top
    ]
    spanned = {families.get(p.model_id, p.model_id) for p in picks}
    return StartCard(top=picks, families=len(spanned))
