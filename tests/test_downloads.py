"""The downloads' cells (ranker.build.downloads): no cell a spreadsheet would run, no cell that
splits a row, numbers kept as numbers; and strict JSON."""

from __future__ import annotations

import csv
import io
import json
import math
import unicodedata

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ranker.build.downloads import (
    csv_cell,
    csv_safe,
    csv_text,
    download_record,
    json_text,
    starts_like_formula,
)


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
