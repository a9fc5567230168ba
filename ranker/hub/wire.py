"""Reading the hub's answers: the field readers every parser uses, and a repo's id and sha.

Pure: no I/O. Each reader checks one untrusted value where it enters and raises `Bad` with a
short, safe description of what was wrong; the parsers turn that into a `Rejected` row, a
marked file or a `HubFailure`, so one value never stops a crawl by surprise.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from ranker import jsonlimits
from ranker.errors import HubFailure, Reason
from ranker.records import is_valid_repo_id
from ranker.repofiles import is_sha
from ranker.timestamps import format_utc

T = TypeVar("T")

COUNT_MAX = jsonlimits.MAX_INT  # counts (downloads, likes, parameters) the store reads back
DATE_RANGE = (dt.datetime(1990, 1, 1, tzinfo=dt.UTC), dt.datetime(2100, 1, 1, tzinfo=dt.UTC))
TAG_RE = re.compile(r"^[\x21-\x7e]{1,200}$")  # printable ASCII, no spaces


class Bad(ValueError):
    """One value of a hub answer failed its check (the message says which and how)."""


@dataclass(frozen=True)
class RepoRef:
    """A repo's current id (after any rename) and the commit of its default branch."""

    repo_id: str
    sha: str


def show(value: Any) -> str:
    """A short, safe rendering of an untrusted value for a message (never a deep repr)."""
    if isinstance(value, dict | list):
        return f"a JSON {'object' if isinstance(value, dict) else 'list'}"
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 128:
        return "a number too large to show"
    return f"{value!r:.60}"


def text(row: dict[str, Any], key: str, *, limit: int = 200) -> str | None:
    """`row[key]` as text of at most `limit` characters, or None when absent."""
    value = row.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > limit:
        raise Bad(f"{key}: expected text, got {show(value)}")
    return value


def count(row: dict[str, Any], key: str) -> int | None:
    """`row[key]` as a count the store can hold, or None when absent."""
    value = row.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise Bad(f"{key}: expected a count, got {show(value)}")
    if value > COUNT_MAX:
        raise Bad(f"{key}: count {show(value)} is beyond what the store can hold")
    return value


def flag(row: dict[str, Any], key: str) -> bool:
    """`row[key]` as a flag; `gated` is False, "auto" or "manual"."""
    value = row.get(key, False)
    if value is None or value is False:
        return False
    if value is True or (isinstance(value, str) and value in ("auto", "manual")):
        return True
    raise Bad(f"{key}: expected true/false, got {show(value)}")


def date(row: dict[str, Any], key: str) -> str | None:
    """`row[key]` (ISO 8601, within `DATE_RANGE`) in the store's timestamp form."""
    value = text(row, key)
    if value is None:
        return None
    try:
        parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=dt.UTC)
        parsed = parsed.astimezone(dt.UTC)
    except (ValueError, OverflowError):
        raise Bad(f"{key}: expected an ISO 8601 date, got {show(value)}") from None
    if not DATE_RANGE[0] <= parsed < DATE_RANGE[1]:
        raise Bad(f"{key}: date {show(value)} is outside {DATE_RANGE[0].year}-2099")
    return format_utc(parsed)


def strings(value: Any, key: str) -> tuple[str, ...]:
    """A text or a list of texts as a tuple (None: empty)."""
    if value is None:
        return ()
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise Bad(f"{key}: expected a list of text, got {show(value)}")
    return tuple(value)


def lenient(problems: list[str], parse: Callable[[], T], default: T) -> T:
    """A value we can do without: malformed, it is dropped and noted; the row stays."""
    try:
        return parse()
    except Bad as exc:
        problems.append(str(exc))
        return default


def check_sha(sha: object, what: str = "sha") -> str:
    """A commit sha as the hub must send it: 40 lowercase hex characters (never a path)."""
    if not is_sha(sha):
        raise Bad(f"{what}: expected a 40-hex commit sha, got {show(sha)}")
    return sha


def check_repo(repo_id: str, sha: str | None = None) -> str:
    """A repo id (and revision) we may put into a URL or a path, else `HubFailure(INVALID)`."""
    if not is_valid_repo_id(repo_id):
        raise HubFailure(f"{show(repo_id)}: invalid hub repo id", Reason.INVALID)
    if sha is not None:
        try:
            check_sha(sha, "revision")
        except Bad as exc:
            raise HubFailure(f"{repo_id}: {exc}", Reason.INVALID) from None
    return repo_id


def parse_ref(repo_id: str, data: Any) -> RepoRef:
    """A repo info answer (`/api/models/{id}?expand=sha`) as its current id and sha."""
    try:
        if not isinstance(data, dict):
            raise Bad(f"expected a JSON object, got {show(data)}")
        new_id = data.get("id", repo_id)
        if not is_valid_repo_id(new_id):
            raise Bad(f"id: unsafe or invalid repo id {show(new_id)}")
        return RepoRef(new_id, check_sha(data.get("sha")))
    except Bad as exc:
        raise HubFailure(f"{repo_id}: info: {exc}", Reason.INVALID) from None
