"""The compare view's paired tests: for any two chosen models, whether one is significantly
better, by the same rules as the ranks (ranker.build.ranks), decided in the browser.

- Our probe: every ranked model's per-pair bits (its result's `correct` field: base64 of
  np.packbits over the n_eval pairs) go out in shard scripts, `rows/<slug>/pairs/<k>.js`, each
  calling `rankerPairs(k, {model_id: [right answers, bits]})`. A model's shard is
  `shard_of(model_id, shards)`, so the page loads only the chosen models' shards (834 B of
  bits a model at n_eval = 5,000), never all. compare.js redraws the R shared resamples
  (`ranker.build.resamples.resample_indices`, a hash it reproduces bit for bit), counts each chosen
  model's right answers in each (what `ProbeComparison.resampled` holds), then applies
  `probe_relation`'s exact rule: a beats b when a has more right
  answers and at most `limit` = floor(ALPHA·(R−1)) of the R differences a* − b* are ≤ 0. The
  95% interval's ends are the (limit+1)-th smallest and largest of those differences (numpy's
  "lower" quantile at 2.5% and "higher" at 97.5%), so "significantly better" is exactly "the
  interval lies above zero" (with a higher point estimate), and no rounding can split them.
- The 2023 36-task averages: a beats b when avg_a − avg_b > 1.96·σ·√2 (`legacy_threshold`);
  the interval shown is the difference ± that threshold.
"""

from __future__ import annotations

import base64
import json
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np

from ranker.build.ranks import ALPHA, ProbeComparison, legacy_threshold
from ranker.records import Architecture
from ranker.urls import rows_prefix

SHARD_MODELS = 32  # models per shard on average: ~85 kB of text, loaded per chosen model


@dataclass(frozen=True)
class PairData:
    """The ranked probe models' per-pair bits: `ids[i]` has `right[i]` right answers of
    `n_eval`, and `packed[i]` (np.packbits of its n_eval bits); the ranks drew `resamples`
    resamples with `seed` (compare.js draws them again)."""

    ids: list[str]
    right: np.ndarray
    packed: np.ndarray
    n_eval: int
    resamples: int
    seed: int


def pair_data(comparison: ProbeComparison, keys: Iterable[tuple[str, str]]) -> PairData | None:
    """The rows of `comparison` that hold the ranked results `keys` ((model_id, revision), as
    the ranks take them); None when there are none (no probe rank on the page)."""
    if comparison.packed is None:
        return None
    index = {k: i for i, k in enumerate(comparison.keys)}
    rows = [index[k] for k in keys if k in index]
    if not rows:
        return None
    right = np.rint(comparison.accuracy[rows] * comparison.n_eval).astype(np.int64)
    return PairData(
        ids=[comparison.keys[i][0] for i in rows],
        right=right,
        packed=comparison.packed[rows],
        n_eval=comparison.n_eval,
        resamples=comparison.resamples,
        seed=comparison.seed,
    )


def shard_count(models: int) -> int:
    return max(1, math.ceil(models / SHARD_MODELS))


def shard_of(model_id: str, shards: int) -> int:
    """FNV-1a (32 bits) over the id's UTF-16 code units, modulo `shards`: what compare.js
    computes (`shardOf`) from the id alone, so no index of ids is needed."""
    h = 0x811C9DC5
    for unit in memoryview(model_id.encode("utf-16-le")).cast("H"):
        h = ((h ^ unit) * 0x01000193) & 0xFFFFFFFF
    return h % shards


def decode_bits(text: str, n_eval: int) -> np.ndarray:
    """A shard entry's base64 back to its n_eval booleans (for tests and checks)."""
    return np.unpackbits(np.frombuffer(base64.b64decode(text), dtype=np.uint8))[:n_eval] > 0


def write_pairs(
    write: Callable[[str, str], None],
    arch: Architecture,
    data: PairData | None,
    sigma: float | None,
) -> dict[str, Any]:
    """Write the shards; return what compare.js needs to find and test them (`probe` None
    when no model has a probe rank), and the 2023 rule's threshold (a fraction, like avg)."""
    config: dict[str, Any] = {
        "probe": None,
        "legacy": {"threshold": legacy_threshold(sigma), "sigma": sigma},
    }
    if data is None or not data.ids:
        return config
    shards = shard_count(len(data.ids))
    buckets: list[dict[str, list[Any]]] = [{} for _ in range(shards)]
    for i, model_id in enumerate(data.ids):
        text = base64.b64encode(data.packed[i].tobytes()).decode()
        buckets[shard_of(model_id, shards)][model_id] = [int(data.right[i]), text]
    prefix = f"{rows_prefix(arch)}pairs/"
    for k, bucket in enumerate(buckets):  # every shard, even an empty one: no failed load
        body = json.dumps(bucket, separators=(",", ":"), sort_keys=True)
        write(f"{prefix}{k}.js", f"rankerPairs({k},{body});\n")
    config["probe"] = {
        "prefix": prefix,
        "shards": shards,
        "n_eval": data.n_eval,
        "resamples": data.resamples,
        "seed": data.seed,
        "limit": math.floor(ALPHA * (data.resamples - 1)),
    }
    return config
