"""The loopback hub's HTTP plumbing, shared by the hub's origin and the CDN's.

Every request goes the same way: routed, counted, admitted (token and quota, hub only), then
any injected request fault, then the route's own answer. Errors are raised as `Reply` and
answered with `X-Error-Code` / `X-Error-Message`, as the hub does. See `ranker.testing.hub` for
the routes, the access rules and the faults; `ranker.testing.routes` for the route table.
"""

from __future__ import annotations

import functools
import json
from http.server import BaseHTTPRequestHandler
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, quote, unquote, urlsplit

from ranker.testing.quota import bucket_of
from ranker.testing.repos import CONTENT_FAULTS, REQUEST_FAULTS, Fault, corrupted

if TYPE_CHECKING:
    from ranker.testing.hub import FakeHub

# huggingface_hub raises DisabledRepoError on this exact X-Error-Message (the hub sends no
# X-Error-Code for it), and tells a bad token from a missing repo by the second one.
DISABLED_MESSAGE = "Access to this resource is disabled."
BAD_TOKEN_MESSAGE = "Invalid credentials in Authorization header"
RATE_LIMITED_MESSAGE = "You have exceeded our rate limit. Please wait before retrying."

# A route: (route key, repo id, file path, the callable that answers).
Route = tuple[str, str | None, str | None, Any]


