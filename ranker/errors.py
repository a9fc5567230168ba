"""One error hierarchy, so the CLI can turn any expected failure into a one-line message."""

from __future__ import annotations

from enum import StrEnum
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


class FailureKind(StrEnum):
    """Whether a failure can go away by itself (retry) or waits for the model to change."""

    TRANSIENT = "transient"  # retried with backoff inside the run, re-queued on the next run
    PERMANENT = "permanent"  # stored; retried only when the model's sha changes


class Reason(StrEnum):
    """Why a model (or a hub request) failed: one typed value, never a string matched later."""

    # transient: the hub or the network, not the model
    RATE_LIMITED = "rate-limited"  # 429
    SERVER_ERROR = "server-error"  # 5xx, a CDN 504 included
    TIMEOUT = "timeout"  # no answer within the request timeout
    CONNECTION = "connection"  # refused, reset or dropped connection
    INTEGRITY = "integrity"  # downloaded bytes do not match the hub's sha256
    # permanent: the model as it is at this sha
    NOT_FOUND = "not-found"  # missing or private repo, revision or file
    GATED = "gated"
    DISABLED = "disabled"
    INVALID = "invalid"  # the hub sent a value that fails validation (id, sha, type)
    NO_CONFIG = "no-config"
    CUSTOM_CODE = "custom-code"
    MISMATCH = "config-mismatch"  # another architecture's dimensions
    NO_WEIGHTS = "no-weights"  # no root-level weights in a format we read
    SUBFOLDER_ONLY = "subfolder-only"  # weights only inside subfolders (checkpoint-500/...)
    UNSAFE_PICKLE = "unsafe-pickle"  # a pickle that needs more than tensors and containers
    UNREADABLE_WEIGHTS = "unreadable-weights"
    MISSING_WEIGHTS = "missing-weights"  # the body's weights are not in the checkpoint
    TOO_LARGE = "too-large"
    TOKENIZER = "tokenizer"


TRANSIENT_REASONS = frozenset(
    {Reason.RATE_LIMITED, Reason.SERVER_ERROR, Reason.TIMEOUT, Reason.CONNECTION, Reason.INTEGRITY}
)


def kind_of(reason: Reason) -> FailureKind:
    return FailureKind.TRANSIENT if reason in TRANSIENT_REASONS else FailureKind.PERMANENT


class ModelFailure(RankerError):
    """A model (or a hub request for it) that failed for a typed `reason`; never our own bug."""

    def __init__(self, message: str, reason: Reason) -> None:
        super().__init__(message)
        self.reason = Reason(reason)

    @property
    def kind(self) -> FailureKind:
        return kind_of(self.reason)

    @property
    def transient(self) -> bool:
        return self.kind is FailureKind.TRANSIENT


class HubFailure(ModelFailure):
    """A hub request that failed after the door's bounded retries (see `ranker.hub`)."""
