"""The downloads' cells (ranker.build.downloads): no cell a spreadsheet would run, no cell that
splits a row, numbers kept as numbers; and strict JSON."""

from __future__ import annotations

import contextlib
import csv
import io
import json
import math
import unicodedata
from types import SimpleNamespace

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ranker.build.columns import JSON_ONLY, download_name, guide, in_unit
from ranker.build.downloads import (
    all_downloads,
    baseline_record,
    csv_cell,
    csv_safe,
    csv_text,
    download_record,
    json_text,
    starts_like_formula,
    unit_table,
)
from ranker.build.numbers import compact, fixed, scaled, size
from ranker.build.tables import COLUMNS, Baseline
from ranker.records import LEGACY_TASKS


def _evaluated(cell: str) -> bool:
    """Whether a spreadsheet could take a read-back cell for a formula: the check that the
    tests make independently of the module (strip what a reader may not show or may strip,
    map look-alikes, then look at the first character). A neutralised cell starts with `'`."""
    if cell.startswith("'"):
        return False
    if cell[:1] in ("\t", "\r"):
        return True
    shown = "".join(
        c
        for c in unicodedata.normalize("NFKC", cell)
        if not (c.isspace() or unicodedata.category(c)[0] in "CZM")
    )
    if not shown:
        return False
    first = shown[0]
    return first in "=+-@\u2212\u2796\u02d7\u2043\u2795" or unicodedata.category(first) == "Pd"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("=1+1", "'=1+1"),
        ("+1", "'+1"),
        ("-1", "'-1"),
        ("@x", "'@x"),
        ("\tx", "'\tx"),  # a leading tab or CR whatever follows
        ("\rx", "' x"),  # ... and the CR itself becomes a space
        ("  =1+1", "'  =1+1"),  # blanks before the sign
        ("\u00a0=1", "'\u00a0=1"),  # a no-break space
        ("\u200f=1", "'\u200f=1"),  # an RTL mark
        ("\u200b\ufeff@x", "'\u200b\ufeff@x"),  # zero-width space, byte-order mark
        ("\x00=1", "' =1"),  # a NUL: a control character, replaced
        ("\u0301=1", "'\u0301=1"),  # a lone combining mark
        ("\uff1dSUM(A1)", "'\uff1dSUM(A1)"),  # fullwidth =
        ("\uff0b1", "'\uff0b1"),  # fullwidth +
        ("\uff0d1", "'\uff0d1"),  # fullwidth -
        ("\uff20x", "'\uff20x"),  # fullwidth @
        ("\ufe66x", "'\ufe66x"),  # small =
        ("\u207a1", "'\u207a1"),  # superscript +
        ("\u22121", "'\u22121"),  # minus sign
        ("\u20131", "'\u20131"),  # en dash
        ("\u20141", "'\u20141"),  # em dash
        ("\u2796x", "'\u2796x"),  # heavy minus sign
        ("mit\r\n=1+1", "mit  =1+1"),  # no raw line break inside a cell
        ("a\u2028b\u2029c\x85d", "a b c d"),  # nor a Unicode one
        ("tab\tinside", "tab\tinside"),  # a tab inside is harmless (the cell is quoted)
        ("mit", "mit"),
        ("a=b", "a=b"),
        ("apache-2.0", "apache-2.0"),
        ("\u00e9=1", "\u00e9=1"),  # a letter first
        ("", ""),
        (-0.5, -0.5),
        (-3, -3),
        (None, None),
    ],
)
def test_csv_safe(value, expected) -> None:
    assert csv_safe(value) == expected


def test_cells_quote_text_and_leave_numbers_bare() -> None:
    assert csv_cell("mit") == '"mit"'
    assert csv_cell('say "hi"') == '"say ""hi"""'
    assert csv_cell("=1") == '"\'=1"'
    assert csv_cell(-0.0123) == "-0.0123"  # a negative gain is a number, not text
    assert csv_cell(-3) == "-3"
    assert csv_cell(2**63 - 1) == str(2**63 - 1)
    assert csv_cell(True) == "True"
    assert csv_cell(None) == csv_cell(float("nan")) == csv_cell(pd.NA) == ""


def test_csv_text_keeps_numeric_columns_numeric() -> None:
    table = pd.DataFrame(
        {
            "gain": [-0.0123, None],
            "downloads": pd.array([5, None], dtype="Int64"),
            "license": ["-mit", None],
        }
    )
    text = csv_text(table, ["gain", "downloads", "license"])
    assert text == '"gain","downloads","license"\n-0.0123,5,"\'-mit"\n,,\n'
    rows = list(csv.reader(io.StringIO(text, newline=""), quoting=csv.QUOTE_NONNUMERIC))
    assert rows[1][:2] == [-0.0123, 5.0]  # read back as numbers by a reader that types cells


