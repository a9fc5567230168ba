"""Families of near-duplicate models: one author's iterations, seeds and versions of one model,
and models finetuned from one another.

A practitioner choosing a starting point wants the family, not 43 rows of it (43 of the top 50
RoBERTa rows of 2023 are iterations and seeds of ColD-Fusion). Two models are in one family
when they share an author and a name stem (the name with trailing iteration, seed, version,
run, epoch, step, checkpoint or fold numbers taken off), or when one declares the other as its
`base_model` (the hub's lineage tags). Pure functions of the ids and the tags: the same store
gives the same families.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

from ranker.records import is_valid_repo_id

# One trailing counter: a separator, an optional counter word, a number (and an optional
# letter: "v2b"). Stripped repeatedly, so "itr13-seed2" goes in two steps.
_COUNTER = re.compile(
    r"[-_.](?:itr|iter|iteration|seed|s|run|rs|epoch|ep|e|step|steps|ckpt|checkpoint|fold|"
    r"trial|v|version|rev)?[-_]?\d+[a-z]?$",
    re.IGNORECASE,
)
# `base_model:owner/name` or `base_model:<relation>:owner/name` (finetune, adapter, ...).
_RELATION = re.compile(r"[a-z_]+")


def stem(model_id: str) -> str:
    """`author/name` without trailing counters; the id itself when nothing is left to strip
    or stripping would leave no name."""
    author, _, name = model_id.partition("/")
    while True:
        shorter = _COUNTER.sub("", name)
        if shorter == name or not shorter:
            break
        name = shorter
    return f"{author}/{name}" if author and name else model_id


def lineage_parents(tags: Iterable[str]) -> list[str]:
    """The models a hub card names as its base (`base_model:...:owner/name` tags).

    Split, not one regular expression: a tag is hub content, and a pattern with two open runs
    around a "/" backtracks quadratically on a long tag of slashes."""
    out = []
    for tag in tags:
        head, _, rest = tag.partition(":")
        if head != "base_model":
            continue
        relation, sep, parent = rest.partition(":")
        if not sep:
            parent = relation
        elif _RELATION.fullmatch(relation) is None:
            continue
        if "/" in parent and is_valid_repo_id(parent):
            out.append(parent)
    return out


def families(
    model_ids: Iterable[str], parents: Mapping[str, Iterable[str]] | None = None
) -> dict[str, str]:
    """model id -> its family's name (the smallest stem in the family, so stable).

    `parents`: model id -> the models it was finetuned from; a parent joins the family only
    when it is one of `model_ids` (the pretrained base, shared by everything, never does)."""
    ids = list(dict.fromkeys(model_ids))
    known = set(ids)
    root: dict[str, str] = {}

    def find(x: str) -> str:
        while root.setdefault(x, x) != x:
            root[x] = root[root[x]]  # path halving
            x = root[x]
        return x

    def union(a: str, b: str) -> None:
        ra, rb = find(a), find(b)
        if ra != rb:
            root[max(ra, rb)] = min(ra, rb)

    for model_id in ids:
        union(model_id, "stem:" + stem(model_id))
        for parent in (parents or {}).get(model_id, ()):
            if parent in known and parent != model_id:
                union(model_id, parent)
    names: dict[str, str] = {}
    for node in list(root):
        if node.startswith("stem:"):
            r = find(node)
            names[r] = min(names.get(r, node), node)
    return {m: names[find(m)].removeprefix("stem:") for m in ids}
