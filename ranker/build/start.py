"""The "start here" card: the answer an architecture page opens with.

A practitioner asks "which model do I start from?"; the table answers it only after reading
the method. The card names the best starting points by the page's ranking (the same honest
ranks: 1 + the models significantly better), at most one per family (43 ColD-Fusion rows are
one choice, not 43), leaving out rows whose 2023 data is untrusted, each with its gain over
the pretrained base, licence, downloads and one line saying why it is there.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ranker.build.render import pct, signed_pct

TOP = 3


@dataclass(frozen=True)
class Pick:
    model_id: str
    rank: int
    tied: int  # models sharing the rank, itself included
    score: float
    gain: float | None
    license: str | None
    downloads: int | None
    why: str
    page: str | None = None  # the model page's path in the site


def _present(value: Any) -> bool:
    return value is not None and not (isinstance(value, float) and math.isnan(value))


def _flags(value: Any) -> list[str]:
    if not _present(value) or value == "":
        return []
    return value.split(";") if isinstance(value, str) else list(value)


def start_here(
    records: list[dict[str, Any]],
    *,
    has_probe: bool,
    base: str,
    families: Mapping[str, str] | None = None,
    untrusted: tuple[str, ...] = ("shifted", "incomplete"),
    top: int = TOP,
) -> list[Pick]:
    """The best `top` starting points, one per family, by the page's ranking."""
    rank_key, score_key, gain_key = (
        ("probe_rank", "probe_accuracy", "probe_gain") if has_probe else
        ("legacy_rank", "avg", "gain"))  # fmt: skip
    tied_key = rank_key.replace("rank", "tied")
    families = families or {}
    sizes: dict[str, int] = {}
    for r in records:
        fam = families.get(r["model_id"], r["model_id"])
        sizes[fam] = sizes.get(fam, 0) + 1
    ranked = [
        r for r in records
        if _present(r.get(rank_key)) and _present(r.get(score_key))
        and r["model_id"] != base and not any(f in untrusted for f in _flags(r.get("flags")))
    ]  # fmt: skip
    ranked.sort(key=lambda r: (int(r[rank_key]), -float(r[score_key]), r["model_id"]))
    picks: list[Pick] = []
    seen: set[str] = set()
    for r in ranked:
        fam = families.get(r["model_id"], r["model_id"])
        if fam in seen:
            continue
        seen.add(fam)
        rank = int(r[rank_key])
        tied = int(r[tied_key]) if _present(r.get(tied_key)) else 1
        gain = float(r[gain_key]) if _present(r.get(gain_key)) else None
        picks.append(
            Pick(
                model_id=r["model_id"],
                rank=rank,
                tied=tied,
                score=float(r[score_key]),
                gain=gain,
                license=r.get("license") if _present(r.get("license")) else None,
                downloads=int(r["downloads"]) if _present(r.get("downloads")) else None,
                why=_why(r, rank, tied, gain, has_probe, base, sizes[fam]),
                page=r.get("page"),
            )
        )
        if len(picks) == top:
            break
    return picks


def _why(
    r: dict[str, Any], rank: int, tied: int, gain: float | None, has_probe: bool, base: str,
    family: int,
) -> str:  # fmt: skip
    measure = "MNLI probe" if has_probe else "2023 36-task average"
    parts = [f"{measure} {pct(r['probe_accuracy' if has_probe else 'avg'])}%"]
    if gain is not None:
        parts[0] += f", {signed_pct(gain)} points over {base}"
    if rank == 1:
        parts.append(
            "no model is significantly better" if tied == 1
            else f"no model is significantly better; {tied - 1} others share #1"
        )  # fmt: skip
    else:
        parts.append(f"{rank - 1} models are significantly better")
    if has_probe and r.get("nli"):
        parts.append("trained on NLI data, which the MNLI probe favours")
    if family > 1:
        parts.append(f"the best of {family} related models (same author and name stem, or lineage)")
    return "; ".join(parts) + "."
