"""The hub's rate limits, as the loopback hub enforces them (hub-contract.md, "Rate limits").

The hub counts requests in fixed windows, per *bucket*: "api" (`/api/...`: listings, info,
tree, paths-info), "resolvers" (`/{repo}/resolve/...` and `/api/resolve-cache/...`) and "pages"
(everything else). Anonymous requests are counted per client IP (one bucket set here: every
client is on the loopback), a token's requests per token, shared by every job that uses it.
Every answer carries the bucket's state:

    RateLimit: "api";r=<remaining>;t=<seconds until the window resets>
    RateLimit-Policy: "fixed window";"api";q=<quota>;w=<window seconds>

and a request past the quota gets 429 with the same headers (r=0) and, as the hub documents
nothing else, NO `Retry-After`. The quotas and the window are settings (`Quota`), so a test can
run the real code path with a window of a second or three.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

BUCKETS = ("api", "resolvers", "pages")


@dataclass(frozen=True)
class Quota:
    """Requests allowed per bucket in one fixed window of `window` seconds."""

    api: int
    resolvers: int
    pages: int
    window: float = 300.0

    def __post_init__(self) -> None:
        for name in BUCKETS:
            if getattr(self, name) < 0:
                raise ValueError(f"Quota.{name} must be >= 0, got {getattr(self, name)}")
        if not self.window > 0:
            raise ValueError(f"Quota.window must be > 0 seconds, got {self.window}")

    def of(self, bucket: str) -> int:
        return int(getattr(self, bucket))


# The hub's documented quotas per 5-minute window (2025-2026; "subject to change").
ANONYMOUS = Quota(api=500, resolvers=3000, pages=100)  # per IP
FREE = Quota(api=1000, resolvers=5000, pages=200)  # per user (a free account's token)
PRO = Quota(api=2500, resolvers=12000, pages=400)


def bucket_of(parts: list[str]) -> str:
    """The bucket a request path (its unquoted segments) is counted in."""
    if parts[:1] == ["api"]:
        return "resolvers" if parts[1:2] == ["resolve-cache"] else "api"
    if "resolve" in parts[:4]:  # /{repo}/resolve/..., /{ns}/{name}/resolve/..., /datasets/...
        return "resolvers"
    return "pages"


def _number(value: float) -> str:
    """A header number: an integer where it is one (the hub sends integers)."""
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


@dataclass
class _Window:
    start: float
    used: int = 0


class Limiter:
    """Fixed windows per (client key, bucket): `take` counts one request and says whether it is
    within the quota, with the headers the answer carries. Thread-safe."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._windows: dict[tuple[str, str], _Window] = {}
        self._lock = threading.Lock()

    def take(self, key: str, quota: Quota, bucket: str) -> tuple[bool, dict[str, str]]:
        """Count one request of `key` in `bucket`; (within quota, RateLimit headers)."""
        limit = quota.of(bucket)
        with self._lock:
            now = self._clock()
            window = self._windows.get((key, bucket))
            if window is None or now >= window.start + quota.window:
                # A fixed window opens with the first request after the last one closed.
                window = self._windows[(key, bucket)] = _Window(start=now)
            window.used += 1
            used, reset_at = window.used, window.start + quota.window
        # Seconds to reset, rounded UP: a client that waits `t` finds the window open.
        reset = max(1, math.ceil(reset_at - now))
        headers = {
            "RateLimit": f'"{bucket}";r={max(0, limit - used)};t={reset}',
            "RateLimit-Policy": f'"fixed window";"{bucket}";q={limit};w={_number(quota.window)}',
        }
        return used <= limit, headers

    def clear(self) -> None:
        with self._lock:
            self._windows.clear()
