"""The one text form of a moment in the store and on the wire: UTC, whole seconds, `Z`.

Records compare and sort these strings, so every writer must produce exactly this form.
"""

from __future__ import annotations

import datetime as dt

FORMAT = "%Y-%m-%dT%H:%M:%SZ"


def format_utc(when: dt.datetime) -> str:
    """`when` (aware; a naive one is taken as UTC) in the store's form."""
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return when.astimezone(dt.UTC).strftime(FORMAT)


def utc_now() -> str:
    """Now, in the store's form."""
    return format_utc(dt.datetime.now(dt.UTC))
