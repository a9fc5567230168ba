"""The "start here" card: the answer an architecture page opens with.

A practitioner asks "which model do I start from?". The honest answer is the group ranked #1
(rank: 1 + the models significantly better), which is often large: 45 RoBERTa models share #1
on the 2023 data, and the data cannot tell them apart. So the card says how many share #1,
never calls one of them "the best", and lists the group (collapsed) in an order the reader is
told and can check: by score, highest first, with each score shown.

Finetuning (`ranker verify`, ft-1) adds evidence, never a rank: within the #1 group the models
whose verified gain is significantly above the base come first (then by score), each marked with
its gain and interval; a verified-significant model outside the group is named beside it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ranker import ft_protocol
from ranker.build.verified import Verified


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
    rank: int | None = None  # its rank on the page's ranking
    verified: Verified | None = None  # its finetuning verification (ft-1), if any

    @property
    def verified_significant(self) -> bool:
        return self.verified is not None and self.verified.significant


@dataclass(frozen=True)
class StartCard:
    """The models ranked #1 by the page's ranking, by score (highest first), and what the card
    says of them. `families`: how many families of related models the group spans."""

    top: list[Pick] = field(default_factory=list)
    families: int = 0
    # verified-significant models ranked below #1 (the evidence is shown, the rank kept)
    elsewhere: list[Pick] = field(default_factory=list)
    verified: int = 0  # models of the architecture with a complete verification (base left out)
    suite: int = len(ft_protocol.SUITE)  # the target tasks a complete verification covers

    @property
    def tied(self) -> int:
        return len(self.top)

    @property
    def nli(self) -> int:
        return sum(1 for p in self.top if p.nli)

    @property
    def verified_first(self) -> int:
        """How many of the #1 group lead it for their significant verified gain."""
        return sum(1 for p in self.top if p.verified_significant)


def _present(value: Any) -> bool:
    return value is not None and not (isinstance(value, float) and math.isnan(value))


def _pick(r: dict[str, Any], keys: tuple[str, str, str], has_probe: bool,
          verified: Mapping[str, Verified]) -> Pick:  # fmt: skip
    rank_key, score_key, gain_key = keys
    v = verified.get(r["model_id"])
    return Pick(
        model_id=r["model_id"],
        score=float(r[score_key]),
        gain=float(r[gain_key]) if _present(r.get(gain_key)) else None,
        license=r.get("license") if _present(r.get("license")) else None,
        downloads=int(r["downloads"]) if _present(r.get("downloads")) else None,
        nli=bool(r.get("nli")) and has_probe,
        page=r.get("page"),
        rank=int(r[rank_key]),
        verified=v if v is not None and not v.is_base and v.n_tasks else None,
    )


def start_here(
    records: list[dict[str, Any]],
    *,
    has_probe: bool,
    base: str,
    families: Mapping[str, str] | None = None,
    verified: Mapping[str, Verified] | None = None,
) -> StartCard:
    """The group ranked #1 by the page's ranking (our probe once it ranks any model, else the
    2023 36-task average), the base left out: verified-significant models first, then by score
    then id. `verified`: ranker.build.verified's gains by model id (SiteContext.verified)."""
    keys = ("probe_rank", "probe_accuracy", "probe_gain") if has_probe else (
        "legacy_rank", "avg", "gain")  # fmt: skip
    rank_key, score_key, _ = keys
    verified = verified or {}
    ranked = [
        r for r in records
        if _present(r.get(rank_key)) and _present(r.get(score_key)) and r["model_id"] != base
    ]  # fmt: skip
    ranked.sort(key=lambda r: (int(r[rank_key]), -float(r[score_key]), r["model_id"]))
    picks = [_pick(r, keys, has_probe, verified) for r in ranked]
    top = [p for p in picks if p.rank == 1]
    top.sort(key=lambda p: not p.verified_significant)  # stable: by score within each part
    families = families or {}
    spanned = {families.get(p.model_id, p.model_id) for p in top}
    own = {r["model_id"] for r in records} - {base}
    return StartCard(
        top=top,
        families=len(spanned),
        elsewhere=[p for p in picks if p.rank != 1 and p.verified_significant],
        verified=sum(1 for m in own if m in verified and verified[m].complete),
    )
