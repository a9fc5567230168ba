"""Pacing on the hub's rate-limit headers: read them, and wait before a request that would
overspend a bucket.

The hub counts requests in fixed windows per bucket and says so on every answer
(`RateLimit: "api";r=..;t=..`, `RateLimit-Policy: ..;q=..;w=..`). Before each request (each
redirect hop too) the pacer keeps a reserve of the bucket's quota, and its door's own
`share` of it (shards sharing one token), and waits for the reset when either is spent,
however long, but never past `deadline` (a clock value; `RunFailure(QUOTA)`).
"""

from __future__ import annotations

import math
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from ranker.errors import Reason, hub_failure

BUCKETS = ("api", "resolvers", "pages")  # the hub's rate-limit buckets; "cdn" is not one
DEFAULT_RESERVE = 0.03  # share of a bucket's quota left unspent (other jobs, rounding)
MAX_RESET = 3600.0  # a reset further away than this is not believed (the window is 300 s)
RESET_SLACK = 0.5  # `t` is whole seconds: come back a little after it

_RESOLVE_PATH = re.compile(r"^/(?:(?:datasets|spaces)/)?[^/]+(?:/[^/]+)?/resolve/")
_RATELIMIT = re.compile(r'^\s*"(?P<b>[a-z]{1,20})"\s*;\s*r\s*=\s*(?P<r>\d{1,9})\s*;\s*t\s*=\s*'
                        r"(?P<t>\d{1,9})\s*$")  # fmt: skip
_POLICY_Q = re.compile(r";\s*q\s*=\s*(\d{1,9})\s*(?:;|$)")
_POLICY_W = re.compile(r";\s*w\s*=\s*(\d{1,9})\s*(?:;|$)")


@dataclass(frozen=True)
class RateInfo:
    """What one answer's `RateLimit` / `RateLimit-Policy` headers say about a bucket."""

    bucket: str | None  # as the header names it ("api", ...), None when it names none we know
    remaining: int
    reset: float  # seconds until the window resets
    quota: int | None = None
    window: float | None = None


def parse_ratelimit(headers: Any) -> RateInfo | None:
    """The `RateLimit` headers of an answer, or None when absent or malformed (never raises:
    a header we cannot read is ignored, and the 429 path still protects us)."""
    try:
        match = _RATELIMIT.match(str(headers.get("RateLimit") or ""))
        if match is None:
            return None
        reset = float(match["t"])
        if reset > MAX_RESET:
            return None
        bucket = match["b"] if match["b"] in BUCKETS else None
        policy = str(headers.get("RateLimit-Policy") or "")
        q, w = _POLICY_Q.search(policy), _POLICY_W.search(policy)
        quota = int(q[1]) if q and int(q[1]) > 0 else None
        window = float(w[1]) if w and 0 < int(w[1]) <= MAX_RESET else None
        return RateInfo(bucket, int(match["r"]), reset, quota, window)
    except (AttributeError, TypeError, ValueError, UnicodeError):
        return None


def retry_after(headers: Any) -> float | None:
    """The `Retry-After` header in seconds, or None when absent, malformed or too far."""
    try:
        value = float(str(headers.get("Retry-After")).strip())
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) and 0 <= value <= MAX_RESET else None


def bucket_of(url: Any, endpoint: str) -> str:
    """The hub's rate-limit bucket of a URL: api, resolvers, pages, or cdn (another origin)."""
    parts = urlsplit(str(url))
    base = urlsplit(endpoint)
    if (parts.scheme, parts.netloc) != (base.scheme, base.netloc):
        return "cdn"
    path = parts.path
    prefix = base.path.rstrip("/")
    if prefix and path.startswith(prefix + "/"):
        path = path[len(prefix) :]
    if path.startswith("/api/resolve-cache/") or _RESOLVE_PATH.match(path):
        return "resolvers"
    if path.startswith("/api/"):
        return "api"
    return "pages"


@dataclass
class Bucket:
    """What the pacer knows of one bucket in the current window."""

    remaining: int | None = None  # what the hub last said is left (minus what we sent since)
    reset_at: float | None = None  # clock time the window resets
    quota: int | None = None
    own: int = 0  # requests this door sent in the current window

    def new_window(self) -> None:
        self.remaining, self.reset_at, self.own = None, None, 0


class Pacer:
    """Waits before a request when its bucket is spent (see the module docstring).

    `deadline` (a `clock()` value, None: none) may be set later (the pipeline's budget);
    `waited` is the seconds spent waiting so far."""

    def __init__(
        self,
        clock: Callable[[], float],
        sleep: Callable[[float], None],
        share: float = 1.0,
        reserve: float = DEFAULT_RESERVE,
        deadline: float | None = None,
    ) -> None:
        self.clock = clock
        self.sleep = sleep
        self.share = share
        self.reserve = reserve
        self.deadline = deadline
        self.waited = 0.0
        self.buckets = {name: Bucket() for name in BUCKETS}
        self.lock = threading.Lock()

    def _keep(self, quota: int | None) -> int:
        return max(1, math.ceil(quota * self.reserve)) if quota else 1

    def _spent(self, b: Bucket) -> bool:
        if b.remaining is not None and b.remaining <= self._keep(b.quota):
            return True
        if self.share < 1 and b.quota:
            mine = math.floor(b.quota * self.share)
            return b.own >= max(1, mine - self._keep(mine))
        return False

    def _take(self, b: Bucket, now: float) -> float | None:
        """Count a request against `b` if it may go out now (None), else say until when the
        bucket is spent (under the lock)."""
        if b.reset_at is not None and now >= b.reset_at:
            b.new_window()
        if b.reset_at is None or not self._spent(b):
            b.own += 1
            if b.remaining is not None:
                b.remaining -= 1
            return None
        return b.reset_at

    def before(self, bucket: str) -> None:
        """Count a request about to go out, first waiting for the reset if the bucket is spent."""
        while True:
            with self.lock:
                b = self.buckets[bucket]
                now = self.clock()
                reset_at = self._take(b, now)
                if reset_at is None:
                    return
                wait = reset_at - now
            if self.deadline is not None and now + wait > self.deadline:
                raise hub_failure(
                    f"the hub's {bucket!r} quota is spent for {wait:.0f} s more, past the "
                    f"run's time budget ({max(0.0, self.deadline - now):.0f} s left)",
                    Reason.QUOTA,
                )
            self.sleep(wait)
            with self.lock:
                self.waited += wait
                if b.reset_at == reset_at:  # nobody heard of a later reset meanwhile
                    b.new_window()

    def after(self, bucket: str, headers: Any, status: int) -> None:
        """Learn the bucket's state from an answer (every answer carries it)."""
        info = parse_ratelimit(headers)
        now = self.clock()
        with self.lock:
            if info is not None:
                b = self.buckets[info.bucket or bucket]
                b.remaining = info.remaining
                b.reset_at = now + info.reset + RESET_SLACK
                b.quota = info.quota or b.quota
            if status == 429:
                b = self.buckets[(info.bucket if info else None) or bucket]
                after = retry_after(headers)
                b.remaining = 0
                if after is not None:
                    b.reset_at = now + after
                elif info is None:
                    b.reset_at = None  # no word on when: the retry's backoff decides
