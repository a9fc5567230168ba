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
import json
import math
import re
import tempfile
import unicodedata
from collections.abc import Iterator, Sequence
from typing import IO, TYPE_CHECKING, Any

import pandas as pd

from ranker.build.columns import PERCENT, POINTS, download_name, in_unit
from ranker.build.tables import COLUMNS, INT_COLUMNS, Baseline, plain_column

if TYPE_CHECKING:
    from ranker.build import SiteWriter
    from ranker.build.views import ArchitectureView

# Every model in one file each, plain text (a server may send it gzip-encoded): the
# per-architecture files hold the same. ranker.build.columns says what each column is.
ALL_CSV = "downloads/all.csv"

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


def unit_table(table: pd.DataFrame) -> pd.DataFrame:
    """The table as the downloads give it (ranker.build.columns): scores and gains times 100,
    columns named with their unit, in COLUMNS order."""
    frame = table.loc[:, list(COLUMNS)].copy()
    for c in (*PERCENT, *POINTS):
        frame[c] = pd.to_numeric(frame[c], errors="coerce").astype(float) * 100
    return frame.rename(columns={c: download_name(c) for c in COLUMNS})


def csv_cells(table: pd.DataFrame, columns: Sequence[str]) -> list[list[str]]:
    """The table's `columns` as CSV cells, column by column, every one through `csv_cell`."""
    return [[csv_cell(v) for v in plain_column(table[c], c in INT_COLUMNS)] for c in columns]


def filled(cells: list[str]) -> bool:
    """Whether a column of cells holds anything: not every cell empty (missing or "")."""
    return any(c not in ("", '""') for c in cells)


def csv_lines(columns: Sequence[str], cells: Sequence[Sequence[str]]) -> str:
    """A header of `columns` and a line a model ("\\n" line ends) from column-major cells."""
    lines = [",".join(_quoted(c) for c in columns)]
    lines += [",".join(row) for row in zip(*cells, strict=True)]
    return "".join(line + "\n" for line in lines)


def csv_text(table: pd.DataFrame, columns: Sequence[str]) -> str:
    """The table's `columns` as CSV (one line a model, "\\n" line ends), every cell through
    `csv_cell`: numeric columns stay numbers, text columns are quoted and neutralised."""
    return csv_lines(columns, csv_cells(table, columns))


def download_record(record: dict[str, Any]) -> dict[str, Any]:
    """A model in the JSON downloads, named and scaled as in the CSV (ranker.build.columns):
    what it has; a missing value (a non-finite number included), no flag, not trained on NLI
    data are left out."""
    return {
        download_name(k): in_unit(k, v)
        for k, v in record.items()
        if v is not None
        and v != []
        and v is not False
        and not (isinstance(v, float) and not math.isfinite(v))
    }


def baseline_record(baseline: Baseline) -> dict[str, Any]:
    """An architecture's base in its JSON download, in the units of the models' columns."""
    return {
        "model_id": baseline.model_id,
        "avg_pct": in_unit("avg", baseline.avg),
        "avg_std_pts": in_unit("gain", baseline.avg_std),
        "n_seeds": baseline.n_seeds,
        "mnli_lp_pct": in_unit("mnli_lp", baseline.mnli_lp),
        "probe_accuracy_pct": in_unit("probe_accuracy", baseline.probe_accuracy),
        "scores_pct": {t: in_unit(t, v) for t, v in baseline.scores.items()},
    }


def json_compact(data: Any) -> str:
    """Strict JSON on one line: never NaN or Infinity, which JSON.parse refuses."""
    return json.dumps(data, ensure_ascii=False, separators=(",", ":"), allow_nan=False)


def json_text(data: Any) -> str:
    """A JSON file's text: `json_compact` and a line end."""
    return json_compact(data) + "\n"


class Downloads:
    """Writes each architecture's downloads (`add`) and keeps its models for the files of every
    model (`all_downloads`). Each file drops the columns empty in it (model_id stays, so a file
    without models still has a header); so all.csv is written at the end, from every row's
    cells, spooled to a temporary file meanwhile. Every model is in one CSV, and in JSON per
    architecture only: a second JSON copy of everything would add ~0.7 kB a model to a site
    that GitHub Pages caps at 1 GB."""

    def __init__(self, writer: SiteWriter, spool: IO[str]) -> None:
        self.writer = writer
        self.spool = spool  # a JSON array of every column's cell a line: one line a model
        self.filled: set[str] = set()  # columns with a value in some architecture
        self.count = 0  # architectures added
        self.models = 0  # models added

    def add(self, v: ArchitectureView) -> None:
        assert v.table is not None
        names = [download_name(c) for c in COLUMNS]
        cells = csv_cells(unit_table(v.table), names)
        present = [i for i, c in enumerate(cells) if filled(c) or names[i] == "model_id"]
        self.filled.update(names[i] for i in present)
        text = csv_lines([names[i] for i in present], [cells[i] for i in present])
        self.writer.write(v.downloads["csv"], text)
        for row in zip(*cells, strict=True):
            self.spool.write(json_compact(row) + "\n")
        document = {
            "architecture": v.arch.id,
            "baseline": baseline_record(v.baseline),
            "updated": v.updated,
            "models": [download_record(r) for r in v.records],
        }
        self.writer.write(v.downloads["json"], json_text(document))
        self.models += len(v.records)
        self.count += 1

    def write_all_csv(self, out: IO[str]) -> None:
        """all.csv: every spooled row, in the columns that some architecture filled."""
        names = [download_name(c) for c in COLUMNS]
        keep = [i for i, name in enumerate(names) if name in self.filled or name == "model_id"]
        out.write(csv_lines([names[i] for i in keep], []))
        self.spool.seek(0)
        for line in self.spool:
            row = json.loads(line)
            out.write(",".join(row[i] for i in keep) + "\n")


@contextlib.contextmanager
def all_downloads(writer: SiteWriter, updated: str) -> Iterator[Downloads]:
    """all.csv, written once every architecture is added."""
    with tempfile.TemporaryFile("w+", encoding="utf-8") as spool:
        downloads = Downloads(writer, spool)
        yield downloads
        with writer.stream(ALL_CSV) as all_csv:
            downloads.write_all_csv(all_csv)
