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
    """Whose fault a failure is, and so what happens to it.

    The one rule: a failure is stored against a model only when the model's own content caused
    it. TRANSIENT and RESOURCE failures re-queue the model; PERMANENT ones wait for its next
    commit; RUN faults are never a model's: they stop the run and store nothing.
    """

    TRANSIENT = "transient"  # the hub or the network: retried in the run, re-queued next run
    PERMANENT = "permanent"  # the model's own content at this sha: stored until the sha changes
    # the model needs more than this run had (memory, time, a killed child): re-queued for a
    # bounded number of nights, then stored with the measured figure
    RESOURCE = "resource"
    RUN = "run"  # the run's own fault (token, device, dependency, quota): stop, store nothing


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
    NON_FINITE = "non-finite"  # the model's weights give NaN or infinite features
    # resource: what the model needs exceeded what this run had (the message has the figure)
    OUT_OF_MEMORY = "out-of-memory"  # MemoryError, or a child killed by the OOM killer
    CHILD_KILLED = "child-killed"  # a worker/converter process killed by a signal
    CHILD_TIMEOUT = "child-timeout"  # a worker/converter process over its time limit
    # run: nothing to do with any model; the run stops with one line and stores nothing
    BAD_TOKEN = "bad-token"  # 401 "Invalid credentials": an expired or invalid HF_TOKEN
    FORBIDDEN = "forbidden"  # 403 with no error code and no "disabled" message (token scope)
    BAD_REQUEST = "bad-request"  # 400/416: a request of ours the hub refused (our bug)
    QUOTA = "quota"  # the hub's rate-limit quota spent past the run's time budget
    HUB_DOWN = "hub-down"  # the hub did not answer (a streak of transient failures)
    NO_DEVICE = "no-device"  # e.g. --device cuda on a machine without a GPU
    DEPENDENCY = "dependency"  # a package the run needs is missing (sentencepiece, ...)


TRANSIENT_REASONS = frozenset(
    {Reason.RATE_LIMITED, Reason.SERVER_ERROR, Reason.TIMEOUT, Reason.CONNECTION, Reason.INTEGRITY}
)
RESOURCE_REASONS = frozenset({Reason.OUT_OF_MEMORY, Reason.CHILD_KILLED, Reason.CHILD_TIMEOUT})
RUN_REASONS = frozenset(
    {
        Reason.BAD_TOKEN,
        Reason.FORBIDDEN,
        Reason.BAD_REQUEST,
        Reason.QUOTA,
        Reason.HUB_DOWN,
        Reason.NO_DEVICE,
        Reason.DEPENDENCY,
    }
)


def kind_of(reason: Reason) -> FailureKind:
    """The one table from a reason to whose fault it is."""
    if reason in TRANSIENT_REASONS:
        return FailureKind.TRANSIENT
    if reason in RESOURCE_REASONS:
        return FailureKind.RESOURCE
    if reason in RUN_REASONS:
        return FailureKind.RUN
    return FailureKind.PERMANENT


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


class ModelRefused(ModelFailure):
    """A model that is not scored because of what it holds, and why: `ModelRefused(message,
    Reason.X)` (its files, config or weights; raised by the evaluator's checks)."""


class HubFailure(ModelFailure):
    """A hub request that failed after the door's bounded retries (see `ranker.hub`)."""


class RunFailure(RankerError):
    """A fault of the run, not of any model (bad token, no such device, missing dependency,
    hub unreachable or out of quota). Not a ModelFailure on purpose: code that stores a
    model's failure never catches it; it stops the run with one line and stores nothing."""

    def __init__(self, message: str, reason: Reason) -> None:
        super().__init__(message)
        self.reason = Reason(reason)
        if kind_of(self.reason) is not FailureKind.RUN:
            raise ValueError(f"{self.reason} is not a run-level reason")


def hub_failure(message: str, reason: Reason) -> HubFailure | RunFailure:
    """The exception for a failed hub request: a RunFailure when the reason is the run's."""
    if kind_of(Reason(reason)) is FailureKind.RUN:
        return RunFailure(message, reason)
    return HubFailure(message, reason)
