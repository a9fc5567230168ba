"""What the build takes from the records it reads: one rule each for dates, counts and scores.

The store reads any well-typed record, but a typed field can still hold a value no page can
show: a date in the year 9999 (pandas' timestamps end in 2262, and the build stopped for every
model), a date that is not one, a count of downloads beyond what JavaScript (the site's tables)
and JSON readers hold exactly, an accuracy of 1e308 (a chart of infinities). The build must
survive whatever the store can read, and one odd record must not change what the site says
about the others. So each such value is treated as missing (left out of charts, feeds, the
changelog, the ranking and the downloads; the record's other values stay), with a
`RecordWarning` naming the model and the field; the store keeps it as it is. Valid dates of
results are written in one form (UTC, `YYYY-MM-DDTHH:MM:SSZ`, as ranker itself writes them),
so that their text sorts by time and its first ten characters are the day.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
import warnings
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from ranker.build.notices import RecordWarning, Report
from ranker.records import CatalogEntry, EvalResult, LegacyBaseline, LegacyModel
from ranker.store import EARLIEST, FUTURE_SLACK
from ranker.timestamps import FORMAT

# The dates the site shows: the store's window for what it writes (from before the hub held
# models to a day past the clock), here with the build's clock. The store reads a wider,
# fixed window (a read must not depend on the clock), and older stores hold anything.
# Counts (downloads, likes, parameters): whole numbers that JavaScript's numbers hold exactly.
MAX_COUNT = 2**53 - 1
# ISO 8601 in the extended form only (dashes and colons), as the hub and ranker write it: a
# month ("2023-04", as the 2023 data is dated), a day, or a time with an optional fraction and
# zone. The basic form ("20261120") is refused: its first ten characters are not the day.
_ISO = re.compile(
    r"\d{4}-\d{2}(?:-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?"
    r"(?:Z|[+-]\d{2}(?::?\d{2})?)?)?)?",
    re.ASCII,
)
# Scores (accuracies, task scores, averages, the 2023 probe) and gains are fractions of one:
# within [-1, 1] (task metrics such as CoLA's MCC go below 0), never 1e308.
FRACTION = 1.0
RESULT_FRACTIONS = ("accuracy", "accuracy_low", "accuracy_high", "gain", "gain_low", "gain_high")
LEGACY_FRACTIONS = ("mnli_lp", "avg", "gain")
_CANONICAL_FORM = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z", re.ASCII)
WINDOW = f"a date from {EARLIEST:%Y-%m-%d} to a day past the build"

R = TypeVar("R")


def parse_time(value: object, now: dt.datetime | None = None) -> dt.datetime | None:
    """An aware UTC datetime from an ISO 8601 text within [EARLIEST, now + FUTURE_SLACK];
    None for anything else (not text, not a date, out of the window)."""
    if not isinstance(value, str) or len(value) > 40 or _ISO.fullmatch(value) is None:
        return None
    text = value.replace("Z", "+00:00")
    if len(text) == 7:
        text += "-01"
    try:
        when = dt.datetime.fromisoformat(text)
    except ValueError:
        return None
    when = when.replace(tzinfo=dt.UTC) if when.tzinfo is None else when.astimezone(dt.UTC)
    latest = (now or dt.datetime.now(dt.UTC)) + FUTURE_SLACK
    return when if EARLIEST <= when <= latest else None


def canonical_time(value: object, now: dt.datetime | None = None) -> str | None:
    """`parse_time`'s value as `YYYY-MM-DDTHH:MM:SSZ`, or None."""
    when = parse_time(value, now)
    if when is None:
        return None
    if _CANONICAL_FORM.fullmatch(value):  # type: ignore[arg-type]  # as ranker writes it
        return value  # type: ignore[return-value]
    return when.strftime(FORMAT)


def usable_count(value: object) -> int | None:
    """A count within [0, MAX_COUNT], else None."""
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= MAX_COUNT:
        return value
    return None


def usable_fraction(value: object) -> bool:
    """A score or a gain: a number within [-FRACTION, FRACTION]."""
    return (
        isinstance(value, (int, float))
        and not isinstance(value, bool)
        and -FRACTION <= value <= FRACTION
    )


def _time(
    record: Any, field: str, now: dt.datetime, report: Report, keep: bool = False
) -> str | None:
    """The field's usable text: canonical, or (`keep`) as stored; None (reported) if none."""
    value = getattr(record, field)
    if value is None:
        return None
    text = canonical_time(value, now)
    if text is None:
        report.add(record.model_id, field, value, f"is not {WINDOW}")
        return None
    return value if keep else text


