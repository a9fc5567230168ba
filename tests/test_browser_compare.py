"""The compare view in Chromium: for every pair of chosen models, the verdict, difference and
interval the page shows are those of the ranks' own tests computed in Python on the same
results (ranker.build.ranks, ranker.build.pairs); rows no chosen model has are hidden; both
widths are readable without a page-wide horizontal scroll.
"""

from __future__ import annotations

from dataclasses import replace
from itertools import combinations
from pathlib import Path
from urllib.parse import quote

import numpy as np
import pytest
from browsing import N_SYNTHETIC, Watch, record, shot

from ranker.build import build_site
from ranker.build.numbers import scaled
from ranker.build.ranks import (
    ALPHA,
    compare_probe_results,
    legacy_threshold,
)
from ranker.build.resamples import (
    SEED,
    resample_indices,
)
from ranker.build.tables import UNRANKED_FLAGS
from ranker.protocol import PROTOCOL_VERSION
from ranker.store import Store
from ranker.testing.synthetic import synthetic_models

ARCH = "roberta-base"
WRAPS = 2587150481  # a seed whose key, triple32(seed), is 2**32 - 74: counters wrap


def _open(browser, site: Path, models: list[str], width: int = 1280, height: int = 900):
    page = browser.new_page(viewport={"width": width, "height": height})
    watch = Watch(page, site.resolve().as_uri())
    query = "&".join(f"m={quote(m, safe='')}" for m in models)
    page.goto(f"{site.resolve().as_uri()}/compare/{ARCH}.html?{query}")
    page.wait_for_selector("html[data-compare-ready]")
    return page, watch


def _lines(page) -> list[dict]:
    """Every verdict line the page shows, with its numbers as shown."""
    return page.evaluate(
        """() => Array.from(document.querySelectorAll('#compare-pairs p.verdict')).map(p => {
          const get = c => { const s = p.querySelector('.' + c); return s ? s.textContent : null; };
          return {measure: p.dataset.measure, verdict: p.dataset.verdict, first: p.dataset.first,
                  second: p.dataset.second, diff: get('diff'), low: get('low'),
                  high: get('high'), text: p.textContent};
        })"""
    )


def _table(page) -> dict[str, list[str]]:
    """The compare table: line label -> the shown value per chosen model."""
    out = {}
    for tr in page.locator("#compare-table tbody tr").all():
        out[tr.locator("th").inner_text()] = tr.locator("td").all_inner_texts()
    return out


class Truth:
    """The big site's probe results and 2023 rows, tested in Python as the ranks test them."""

    def __init__(self, imported_store: Path) -> None:
        store = Store(imported_store)
        legacy = [m for m in store.legacy_models() if m.architecture == ARCH]
        results, _ = synthetic_models(
            ARCH, N_SYNTHETIC, reuse=[m.model_id for m in legacy][:300]
        )  # what tests/browsing.py's big site holds
        comparison = compare_probe_results(
            r for r in results if r.protocol_version == PROTOCOL_VERSION
        )
        assert comparison.resampled is not None
        self.ids = [k[0] for k in comparison.keys]  # best accuracy first
        self.index = {m: i for i, m in enumerate(self.ids)}
        self.n = comparison.n_eval
        self.right = np.rint(comparison.accuracy * self.n).astype(np.int64)
        self.resampled = comparison.resampled.astype(np.int64)
        self.better = comparison.relation.dense()
        self.limit = int(np.floor(ALPHA * (self.resampled.shape[1] - 1)))
        sigma = next(
            b.std for b in store.legacy_baselines() if b.architecture == ARCH and b.metric == "avg"
        )
        self.threshold = legacy_threshold(sigma)
        self.avg = {
            m.model_id: m.avg
            for m in legacy
            if m.avg is not None
            and not m.is_pretrained
            and not any(f in UNRANKED_FLAGS for f in m.flags)
        }

    def nonpositive(self, a: str, b: str) -> int:
        ia, ib = self.index[a], self.index[b]
        return int(np.count_nonzero(self.resampled[ia] - self.resampled[ib] <= 0))

    def probe(self, a: str, b: str) -> dict:
        """The line the page must show for (a, b), a and b in the order chosen."""
        if self.right[self.index[b]] > self.right[self.index[a]]:
            a, b = b, a
        ia, ib = self.index[a], self.index[b]
        d = self.resampled[ia] - self.resampled[ib]
        exact = bool(self.right[ia] > self.right[ib] and np.count_nonzero(d <= 0) <= self.limit)
        assert exact == bool(self.better[ia, ib])  # the ranks' shortcut agrees with the count
        low = np.quantile(d, ALPHA, method="lower") / self.n
        high = np.quantile(d, 1 - ALPHA, method="higher") / self.n
        return {
            "measure": "probe", "verdict": "better" if self.better[ia, ib] else "tie",
            "first": a, "second": b, "diff": scaled((self.right[ia] - self.right[ib]) / self.n,
            sign=True), "low": scaled(low, sign=True), "high": scaled(high, sign=True),
        }  # fmt: skip

    def legacy(self, a: str, b: str) -> dict:
        if self.avg[b] > self.avg[a]:
            a, b = b, a
        d = self.avg[a] - self.avg[b]
        return {
            "measure": "legacy", "verdict": "better" if d > self.threshold else "tie",
            "first": a, "second": b, "diff": scaled(d, sign=True),
            "low": scaled(d - self.threshold, sign=True),
            "high": scaled(d + self.threshold, sign=True),
        }  # fmt: skip


