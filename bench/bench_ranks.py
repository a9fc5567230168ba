"""The paired-bootstrap ranks of one architecture as its number of models grows.

    python bench/bench_ranks.py [--sizes 2000,4000,8000,16000] [--exact-up-to 2000]

Synthetic models as `--synthetic` builds them (true accuracies spread evenly over 45-75%, 5,000
evaluation pairs with correlated errors), all of ONE architecture. For each size: seconds for
the relation (`probe_relation`: prefix of models far ahead by binary search, the band near each
model pair by pair) and for the ranks from it, the pairs in the bands against all pairs, and
the ratios to the previous size. Baseline, in the same process for sizes up to
`--exact-up-to`: the same rule with every pair counted exactly (`exact_only=True`); the two
relations must be equal.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ranker.build.ranks import (
    probe_relation,
)
from ranker.build.resamples import (
    resample_counts,
    resampled_correct,
)
from ranker.testing.synthetic import correctness

N_EVAL = 5_000


def _models(m: int) -> tuple[np.ndarray, np.ndarray]:
    """(resampled scores, point estimates) of m models, best point estimate first."""
    truth = 0.45 + 0.3 * (np.arange(m) * 7919 % m) / m
    bits = correctness(truth, N_EVAL, seed=1)
    point = bits.mean(axis=1)
    order = np.argsort(-point, kind="stable")
    return resampled_correct(bits[order], resample_counts(N_EVAL)), point[order]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="2000,4000,8000,16000")
    parser.add_argument("--exact-up-to", type=int, default=2000)
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    print("| models | relation s | ranks s | band pairs | all pairs | band share | "
          "x models | x time | x band | exact rule s (ratio) |")  # fmt: skip
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    previous = None
    for m in sizes:
        resampled, point = _models(m)
        start = time.perf_counter()
        relation = probe_relation(resampled, point)
        seconds = time.perf_counter() - start
        start = time.perf_counter()
        relation.ranks()
        rank_seconds = time.perf_counter() - start
        pairs = m * (m - 1) // 2
        exact = "-"
        if m <= args.exact_up_to:
            start = time.perf_counter()
            full = probe_relation(resampled, point, exact_only=True)
            exact_seconds = time.perf_counter() - start
            if not np.array_equal(full.dense(), relation.dense()):
                raise SystemExit(f"{m} models: the relation differs from the exact rule")
            exact = f"{exact_seconds:.2f} ({exact_seconds / seconds:.1f}x)"
        growth = ["-", "-", "-"]
        if previous:
            pm, ps, pb = previous
            growth = [f"{m / pm:.2f}", f"{seconds / ps:.2f}", f"{relation.band_pairs / pb:.2f}"]
        band = relation.band_pairs
        cells = [f"{m:,}", f"{seconds:.2f}", f"{rank_seconds:.3f}", f"{band:,}", f"{pairs:,}"]
        cells += [f"{band / pairs:.1%}", *growth, exact]
        print("| " + " | ".join(cells) + " |")
        previous = (m, seconds, relation.band_pairs)


if __name__ == "__main__":
    main()