def test_json_downloads_are_strict() -> None:
    record = {"a": 1.5, "b": float("nan"), "c": float("inf"), "d": None, "e": [], "f": False}
    assert download_record(record) == {"a": 1.5}
    with pytest.raises(ValueError):
        json_text({"x": float("nan")})  # never NaN, which JSON.parse refuses
    assert json.loads(json_text({"x": "\u2028</script>"})) == {"x": "\u2028</script>"}


# -- property: whatever the cell, it reads back as one cell, and no spreadsheet runs it --------

# Cells built to start like a formula: blanks, controls and invisible characters, then a sign
# (ASCII, a look-alike, or a harmless character for contrast), then anything.
BLANKS = " \t\r\n\x00\x0b\x85\u00a0\u3000\u200b\u200f\u202e\ufeff\u2028\u0301"
SIGNS = "=+-@\uff1d\uff0b\uff0d\uff20\ufe66\ufe62\u207a\u2212\u2010\u2013\u2014\u2796\ufe63'\";,a1"
anything = st.text(st.characters(codec="utf-8"), max_size=12)
texts = st.one_of(
    st.builds(
        lambda a, b, c: a + b + c, st.text(BLANKS, max_size=3), st.sampled_from(SIGNS), anything
    ),
    anything,
)
numbers = st.one_of(
    st.integers(min_value=-(2**63), max_value=2**64 - 1),
    st.floats(allow_nan=True, allow_infinity=True),
    st.none(),
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(texts, numbers, texts), min_size=1, max_size=5))
def test_every_cell_reads_back_as_one_cell_and_runs_nothing(rows) -> None:
    table = pd.DataFrame(
        {
            "model_id": [a for a, _, _ in rows],
            "value": pd.Series([n for _, n, _ in rows], dtype=object),
            "license": [c for _, _, c in rows],
        }
    )
    text = csv_text(table, ["model_id", "value", "license"])
    back = list(csv.reader(io.StringIO(text, newline="")))
    assert len(back) == len(rows) + 1 and all(len(r) == 3 for r in back)
    for (a, n, c), (got_a, got_n, got_c) in zip(rows, back[1:], strict=True):
        for cell in (got_a, got_c):
            assert not _evaluated(cell), cell
            assert "\r" not in cell and "\n" not in cell
        for original, cell in ((a, got_a), (c, got_c)):  # a cell changes only where it must
            if not starts_like_formula(original) and original.isprintable():
                assert cell == original
        if n is None or (isinstance(n, float) and not math.isfinite(n)):
            assert got_n == ""
        else:
            assert float(got_n) == float(n)  # a number comes back as that number


# -- units: the downloads in the site's units, every column in the guide -----------------------


def test_scores_are_percent_and_gains_points_with_the_unit_in_the_name() -> None:
    assert [download_name(c) for c in ("probe_accuracy", "gain", "logme", "params", "cola")] == [
        "probe_accuracy_pct", "gain_pts", "logme", "params", "cola_pct",
    ]  # fmt: skip
    assert in_unit("mnli_lp", 0.8479454841334418) == 100 * 0.8479454841334418
    assert in_unit("logme", 0.5) == 0.5 and in_unit("params", 7) == 7
    assert in_unit("avg", None) is None
    record = {"model_id": "a/b", "probe_accuracy": 0.61, "gain": -0.0123, "logme": None}
    assert download_record(record) == {
        "model_id": "a/b",
        "probe_accuracy_pct": 61.0,
        "gain_pts": -1.23,
    }
    table = pd.DataFrame([{c: None for c in COLUMNS} | {"probe_gain": -0.0123, "avg": 0.5}])
    frame = unit_table(table)
    assert list(frame.columns) == [download_name(c) for c in COLUMNS]
    assert frame.loc[0, "probe_gain_pts"] == -1.23 and frame.loc[0, "avg_pct"] == 50.0
    assert csv_text(frame, ["probe_gain_pts"]) == '"probe_gain_pts"\n-1.23\n'
    base = Baseline("roberta-base", 0.5, 0.01, 20, 0.55, None, dict.fromkeys(LEGACY_TASKS, 0.25))
    record = baseline_record(base)
    assert record["avg_pct"] == 50.0 and record["avg_std_pts"] == 1.0
    assert record["probe_accuracy_pct"] is None and record["scores_pct"]["cola"] == 25.0