@pytest.fixture(scope="module")
def truth(imported_store: Path) -> Truth:
    return Truth(imported_store)


def _near(truth: Truth, low: int, high: int, count: int, skip: set[str]) -> list[str]:
    """Models (pairs, flattened) of close accuracy whose count of non-positive resampled
    differences lies in [low, high]: the pairs the test's rule decides by a few resamples."""
    out: list[str] = []
    for i in range(0, len(truth.ids) - 600, 97):
        js = np.arange(i + 1, i + 600)
        counts = np.count_nonzero(truth.resampled[i] - truth.resampled[js] <= 0, axis=1)
        ok = (counts >= low) & (counts <= high) & (truth.right[js] < truth.right[i])
        # the pairs nearest the rule's line first: 24 (significant) or 25 (not) of 1,000
        hits = sorted(
            zip(np.abs(counts[ok] - truth.limit - 0.5).tolist(), js[ok].tolist(), strict=True)
        )
        hits = [j for _, j in hits if truth.ids[j] not in skip and truth.ids[i] not in skip]
        if hits:
            out += [truth.ids[i], truth.ids[hits[0]]]
            skip |= set(out)
        if len(out) >= 2 * count:
            return out
    raise AssertionError(f"no {count} pairs with {low}..{high} non-positive differences")


def _legacy_near(truth: Truth, above: bool) -> list[str]:
    """Two 2023 models whose averages differ by just more (or just less) than 1.96·σ·√2."""
    ids = sorted(truth.avg, key=lambda m: truth.avg[m])
    best: tuple[float, list[str]] | None = None
    for i, a in enumerate(ids):
        for c in ids[i + 1 : i + 60]:
            gap = truth.avg[c] - truth.avg[a] - truth.threshold
            if (gap > 0) == above and gap != 0 and (best is None or abs(gap) < best[0]):
                best = (abs(gap), [c, a])
    assert best is not None
    return best[1]


def test_pair_verdicts_and_intervals_are_the_ranks_tests(browser, big_site: Path, truth) -> None:
    """Near ties either side of the rule's line (24 of 1,000 resamples), clear wins, 2023 pairs
    either side of 1.96·σ·√2: every shown verdict, difference and interval equals Python's."""
    skip: set[str] = set()
    pages = [
        _near(truth, 18, 24, 2, skip),  # just significant
        _near(truth, 25, 32, 2, skip),  # just not
        [truth.ids[0], truth.ids[40], *_near(truth, 0, 0, 1, skip)],  # clear wins
        _legacy_near(truth, True) + _legacy_near(truth, False),
    ]
    counts = [truth.nonpositive(*pages[k][i : i + 2]) for k in (0, 1) for i in (0, 2)]
    assert sorted(counts) == [24, 24, 25, 25], counts  # either side of the line, by one
    verdicts = {"better": 0, "tie": 0}
    for models in pages:
        page, watch = _open(browser, big_site, models)
        shown = _lines(page)
        table = _table(page)
        ranks = {"probe": table.get("Rank (our MNLI probe)"), "legacy": table.get("2023 rank")}
        expected = []
        for a, b in combinations(models, 2):
            if a in truth.index and b in truth.index:
                expected.append(truth.probe(a, b))
            if a in truth.avg and b in truth.avg:
                expected.append(truth.legacy(a, b))
        got = [
            {k: line[k] for k in ("measure", "verdict", "first", "second", "diff", "low", "high")}
            for line in shown
            if line["verdict"] != "none"
        ]
        assert got == expected, models
        for line in got:
            verdicts[line["verdict"]] += 1
            # significantly better is "the interval lies above zero", and ranks agree
            above = float(line["low"]) > 0
            assert (line["verdict"] == "better") == above or line["measure"] == "legacy"
            if line["verdict"] == "better":  # the better model ranks above on that measure
                cells = ranks[line["measure"]]
                first, second = (
                    int(cells[models.index(line[k])].split()[0].lstrip("#"))
                    for k in ("first", "second")
                )
                assert first < second, line
        assert watch.errors == [] and watch.outside == []
    assert verdicts["better"] >= 4 and verdicts["tie"] >= 4, verdicts


