"""The door's settings as one picklable value, so another process opens the same door.

A Ray worker (or any child) gets `hub.settings()` and calls `Hub.from_settings(settings)`: the
same endpoint, token (or none), timeouts, retries, quota share and the run's deadline, carried
as the seconds left (a `time.monotonic()` value means nothing on another machine). What does
not travel: counts, caches, the clock, the sleep and a test's transport.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ranker.hub.pacer import DEFAULT_RESERVE

DEFAULT_TIMEOUT = 30.0  # seconds per request (connect, read, write, pool)
DEFAULT_ATTEMPTS = 4  # tries of one call, the first included (429s with a reset not counted)
DEFAULT_MAX_WAIT = 60.0  # the longest backoff between tries of a 5xx/timeout, `Retry-After` incl.
DEFAULT_RATE_WAITS = 16  # 429s in a row on one call, each waited out, before the run gives up


@dataclass(frozen=True)
class HubSettings:
    """Everything a door is opened with, resolved (no environment read later).

    `token`: a token, False (send no `Authorization` header at all), or None (huggingface_hub's
    own: `HF_TOKEN` or the saved login, read per request). Kept out of `repr`: a secret.
    `seconds_left`: the run's deadline as seconds from when the value was made; None: none."""

    endpoint: str
    token: str | bool | None = field(default=None, repr=False)
    timeout: float = DEFAULT_TIMEOUT
    attempts: int = DEFAULT_ATTEMPTS
    max_wait: float = DEFAULT_MAX_WAIT
    base_wait: float = 1.0
    quota_share: float = 1.0
    reserve: float = DEFAULT_RESERVE
    rate_waits: int = DEFAULT_RATE_WAITS
    seconds_left: float | None = None

    def __post_init__(self) -> None:
        if not 0 < self.quota_share <= 1:
            raise ValueError(f"quota_share must be in (0, 1], got {self.quota_share!r}")