class Reply(Exception):
    """Raised inside a handler to answer with an error status."""

    def __init__(self, status: int, message: str, code: str | None = None, **headers: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.headers = headers


def quote_path(segments: list[str]) -> str:
    """URL path segments, each quoted whole (a `/` inside one is escaped)."""
    return "/".join(quote(s, safe="") for s in segments)


class BaseHandler(BaseHTTPRequestHandler):
    """What every answer of the loopback hub goes through; subclasses give `_route`."""

    hub: FakeHub
    protocol_version = "HTTP/1.1"
    origin = "hub"

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    # -- plumbing ------------------------------------------------------------------------------

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_HEAD(self) -> None:
        self._dispatch("HEAD")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def _authorized(self) -> bool:
        return bool(self.headers.get("Authorization"))

    def _token(self) -> str | None:
        """The request's token (`Authorization: Bearer <token>`), None for an anonymous one."""
        header = self.headers.get("Authorization")
        if header is None:
            return None
        scheme, _, token = header.partition(" ")
        return token.strip() if scheme.lower() == "bearer" else header

    def _send(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
        self._mark(status)  # before a byte goes out: a client that has its answer sees it counted
        self.send_response(status)
        headers = dict(headers or {})
        headers.setdefault("Content-Type", "application/json")
        headers.setdefault("Content-Length", str(len(body)))
        for name, value in {**self._rate_headers, **headers}.items():
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _mark(self, status: int) -> None:
        """Note the status sent (for the log, and the count of 429s)."""
        self._status = status
        self.hub.count_answer(status)

    def _json(self, status: int, value: Any, headers: dict[str, str] | None = None) -> None:
        self._send(status, json.dumps(value).encode(), headers)

    def _dispatch(self, method: str) -> None:
        hub = self.hub
        self._status = 0
        self._rate_headers: dict[str, str] = {}
        split = urlsplit(self.path)
        self.raw_query = split.query
        self.query = parse_qs(split.query, keep_blank_values=True)
        parts = [unquote(p) for p in split.path.split("/") if p]
        if method == "POST":
            length = int(self.headers.get("Content-Length") or 0)
            self.body = self.rfile.read(length) if length else b""
        try:
            try:
                route, repo_id, path, action = self._route(method, parts)
            except Reply as no_route:  # answered after the quota, as every request is
                route, repo_id, path = "unrouted", None, None
                action = functools.partial(self._raise, no_route)
            self._where = (route, repo_id, path)
            hub.count_request(route, repo_id, self.headers.get("Authorization"))
            if self.origin == "hub":  # the CDN is not counted in the hub's buckets
                self._admit(parts)
            fault = hub.fault_for(route, repo_id, path, unquote(split.query), REQUEST_FAULTS)
            if fault is not None and fault.kind == "stall" and hub.wait_stall(fault.seconds):
                fault = Fault(kind="drop")  # released by stop() or reset(): never answer
            if fault is not None and fault.kind == "drop":
                self.close_connection = True  # nothing written: the client sees the close
                return
            if fault is not None and fault.kind == "status":
                self._fault_reply(fault, route)
                return
            action()
        except Reply as reply:
            self._error(reply)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
        finally:
            hub.log_answer(method, self.path, self._status)

    @staticmethod
    def _raise(reply: Reply) -> None:
        raise reply

    def _admit(self, parts: list[str]) -> None:
        """The token check and the quota, before anything else answers: a token the hub was
        not given is a 401 (on public repos too), a request past its bucket's quota a 429.
        Either way the answer carries the bucket's RateLimit headers, as every answer does."""
        verdict, self._rate_headers = self.hub.admit(self._token(), bucket_of(parts))
        if verdict == "invalid-token":
            raise Reply(401, BAD_TOKEN_MESSAGE)
        if verdict == "limited":
            extra = {}
            if self.hub.retry_after:  # not the hub's documented behaviour: opt in
                extra["Retry_After"] = self._rate_headers["RateLimit"].rpartition(";t=")[2]
            raise Reply(429, RATE_LIMITED_MESSAGE, **extra)

    def _error(self, reply: Reply) -> None:
        headers = {k.replace("_", "-"): v for k, v in reply.headers.items()}
        if reply.code:
            headers["X-Error-Code"] = reply.code
        headers["X-Error-Message"] = str(reply)
        self._json(reply.status, {"error": str(reply)}, headers)

    def _fault_reply(self, fault: Fault, route: str) -> None:
        headers: dict[str, str] = {}
        # Never sooner than the hub would: its windows reset at least a second ahead (`t` is
        # rounded up), so an injected 429 asks for no less than 1 s either.
        after = fault.retry_after
        if after is not None and fault.status == 429:
            after = max(1, after)
        if after is not None:
            headers["Retry-After"] = str(after)
        limit = self._rate_headers.get("RateLimit")
        if fault.status == 429 and limit is not None:
            # An injected rate limit: the bucket is spent; resets in `retry_after` if given.
            bucket, _, rest = limit.partition(";r=")
            reset = after if after is not None else rest.split(";t=")[1]
            headers["RateLimit"] = f"{bucket};r=0;t={reset}"
        code = fault.error_code or {401: "GatedRepo", 403: "GatedRepo", 404: "EntryNotFound"}.get(
            fault.status
        )
        message = f"injected fault: HTTP {fault.status}"
        if code and self.origin == "hub":
            headers["X-Error-Code"] = code
        headers["X-Error-Message"] = message
        self._json(fault.status, {"error": message}, headers)

    def _route(self, method: str, parts: list[str]) -> Route:
        """Map a request to (route key, repo id, file path, handler)."""
        raise NotImplementedError

    def _serve_bytes(self, path: str, data: bytes, headers: dict[str, str]) -> None:
        """Answer with `data` (or the asked range of it), after any content fault."""
        fault = None
        if self.command == "GET":
            route, repo_id, where = self._where
            fault = self.hub.fault_for(route, repo_id, where, unquote(self.raw_query),
                                        CONTENT_FAULTS)  # fmt: skip
        if fault is not None and fault.kind == "corrupt":
            data = corrupted(path, data)
        status, body = 200, data
        rng = self.headers.get("Range")
        if rng and rng.startswith("bytes=") and self.command == "GET":
            first, _, last = rng[6:].split(",")[0].strip().partition("-")
            if first:
                start = int(first)
                end = min(int(last), len(data) - 1) if last else len(data) - 1
            else:  # a suffix: the last N bytes
                start, end = max(0, len(data) - int(last or 0)), len(data) - 1
            if start >= len(data) and len(data) > 0:
                raise Reply(416, "Range Not Satisfiable", None,
                             Content_Range=f"bytes */{len(data)}")  # fmt: skip
            body = data[start : end + 1]
            status = 206
            headers["Content-Range"] = f"bytes {start}-{start + len(body) - 1}/{len(data)}"
        headers["Content-Length"] = str(len(body))
        if fault is not None and fault.kind == "truncate":
            self._mark(status)
            self.send_response(status)
            for name, value in {**self._rate_headers, **headers}.items():
                self.send_header(name, value)
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(body[: len(body) // 2])
            self.wfile.flush()
            self.close_connection = True
            return
        self._send(status, body, headers)