def _counts(record: Any, fields: tuple[str, ...], report: Report) -> dict[str, Any]:
    changes: dict[str, Any] = {}
    for field in fields:
        value = getattr(record, field)
        if value is not None and usable_count(value) is None:
            report.add(record.model_id, field, value, f"is not a count from 0 to {MAX_COUNT}")
            changes[field] = None
    return changes


def _fractions(record: Any, fields: tuple[str, ...], report: Report) -> dict[str, Any]:
    changes: dict[str, Any] = {}
    for field in fields:
        value = getattr(record, field)
        if value is not None and not usable_fraction(value):
            report.add(record.model_id, field, value, f"is not within ±{FRACTION:g}")
            changes[field] = None
    return changes


def _replaced(record: R, changes: dict[str, Any]) -> R:
    same = all(getattr(record, k) == v for k, v in changes.items())
    return record if same else dataclasses.replace(record, **changes)  # type: ignore[type-var]


def _usable(
    records: Iterable[R],
    what: str,
    warn: bool,
    changes: Callable[[R, Report], dict[str, Any]],
) -> list[R]:
    """Each record with the `changes` its unusable values need (reported as `what`)."""
    report = Report(what, warn)
    out = [_replaced(r, changes(r, report)) for r in records]
    report.emit(stacklevel=4)  # the warning names the caller of usable_*
    return out


def usable_results(
    results: Iterable[EvalResult], now: dt.datetime, *, warn: bool = True
) -> list[EvalResult]:
    """The results with `evaluated_at` canonical, or "" (no date) where it is not usable, and
    scores None where not usable (a result without its accuracy is not ranked)."""

    def changes(r: EvalResult, report: Report) -> dict[str, Any]:
        out = _fractions(r, RESULT_FRACTIONS, report)
        out["evaluated_at"] = _time(r, "evaluated_at", now, report) or ""
        return out

    return _usable(results, "result", warn, changes)


def usable_catalog(
    entries: Iterable[CatalogEntry], now: dt.datetime, *, warn: bool = True
) -> list[CatalogEntry]:
    """Catalog entries with `last_modified` (as stored) and counts None where not usable."""

    def changes(e: CatalogEntry, report: Report) -> dict[str, Any]:
        out = _counts(e, ("downloads", "likes", "params"), report)
        out["last_modified"] = _time(e, "last_modified", now, report, keep=True)
        return out

    return _usable(entries, "catalog entry", warn, changes)


def usable_legacy(
    models: Iterable[LegacyModel], now: dt.datetime, *, warn: bool = True
) -> list[LegacyModel]:
    """2023 rows with `last_modified` "", and `params` and scores None, where not usable."""

    def changes(m: LegacyModel, report: Report) -> dict[str, Any]:
        out = _counts(m, ("params",), report)
        out.update(_fractions(m, LEGACY_FRACTIONS, report))
        out["last_modified"] = _time(m, "last_modified", now, report, keep=True) or ""
        bad = {t: v for t, v in m.scores.items() if v is not None and not usable_fraction(v)}
        if bad:
            report.add(m.model_id, "scores", bad, f"are not within ±{FRACTION:g}")
            out["scores"] = {t: None if t in bad else v for t, v in m.scores.items()}
        return out

    return _usable(models, "2023 row", warn, changes)


def usable_baselines(baselines: Iterable[LegacyBaseline]) -> list[LegacyBaseline]:
    """The pretrained bases' 2023 figures whose mean and std are fractions; others left out."""
    out = []
    for b in baselines:
        if usable_fraction(b.mean) and usable_fraction(b.std) and b.std >= 0:
            out.append(b)
        else:
            warnings.warn(
                f"2023 baseline of {b.architecture!r}, {b.metric!r}: mean {b.mean!r} or std "
                f"{b.std!r} is not within ±{FRACTION:g}; left out of the site",
                RecordWarning,
                stacklevel=2,
            )
    return out


def usable_meta(meta: dict[str, Any], now: dt.datetime) -> dict[str, Any]:
    """The 2023 data's meta with `as_of` as its day or month as stored ("2023-04": the data
    is dated by month, and the site says no more than that), or None (warned) if not usable."""
    if "as_of" not in meta:
        return meta
    text = canonical_time(meta["as_of"], now)
    if text is None:
        shown = repr(meta["as_of"])[:60]
        warnings.warn(
            f"2023 data: as_of {shown} is not {WINDOW}; left out of the site",
            RecordWarning,
            stacklevel=2,
        )
    return {**meta, "as_of": None if text is None else meta["as_of"][:10]}
