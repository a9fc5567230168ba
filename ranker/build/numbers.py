"""The site's one number format, in Python as in its scripts (ranker.js), digit for digit.

A shown number is `scale * value` (a double, the same product in both languages) written with
a fixed number of decimals the way JavaScript's `toFixed` does: from the double's exact value,
an exact tie rounded away from zero (Python's `format` would round it to even). Pages rendered
here and tables drawn by the browser then agree, whatever the value.

The pages' scripts receive rows as JSON; `compact` shortens a float there only where the shorter
number shows the same (rounding 0.8479454 to 0.84795 first would show 84.80 for 84.79).
"""

from __future__ import annotations

import math
from decimal import ROUND_HALF_UP, Context, Decimal
from typing import Any

DASH = "–"  # a missing value
_CONTEXT = Context(prec=60)  # digits enough for any |value| < 1e21 to 20 decimals


def missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def fixed(value: float, digits: int) -> str:
    """`value.toFixed(digits)` of JavaScript: the exact double, a tie away from zero (from
    1e21 on, or not finite, JavaScript's shortest form, which Python's repr matches).

    Python's `format` also rounds the exact double, but a tie to even; a double is a tie at
    `digits` decimals exactly when value * 2**(digits + 1) is an odd integer, and only those
    take the slow exact path."""
    if not abs(value) < 1e21:
        if math.isnan(value):
            return "NaN"
        return {math.inf: "Infinity", -math.inf: "-Infinity"}.get(value, repr(value))
    twice = value * 2 ** (digits + 1)  # exact: a power of two
    if twice == int(twice) and int(twice) % 2:
        exact = Decimal(value).quantize(Decimal(1).scaleb(-digits), ROUND_HALF_UP, _CONTEXT)
        text = str(exact)
    else:
        text = format(value, f".{digits}f")
    return text[1:] if text.startswith("-") and not text.strip("-0.") else text  # no "-0.00"


def scaled(value: Any, scale: float = 100, digits: int = 2, sign: bool = False) -> str:
    """`scale * value` to `digits` decimals (a 0-1 score as a percentage by default), signed on
    request; "–" where missing. ranker.js's `fixed2` is the same rule."""
    if missing(value):
        return DASH
    text = fixed(scale * float(value), digits)
    return "+" + text if sign and not text.startswith("-") else text


def size(value: Any) -> str:
    """A parameter count as the table shows it: 420, 4.4K, 420K, 4.4M, 110M, 1.3B, 11B.

    The unit is the largest that the rounded number reaches (999,600 is 1.0M, not 1000K); one
    decimal below 10 of it, none above. ranker.js's `sizeText` is the same rule."""
    if missing(value):
        return DASH
    n = float(value)
    for unit, step in (("B", 1e9), ("M", 1e6), ("K", 1e3)):
        if n >= step * 0.9995:
            x = n / step
            return (fixed(x, 0) if x >= 9.95 else fixed(x, 1)) + unit
    return fixed(n, 0)


def count(value: Any) -> str:
    """A count with thousands separators (downloads, likes), as the table's `toLocaleString`."""
    return DASH if missing(value) else f"{int(value):,}"


# The formats a row's float may be shown in (ranker.js): a percentage or percentage points to
# 2 decimals (scale 100), LogME and H-score to 3.
_SHOWN = ((100.0, 2), (1.0, 3))


def compact(value: Any) -> Any:
    """A float for the pages' JSON: the shortest rounding (5 decimals or more) that shows the
    same in every format of `_SHOWN`; other values as they are."""
    if not isinstance(value, float) or not math.isfinite(value):
        return value
    short = round(value, 5)  # moves value by 5e-6 at most: value * 1e4 by 0.05, * 1e3 by 0.005
    if (
        abs(value) < 1e6
        and abs((value * 1e4) % 1 - 0.5) > 0.06
        and abs((value * 1e3) % 1 - 0.5) > 0.01
    ):
        return short  # far from where a shown digit turns: the fast path, most values
    shown = [fixed(s * value, d) for s, d in _SHOWN]
    for decimals in range(5, 17):
        short = round(value, decimals)
        if [fixed(s * short, d) for s, d in _SHOWN] == shown:
            return short
    return value