def test_the_guide_names_every_column_with_its_unit_and_source() -> None:
    columns = guide()
    assert [c.name for c in columns] == [download_name(c) for c in COLUMNS]
    assert all(c.unit and c.source and c.meaning for c in [*columns, *JSON_ONLY])
    units = {c.name: c.unit for c in columns}
    assert units["probe_accuracy_pct"] == units["cola_pct"] == "%"
    assert units["gain_pts"] == units["probe_gain_pts"] == "percentage points"


# -- one number format: ranker.js does the same (tests/test_browser_numbers.py) ----------------


def test_numbers_round_the_exact_value_once_and_ties_away_from_zero() -> None:
    assert scaled(0.8479454841334418) == "84.79"  # the table once showed 84.80
    assert fixed(0.125, 2) == "0.13" and fixed(-0.125, 2) == "-0.13"  # JavaScript's toFixed
    assert fixed(2.5, 0) == "3" and format(2.5, ".0f") == "2"  # not Python's round-half-even
    assert scaled(-0.00001) == "0.00" and scaled(-0.00001, sign=True) == "+0.00"  # no "-0.00"
    assert scaled(-0.0123, sign=True) == "-1.23" and scaled(None) == scaled(math.nan) == "–"
    assert fixed(1e300, 2) == "1e+300" and fixed(math.inf, 2) == "Infinity"


@pytest.mark.parametrize(
    ("n", "text"),
    [(0, "0"), (950, "950"), (999.5, "1.0K"), (4_400, "4.4K"), (420_000, "420K"),
     (999_499, "999K"), (999_500, "1.0M"), (4_400_000, "4.4M"), (9_950_000, "10M"),
     (108_310_272, "108M"), (1_300_000_000, "1.3B"), (11_000_000_000, "11B")],
)  # fmt: skip
def test_parameter_counts_never_read_0M(n, text) -> None:
    assert size(n) == text


@settings(max_examples=500, deadline=None)
@given(st.floats(allow_nan=False, allow_infinity=False, min_value=-1e6, max_value=1e6))
def test_compact_rows_show_what_the_value_shows(value) -> None:
    short = compact(value)
    assert len(repr(short)) <= len(repr(value))
    for scale, digits in ((100, 2), (1, 3)):
        assert fixed(scale * short, digits) == fixed(scale * value, digits)


class _Writer:
    """What Downloads writes, by path (a SiteWriter's `write` and `stream`)."""

    def __init__(self) -> None:
        self.files: dict[str, str] = {}

    def write(self, rel: str, content: str) -> None:
        self.files[rel] = content

    @contextlib.contextmanager
    def stream(self, rel: str):
        buffer = io.StringIO()
        yield buffer
        self.files[rel] = buffer.getvalue()


def _view(slug: str, rows: list[dict]) -> SimpleNamespace:
    table = pd.DataFrame([{c: None for c in COLUMNS} | r for r in rows], columns=list(COLUMNS))
    base = Baseline(slug, None, None, None, None, None, {})
    return SimpleNamespace(
        table=table, arch=SimpleNamespace(id=slug), baseline=base, updated="2026-11-20",
        records=[{"model_id": r["model_id"]} for r in rows],
        downloads={"csv": f"downloads/{slug}.csv", "json": f"downloads/{slug}.json"},
    )  # fmt: skip


def test_each_file_drops_the_columns_empty_in_it() -> None:
    writer = _Writer()
    with all_downloads(writer, "2026-11-20") as downloads:
        downloads.add(_view("a", [{"model_id": "a/x", "avg": 0.5, "flags": ""}]))
        downloads.add(_view("b", [{"model_id": "b/y", "logme": 1.5, "license": "mit"}]))
        downloads.add(_view("c", []))
    files = writer.files
    assert files["downloads/a.csv"] == '"model_id","avg_pct"\n"a/x",50.0\n'
    assert files["downloads/b.csv"] == '"model_id","logme","license"\n"b/y",1.5,"mit"\n'
    assert files["downloads/c.csv"] == '"model_id"\n'  # no model: still a header
    assert files["downloads/all.csv"] == (
        '"model_id","logme","avg_pct","license"\n"a/x",,50.0,\n"b/y",1.5,,"mit"\n'
    )
    assert "downloads/all.json" not in files  # JSON per architecture only
