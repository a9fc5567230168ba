"""The build's rules for what it takes from a record (ranker.build.inputs): dates, counts and
scores it cannot use are left out with a warning naming the model; the rest stays."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest

from conftest import make_legacy_model
from ranker.build.inputs import (
    MAX_COUNT,
    RecordWarning,
    canonical_time,
    usable_catalog,
    usable_count,
    usable_fraction,
    usable_legacy,
    usable_meta,
    usable_results,
)
from ranker.protocol import PROTOCOL_VERSION
from ranker.records import CatalogEntry, EvalResult

NOW = dt.datetime(2026, 12, 1, 12, 0, tzinfo=dt.UTC)
LONG = "\u202e</script>\x00\r\n" * 1250  # 10,000 characters: RTL override, markup, controls


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2026-11-20T10:00:00Z", "2026-11-20T10:00:00Z"),
        ("2026-11-20T10:00:00.123456789Z", "2026-11-20T10:00:00Z"),  # the hub's fractions
        ("2023-02-05T18:37:34.000Z", "2023-02-05T18:37:34Z"),
        ("2026-11-20T23:30:00-05:00", "2026-11-21T04:30:00Z"),  # to UTC: the day can change
        ("2026-11-20", "2026-11-20T00:00:00Z"),
        ("2023-04", "2023-04-01T00:00:00Z"),  # the 2023 data's month
        ("2026-12-02T11:00:00Z", "2026-12-02T11:00:00Z"),  # within a day past the clock
        ("2026-12-03T12:00:01Z", None),  # more than a day past it
        ("9999-12-31T23:59:59Z", None),  # far future: pandas' timestamps end in 2262
        ("2262-04-12T00:00:00Z", None),
        ("0001-01-01T00:00:00Z", None),  # far past
        ("1970-01-01T00:00:00Z", None),  # before the hub held models
        ("20261120", None),  # ISO's basic form: its first ten characters are not the day
        ("2026-13-45", None),
        ("nan", None),
        ("NaT", None),
        ("", None),
        (" 2026-11-20", None),
        (LONG, None),
        (None, None),
        (20261120, None),
    ],
)
def test_dates(value, expected) -> None:
    assert canonical_time(value, NOW) == expected


@pytest.mark.parametrize(
    ("value", "usable"),
    [(0, True), (12, True), (MAX_COUNT, True), (MAX_COUNT + 1, False), (2**63 - 1, False),
     (2**64 - 1, False), (-1, False), (-(2**63), False), (True, False), (1.0, False)],
)  # fmt: skip
def test_counts(value, usable) -> None:
    assert (usable_count(value) is not None) is usable


@pytest.mark.parametrize(
    ("value", "usable"),
    [(0.0, True), (1.0, True), (-1.0, True), (-0.013, True), (1.0000001, False),
     (1e308, False), (-1e308, False), (float("nan"), False), (float("inf"), False)],
)  # fmt: skip
def test_fractions(value, usable) -> None:
    assert usable_fraction(value) is usable


def _result(model_id: str, when: str, **kw) -> EvalResult:
    return EvalResult(
        schema_version=1, model_id=model_id, architecture="roberta-base", revision="c" * 40,
        protocol_version=PROTOCOL_VERSION, status="ok", evaluated_at=when, accuracy=0.7,
        **kw,
    )  # fmt: skip


def test_results_keep_their_scores_and_lose_only_what_cannot_be_used() -> None:
    good = _result("a/good", "2026-11-20T10:00:00Z")
    with pytest.warns(RecordWarning) as caught:
        out = usable_results(
            [
                good,
                _result("b/future", "9999-12-31T00:00:00Z"),
                _result("c/junk", LONG),
                _result("d/huge", "2026-11-20T10:00:00Z", gain=1e308, accuracy_high=2.0),
            ],
            NOW,
        )
    assert out[0] is good  # a usable record is passed on as it is
    assert out[1] == dataclasses.replace(out[1], evaluated_at="") and out[1].accuracy == 0.7
    assert out[2].evaluated_at == ""
    assert (out[3].gain, out[3].accuracy_high, out[3].accuracy) == (None, None, 0.7)
    messages = sorted(str(w.message) for w in caught)  # one a field and rule, not a model
    assert len(messages) == 3
    accuracy_high, dates, gain = messages
    assert dates.startswith("evaluated_at of 2 result(s) is not a date from 2018-01-01")
    assert "'b/future' ('9999-12-31T00:00:00Z')" in dates and "'c/junk' (" in dates
    assert len(dates) < 300  # a long value is cut short
    assert gain.startswith("gain of 1 result(s) is not within ±1") and "'d/huge' (1e+308)" in gain
    assert "'d/huge' (2.0)" in accuracy_high


def test_many_faults_make_one_warning_that_names_a_few() -> None:
    results = [_result(f"a/m{i}", "9999-01-01") for i in range(12)]
    with pytest.warns(RecordWarning) as caught:
        usable_results(results, NOW)
    (message,) = [str(w.message) for w in caught]
    assert "of 12 result(s)" in message and "'a/m4'" in message and "'a/m5'" not in message
    assert message.endswith("and 7 more")


def test_catalog_counts_and_dates() -> None:
    entry = CatalogEntry(
        schema_version=1, model_id="a/x", architecture="roberta-base", sha="c" * 40,
        status="ok", downloads=2**63 - 1, likes=-1, params=124_000_000,
        last_modified="0001-01-01T00:00:00Z",
    )  # fmt: skip
    with pytest.warns(RecordWarning, match="'a/x'"):
        (out,) = usable_catalog([entry], NOW)
    assert (out.downloads, out.likes, out.params, out.last_modified) == (
        None, None, 124_000_000, None
    )  # fmt: skip


def test_legacy_rows_and_meta() -> None:
    row = make_legacy_model(
        "a/old", last_modified="9999-01-01", params=2**64 - 1, avg=1e308,
        scores={"cola": -0.01, "rte": 5.0},
    )  # fmt: skip
    with pytest.warns(RecordWarning, match="'a/old'"):
        (out,) = usable_legacy([row], NOW)
    assert (out.last_modified, out.params, out.avg) == ("", None, None)
    assert out.scores == {"cola": -0.01, "rte": None}  # MCC below 0 is a score
    with pytest.warns(RecordWarning, match="as_of"):
        assert usable_meta({"as_of": "9999-01-01", "n": 1}, NOW) == {"as_of": None, "n": 1}
    assert usable_meta({"as_of": "2023-04"}, NOW) == {"as_of": "2023-04"}  # no more precise
    assert usable_meta({"as_of": "2023-04-05T10:00:00Z"}, NOW) == {"as_of": "2023-04-05"}
    assert usable_meta({}, NOW) == {}
