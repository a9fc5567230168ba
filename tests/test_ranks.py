"""Ranks that don't chain: 1 + the number of models significantly better (ranker.build.ranks)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from conftest import make_baselines, make_legacy_model
from ranker.bits import decode_correct
from ranker.build import build_site
from ranker.build.badges import badge_message
from ranker.build.columns import download_name
from ranker.build.inputs import RecordWarning
from ranker.build.ranks import (
    MAX_PAIRS,
    Relation,
    compare_probe_results,
    legacy_ranks,
    probe_relation,
    ranks_from_better,
    significantly_better,
    tie_counts,
)
from ranker.build.resamples import (
    RESAMPLES,
    SEED,
    resample_counts,
    resample_indices,
    resampled_correct,
)
from ranker.build.tables import (
    COLUMNS,
    architecture_table,
    is_nli,
    latest_results,
    rank_history,
)
from ranker.protocol import PROTOCOL_VERSION
from ranker.records import EvalResult
from ranker.store import Store
from ranker.testing.synthetic import correctness, pack

OLD_PROTOCOL = "lp-1" if PROTOCOL_VERSION != "lp-1" else "lp-0"
FINGERPRINT = "f" * 64


def _result(model_id: str, bits: np.ndarray | None, **kw) -> EvalResult:
    accuracy = kw.pop("accuracy", None if bits is None else float(bits.mean()))
    values = dict(
        schema_version=1, model_id=model_id, architecture="roberta-base", revision="c" * 40,
        protocol_version=PROTOCOL_VERSION, status="ok", evaluated_at="2026-11-20T10:00:00Z",
        accuracy=accuracy, gain=None if accuracy is None else accuracy - 0.5,
        n_eval=None if bits is None else len(bits), data_fingerprint=FINGERPRINT,
        correct=None if bits is None else pack(bits),
    )  # fmt: skip
    values.update(kw)
    return EvalResult(**values)


def _exact_better(correct: np.ndarray) -> np.ndarray:
    """The rule, pair by pair, with nothing skipped: a beats b when it is ahead on the point
    estimate and the 2.5% quantile ("lower") of acc_a* - acc_b* over the shared resamples > 0."""
    resampled = correct.astype(np.float64) @ resample_counts(correct.shape[1]).astype(np.float64)
    point = correct.mean(axis=1)
    m = len(point)
    out = np.zeros((m, m), dtype=bool)
    for a in range(m):
        diff = resampled[a][None, :] - resampled  # (m, resamples): a minus every b
        q = np.quantile(diff, 0.025, axis=1, method="lower")
        out[a] = (q > 0) & (point[a] > point)
    return out


@pytest.fixture(scope="module")
def cloud() -> tuple[list[EvalResult], np.ndarray]:
    """300 models whose true accuracies lie within 3 points, on 5,000 shared pairs with
    correlated errors (shared pair difficulty), and one model clearly better (model 300)."""
    truth = np.r_[np.linspace(0.60, 0.63, 300), 0.67]
    correct = correctness(truth, 5_000, seed=11)
    results = [_result(f"cloud/m{i:03d}", bits) for i, bits in enumerate(correct)]
    return results, correct


def test_dense_cloud_ranks_do_not_chain(cloud) -> None:
    results, correct = cloud
    comparison = compare_probe_results(results)
    ranks = comparison.ranks()
    exact = _exact_better(correct)
    ids = [r.model_id for r in results]
    order = [comparison.keys.index((i, "c" * 40)) for i in ids]
    # the fast path (moments first, exact counts only near the threshold) is the exact rule
    assert np.array_equal(comparison.relation.dense()[np.ix_(order, order)], exact)
    by_id = np.array([ranks[i] for i in ids])
    # the clearly better model alone at #1
    assert by_id[300] == 1 and (by_id == 1).sum() == 1
    # several distinct ranks: no chain of overlapping intervals collapses the cloud into one
    assert len(set(by_id.tolist())) >= 10
    assert by_id[:50].min() > by_id[250:300].max()  # the bottom of the cloud ranks below its top
    # no rank that a pairwise test contradicts
    a, b = np.nonzero(exact)
    assert len(a) > 1000 and (by_id[a] < by_id[b]).all()
    # where no test contradicts it, the rank is exactly 1 + the number significantly better
    assert (by_id >= 1 + exact.sum(axis=0)).all()
    assert (by_id == 1 + exact.sum(axis=0)).mean() > 0.9


def test_fast_path_matches_the_exact_rule_on_near_ties() -> None:
    """Models that differ on only a handful of pairs: skewed, discrete differences."""
    n = 2_000
    base = np.zeros(n, dtype=bool)
    base[:1200] = True
    rows = [base]
    for k in range(1, 16):  # right on k more pairs, and some on which the base is right, wrong
        row = base.copy()
        row[1200 : 1200 + k] = True
        row[: k // 3] = False
        rows.append(row)
    correct = np.stack(rows)
    counts = resample_counts(n)
    resampled = resampled_correct(correct, counts)
    point = correct.mean(axis=1)
    fast = significantly_better(resampled, point)
    exact = significantly_better(resampled, point, exact_only=True)
    assert np.array_equal(fast, exact)
    assert np.array_equal(exact, _exact_better(correct))
    assert fast[15, 0] and not fast[1, 0]  # 15 pairs ahead is significant, 1 pair is not


def test_resamples_are_seeded_and_shared() -> None:
    assert np.array_equal(resample_counts(500), resample_counts(500))
    counts = resample_counts(500)
    assert counts.shape == (500, RESAMPLES) and (counts.sum(axis=0) == 500).all()
    assert not np.array_equal(counts, resample_counts(500, seed=SEED + 1))


def _triple32(x: int) -> int:
    """triple32 in plain integers, written from the published constants (the reference)."""
    m = 0xFFFFFFFF
    x ^= x >> 17
    x = (x * 0xED5AD4BB) & m
    x ^= x >> 11
    x = (x * 0xAC4C1B51) & m
    x ^= x >> 15
    x = (x * 0x31848BAB) & m
    return x ^ (x >> 14)


def _untriple32(x: int) -> int:
    """triple32's inverse: the seed whose key is x."""
    m = 0xFFFFFFFF
    for shift, mul in ((14, 0x31848BAB), (15, 0xAC4C1B51), (11, 0xED5AD4BB)):
        y = x
        for _ in range(32 // shift + 1):  # undo x ^= x >> shift
            y = x ^ (y >> shift)
        x = (y * pow(mul, -1, 2**32)) & m
    y = x
    for _ in range(3):
        y = x ^ (y >> 17)
    return y


def test_resample_indices_are_the_counter_hash() -> None:
    """Draw i of resample r is floor(h·n / 2**32), h = triple32((r·n + i + triple32(seed)) mod
    2**32): what compare.js redraws. Checked draw by draw against plain integers, including
    counters that wrap past 2**32."""
    n, resamples = 37, 5
    key = _triple32(SEED)
    expected = [
        [(_triple32((r * n + i + key) & 0xFFFFFFFF) * n) >> 32 for i in range(n)]
        for r in range(resamples)
    ]
    assert resample_indices(n, resamples).tolist() == expected
    key = 2**32 - 2 * n  # a seed whose key makes the counters of the last resamples wrap
    seed = _untriple32(key)
    assert _triple32(seed) == key
    wrapped = [(_triple32((c + key) & 0xFFFFFFFF) * n) >> 32 for c in range(n * resamples)]
    assert resample_indices(n, resamples, seed).ravel().tolist() == wrapped
    with pytest.raises(ValueError):
        resample_indices(2**22, 2**10)


def test_the_bootstrap_draws_uniformly() -> None:
    """Every pair is drawn once per resample on average, and a model's resampled accuracy has
    the binomial standard error sqrt(p(1-p)/n), as a bootstrap of n pairs must."""
    n = 2_000
    counts = resample_counts(n)
    per_pair = counts.mean(axis=1)
    assert abs(per_pair.mean() - 1) < 1e-9 and per_pair.std() < 0.05  # 1/sqrt(1000) ~ 0.032
    assert abs(counts.var() - 1) < 0.01  # multinomial counts: variance 1 - 1/n
    correct = np.zeros(n, dtype=bool)
    correct[np.random.default_rng(3).permutation(n)[:1400]] = True  # p = 0.7
    accuracy = resampled_correct(correct[None, :], counts)[0] / n
    se = np.sqrt(0.7 * 0.3 / n)
    assert abs(accuracy.mean() - 0.7) < 0.2 * se
    assert abs(accuracy.std() / se - 1) < 0.1  # sd of 1,000 resamples: within ~2.2% of se


def test_a_rank_is_raised_above_every_model_that_beats_it() -> None:
    """Paired tests need not be transitive: 0 beats 1 and 1 beats 2, but 0 does not beat 2.
    1 + the count alone would give 2 the rank of 1, whom it is significantly worse than."""
    better = np.zeros((3, 3), dtype=bool)
    better[0, 1] = better[1, 2] = True
    assert (1 + better.sum(axis=0)).tolist() == [1, 2, 2]
    assert ranks_from_better(better).tolist() == [1, 2, 3]
    assert ranks_from_better(np.zeros((0, 0), dtype=bool)).tolist() == []


def test_sparse_relation_ranks_as_the_matrix_does() -> None:
    """Relation.ranks on any subset equals ranks_from_better on the matrix restricted to it,
    on random acyclic relations full of intransitive triples (raises along long chains)."""
    rng = np.random.default_rng(3)
    for trial in range(40):
        m = int(rng.integers(1, 60))
        density = rng.choice([0.05, 0.3, 0.9])
        better = np.triu(rng.random((m, m)) < density, k=1)
        if trial % 2:  # a prefix of every column: the shape probe relations have
            cut = rng.integers(0, np.arange(m) + 1)
            better |= np.arange(m)[:, None] < cut[None, :]
        relation = Relation.from_dense(better)
        assert np.array_equal(relation.dense(), better)
        for on in (np.ones(m, dtype=bool), rng.random(m) < 0.5):
            chosen = np.flatnonzero(on)
            expected = ranks_from_better(better[np.ix_(chosen, chosen)])
            assert np.array_equal(relation.ranks(on)[chosen], expected)
            assert not relation.ranks(on)[~on].any()
    with pytest.raises(ValueError):
        Relation.from_dense(np.array([[False, False], [True, False]]))


def test_relation_over_a_wide_spread_is_the_exact_rule() -> None:
    """Models spread over 30 points: most pairs are decided by the prefix of models far
    ahead, which is never tested pair by pair; the relation is still the exact rule."""
    n = 600
    truth = 0.45 + 0.3 * (np.arange(n) * 7919 % n) / n
    correct = correctness(truth, 2_000, seed=5)
    point = correct.mean(axis=1)
    order = np.argsort(-point, kind="stable")
    resampled = resampled_correct(correct[order], resample_counts(2_000))
    fast = probe_relation(resampled, point[order])
    exact = probe_relation(resampled, point[order], exact_only=True)
    assert np.array_equal(fast.dense(), exact.dense())
    beaten = exact.dense().sum()
    assert len(fast.indices) < 0.05 * beaten  # the pairs kept one by one: few
    assert fast.lead.sum() > 0.9 * beaten
    with pytest.raises(ValueError, match="non-increasing"):
        probe_relation(resampled, point)


def test_rank_history_is_each_dates_ranking(store_dir: Path) -> None:
    """On every date, the history holds the ranks of the results newest that day, as ranking
    that day's results alone gives (models re-evaluated at a new revision, models added)."""
    truth = np.r_[np.linspace(0.55, 0.70, 120)]
    correct = correctness(truth, 2_000, seed=9)
    results = []
    for i, bits in enumerate(correct):
        day = 1 + i % 5
        results.append(_result(f"h/m{i:03d}", bits, evaluated_at=f"2026-11-0{day}T10:00:00Z"))
        if i % 7 == 0:  # a later revision with other bits
            later = correct[(i + 40) % len(correct)]
            results.append(
                _result(
                    f"h/m{i:03d}", later, revision="d" * 40,
                    evaluated_at=f"2026-11-0{day + 3}T10:00:00Z",
                )
            )  # fmt: skip
    arch = Store(store_dir).architecture("roberta-base")
    for r in range(len(results)):
        results[r] = EvalResult(**{**results[r].__dict__, "architecture": arch.id})
    history = rank_history(arch, results)
    dates = sorted({r.evaluated_at[:10] for r in results})
    assert len(dates) == 8
    for date in dates:
        newest: dict[str, EvalResult] = {}
        for r in sorted(results, key=lambda r: r.evaluated_at):
            if r.evaluated_at[:10] <= date:
                newest[r.model_id] = r
        expected = compare_probe_results(list(newest.values())).ranks()
        got = {m: dict(h)[date] for m, h in history.items() if date in dict(h)}
        assert got == expected, date
    assert len({tuple(h) for h in history.values()}) > 50  # ranks move: the test can fail


def test_the_2023_rule_uses_the_seed_noise() -> None:
    sigma = 0.005  # 1.96 * 0.005 * sqrt(2) = 0.0139: a margin of 1.39 points
    averages = {"a": 0.80, "b": 0.79, "c": 0.78, "d": 0.77, "e": 0.76, "f": 0.70}
    # rank groups would chain a..e into one group (each 1 point from the next); here c is
    # 2 points behind a, so a beats it
    assert legacy_ranks(averages, sigma) == {"a": 1, "b": 1, "c": 2, "d": 3, "e": 4, "f": 6}
    assert legacy_ranks(averages, 0.05) == dict.fromkeys(averages, 1)  # noise covers all gaps
    assert legacy_ranks({"x": 0.7, "y": 0.7, "z": 0.6}, None) == {"x": 1, "y": 1, "z": 3}
    assert tie_counts([1, 1, 2, None, 4, 4, 4]) == {1: 2, 2: 1, 4: 3}


def test_shifted_and_incomplete_rows_stay_out_of_the_2023_rank(store_dir: Path) -> None:
    arch = Store(store_dir).architecture("roberta-base")
    legacy = [
        make_legacy_model("a/best", score=0.80),
        make_legacy_model("b/shifted", score=0.90, flags=("shifted",), shifted_from="cola"),
        make_legacy_model("c/incomplete", score=0.95, avg=None, flags=("incomplete",)),
        make_legacy_model("d/next", score=0.79),
        make_legacy_model("e/far", score=0.70),
    ]
    table = architecture_table(arch, legacy, [], sigma=0.005).set_index("model_id")
    ranks = {k: None if pd.isna(v) else int(v) for k, v in table["legacy_rank"].items()}
    assert ranks == {
        "a/best": 1, "d/next": 1, "e/far": 3, "b/shifted": None, "c/incomplete": None,
    }  # fmt: skip
    assert table.loc["a/best", "legacy_tied"] == 2
    assert table.loc["b/shifted", "rank"] == 1  # still in IBM's published order, position 1
    # IBM's published order: by average, the shifted row in its place, unranked
    assert list(table.index[:4]) == ["b/shifted", "a/best", "d/next", "e/far"]


def test_only_comparable_results_with_bits_are_ranked() -> None:
    rng = np.random.default_rng(0)
    good = correctness(np.array([0.7, 0.6, 0.5]), 1_000, seed=1)
    results = [_result(f"a/m{i}", bits) for i, bits in enumerate(good)]
    other = rng.random(1_000) < 0.9  # another data sample: never compared with the rest
    results.append(_result("b/other-data", other, data_fingerprint="e" * 64))
    results.append(_result("c/no-bits", None, accuracy=0.99))
    results.append(_result("d/broken", good[0], correct="@@not base64@@"))
    ranks = compare_probe_results(results).ranks()
    assert ranks == {"a/m0": 1, "a/m1": 2, "a/m2": 3}


def test_bits_that_cannot_be_read_are_reported_not_decoded() -> None:
    """The one strict codec (ranker.bits) decides; a result whose bits it refuses, whatever
    their size, gets no probe rank and a RecordWarning names it."""
    good = correctness(np.array([0.7, 0.6]), 1_000, seed=1)
    padded = pack(good[0])[:-4] + "////"  # text of the right length, one byte too many
    results = [_result(f"a/m{i}", bits) for i, bits in enumerate(good)]
    results.append(_result("d/broken", good[0], correct="@@not base64@@"))
    results.append(_result("e/padded", good[0], correct=padded))
    with pytest.warns(RecordWarning) as caught:
        ranks = compare_probe_results(results).ranks()
    assert ranks == {"a/m0": 1, "a/m1": 2}
    messages = " ".join(str(w.message) for w in caught)
    assert "'d/broken'" in messages and "'e/padded'" in messages and "'a/m0'" not in messages


def test_bits_decode_like_the_evaluator_packs_them() -> None:
    bits = np.array([1, 0, 1, 1, 0, 0, 0, 1, 1, 1, 0, 1, 1], dtype=bool)  # 13: not a byte multiple
    assert np.array_equal(decode_correct(pack(bits), len(bits)), bits)
    with pytest.raises(ValueError):
        decode_correct(pack(bits), 17)
    with pytest.raises(ValueError):  # exactly the pairs it claims: not fewer, not more
        decode_correct(pack(bits), 5)
    with pytest.raises(ValueError):
        decode_correct(pack(bits), -1)


def test_a_result_with_more_pairs_than_the_bootstrap_takes_is_not_ranked() -> None:
    """A stored record could claim 400,000 pairs (50 KB of bits): 3 GB of resample counts.
    Such results are left out of the probe rank, as malformed bits are."""
    rng = np.random.default_rng(0)
    big = [rng.random(MAX_PAIRS + 8) < p for p in (0.7, 0.65, 0.6)]
    small = correctness(np.array([0.7, 0.6]), 1_000, seed=1)
    results = [_result(f"big/m{i}", bits) for i, bits in enumerate(big)]  # the larger group
    results += [_result(f"small/m{i}", bits) for i, bits in enumerate(small)]
    assert compare_probe_results(results).ranks() == {"small/m0": 1, "small/m1": 2}
    # nor do bits of another size than their pair count make a group that ranks nobody
    short = [_result(f"short/m{i}", small[0], n_eval=2_000) for i in range(3)]
    assert compare_probe_results(short + results[3:]).ranks() == {"small/m0": 1, "small/m1": 2}


def test_badge_wording() -> None:
    assert badge_message(3, 385, "RoBERTa base") == "#3 of 385 RoBERTa base"
    assert badge_message(1, 385, "RoBERTa base", 12) == "#1 of 385 RoBERTa base (tied, 12 models)"
    assert badge_message(1, 385, "RoBERTa base", 1) == "#1 of 385 RoBERTa base"
    assert badge_message(None, 385, "RoBERTa base", 5) == "unranked RoBERTa base"


def test_nli_models_are_recognised() -> None:
    assert is_nli("lkwate/roberta-base-mnli")
    assert is_nli("cross-encoder/nli-roberta-base")
    assert is_nli("a/xlm-roberta-large-xnli") and is_nli("textattack/roberta-base-MNLI")
    assert is_nli("a/model", ("dataset:multi_nli",)) and is_nli(
        "a/m", ("dataset:stanfordnlp/snli",)
    )
    assert is_nli("a/model-mnli", ("dataset:glue",))
    assert not is_nli("a/model", ("dataset:glue",))  # GLUE, but which task?
    assert not is_nli("a/clinical-roberta") and not is_nli("a/unlike-mnlistic")
    assert not is_nli("a/model", ("dataset:squad", "license:mit"))


def test_one_protocol_at_a_time(store_dir: Path, tmp_path: Path) -> None:
    """A store with results of two protocol versions ranks only the current one's; the older
    results stay in the store and on the model pages as history."""
    store = Store(store_dir)
    store.write_legacy_baselines(make_baselines())
    store.write_legacy_models([make_legacy_model("z/legacy", score=0.6)])
    bits = correctness(np.array([0.6, 0.5, 0.55]), 1_000, seed=3)
    old = dict(protocol_version=OLD_PROTOCOL, evaluated_at="2026-10-01T10:00:00Z")
    store.write_results(
        [
            _result("x/old-only", None, accuracy=0.95, **old),  # would top the ranking
            _result("y/both", None, accuracy=0.91, gain=0.2, **old),
            _result("y/both", bits[0], revision="d" * 40),
            _result("w/current", bits[1]),
            _result("roberta-base", None, accuracy=0.7, **old),
            _result("roberta-base", bits[2]),
        ]
    )
    out = tmp_path / "site"
    build_site(store_dir, out)
    data = json.loads((out / "downloads/roberta-base.json").read_bytes())
    rows = {m["model_id"]: m for m in data["models"]}  # missing values are left out
    rows = {k: {**dict.fromkeys(map(download_name, COLUMNS)), **m} for k, m in rows.items()}
    assert rows["y/both"]["probe_rank"] == 1 and rows["w/current"]["probe_rank"] == 2
    assert rows["y/both"]["probe_accuracy_pct"] == pytest.approx(100 * bits[0].mean())
    assert rows["y/both"]["protocol_version"] == PROTOCOL_VERSION
    old_only = rows["x/old-only"]
    assert old_only["probe_rank"] is None and old_only["probe_accuracy_pct"] is None
    assert data["baseline"]["probe_accuracy_pct"] == pytest.approx(100 * bits[2].mean())
    assert latest_results(store.results())["y/both"].protocol_version == PROTOCOL_VERSION
    page = (out / "models/roberta-base/y--both.html").read_text()
    assert "every protocol version" in page
    assert f"<td>{OLD_PROTOCOL}</td>" in page and "91.00" in page and "+20.00" in page
    assert f"{PROTOCOL_VERSION} (current)" in page
    assert f"<td>{OLD_PROTOCOL}</td>" in (out / "models/roberta-base/x--old-only.html").read_text()
    badge = json.loads((out / "badges/roberta-base/x--old-only.json").read_text())
    assert badge["message"] == "unranked RoBERTa base"
    badge = json.loads((out / "badges/roberta-base/y--both.json").read_text())
    assert badge["message"] == "#1 of 2 RoBERTa base"


def test_the_comparison_keeps_each_results_resamples(cloud) -> None:
    """The compare view tests pairs on these (ranker.build.pairs): each kept row is its
    result's right answers in the shared resamples, the very numbers the ranks were made of."""
    results, correct = cloud
    comparison = compare_probe_results(results)
    assert comparison.n_eval == correct.shape[1]
    assert comparison.resampled is not None
    assert comparison.resampled.shape == (len(results), RESAMPLES)
    expected = resampled_correct(correct, resample_counts(correct.shape[1]))
    rows = [int(key[0].split("/m")[1]) for key in comparison.keys]
    assert np.array_equal(comparison.resampled, expected[rows])
    relation = probe_relation(comparison.resampled, comparison.accuracy)
    assert np.array_equal(relation.dense(), comparison.relation.dense())
