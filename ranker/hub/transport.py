"""The door's transport: its own HTTP client, its counts, pacing hooks and bounded retries.

Each door sends through its own `httpx2.Client` (redirects followed; httpx drops the token on
another origin), with a timeout on every request. So its counts are its own: `requests`,
`bucket_counts` (api, resolvers, pages, cdn), `rate_limited` (429s seen), `timeouts`,
`retries`, `waited` (seconds spent pacing); `counts_text()`.

Retries (`_retrying`): a 429 that says when to come back waits that long (the pacer, told by
the answer, waits before the retry goes out) and is retried without using up `attempts`;
other transient failures (5xx, timeout, dropped connection, integrity) are retried with
exponential backoff, honouring `Retry-After` up to `max_wait`, at most `attempts` times;
anything else fails at once, typed by `ranker.hub.faults.classify`.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable
from typing import Any, TypeVar

from ranker import jsonlimits
from ranker.errors import FailureKind, HubFailure, Reason, RunFailure, hub_failure, kind_of
from ranker.hub.faults import classify, raise_for_status, rate_wait, response_of
from ranker.hub.pacer import BUCKETS, Pacer, bucket_of, retry_after
from ranker.hub.settings import HubSettings

T = TypeVar("T")

MAX_API_BYTES = 64_000_000  # one API answer (a listing page of 1,000 expanded rows is ~5 MB)


class Transport:
    """Requests to one hub, paced, retried and counted; `ranker.hub.Hub` builds on it."""

    def __init__(
        self,
        settings: HubSettings,
        *,
        sleep: Callable[[float], None],
        clock: Callable[[], float],
        deadline: float | None = None,
        transport: Any = None,
    ) -> None:
        self._settings = settings
        self.endpoint = settings.endpoint
        self.token = settings.token
        self.timeout = settings.timeout
        self.attempts = settings.attempts
        self.max_wait = settings.max_wait
        self.base_wait = settings.base_wait
        self.quota_share = settings.quota_share
        self.rate_waits = settings.rate_waits
        self.sleep = sleep
        self.clock = clock
        self.retries = 0
        self.requests = 0
        self.bucket_counts: dict[str, int] = dict.fromkeys((*BUCKETS, "cdn"), 0)
        self.rate_limited = 0
        self.timeouts = 0
        self._transport = transport
        self._client: Any = None
        self._count_lock = threading.Lock()
        self._pacer = Pacer(clock, sleep, settings.quota_share, settings.reserve, deadline)

    @property
    def deadline(self) -> float | None:
        """A `clock()` value no pacing wait may pass; settable later (the pipeline's budget)."""
        return self._pacer.deadline

    @deadline.setter
    def deadline(self, value: float | None) -> None:
        self._pacer.deadline = value

    @property
    def waited(self) -> float:
        """Seconds spent waiting for a spent bucket's reset."""
        return self._pacer.waited

    def settings(self) -> HubSettings:
        """This door's settings, the deadline as the seconds left now: for another process."""
        left = None if self.deadline is None else max(0.0, self.deadline - self.clock())
        return dataclasses.replace(self._settings, seconds_left=left)

    @property
    def client(self) -> Any:
        """This door's own HTTP client (made on first use): its hooks pace and count."""
        if self._client is None:
            import httpx2
            from huggingface_hub.utils._http import hf_request_event_hook

            self._client = httpx2.Client(
                event_hooks={
                    "request": [hf_request_event_hook, self._on_request],
                    "response": [self._on_response],
                },
                follow_redirects=True,
                timeout=httpx2.Timeout(self.timeout),
                transport=self._transport,
            )
        return self._client

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    def _on_request(self, request: Any) -> None:
        bucket = bucket_of(request.url, self.endpoint)
        if bucket != "cdn":
            self._pacer.before(bucket)
        with self._count_lock:
            self.requests += 1
            self.bucket_counts[bucket] += 1

    def _on_response(self, response: Any) -> None:
        bucket = bucket_of(response.request.url, self.endpoint)
        if response.status_code == 429:
            with self._count_lock:
                self.rate_limited += 1
        if bucket != "cdn":
            self._pacer.after(bucket, response.headers, response.status_code)

    def counts_text(self) -> str:
        """One line for a run's summary: requests per bucket, 429s and the time spent pacing."""
        parts = [f"{name} {n}" for name, n in self.bucket_counts.items() if n]
        return (
            f"requests: {', '.join(parts) or 'none'} "
            f"(429: {self.rate_limited}, waited {self.waited:.0f} s)"
        )

    def _headers(self) -> dict[str, str]:
        """The headers every request carries (the token, unless `token` is False)."""
        from huggingface_hub.utils import build_hf_headers

        return build_hf_headers(token=self.token)

    def _retrying(self, what: str, call: Callable[[], T]) -> T:
        """Run `call`, retrying transient hub failures; type the rest (see the docstring)."""
        wait = self.base_wait
        attempt, rate_waits = 1, 0
        while True:
            try:
                return call()
            except RunFailure:
                raise
            except Exception as exc:
                found = classify(exc)
                if found is None:
                    raise  # not the hub's doing: a bug, reported as such
                reason, message = found
                if reason is Reason.TIMEOUT:
                    self.timeouts += 1
                if reason is Reason.RATE_LIMITED and self._paced(exc):
                    rate_waits += 1
                    self._rate_limited_again(what, rate_waits)
                    continue
                delay = self._backoff(what, exc, reason, message, attempt, wait)
                attempt += 1
                self.sleep(delay)
                wait = min(wait * 2, self.max_wait)

    def _paced(self, exc: Exception) -> bool:
        """Whether the pacer heard this 429 and when it ends: a hub bucket's answer (the CDN's
        answers never reach the pacer, so its 429 is waited out by the backoff instead)."""
        response = response_of(exc)
        try:
            url = str(response.request.url)
        except (AttributeError, RuntimeError):  # no answer, or one with no request (httpx)
            return False
        return bucket_of(url, self.endpoint) != "cdn" and rate_wait(exc) is not None

    def _rate_limited_again(self, what: str, rate_waits: int) -> None:
        """A 429 that said when: the pacer (told by the answer) waits for it before the retry
        goes out, or stops the run if that is past the deadline; too many in a row stop it."""
        if rate_waits >= self.rate_waits:
            raise hub_failure(
                f"{what}: still rate limited after waiting {rate_waits} times", Reason.QUOTA
            ) from None
        self.retries += 1

    def _backoff(
        self, what: str, exc: Exception, reason: Reason, message: str, attempt: int, wait: float
    ) -> float:
        """The wait before retrying a transient failure; the typed failure when there is none."""
        if kind_of(reason) is not FailureKind.TRANSIENT or attempt >= self.attempts:
            raise hub_failure(f"{what}: {message}", reason) from None
        response = response_of(exc)
        after = retry_after(response.headers) if response is not None else None
        delay = wait if after is None else after
        if delay > self.max_wait:
            raise HubFailure(
                f"{what}: {message} (asked to wait {delay:.0f} s, more than the "
                f"{self.max_wait:.0f} s we wait)",
                reason,
            ) from None
        self.retries += 1
        return delay

    def _get(
        self, url: str, params: Any = None, *, limit: int = MAX_API_BYTES, what: str = "answer"
    ) -> tuple[bytes, Any]:
        """One GET (redirects followed), its body read up to `limit` bytes; error answers
        raise huggingface_hub's typed errors."""
        with self.client.stream("GET", url, params=params, headers=self._headers()) as response:
            if response.status_code >= 400:
                response.read()
            raise_for_status(response)
            body = bytearray()
            for chunk in response.iter_bytes():
                body += chunk
                if len(body) > limit:
                    raise HubFailure(f"larger than {limit} bytes", Reason.INVALID)
            return bytes(body), response

    def _get_json(self, url: str, params: Any = None, *, what: str = "answer") -> Any:
        body, _ = self._get(url, params, what=what)
        return decode(body, what)


def decode(body: bytes, what: str) -> Any:
    """An API answer through the one untrusted-JSON decoder; a refusal is the hub's data
    failing validation (INVALID). Integers are range-checked field by field."""
    try:
        return jsonlimits.loads(body, what=what, max_bytes=MAX_API_BYTES, check_ints=False)
    except jsonlimits.JsonRefused as exc:
        raise HubFailure(exc.detail, Reason.INVALID) from None
