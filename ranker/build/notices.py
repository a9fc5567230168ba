"""How the build tells what it left out: a `RecordWarning` per field and rule, naming a few
models, so that a store with a systematic fault gives a few lines, not one per model.

A stored value the site cannot use (ranker.build.inputs) or per-pair bits that cannot be read
(ranker.build.ranks) is left out of the site and reported here; the store keeps it as it is.
"""

from __future__ import annotations

import warnings
from typing import Any

# A warning names at most this many models (with their values); the rest are counted.
NAMED = 5


class RecordWarning(UserWarning):
    """A stored value the site cannot use: left out of the site, kept in the store."""


class Report:
    """The values left out of one kind of record, told in one warning per field and rule."""

    def __init__(self, what: str, warn: bool = True) -> None:
        self.what = what
        self.warn = warn
        self.found: dict[tuple[str, str], list[tuple[str, Any]]] = {}

    def add(self, model_id: str, field: str, value: Any, why: str) -> None:
        if self.warn:
            self.found.setdefault((field, why), []).append((model_id, value))

    def emit(self, stacklevel: int = 3) -> None:
        """One warning per field and rule; `stacklevel` 3 names the caller of the function
        that emits."""
        for (field, why), models in self.found.items():
            named = ", ".join(f"{m!r} ({_short(v)})" for m, v in models[:NAMED])
            more = f" and {len(models) - NAMED} more" if len(models) > NAMED else ""
            warnings.warn(
                f"{field} of {len(models)} {self.what}(s) {why}; left out of the site: "
                f"{named}{more}",
                RecordWarning,
                stacklevel=stacklevel,
            )


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
