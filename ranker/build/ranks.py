"""Ranks that don't chain: a model's rank is 1 + the number of models significantly better.

Models are ordered by their point estimate; the rank says how many of them the data can tell
apart from this one, as the arena leaderboards do. Two models that no test separates may share
a rank, but a rank is never handed down a chain of overlapping intervals.

- Probe results (`compare_probe_results`): a paired bootstrap over the evaluation pairs the
  models share. Every model of one architecture, protocol version and data fingerprint is
  resampled with the *same* resample indices (seeded), so a difference is measured on the same
  pairs: drawn by a counter-based 32-bit hash (`resample_indices`, Wellons' triple32), not
  numpy's generator, so that the compare view redraws them in the browser bit for bit and the
  site ships each model's per-pair bits, not its resampled counts. Model a is significantly
  better than b when it is better on the point estimate and the 2.5% quantile (numpy's
  "lower" method) of acc_a* - acc_b* over the resamples is above zero: a scores higher on more
  than 97.5% of the resamples.
- The 2023 36-task averages (`legacy_ranks`): one finetuning run has the noise of the pretrained
  base's seed-to-seed standard deviation σ, so a is significantly better than b when
  avg_a - avg_b > 1.96·σ·√2.

`ranks_from_better` (a matrix) and `Relation.ranks` (the sparse form the site uses) turn "who
is significantly better than whom" into ranks. Paired bootstrap tests need not be transitive,
so a rank is raised, where needed, above the rank of every model that beats it: no model ever
ranks at or above one that is significantly better than it.

Scale: the relation is never an (m, m) matrix. Models far ahead of b beat it whatever the
pairing, and they are found by a binary search; only the models within a band of b's accuracy
(about 5 standard errors) are tested pair by pair. Time and memory are linear in the number of
models plus the number of pairs inside those bands, which grows with how densely models crowd
around each other's accuracy (docs/benchmarks.md measures it).

numpy only: the site build imports neither torch nor scikit-learn.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from ranker import protocol
from ranker.bits import decode_correct
from ranker.build.notices import Report
from ranker.build.resamples import (
    RESAMPLES,
    SEED,
    resample_counts,
    resampled_correct,
)
from ranker.records import EvalResult

ALPHA = (1 - protocol.CONFIDENCE) / 2  # one-sided 2.5%
Z_95 = 1.959963984540054

# The exact count over resamples is needed only for pairs whose standardised difference
# z = mean / sd of acc_a* - acc_b* (moments of the same resamples) lies in a band around 1.96:
# outside it the count is decided. A difference of two accuracies over thousands of pairs is
# near-normal (and, being right-skewed when it is not, has a lighter left tail), so its 2.5%
# quantile sits at mean - 1.96 sd to within ~0.1 sd at 1,000 resamples: at z = 1.4 about 81 of
# 1,000 differences are <= 0 (24 would be 6.5 sd away), at z = 2.6 about 5 (25 would be a
# Poisson tail below 1e-9). On 1.1 million pairs of 1,500 correlated synthetic models the
# exact rule split between z = 1.78 and 2.29. Below Z_LOW: never significant; at or above
# Z_HIGH: always. tests/test_ranks.py checks the shortcut against the exact count on every pair
# of a dense cloud and of near ties.
Z_LOW = 1.4
Z_HIGH = 2.6
CHUNK = 256  # models per block of the pairwise work: memory ~ CHUNK x band x 8 bytes
# The most evaluation pairs a result may have to be compared: MNLI's matched validation split
# has 9,815, and the resample counts take RESAMPLES x pairs x 12 bytes (240 MB at this cap).
# A stored result claiming more gets no probe rank rather than exhausting the build's memory.
MAX_PAIRS = 20_000


def probe_relation(
    resampled: np.ndarray, point: np.ndarray, *, alpha: float = ALPHA, exact_only: bool = False
) -> Relation:
    """Who is significantly better than whom, for models given best point estimate first.

    `resampled` (m, resamples) holds each model's score in the shared resamples, `point` (m,)
    its point estimate, non-increasing. a beats b when point[a] > point[b] and the lower
    alpha-quantile of resampled[a] - resampled[b] is above zero, i.e. at most
    floor(alpha * (resamples - 1)) of the differences are zero or negative. `exact_only`
    counts every pair (for tests).

    Why not every pair: a model far ahead of b beats it whatever the pairing, and those are
    most pairs. The leading models (in point order) that are all far ahead of b by the
    unpaired bound below, mean_a - Z_HIGH * sd_a >= mean_b + Z_HIGH * sd_b, form a prefix
    found by a binary search on the running minimum of mean - Z_HIGH * sd; only the models
    between that prefix and b, the band of models near b, are tested pair by pair. The work
    is the number of models plus the number of pairs in those bands, not of all pairs.
    """
    point = np.asarray(point, dtype=np.float64)
    m, b_count = resampled.shape
    if m and np.any(np.diff(point) > 0):
        raise ValueError("probe_relation: point estimates must be in non-increasing order")
    limit = math.floor(alpha * (b_count - 1))  # the "lower" quantile's index in sorted diffs
    moments = _Moments.of(resampled)
    mean, sd = moments.mean, moments.sd
    # ahead[b]: how many models have a higher point estimate (they come first)
    ahead = np.searchsorted(-point, -point, side="left")
    if exact_only or m == 0:
        sure = np.zeros(m, dtype=np.int64)
    else:  # the leading models a that are all far ahead: mean_a - Z_HIGH sd_a >= that of b
        floor = np.minimum.accumulate(mean - Z_HIGH * sd)
        need = mean + Z_HIGH * sd
        sure = np.minimum(np.searchsorted(-floor, -need, side="right"), ahead)
    lead = np.zeros(m, dtype=np.int64)
    counts = np.zeros(m, dtype=np.int64)
    extras: list[np.ndarray] = []
    for start in range(0, m, CHUNK):
        cols = np.arange(start, min(m, start + CHUNK))
        lo, hi = int(sure[cols].min()), int(ahead[cols].max())
        if hi <= lo:  # every model ahead of these is far ahead
            lead[cols] = ahead[cols]
            continue
        rows = np.arange(lo, hi)
        block = _beaten(moments, rows, cols, sure, ahead, limit=limit, exact_only=exact_only)
        # the leading run of models that beat b, then the rest of them one by one
        run = np.argmin(np.vstack([block, np.zeros((1, len(cols)), dtype=bool)]), axis=0)
        lead[cols] = lo + run
        rest_beat = block & (rows[:, None] >= lead[None, cols])
        counts[cols] = rest_beat.sum(axis=0)
        extras.append(lo + np.nonzero(rest_beat.T)[1])
    indptr = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    indices = np.concatenate(extras).astype(np.int64) if extras else np.zeros(0, np.int64)
    return Relation(lead, indptr, indices, band_pairs=int((ahead - sure).sum()))


@dataclass(frozen=True)
class _Moments:
    """Each model's resampled scores (`k`, the narrowest exact integer type) and their mean,
    standard deviation and centred values (float32: they only place z against Z_LOW and
    Z_HIGH, both of which the exact count surrounds, and float32 halves the memory and the
    matrix products' time)."""

    k: np.ndarray
    mean: np.ndarray
    sd: np.ndarray
    centred: np.ndarray

    @classmethod
    def of(cls, resampled: np.ndarray) -> _Moments:
        m = resampled.shape[0]
        small = m == 0 or (resampled.max() < 2**15 and resampled.min() >= 0)
        k = resampled.astype(np.int16 if small else np.int32)
        mean = k.mean(axis=1, dtype=np.float64)
        centred = k - mean[:, None]
        sd = np.sqrt((centred**2).mean(axis=1))
        return cls(k, mean, sd, centred.astype(np.float32))


def _beaten(
    moments: _Moments,
    rows: np.ndarray,
    cols: np.ndarray,
    sure: np.ndarray,
    ahead: np.ndarray,
    *,
    limit: int,
    exact_only: bool,
) -> np.ndarray:
    """(rows, cols) bool: model rows[i] significantly beats model cols[j]. Rows before
    sure[b] beat b outright; those between sure[b] and ahead[b] are decided by the unpaired
    bound, then the paired z, then (inside the band around 1.96) the exact count."""
    mean, sd, centred, k = moments.mean, moments.sd, moments.centred, moments.k
    lo = int(rows[0])
    todo = (rows[:, None] < ahead[None, cols]) & (rows[:, None] >= sure[None, cols])
    block = rows[:, None] < sure[None, cols]
    if exact_only:
        unsure = todo
    else:
        mean_d = mean[rows, None] - mean[None, cols]
        # sd of a difference is at most sd_a + sd_b: far enough ahead is decided unpaired
        far = mean_d >= Z_HIGH * (sd[rows, None] + sd[None, cols])
        block |= todo & far
        rest = todo & ~far
        near = np.flatnonzero(rest.any(axis=1))
        unsure = np.zeros_like(todo)
        if len(near):
            cov = (centred[lo + near] @ centred[cols].T).astype(np.float64) / k.shape[1]
            var_d = sd[lo + near, None] ** 2 + sd[None, cols] ** 2 - 2 * cov
            md = mean_d[near]
            flat = var_d <= 1e-9  # the same difference in every resample
            z = md / np.sqrt(np.where(flat, 1.0, var_d))
            sure_pair = np.where(flat, md > 0, z >= Z_HIGH)
            sub = rest[near]
            block[near] |= sub & sure_pair
            unsure[near] = sub & ~flat & (z > Z_LOW) & (z < Z_HIGH)
    for j in np.flatnonzero(unsure.any(axis=0)):  # the exact count, one b at a time
        a = np.flatnonzero(unsure[:, j])
        nonpositive = _count_true(k[lo + a] <= k[cols[j]])
        block[a, j] = nonpositive <= limit
    return block


def _count_true(flags: np.ndarray) -> np.ndarray:
    """Per row, how many of the (rows, n) bools are True: summed eight bytes at a time (each
    byte lane of a word sum stays below 256 while n // 8 < 256), twice as fast as
    np.count_nonzero(axis=1)."""
    rows, n = flags.shape
    if n % 8 or n // 8 >= 256:
        return np.count_nonzero(flags, axis=1)
    lanes = flags.view(np.uint64).sum(axis=1, dtype=np.uint64)
    return lanes.view(np.uint8).reshape(rows, 8).sum(axis=1, dtype=np.int64)


def significantly_better(
    resampled: np.ndarray, point: np.ndarray, *, alpha: float = ALPHA, exact_only: bool = False
) -> np.ndarray:
    """(m, m) bool: [a, b] is True when model a is significantly better than model b (the rule
    of `probe_relation`, for models in any order). Quadratic in memory: for tests and small m."""
    point = np.asarray(point, dtype=np.float64)
    m = len(point)
    order = np.argsort(-point, kind="stable")
    relation = probe_relation(resampled[order], point[order], alpha=alpha, exact_only=exact_only)
    better = relation.dense()
    if np.array_equal(order, np.arange(m)):
        return better
    inverse = np.empty(m, dtype=np.int64)
    inverse[order] = np.arange(m)
    return better[np.ix_(inverse, inverse)]


@dataclass(frozen=True)
class Relation:
    """ "Significantly better" among m models in point-estimate order (best first), kept sparse.

    Why not an (m, m) matrix: at 16,667 models of one architecture that is 278 MB, and every
    use of it (ranks, the rank history) was quadratic. Model b is beaten by every model before
    position `lead[b]`, and by those at `indices[indptr[b]:indptr[b + 1]]` (between lead[b]
    and b): the few near b that a paired test still separates. Only models ahead of b on the
    point estimate can beat it, which makes point order a topological order of the relation.
    """

    lead: np.ndarray
    indptr: np.ndarray
    indices: np.ndarray
    band_pairs: int = 0  # pairs that were looked at one by one (for benchmarks)

    @classmethod
    def from_dense(cls, better: np.ndarray) -> Relation:
        """From an (m, m) matrix whose [a, b] is True only for a < b (point order)."""
        m = better.shape[0]
        if np.any(np.tril(better)):
            raise ValueError("Relation.from_dense: a model beats one that comes before it")
        padded = np.vstack([better, np.zeros((1, m), dtype=bool)])
        lead = np.argmin(padded, axis=0).astype(np.int64)
        rest = better & (np.arange(m)[:, None] >= lead[None, :])
        indptr = np.concatenate([[0], np.cumsum(rest.sum(axis=0))]).astype(np.int64)
        return cls(lead, indptr, np.nonzero(rest.T)[1].astype(np.int64))

    @property
    def size(self) -> int:
        return len(self.lead)

    def dense(self) -> np.ndarray:
        """The (m, m) matrix, [a, b] True when a beats b. Quadratic: for tests and small m."""
        m = self.size
        out = np.arange(m)[:, None] < self.lead[None, :]
        out[self.indices, self._owners()] = True
        return out

    def _owners(self) -> np.ndarray:
        return np.repeat(np.arange(self.size), np.diff(self.indptr))

    def _per_owner(self, ufunc: np.ufunc, values: np.ndarray) -> np.ndarray:
        """`ufunc` reduced over each model's extra list (0 where the list is empty)."""
        out = np.zeros(self.size, dtype=np.int64)
        filled = np.flatnonzero(np.diff(self.indptr) > 0)
        if len(filled):
            out[filled] = ufunc.reduceat(values, self.indptr[filled])
        return out

    def ranks(self, on: np.ndarray | None = None) -> np.ndarray:
        """Ranks among the models marked `on` (default: all); 0 for the others.

        What `ranks_from_better` gives on the matrix restricted to them: 1 + the number of
        them significantly better, raised above the rank of any of them significantly better
        (one vectorised pass per link of the longest chain of raises, usually one or two).
        """
        m = self.size
        on = np.ones(m, dtype=bool) if on is None else np.asarray(on, dtype=bool)
        before = np.concatenate([[0], np.cumsum(on, dtype=np.int64)])
        base = 1 + before[self.lead] + self._per_owner(np.add, on[self.indices].astype(np.int64))
        base = np.where(on, base, 0)
        ranks = base
        for _ in range(m):
            best_ahead = np.concatenate([[0], np.maximum.accumulate(ranks)])
            near = self._per_owner(np.maximum, ranks[self.indices])
            above = np.maximum(best_ahead[self.lead], near)
            new = np.where(on, np.maximum(base, np.where(above > 0, above + 1, 0)), 0)
            if np.array_equal(new, ranks):
                break
            ranks = new
        return ranks


def ranks_from_better(better: np.ndarray) -> np.ndarray:
    """Ranks (int, 1 = best) from a "significantly better" relation given as a matrix.

    rank(b) = 1 + the number of models significantly better than b, raised where needed to one
    more than the rank of any model significantly better than b (paired tests need not be
    transitive; the relation must be acyclic, which "better on the point estimate" guarantees).
    """
    m = better.shape[0]
    if m == 0:
        return np.zeros(0, dtype=np.int64)
    base = 1 + better.sum(axis=0).astype(np.int64)
    ranks = base.copy()
    for _ in range(m):  # a pass per link of the longest chain of raises; usually one or two
        above = np.where(better, ranks[:, None] + 1, 0).max(axis=0)
        new = np.maximum(base, above)
        if np.array_equal(new, ranks):
            break
        ranks = new
    return ranks


def tie_counts(ranks: Iterable[int | None]) -> dict[int, int]:
    """How many models share each rank."""
    out: dict[int, int] = {}
    for r in ranks:
        if r is not None:
            out[int(r)] = out.get(int(r), 0) + 1
    return out


# -- probe results ---------------------------------------------------------------------------


@dataclass
class ProbeComparison:
    """Every comparable probe result of one architecture, its bits and the relation between them.

    Comparable: the current protocol version, one data fingerprint and evaluation size, and the
    per-pair `correct` bits. `keys[i]` is (model_id, revision) of position i of `relation`,
    best accuracy first.
    """

    keys: list[tuple[str, str]]
    accuracy: np.ndarray
    relation: Relation
    # each key's per-pair bits (np.packbits rows), the evaluation size and the resampling: the
    # compare view redraws the resamples from the bits and tests any pair (build.pairs)
    packed: np.ndarray | None = None
    n_eval: int = 0
    resamples: int = RESAMPLES
    seed: int = SEED

    @property
    def resampled(self) -> np.ndarray | None:
        """(len(keys), resamples) right answers in each shared resample, derived again from the
        bits when asked (a build keeps only the bits: 1/32 of the memory)."""
        if self.packed is None:
            return None
        correct = np.unpackbits(self.packed, axis=1, count=self.n_eval).astype(bool)
        return resampled_correct(correct, resample_counts(self.n_eval, self.resamples, self.seed))

    def ranks(self, chosen: Sequence[tuple[str, str]] | None = None) -> dict[str, int]:
        """model_id -> rank among the `chosen` results (default: all; one per model)."""
        if chosen is None:
            on = np.ones(len(self.keys), dtype=bool)
        else:
            index = {k: i for i, k in enumerate(self.keys)}
            on = np.zeros(len(self.keys), dtype=bool)
            on[[index[k] for k in chosen if k in index]] = True
        ranks = self.relation.ranks(on)
        return {self.keys[i][0]: int(ranks[i]) for i in np.flatnonzero(on).tolist()}


def _plausible_bits(r: EvalResult) -> bool:
    """Bits the size their pair count needs (base64 of ceil(n / 8) bytes), for at most
    MAX_PAIRS pairs: checked before a group is chosen, so that results whose bits cannot be
    read never make the largest group and leave the others unranked."""
    n = r.n_eval
    if not r.correct or n is None or not 0 < n <= MAX_PAIRS:
        return False
    return len(r.correct) == 4 * -(-((n + 7) // 8) // 3)


# What a result's unreadable bits are reported as (ranker.build.notices).
BAD_BITS = f"are not the bits of its n_eval pairs (at most {MAX_PAIRS:,})"


def comparable_group(
    results: Iterable[EvalResult], report: Report | None = None
) -> list[EvalResult]:
    """The results that can be ranked against each other: one (protocol, data fingerprint,
    evaluation size) with `correct` bits. When an architecture's results hold several data
    fingerprints (they should not: moving the data is a protocol change), the largest group
    ranks; the others get no probe rank. Bits of the wrong size go to `report`."""
    groups: dict[tuple[str, str | None, int | None], list[EvalResult]] = {}
    for r in results:
        if r.status != "ok" or r.accuracy is None:
            continue
        if _plausible_bits(r):
            groups.setdefault((r.protocol_version, r.data_fingerprint, r.n_eval), []).append(r)
        elif r.correct and report is not None:
            report.add(r.model_id, "correct", r.correct, BAD_BITS)
    if not groups:
        return []
    return max(groups.values(), key=lambda g: (len(g), max(r.evaluated_at for r in g)))


def compare_probe_results(
    results: Iterable[EvalResult], *, resamples: int = RESAMPLES, seed: int = SEED
) -> ProbeComparison:
    """Decode the bits of every comparable result (see `comparable_group`) and test each pair.

    A result whose bits cannot be read (ranker.bits.decode_correct is strict) gets no probe
    rank, and a RecordWarning says so."""
    report = Report("result")
    group = comparable_group(results, report)
    keyed: dict[tuple[str, str], np.ndarray] = {}
    for r in sorted(group, key=lambda r: r.evaluated_at):
        try:
            keyed[(r.model_id, r.revision)] = decode_correct(r.correct or "", r.n_eval or 0)
        except (ValueError, TypeError):  # malformed bits: the result cannot be compared
            report.add(r.model_id, "correct", r.correct, BAD_BITS)
    report.emit()
    keys = sorted(keyed)
    if not keys:
        return ProbeComparison([], np.zeros(0), Relation.from_dense(np.zeros((0, 0), dtype=bool)))
    correct = np.stack([keyed[k] for k in keys])
    accuracy = correct.mean(axis=1)
    # keys in point-estimate order (best first): the tests' own order, so no reordered copy
    order = np.argsort(-accuracy, kind="stable")
    keys = [keys[i] for i in order]
    correct, accuracy = correct[order], accuracy[order]
    counts = resample_counts(correct.shape[1], resamples, seed)
    resampled = resampled_correct(correct, counts)
    n_eval, packed = correct.shape[1], np.packbits(correct, axis=1)
    del correct
    relation = probe_relation(resampled, accuracy)
    return ProbeComparison(keys, accuracy, relation, packed, n_eval, resamples, seed)


# -- the 2023 36-task averages ---------------------------------------------------------------


def legacy_threshold(sigma: float | None) -> float:
    """The smallest difference of two 36-task averages that is significant: 1.96·σ·√2."""
    return Z_95 * (sigma or 0.0) * math.sqrt(2)


def legacy_ranks(averages: dict[str, float], sigma: float | None) -> dict[str, int]:
    """model_id -> rank by the 2023 36-task average, with the base's seed noise σ.

    a is significantly better than b when avg_a - avg_b > 1.96·σ·√2 (a relation that is
    transitive, so the rank is exactly 1 + the number of models significantly better). Without
    σ, any higher average counts.
    """
    ids = sorted(averages)
    values = np.array([averages[i] for i in ids], dtype=np.float64)
    threshold = legacy_threshold(sigma)
    counts = np.zeros(len(ids), dtype=np.int64)
    for start in range(0, len(ids), 2048):
        block = values[start : start + 2048]
        counts[start : start + 2048] = (values[:, None] - block[None, :] > threshold).sum(axis=0)
    return {i: 1 + int(c) for i, c in zip(ids, counts, strict=True)}
