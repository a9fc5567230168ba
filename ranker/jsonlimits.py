"""One decoder for JSON that crosses a boundary (hub answers, shard files, issue bodies).

Why: a JSON value from outside can be valid JSON and still hurt us. 100,000 nested brackets
make the standard library raise `RecursionError` (and `repr` of a value 1,000 deep does too);
an integer of 2**64 is written to the store and read back as a float; a 100 MB body fills
memory. `loads` refuses each of these with a typed `JsonRefused` naming what was wrong, so a
caller can refuse the one row, record or file and go on; it never raises anything else.

orjson parses (it is fast and refuses nesting deeper than 1,024 itself, without recursion
errors, and refuses NaN and infinities); then one iterative walk checks our tighter depth
and, unless the caller validates numbers field by field, the integer range. orjson turns an
integer beyond 2**64 - 1 into a float on its own; a field validator that wants a count refuses
that float as not an integer.

The constants are the store's too (`ranker.store` imports `MAX_INT` / `MIN_INT`): an integer
outside the signed 64-bit range is never written, so every written file reads back.
"""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Any

import orjson

from ranker.errors import RankerError

MAX_INT = 2**63 - 1  # the largest integer the store writes (signed 64-bit, as readers expect)
MIN_INT = -(2**63)
MAX_DEPTH = 64  # nesting of arrays and objects; real configs and listings nest under 10
MAX_BYTES = 16 * 1024 * 1024  # default body limit; callers pass their own where it differs


class JsonProblem(StrEnum):
    """What was wrong with an untrusted JSON document (typed: never match the message)."""

    NOT_JSON = "not-json"  # not UTF-8, not JSON, or a non-finite number
    TOO_LARGE = "too-large"  # more bytes than the caller's limit
    TOO_DEEP = "too-deep"  # arrays/objects nested deeper than the limit
    INT_RANGE = "int-range"  # an integer outside the signed 64-bit range


class JsonRefused(RankerError, ValueError):
    """An untrusted JSON document refused by `loads`: `.problem` says why, `.what` names it."""

    def __init__(self, what: str, problem: JsonProblem, detail: str) -> None:
        self.what = what
        self.problem = problem
        self.detail = detail
        super().__init__(f"{what}: {detail}")


def loads(
    data: bytes | bytearray | memoryview | str,
    *,
    what: str = "JSON",
    max_bytes: int = MAX_BYTES,
    max_depth: int = MAX_DEPTH,
    check_ints: bool = True,
) -> Any:
    """Decode untrusted JSON within limits, or raise `JsonRefused` (never another exception).

    `check_ints=False` leaves integer ranges to the caller's field validation (a hub listing
    page: one row's huge count rejects that row, not the page of 1,000).
    """
    if isinstance(data, str):
        try:
            data = data.encode("utf-8")
        except UnicodeEncodeError:  # a lone surrogate: no JSON text carries one
            raise JsonRefused(what, JsonProblem.NOT_JSON, "not valid UTF-8 text") from None
    if len(data) > max_bytes:
        raise JsonRefused(
            what, JsonProblem.TOO_LARGE, f"{len(data)} bytes, more than the {max_bytes} allowed"
        )
    try:
        value = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        if _deeper_than(bytes(data), max_depth):  # orjson stops at 1,024 levels by itself
            raise JsonRefused(
                what, JsonProblem.TOO_DEEP, f"nested deeper than {max_depth} levels"
            ) from None
        raise JsonRefused(what, JsonProblem.NOT_JSON, f"not JSON ({_first_line(exc)})") from None
    check(value, what=what, max_depth=max_depth, check_ints=check_ints)
    return value


def check(
    value: Any, *, what: str = "JSON", max_depth: int = MAX_DEPTH, check_ints: bool = True
) -> None:
    """Check an already decoded value's depth and integers (before a store writes it, too).

    Iterative on purpose: a recursive walk is what fails on deep input.
    """
    if not isinstance(value, _CONTAINERS):
        _check_scalar(value, what, check_ints)
        return
    stack: list[tuple[Any, int]] = [(value, 0)]  # containers only: scalars are checked inline
    while stack:
        item, depth = stack.pop()
        if depth >= max_depth:
            raise JsonRefused(what, JsonProblem.TOO_DEEP, f"nested deeper than {max_depth} levels")
        for child in item.values() if isinstance(item, dict) else item:
            if isinstance(child, _CONTAINERS):
                stack.append((child, depth + 1))
            elif type(child) is int and check_ints and not MIN_INT <= child <= MAX_INT:
                _check_scalar(child, what, check_ints)


_CONTAINERS = (dict, list, tuple)  # tuple: a value built in Python, checked before a write


def _check_scalar(value: Any, what: str, check_ints: bool) -> None:
    if check_ints and type(value) is int and not MIN_INT <= value <= MAX_INT:
        raise JsonRefused(
            what, JsonProblem.INT_RANGE, f"integer {_short(value)} is outside the 64-bit range"
        )


def _deeper_than(data: bytes, limit: int) -> bool:
    """Whether brackets outside strings nest deeper than `limit` (only after orjson refused the
    text: told by structure, not by the wording of orjson's message)."""
    skeleton = _STRING.sub(b"", data).translate(None, _NOT_BRACKET)
    depth = 0
    for byte in skeleton:
        depth += 1 if byte in _OPEN else -1
        if depth > limit:
            return True
    return False


_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)  # a JSON string, unrolled
_NOT_BRACKET = bytes(b for b in range(256) if b not in b"[]{}")
_OPEN = frozenset(b"[{")


def _short(number: int) -> str:
    text = str(number) if number.bit_length() < 1000 else "with more than 300 digits"
    return text if len(text) <= 40 else f"{text[:20]}...({len(text)} digits)"


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0][:120] if text else type(exc).__name__
