"""One error hierarchy, so the CLI can turn any expected failure into a one-line message."""

from __future__ import annotations

from pathlib import Path


class RankerError(Exception):
    """An expected failure: bad input, bad configuration, a refused model. Never a bug."""

    exit_code = 1


class StoreError(RankerError):
    """A file of the store (or an input file) is missing, unreadable or malformed.

    Carries the file, and where known the line and field, so the message points at the fix.
    """

    def __init__(
        self,
        path: Path | str,
        message: str,
        *,
        line: int | None = None,
        field: str | None = None,
    ) -> None:
        self.path = Path(path)
        self.line = line
        self.field = field
        self.reason = message
        where = str(self.path)
        if line is not None:
            where += f":{line}"
        if field is not None:
            where += f": field {field!r}"
        super().__init__(f"{where}: {message}")


class UnknownArchitectureError(RankerError):
    """An architecture id that data/architectures.toml does not track."""

    def __init__(self, name: str, known: list[str]) -> None:
        self.name = name
        self.known = known
        super().__init__(f"unknown architecture {name!r}; tracked: {', '.join(known) or 'none'}")


class InvalidRepoIdError(RankerError, ValueError):
    """A hub repo id that is not safe to put into a path or a URL."""

    def __init__(self, repo_id: object) -> None:
        self.repo_id = repo_id
        super().__init__(f"invalid hub repo id {repo_id!r}")
