"""Whose fault a failed hub request is: typed from the status, `X-Error-Code` and
huggingface_hub's typed errors, never from message text.

A bad token (401 with no code, a token sent), a 403 that is not a gated or disabled repo, and
400/416 are the run's faults (`RunFailure`), never a model's; gated, disabled, missing are the
model's (`HubFailure`, permanent); 429, 408, 5xx, timeouts and dropped connections are
transient.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from ranker.errors import HubFailure, Reason, RunFailure
from ranker.hub.pacer import parse_ratelimit, retry_after


def _chain(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def _http_reason(exc: BaseException, response: Any) -> Reason:
    """The reason for a hub error answer: from its status, error code and huggingface_hub's
    typed error (which alone recognises a disabled repo); never from message text."""
    from huggingface_hub import errors as hf

    status = response.status_code
    code = response.headers.get("X-Error-Code", "")
    if status == 429:
        return Reason.RATE_LIMITED
    if status == 408:
        return Reason.TIMEOUT
    if status >= 500:
        return Reason.SERVER_ERROR
    if code == "GatedRepo" or isinstance(exc, hf.GatedRepoError):
        return Reason.GATED
    if isinstance(exc, hf.DisabledRepoError) or code.startswith("Disabled"):
        return Reason.DISABLED
    sent_token = response.request is not None and "authorization" in response.request.headers
    if status == 401 and not code and sent_token:
        return Reason.BAD_TOKEN  # "Invalid credentials": the run's token, on any repo
    if status == 403 and code != "RepoNotFound":
        return Reason.FORBIDDEN  # a token's scope, a CDN's AccessDenied: not the model's
    if status in (400, 416):
        return Reason.BAD_REQUEST  # a request of ours the hub refused: our bug
    return Reason.NOT_FOUND


def classify(exc: BaseException) -> tuple[Reason, str] | None:
    """(reason, one-line message) for a hub or network failure; None when it is not one (a bug).

    Every error answer reaches here as huggingface_hub's `HfHubHTTPError` (raised by
    `raise_for_status`, always with its response), its typed subclasses (gated, disabled,
    missing) included: `_http_reason` types them all."""
    import httpx2
    from huggingface_hub import errors as hf

    for e in _chain(exc):
        if isinstance(e, HubFailure | RunFailure):
            return e.reason, str(e)
        if isinstance(e, hf.HfHubHTTPError) and e.response is not None:
            response = e.response
            code = response.headers.get("X-Error-Code", "")
            message = response.headers.get("X-Error-Message") or response.reason_phrase
            text = f"HTTP {response.status_code}" + (f" {code}" if code else "") + f": {message}"
            return _http_reason(e, response), text[:300]
        if isinstance(e, httpx2.TimeoutException | TimeoutError):
            return Reason.TIMEOUT, f"no answer within the timeout ({type(e).__name__})"
        if isinstance(e, httpx2.TooManyRedirects):
            return Reason.SERVER_ERROR, "too many redirects"
        if isinstance(e, httpx2.TransportError | ConnectionError):
            return Reason.CONNECTION, f"connection failed ({type(e).__name__}: {_first(e)})"
    return None


def _first(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0][:200] if text else type(exc).__name__


def response_of(exc: BaseException) -> Any:
    """The HTTP answer a failure carries (on it or on its causes), or None."""
    for e in _chain(exc):
        response = getattr(e, "response", None)
        if response is not None:
            return response
    return None


def rate_wait(exc: BaseException) -> float | None:
    """How long a 429 asked us to wait (`Retry-After`, else the `RateLimit` reset), or None
    when it said nothing we believe."""
    response = response_of(exc)
    if response is None:
        return None
    after = retry_after(response.headers)
    if after is not None:
        return after
    info = parse_ratelimit(response.headers)
    return info.reset if info is not None else None


def raise_for_status(response: Any) -> None:
    """huggingface_hub's typed errors for an error answer; an answer it cannot even parse
    (its 429 header parser takes any number of digits) is typed by its status alone."""
    from huggingface_hub import errors as hf
    from huggingface_hub.utils import hf_raise_for_status

    try:
        hf_raise_for_status(response)
    except hf.HfHubHTTPError:
        raise
    except (ValueError, TypeError):
        raise hf.HfHubHTTPError(f"HTTP {response.status_code}", response=response) from None