def test_the_page_redraws_the_ranks_resamples(browser, big_site: Path, truth) -> None:
    """compare.js's index stream is resample_indices' draw for draw (a small n and R, with the
    protocol's seed and with one whose counters wrap past 2**32), and the right answers it
    counts from the shipped bits are the ranks' own resampled counts. Times the full stream
    (n = 5,000, R = 1,000), drawn once per page when two probe models are chosen."""
    models = [truth.ids[3], truth.ids[2500]]
    page, watch = _open(browser, big_site, models)
    for n, resamples, seed in ((37, 5, SEED), (1_000, 20, SEED), (37, 5, WRAPS)):
        got = page.evaluate(
            "([n, r, s]) => Array.from(rankerCompare.resampleIndices(n, r, s))",
            [n, resamples, seed],
        )
        assert got == resample_indices(n, resamples, seed).ravel().tolist(), (n, resamples)
    for m in models:
        got = page.evaluate("m => Array.from(rankerCompare.resampledOf(m))", m)
        assert got == truth.resampled[truth.index[m]].tolist(), m
    seconds = page.evaluate(
        """([n, r, s]) => { const t = performance.now();
          rankerCompare.resampleIndices(n, r, s); return (performance.now() - t) / 1000; }""",
        [truth.n, 1_000, SEED],
    )
    record("compare_resample_stream_seconds_n5000_r1000", round(seconds, 3))
    assert seconds < 1.0, seconds
    assert watch.errors == [] and watch.outside == []


def test_rows_no_model_has_are_hidden_and_intervals_shown(browser, big_site: Path, truth) -> None:
    """Two 2023-only models: the probe's lines are gone, and the note says which; a probe
    model's accuracy and gain carry their 95% CI."""
    legacy_only = [m for m in truth.avg if m not in truth.index][:2]
    page, watch = _open(browser, big_site, legacy_only)
    table = _table(page)
    assert all(any(v != "–" for v in values) for values in table.values()), table
    for gone in ("Rank (our MNLI probe)", "LogME", "H-score"):
        assert not any(label.startswith(gone) for label in table)
        assert gone in page.locator("#compare-hidden").inner_text()
    assert "2023 36-task average (%)" in table
    (line,) = _lines(page)  # one pair, one measure both have
    assert line["measure"] == "legacy"
    # a probe model and a 2023-only one: its intervals, and "no test" said why
    probe_model = truth.ids[10]
    page, watch2 = _open(browser, big_site, [probe_model, legacy_only[0]])
    table = _table(page)
    acc = table["MNLI probe accuracy (%) [95% CI]"][0]
    gain = table["Gain over the base (points) [95% CI]"][0]
    assert acc.count("[") == 1 and acc.endswith("]") and gain.count("[") == 1
    lines = {line["measure"]: line for line in _lines(page)}
    assert (
        lines["probe"]["verdict"] == "none"
        and "B has no result of our probe" in (lines["probe"]["text"])
    )
    assert lines["legacy"]["verdict"] == "none" and "A has no 2023" in lines["legacy"]["text"]
    assert watch.errors == [] and watch.outside == []
    assert watch2.errors == [] and watch2.outside == []


@pytest.mark.parametrize("width,height,name", [(1280, 900, "desktop"), (390, 844, "phone")])
def test_compare_fits_the_screen(browser, big_site: Path, truth, width, height, name) -> None:
    """Four models, both measures: no page-wide horizontal scroll, every value on screen."""
    both = [m for m in truth.ids if m in truth.avg]  # a probe result and a 2023 average
    only_2023 = [m for m in truth.avg if m not in truth.index]
    models = [
        both[0],
        both[len(both) // 2],
        next(m for m in truth.ids if m not in both),
        only_2023[0],
    ]
    page, watch = _open(browser, big_site, models, width, height)
    assert page.evaluate("document.documentElement.scrollWidth") <= width + 1
    rights = page.evaluate(
        "Array.from(document.querySelectorAll('#compare-table td, #compare-table thead th,"
        " #compare-pairs p')).map(e => e.getBoundingClientRect().right)"
    )
    assert rights and max(rights) <= width + 1
    assert len(_lines(page)) >= 6  # every pair has a line
    shot(page, f"compare-pairs-{name}.png", full=True)
    assert watch.errors == [] and watch.outside == []


def test_a_result_outside_the_comparable_group_is_not_tested(
    browser, store_dir: Path, tmp_path: Path
) -> None:
    """A model whose result is of another data sample has a score but no probe rank: its pairs
    say "no test" and why; two ranked models of the same small site get a verdict."""
    results, catalog = synthetic_models(ARCH, 12, n_eval=400)
    current = [r for r in results if r.protocol_version == PROTOCOL_VERSION]
    other = replace(current[0], data_fingerprint="0" * 64)  # another sample: not comparable
    store = Store(store_dir)
    store.write_results([other, *current[1:]])
    store.write_catalog(catalog)
    site = tmp_path / "site"
    build_site(store_dir, site)
    models = [other.model_id, current[1].model_id, current[2].model_id]
    page, watch = _open(browser, site, models, 390, 844)
    table = _table(page)
    assert table["Rank (our MNLI probe)"][0] == "–"
    assert table["MNLI probe accuracy (%) [95% CI]"][0] != "–"
    lines = [line for line in _lines(page) if line["measure"] == "probe"]
    assert [line["verdict"] for line in lines] == ["none", "none", lines[2]["verdict"]]
    assert "A's probe result is not comparable" in lines[0]["text"]
    assert lines[2]["verdict"] in ("better", "tie") and lines[2]["low"] is not None
    assert watch.errors == [] and watch.outside == []
