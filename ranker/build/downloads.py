"""The downloads' cells: the one rule that makes a CSV safe to open in a spreadsheet, and the
JSON text of the downloads.

Hub content is untrusted, and a CSV cell that starts like a formula (`=HYPERLINK(...)`) is run
by Excel, LibreOffice and Google Sheets when the file is opened ("CSV injection", OWASP). So:

- every text cell is quoted, and numbers are not: a negative gain stays a number;
- no raw line break inside a cell: CR, LF and every other control character but the tab, and
  the Unicode line and paragraph separators, become a space (a reader that splits rows at a
  CR would otherwise start a new row, whose first cell could be a formula). The JSON
  downloads keep the exact text;
- a text cell is neutralised, prefixed with `'`, when it starts with a tab or a CR, or when
  its first character that is not blank, a control or format character (an RTL mark, a
  zero-width space) or a combining mark is a formula sign once look-alike forms are mapped:
  NFKC (fullwidth `＝＋－＠`, small and super/subscript forms), every dash (Unicode `Pd`)
  and the minus and plus signs that NFKC keeps (`−`, `➖`, `˗`, `⁃`, `➕`).
"""

from __future__ import annotations

import contextlib
import gzip
import json
import math
import re
import unicodedata
from collections.abc import Iterator, Sequence
from typing import IO, TYPE_CHECKING, Any

import pandas as pd

from ranker.build.tables import COLUMNS, INT_COLUMNS, plain_column

if TYPE_CHECKING:
    from ranker.build import SiteWriter
    from ranker.build.views import ArchitectureView

# Every model in one file each, gzip-compressed: the per-architecture files hold the same.
ALL_CSV = "downloads/all.csv.gz"
ALL_JSON = "downloads/all.json.gz"

FORMULA_SIGNS = frozenset("=+-@")
# Signs NFKC leaves alone that a reader may still take for a minus or a plus.
SIGN_LOOKALIKES = frozenset("\u2212\u2796\u02d7\u2043\u2795")
# A cell starting with one of these is neutralised whatever follows (OWASP's list).
LEADING_BREAKS = ("\t", "\r")
# What a cell may not hold raw: every control character but the tab, and U+2028/U+2029.
_BREAKS = re.compile(r"[\x00-\x08\x0a-\x1f\x7f-\x9f\u2028\u2029]")


def _skipped(ch: str) -> bool:
    """Blank, control, format (RTL marks, zero-width space) and combining characters: what a
    reader may not show, or strip, before the first visible one."""
    return ch.isspace() or unicodedata.category(ch)[0] in "CZM"


def _is_sign(ch: str) -> bool:
    return ch in FORMULA_SIGNS or ch in SIGN_LOOKALIKES or unicodedata.category(ch) == "Pd"


def starts_like_formula(text: str) -> bool:
    """Whether a spreadsheet could read the text as a formula (the module's rule)."""
    if text.startswith(LEADING_BREAKS):
        return True
    for ch in text:
        if _skipped(ch):
            continue
        if ch.isascii():  # the common case: no look-alike form to map
            return ch in FORMULA_SIGNS
        mapped = [c for c in unicodedata.normalize("NFKC", ch) if not _skipped(c)]
        if not mapped:  # NFKC made it blank (a no-break space): go on to the next one
            continue
        return _is_sign(mapped[0])
    return False


def csv_safe(value: Any) -> Any:
    """A download cell: text without raw line breaks, prefixed with `'` when it starts like a
    formula; anything else (a number, a missing value) as it is."""
    if not isinstance(value, str):
        return value
    formula = starts_like_formula(value)
    text = _BREAKS.sub(" ", value)
    return "'" + text if formula else text


def _quoted(text: str) -> str:
    return '"' + text.replace('"', '""') + '"'


def csv_cell(value: Any) -> str:
    """One cell as CSV text: text quoted and made safe, numbers bare, missing empty."""
    if value is None or value is pd.NA:
        return ""
    if isinstance(value, bool):
        return "True" if value else "False"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return repr(value) if math.isfinite(value) else ""
    return _quoted(csv_safe(str(value)))


def csv_text(table: pd.DataFrame, columns: Sequence[str]) -> str:
    """The table's `columns` as CSV (one line a model, "\\n" line ends), every cell through
    `csv_cell`: numeric columns stay numbers, text columns are quoted and neutralised."""
    cells = [[csv_cell(v) for v in plain_column(table[c], c in INT_COLUMNS)] for c in columns]
    lines = [",".join(_quoted(c) for c in columns)]
    lines += [",".join(row) for row in zip(*cells, strict=True)]
    return "".join(line + "\n" for line in lines)


def download_record(record: dict[str, Any], page: bool = True) -> dict[str, Any]:
    """A model in the JSON downloads: what it has; a missing value (a non-finite number
    included), no flag, not trained on NLI data (and, in all.json.gz, the page) are left out."""
    return {
        k: v
        for k, v in record.items()
        if v is not None
        and v != []
        and v is not False
        and not (isinstance(v, float) and not math.isfinite(v))
        and (page or k != "page")
    }


def json_compact(data: Any) -> str:
    """Strict JSON on one line: never NaN or Infinity, which JSON.parse refuses."""
    return json.dumps(data, ensure_ascii=False, separators=(",", ":"), allow_nan=False)


def json_text(data: Any) -> str:
    """A JSON file's text: `json_compact` and a line end."""
    return json_compact(data) + "\n"


def gzipped(text: str) -> bytes:
    """Reproducible gzip (no time stamp): the downloads, a tenth of their size on disk."""
    return gzip.compress(text.encode(), mtime=0)


class Downloads:
    """Writes each architecture's downloads (`add`) and appends its models to the files of
    every model (`all_downloads`)."""

    def __init__(self, writer: SiteWriter, all_csv: IO[str], all_json: IO[str]) -> None:
        self.writer = writer
        self.all_csv = all_csv
        self.all_json = all_json
        self.count = 0  # architectures added
        self.models = 0  # models added

    def add(self, v: ArchitectureView) -> None:
        assert v.table is not None
        text = csv_text(v.table, COLUMNS)
        self.writer.write(v.downloads["csv"], gzipped(text))
        self.all_csv.write(text.split("\n", 1)[1] if self.count else text)  # one header
        document = {
            "architecture": v.arch.id,
            "baseline": v.baseline.__dict__,
            "updated": v.updated,
            "models": [download_record(r) for r in v.records],
        }
        self.writer.write(v.downloads["json"], gzipped(json_text(document)))
        for r in v.records:
            separator = "," if self.models else ""
            self.all_json.write(separator + json_compact(download_record(r, False)))
            self.models += 1
        self.count += 1


@contextlib.contextmanager
def all_downloads(writer: SiteWriter, updated: str) -> Iterator[Downloads]:
    """The files of every model, open while the architectures are added."""
    with writer.stream(ALL_CSV) as all_csv, writer.stream(ALL_JSON) as all_json:
        all_json.write(f'{{"updated":{json.dumps(updated)},"models":[')
        downloads = Downloads(writer, all_csv, all_json)
        yield downloads
        all_json.write("]}\n")
