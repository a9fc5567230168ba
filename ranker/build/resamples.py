"""The bootstrap's shared resamples: which evaluation pairs each resample draws, and each
model's right answers in them.

Every model of one comparable group is resampled with the *same* draws, so a difference is
measured on the same pairs (ranker.build.ranks). The draws come from a counter-based 32-bit
hash (Wellons' triple32), not numpy's generator, so that the compare view redraws them in the
browser bit for bit (compare.js) and the site ships each model's per-pair bits, not its
resampled counts (ranker.build.pairs).
"""

from __future__ import annotations

import numpy as np

from ranker import protocol

RESAMPLES = protocol.BOOTSTRAP_RESAMPLES  # 1,000: the probe intervals' own number
SEED = protocol.BOOTSTRAP_SEED


def triple32(x: np.ndarray) -> np.ndarray:
    """Wellons' triple32 hash (hash-prospector, public domain); uint32 arrays wrap silently."""
    x = np.array(x, dtype=np.uint32)
    x ^= x >> np.uint32(17)
    x *= np.uint32(0xED5AD4BB)
    x ^= x >> np.uint32(11)
    x *= np.uint32(0xAC4C1B51)
    x ^= x >> np.uint32(15)
    x *= np.uint32(0x31848BAB)
    x ^= x >> np.uint32(14)
    return x


def resample_indices(n: int, resamples: int = RESAMPLES, seed: int = SEED) -> np.ndarray:
    """(resamples, n) uint32: the pairs drawn, draw i of resample r from the counter
    c = r·n + i as floor(h·n / 2**32), h = triple32((c + triple32(seed)) mod 2**32).

    A hash, not numpy's generator: compare.js draws the same resamples (n·resamples < 2**32)."""
    if n * resamples >= 2**32:
        raise ValueError("resample_indices: n x resamples must stay below 2**32")
    key = triple32(np.array([seed % 2**32], dtype=np.uint32))[0]
    h = triple32(np.arange(n * resamples, dtype=np.uint32) + key).astype(np.uint64)
    h *= np.uint64(n)  # < 2**47: exact
    return (h >> np.uint64(32)).astype(np.uint32).reshape(resamples, n)


def resample_counts(n: int, resamples: int = RESAMPLES, seed: int = SEED) -> np.ndarray:
    """(n, resamples) float32: how often each pair is drawn in each bootstrap resample.

    One set of draws (`resample_indices`), shared by every model: that is what pairs them."""
    idx = resample_indices(n, resamples, seed)
    idx += (np.arange(resamples, dtype=np.uint32) * np.uint32(n))[:, None]  # < 2**32
    counts = np.bincount(idx.ravel(), minlength=resamples * n)
    return counts.reshape(resamples, n).T.astype(np.float32)


def resampled_correct(correct: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """(models, resamples) int32: each model's number of right answers in each resample.

    `correct` is (models, pairs) bool. Counts are whole numbers below 2**24, so float32 matrix
    products are exact; done in blocks of models to bound memory.
    """
    out = np.empty((correct.shape[0], counts.shape[1]), dtype=np.int32)
    for start in range(0, correct.shape[0], 1024):
        block = correct[start : start + 1024].astype(np.float32)
        out[start : start + 1024] = np.rint(block @ counts).astype(np.int32)
    return out
