"""The loopback hub's route table: the hub's request handler and the CDN's.

See `ranker.testing.hub` for the routes, the access rules and the faults; the answers are in
`ranker.testing.api` (API and access rules) and `ranker.testing.resolve` (files), the plumbing
every request goes through in `ranker.testing.handler`.
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING, Any

from ranker.testing.handler import (
    BAD_TOKEN_MESSAGE,
    DISABLED_MESSAGE,
    RATE_LIMITED_MESSAGE,
    BaseHandler,
    Reply,
    Route,
)
from ranker.testing.repos import HubRepo
from ranker.testing.resolve import FileRoutes

if TYPE_CHECKING:
    from ranker.testing.hub import FakeHub


def _split_repo(
    hub: FakeHub, repo_type: str, parts: list[str]
) -> tuple[HubRepo | None, str, list[str], str | None]:
    """Split path segments into (repo, repo id, rest, new id if the repo was renamed)."""
    for n in (2, 1):
        if len(parts) >= n:
            repo_id = "/".join(parts[:n])
            repo = hub.repos.get((repo_type, repo_id))
            if repo is not None:
                return repo, repo_id, parts[n:], None
    for n in (2, 1):
        if len(parts) >= n:
            repo_id = "/".join(parts[:n])
            new_id = hub.renames.get((repo_type, repo_id))
            if new_id is not None:
                return None, repo_id, parts[n:], new_id
    verbs = ("revision", "tree", "paths-info", "resolve")
    n = 2 if len(parts) >= 2 and parts[1] not in verbs else 1
    return None, "/".join(parts[:n]), parts[n:], None


class Handler(FileRoutes):
    """The hub's own origin: the API and the resolvers."""

    def _route(self, method: str, parts: list[str]) -> Route:
        """Map a request to (route key, repo id, file path, handler)."""
        if parts[:2] == ["api", "resolve-cache"] and len(parts) >= 3 and method in ("GET", "HEAD"):
            return self._route_cache(method, parts)
        if parts[:1] == ["api"] and len(parts) >= 2 and parts[1] in ("models", "datasets"):
            kind = parts[1]
            repo_type = kind[:-1]
            if len(parts) == 2 and method == "GET":
                return f"GET /api/{kind}", None, None, lambda: self._list(repo_type)
            repo, repo_id, rest, moved = _split_repo(self.hub, repo_type, parts[2:])

            def run(handler: Any) -> Any:
                if moved is None:
                    return handler
                return lambda: self._moved(repo_type, moved, ["api", kind], rest)

            if not rest and method == "GET":
                return (f"GET /api/{kind}/{{repo}}", repo_id, None,
                        run(lambda: self._info(repo, repo_id, None)))  # fmt: skip
            if len(rest) == 2 and rest[0] == "revision" and method == "GET":
                return (f"GET /api/{kind}/{{repo}}", repo_id, None,
                        run(lambda: self._info(repo, repo_id, rest[1])))  # fmt: skip
            if len(rest) >= 2 and rest[0] == "tree" and method == "GET":
                sub = "/".join(rest[2:])
                return (f"GET /api/{kind}/{{repo}}/tree", repo_id, sub or None,
                        run(lambda: self._tree(repo, repo_id, rest[1], sub)))  # fmt: skip
            if len(rest) == 2 and rest[0] == "paths-info" and method == "POST":
                return (f"POST /api/{kind}/{{repo}}/paths-info", repo_id, None,
                        run(lambda: self._paths_info(repo, repo_id, rest[1])))  # fmt: skip
        elif method in ("GET", "HEAD"):
            prefix: list[str] = []
            repo_type = "model"
            if parts[:1] == ["datasets"]:
                prefix, repo_type, parts = ["datasets"], "dataset", parts[1:]
            repo, repo_id, rest, moved = _split_repo(self.hub, repo_type, parts)
            if len(rest) >= 3 and rest[0] == "resolve":
                path = "/".join(rest[2:])
                route = f"{method} {''.join('/' + p for p in prefix)}/{{repo}}/resolve"
                if moved is not None:
                    return (route, repo_id, path,
                            lambda: self._moved(repo_type, moved, prefix, rest))  # fmt: skip
                return (route, repo_id, path,
                        lambda: self._resolve(repo, repo_id, rest[1], path, prefix))  # fmt: skip
        raise Reply(404, f"no route for {method} {self.path}")

    def _route_cache(self, method: str, parts: list[str]) -> Route:
        """`/api/resolve-cache/{models|datasets}/{repo}/{sha}/{path}`: where a small file's
        resolve redirects (a resolvers hit, like the resolve itself)."""
        kind = parts[2]
        if kind not in ("models", "datasets"):
            raise Reply(404, f"no route for {method} {self.path}")
        repo_type = kind[:-1]
        repo, repo_id, rest, moved = _split_repo(self.hub, repo_type, parts[3:])
        if len(rest) < 2:
            raise Reply(404, f"no route for {method} {self.path}")
        route = f"{method} /api/resolve-cache/{kind}/{{repo}}"
        path = "/".join(rest[1:])
        prefix = ["api", "resolve-cache", kind]
        if moved is not None:
            return route, repo_id, path, lambda: self._moved(repo_type, moved, prefix, rest)
        return route, repo_id, path, lambda: self._cached(repo, repo_id, rest[0], path)


class CdnHandler(Handler):
    """The CDN's origin (another port): LFS bytes by sha256, as the resolvers' 302 names them.

    `GET|HEAD /repos/{models|datasets}/{repo id}/{sha256}?path=...` (the path only names the
    file for faults and counts; the bytes are looked up by sha256). No hub headers: errors are
    the storage's 403 AccessDenied, without X-Error-Code.
    """

    origin = "cdn"

    def _route(self, method: str, parts: list[str]) -> Route:
        if method in ("GET", "HEAD") and len(parts) >= 4 and parts[0] in ("repos", "xet-bridge"):
            repo_id = "/".join(parts[2:-1])
            sha256 = parts[-1]
            path = (self.query.get("path") or [None])[0]
            return f"{method} cdn", repo_id, path, lambda: self._blob(sha256, path or "")
        raise Reply(404, f"no route for {method} {self.path}")

    def _error(self, reply: Reply) -> None:
        headers = {k.replace("_", "-"): v for k, v in reply.headers.items()}
        headers["Content-Type"] = "application/xml"
        body = f"<Error><Code>{reply.code or reply.status}</Code></Error>".encode()
        self._send(reply.status, body, headers)

    def _blob(self, sha256: str, path: str) -> None:
        data = self.hub.blob(sha256)
        if data is None:
            raise Reply(403, "Access Denied", "AccessDenied")
        self._serve_bytes(path, data, {
            "Content-Type": "application/octet-stream",
            "ETag": f'"{hashlib.md5(data).hexdigest()}"',  # the storage's own etag, not sha256
            "Accept-Ranges": "bytes",
        })  # fmt: skip


__all__ = ["BAD_TOKEN_MESSAGE", "DISABLED_MESSAGE", "RATE_LIMITED_MESSAGE", "BaseHandler",
           "CdnHandler", "Handler", "Reply"]  # fmt: skip
