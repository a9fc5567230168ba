"""The loopback hub's HTTP side: the hub's request handler and the CDN's.

See `ranker.testing.hub` for the routes, the access rules and the faults.
"""

from __future__ import annotations

import functools
import hashlib
import json
import struct
from http.server import BaseHTTPRequestHandler
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, quote, unquote, urlencode, urlsplit

from ranker.testing.quota import bucket_of
from ranker.testing.repos import (
    CONTENT_FAULTS,
    EXPAND_NAMES,
    REQUEST_FAULTS,
    Fault,
    HubRepo,
    corrupted,
    git_blob_sha,
    git_oid,
    is_lfs,
    lfs_pointer,
    xet_hash,
)

if TYPE_CHECKING:
    from ranker.testing.hub import FakeHub

# huggingface_hub raises DisabledRepoError on this exact X-Error-Message (the hub sends no
# X-Error-Code for it), and tells a bad token from a missing repo by the second one.
DISABLED_MESSAGE = "Access to this resource is disabled."
BAD_TOKEN_MESSAGE = "Invalid credentials in Authorization header"
RATE_LIMITED_MESSAGE = "You have exceeded our rate limit. Please wait before retrying."


class _Reply(Exception):
    """Raised inside a handler to answer with an error status."""

    def __init__(self, status: int, message: str, code: str | None = None, **headers: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.headers = headers


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


def _quote_path(segments: list[str]) -> str:
    return "/".join(quote(s, safe="") for s in segments)


def _sort_key(field_name: str) -> Any:
    def key(repo: HubRepo) -> Any:
        value = {
            "downloads": repo.downloads,
            "likes": repo.likes,
            "lastModified": repo.last_modified,
            "createdAt": repo.created_at,
            "trendingScore": repo.likes,
        }.get(field_name, repo.id)
        return value

    return key


class Handler(BaseHTTPRequestHandler):
    """The hub's own origin: the API and the resolvers."""

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
        if status == 429:
            with self.hub._lock:
                self.hub.rate_limited += 1

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
            except _Reply as no_route:  # answered after the quota, as every request is
                route, repo_id, path = "unrouted", None, None
                action = functools.partial(self._raise, no_route)
            self._where = (route, repo_id, path)
            with hub._lock:
                hub.counts[route] += 1
                if repo_id is not None:
                    hub.repo_counts[(route, repo_id)] += 1
                hub.auth_seen.append(self.headers.get("Authorization"))
            if self.origin == "hub":  # the CDN is not counted in the hub's buckets
                self._admit(parts)
            fault = hub._fault_for(route, repo_id, path, unquote(split.query), REQUEST_FAULTS)
            if fault is not None and fault.kind == "stall" and hub._wait(fault.seconds):
                fault = Fault(kind="drop")  # released by stop() or reset(): never answer
            if fault is not None and fault.kind == "drop":
                self.close_connection = True  # nothing written: the client sees the close
                return
            if fault is not None and fault.kind == "status":
                self._fault_reply(fault, route)
                return
            action()
        except _Reply as reply:
            self._error(reply)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
        finally:
            with hub._lock:
                hub.log.append((method, self.path, self._status))

    @staticmethod
    def _raise(reply: _Reply) -> None:
        raise reply

    def _admit(self, parts: list[str]) -> None:
        """The token check and the quota, before anything else answers: a token the hub was
        not given is a 401 (on public repos too), a request past its bucket's quota a 429.
        Either way the answer carries the bucket's RateLimit headers, as every answer does."""
        verdict, self._rate_headers = self.hub.admit(self._token(), bucket_of(parts))
        if verdict == "invalid-token":
            raise _Reply(401, BAD_TOKEN_MESSAGE)
        if verdict == "limited":
            extra = {}
            if self.hub.retry_after:  # not the hub's documented behaviour: opt in
                extra["Retry_After"] = self._rate_headers["RateLimit"].rpartition(";t=")[2]
            raise _Reply(429, RATE_LIMITED_MESSAGE, **extra)

    def _error(self, reply: _Reply) -> None:
        headers = {k.replace("_", "-"): v for k, v in reply.headers.items()}
        if reply.code:
            headers["X-Error-Code"] = reply.code
        headers["X-Error-Message"] = str(reply)
        self._json(reply.status, {"error": str(reply)}, headers)

    def _fault_reply(self, fault: Fault, route: str) -> None:
        headers: dict[str, str] = {}
        if fault.retry_after is not None:
            headers["Retry-After"] = str(fault.retry_after)
        limit = self._rate_headers.get("RateLimit")
        if fault.status == 429 and limit is not None:
            # An injected rate limit: the bucket is spent; resets in `retry_after` if given.
            bucket, _, rest = limit.partition(";r=")
            reset = fault.retry_after if fault.retry_after is not None else rest.split(";t=")[1]
            headers["RateLimit"] = f"{bucket};r=0;t={reset}"
        code = fault.error_code or {401: "GatedRepo", 403: "GatedRepo", 404: "EntryNotFound"}.get(
            fault.status
        )
        message = f"injected fault: HTTP {fault.status}"
        if code and self.origin == "hub":
            headers["X-Error-Code"] = code
        headers["X-Error-Message"] = message
        self._json(fault.status, {"error": message}, headers)

    def _route(self, method: str, parts: list[str]) -> tuple[str, str | None, str | None, Any]:
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
        raise _Reply(404, f"no route for {method} {self.path}")

    def _route_cache(
        self, method: str, parts: list[str]
    ) -> tuple[str, str | None, str | None, Any]:
        """`/api/resolve-cache/{models|datasets}/{repo}/{sha}/{path}`: where a small file's
        resolve redirects (a resolvers hit, like the resolve itself)."""
        kind = parts[2]
        if kind not in ("models", "datasets"):
            raise _Reply(404, f"no route for {method} {self.path}")
        repo_type = kind[:-1]
        repo, repo_id, rest, moved = _split_repo(self.hub, repo_type, parts[3:])
        if len(rest) < 2:
            raise _Reply(404, f"no route for {method} {self.path}")
        route = f"{method} /api/resolve-cache/{kind}/{{repo}}"
        path = "/".join(rest[1:])
        prefix = ["api", "resolve-cache", kind]
        if moved is not None:
            return route, repo_id, path, lambda: self._moved(repo_type, moved, prefix, rest)
        return route, repo_id, path, lambda: self._cached(repo, repo_id, rest[0], path)

    # -- API ------------------------------------------------------------------------------------

    def _not_found(self, repo_id: str) -> _Reply:
        # As the hub: 401 to an anonymous request, 404 to an authenticated one.
        status = 404 if self._authorized() else 401
        return _Reply(status, f"Repository Not Found for {repo_id}", "RepoNotFound")

    def _visible(self, repo: HubRepo | None, repo_id: str) -> HubRepo:
        if repo is None or (repo.private and not self._authorized()):
            raise self._not_found(repo_id)
        return repo

    def _enabled(self, repo: HubRepo | None, repo_id: str) -> HubRepo:
        """A visible repo that is not disabled: a disabled one answers 403 on API and resolve
        routes alike, named only by its message (no X-Error-Code), as the hub does."""
        repo = self._visible(repo, repo_id)
        if repo.disabled:
            raise _Reply(403, DISABLED_MESSAGE)
        return repo

    def _expand(self, repo_type: str) -> list[str]:
        """The `expand` / `expand[]` names asked for; an unknown one fails the request (400)."""
        names = self.query.get("expand") or self.query.get("expand[]") or []
        unknown = sorted(set(names) - EXPAND_NAMES[repo_type])
        if unknown:
            allowed = ", ".join(f'"{n}"' for n in sorted(EXPAND_NAMES[repo_type]))
            raise _Reply(400, f'"expand" contains unknown values {unknown}: must be one of '
                              f"{allowed}")  # fmt: skip
        return names

    def _moved(self, repo_type: str, new_id: str, prefix: list[str], rest: list[str]) -> None:
        """A renamed repo: 307 to the same path under its new id (same query)."""
        repo = self.hub.repos.get((repo_type, new_id))
        if repo is None or (repo.private and not self._authorized()):
            raise self._not_found(new_id)
        location = "/" + _quote_path([*prefix, *new_id.split("/"), *rest])
        if self.raw_query:
            location += "?" + self.raw_query
        self._json(307, {"error": f"Repository moved to {new_id}"}, {"Location": location})

    def _files_at(self, repo: HubRepo, revision: str) -> dict[str, bytes]:
        if revision in ("main", repo.sha):
            return repo.files
        if revision in repo.revisions:
            return repo.revisions[revision]
        raise _Reply(404, f"Invalid rev id: {revision}", "RevisionNotFound")

    def _overrides(self, repo: HubRepo) -> dict[str, Any] | None:
        return self.hub.listing_overrides.get((repo.repo_type, repo.id))

    def _list(self, repo_type: str) -> None:
        hub, q = self.hub, self.query
        filters = q.get("filter", [])
        search = (q.get("search") or [""])[0].lower()
        author = (q.get("author") or [""])[0]
        gated = (q.get("gated") or [""])[0].lower()
        with hub._lock:
            repos = [r for (t, _), r in hub.repos.items() if t == repo_type]
        repos = [
            r
            for r in repos
            if all(f in r.hub_tags() for f in filters)
            and search in r.id.lower()
            and (not author or r.id.split("/")[0] == author)
            and (not r.private or self._authorized())
            and (gated == "" or (gated == "true") == bool(r.gated))
        ]
        sort = (q.get("sort") or [""])[0]
        if sort:
            descending = (q.get("direction") or ["-1"])[0] != "1"
            repos.sort(key=lambda r: r.id)
            repos.sort(key=_sort_key(sort), reverse=descending)
        else:
            repos.sort(key=lambda r: r.id)
        fields = self._fields(repo_type)
        limit = int((q.get("limit") or [str(hub.page_size)])[0])
        page = max(1, min(limit, hub.page_size))
        start = self._cursor()
        chunk = repos[start : start + page]
        headers = {}
        if start + page < len(repos):
            params = [(k, v) for k, vs in q.items() if k != "cursor" for v in vs]
            params.append(("cursor", str(start + page)))
            next_url = f"{hub.url}/api/{repo_type}s?{urlencode(params)}"
            headers["Link"] = f'<{next_url}>; rel="next"'
        self._json(200, [r.info(fields, self._overrides(r)) for r in chunk], headers)

    def _fields(self, repo_type: str) -> set[str] | None:
        """Which fields a listing returns: the expand list, or the hub's defaults."""
        q = self.query
        expand = self._expand(repo_type)
        if expand:
            return set(expand)
        fields = {"likes", "downloads", "tags", "pipeline_tag", "library_name", "createdAt",
                  "private"}  # fmt: skip
        if (q.get("full") or [""])[0].lower() == "true":
            fields |= {"sha", "lastModified", "siblings", "author", "gated", "disabled"}
        if (q.get("config") or [""])[0].lower() == "true":
            fields.add("config")
        if (q.get("cardData") or [""])[0].lower() == "true":
            fields.add("cardData")
        return fields

    def _info(self, repo: HubRepo | None, repo_id: str, revision: str | None) -> None:
        repo = self._enabled(repo, repo_id)
        expand = self._expand(repo.repo_type)
        fields = set(expand) if expand else None
        info = repo.info(fields, None)
        if revision is not None and revision not in ("main", repo.sha):
            files = self._files_at(repo, revision)
            info["sha"] = revision
            if fields is None or "siblings" in fields:
                info["siblings"] = [{"rfilename": n} for n in sorted(files)]
        for name, value in (self._overrides(repo) or {}).items():
            if fields is None or name in fields or name in info:
                info[name] = value
        self._json(200, info)

    def _entry(self, repo: HubRepo, name: str, data: bytes) -> dict[str, Any]:
        # `oid` is the git blob sha of what git holds: the file, or for LFS its pointer file.
        entry: dict[str, Any] = {"type": "file", "oid": git_oid(name, data), "size": len(data),
                                 "path": name}  # fmt: skip
        if is_lfs(name):
            entry["lfs"] = {"oid": hashlib.sha256(data).hexdigest(), "size": len(data),
                            "pointerSize": len(lfs_pointer(data))}  # fmt: skip
            if repo.is_xet(name):
                entry["xetHash"] = xet_hash(data)
        return entry

    def _tree(self, repo: HubRepo | None, repo_id: str, revision: str, sub: str) -> None:
        repo = self._enabled(repo, repo_id)
        files = self._files_at(repo, unquote(revision))
        recursive = (self.query.get("recursive") or [""])[0].lower() == "true"
        prefix = sub.strip("/") + "/" if sub.strip("/") else ""
        if prefix and not any(n.startswith(prefix) for n in files):
            raise _Reply(404, f"{sub} does not exist", "EntryNotFound")
        out: list[dict[str, Any]] = []
        folders: set[str] = set()
        for name in sorted(files):
            if not name.startswith(prefix):
                continue
            rest = name[len(prefix) :]
            if "/" in rest and not recursive:
                folder = prefix + rest.split("/")[0]
                if folder not in folders:
                    folders.add(folder)
                    out.append({"type": "directory", "oid": "0" * 40, "size": 0, "path": folder})
                continue
            out.append(self._entry(repo, name, files[name]))
        self._page(out)

    def _cursor(self) -> int:
        """Where a page starts (the fake's cursor: an offset; the hub's is opaque)."""
        raw = (self.query.get("cursor") or ["0"])[0]
        if not raw.isdigit():
            raise _Reply(400, f"Invalid cursor: {raw!r}")
        return int(raw)

    def _page(self, entries: list[dict[str, Any]]) -> None:
        """One page of a tree: 1,000 entries (50 with `expand`), the next in `Link` (a cursor
        into the same listing, the rest of the query kept)."""
        expand = (self.query.get("expand") or [""])[0].lower() in ("true", "1")
        size = self.hub.tree_expand_page_size if expand else self.hub.tree_page_size
        start = self._cursor()
        headers = {}
        if start + size < len(entries):
            params = [(k, v) for k, vs in self.query.items() if k != "cursor" for v in vs]
            params.append(("cursor", str(start + size)))
            path = urlsplit(self.path).path
            headers["Link"] = f'<{self.hub.url}{path}?{urlencode(params)}>; rel="next"'
        self._json(200, entries[start : start + size], headers)

    def _paths_info(self, repo: HubRepo | None, repo_id: str, revision: str) -> None:
        repo = self._enabled(repo, repo_id)
        files = self._files_at(repo, unquote(revision))
        content_type = self.headers.get("Content-Type", "")
        if "json" in content_type:
            paths = json.loads(self.body or b"{}").get("paths", [])
        else:
            paths = parse_qs(self.body.decode()).get("paths", [])
        self._json(200, [self._entry(repo, p, files[p]) for p in paths if p in files])

    # -- files ---------------------------------------------------------------------------------

    def _resolve(
        self, repo: HubRepo | None, repo_id: str, revision: str, path: str, prefix: list[str]
    ) -> None:
        """LFS files: 302 to the CDN; small files: 307 to /api/resolve-cache/, there 200."""
        repo, files, commit = self._readable(repo, repo_id, unquote(revision), path)
        data = files[path]
        if repo_id in self.hub.corrupt and path.endswith(".safetensors"):
            data = struct.pack("<Q", 64) + b"{not json" + data[17:]
        if is_lfs(path):
            sha256 = hashlib.sha256(data).hexdigest()
            headers = {
                "Content-Type": "text/plain; charset=utf-8",
                # ETag is the git blob sha of the LFS pointer, not of the content: only
                # X-Linked-Etag names the bytes the CDN serves.
                "ETag": f'"{git_blob_sha(lfs_pointer(data))}"',
                "X-Linked-Etag": f'"{sha256}"',
                "X-Linked-Size": str(len(data)),
                "X-Repo-Commit": commit,
            }
            if repo.is_xet(path):
                # The hub also sends `Link: <...>; rel="xet-auth"`; with it (and hf_xet
                # installed) huggingface_hub downloads over the Xet protocol, which this fake
                # does not serve. Without it the client takes the plain GET, which the real
                # Xet bridge also answers with the whole file.
                key = self.hub._put_blob(data, xet_hash(data))
                headers["X-Xet-Hash"] = key
                location = self.hub.cdn_location(repo, key, path, xet=True)
            else:
                location = self.hub.cdn_location(repo, self.hub._put_blob(data), path)
            headers["Location"] = location
            self._send(302, f"Found. Redirecting to {location}".encode(), headers)
            return
        # Small files go through the resolve cache, at a pinned sha too (seen for `main`; the
        # same assumed for a sha: the stricter choice, two resolver hits either way).
        location = "/" + _quote_path(["api", "resolve-cache", f"{repo.repo_type}s",
                                      *repo.id.split("/"), commit, *path.split("/")])  # fmt: skip
        origin = "/" + _quote_path([*prefix, *repo.id.split("/"), "resolve", revision,
                                    *path.split("/")])  # fmt: skip
        location += "?" + urlencode({origin: "", "etag": f'"{git_blob_sha(data)}"'})
        body = f"Temporary Redirect. Redirecting to {location}".encode()
        self._send(307, body, {"Content-Type": "text/plain; charset=utf-8",
                               "Location": location, "X-Repo-Commit": commit})  # fmt: skip

    def _readable(
        self, repo: HubRepo | None, repo_id: str, revision: str, path: str
    ) -> tuple[HubRepo, dict[str, bytes], str]:
        """The access rules of a file: (repo, its files at `revision`, the commit sha)."""
        repo = self._visible(repo, repo_id)
        files = self._files_at(repo, revision)
        commit = repo.sha if revision == "main" else revision
        if repo.gated:
            status = 403 if self._authorized() else 401
            raise _Reply(status, f"Access to model {repo_id} is restricted.", "GatedRepo",
                         X_Repo_Commit=commit)  # fmt: skip
        if repo.disabled:
            raise _Reply(403, DISABLED_MESSAGE)
        if path not in files:
            raise _Reply(404, f"Entry not found: {path}", "EntryNotFound", X_Repo_Commit=commit)
        return repo, files, commit

    def _cached(self, repo: HubRepo | None, repo_id: str, sha: str, path: str) -> None:
        """A small file through the resolve cache: 200, ETag (git blob sha), X-Repo-Commit.

        Only a commit sha is accepted here (a branch name is a 404: the stricter choice)."""
        visible = self._visible(repo, repo_id)
        if sha not in visible.revisions:
            raise _Reply(404, f"Invalid rev id: {sha}", "RevisionNotFound")
        repo, files, commit = self._readable(visible, repo_id, sha, path)
        data = files[path]
        self._serve_bytes(path, data, {
            "Content-Type": "application/octet-stream",
            "ETag": f'"{git_blob_sha(data)}"',
            "X-Repo-Commit": commit,
            "Accept-Ranges": "bytes",
        })  # fmt: skip

    def _serve_bytes(self, path: str, data: bytes, headers: dict[str, str]) -> None:
        """Answer with `data` (or the asked range of it), after any content fault."""
        fault = None
        if self.command == "GET":
            route, repo_id, where = self._where
            fault = self.hub._fault_for(route, repo_id, where, unquote(self.raw_query),
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
                raise _Reply(416, "Range Not Satisfiable", None,
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


class CdnHandler(Handler):
    """The CDN's origin (another port): LFS bytes by sha256, as the resolvers' 302 names them.

    `GET|HEAD /repos/{models|datasets}/{repo id}/{sha256}?path=...` (the path only names the
    file for faults and counts; the bytes are looked up by sha256). No hub headers: errors are
    the storage's 403 AccessDenied, without X-Error-Code.
    """

    origin = "cdn"

    def _route(self, method: str, parts: list[str]) -> tuple[str, str | None, str | None, Any]:
        if method in ("GET", "HEAD") and len(parts) >= 4 and parts[0] in ("repos", "xet-bridge"):
            repo_id = "/".join(parts[2:-1])
            sha256 = parts[-1]
            path = (self.query.get("path") or [None])[0]
            return f"{method} cdn", repo_id, path, lambda: self._blob(sha256, path or "")
        raise _Reply(404, f"no route for {method} {self.path}")

    def _error(self, reply: _Reply) -> None:
        headers = {k.replace("_", "-"): v for k, v in reply.headers.items()}
        headers["Content-Type"] = "application/xml"
        body = f"<Error><Code>{reply.code or reply.status}</Code></Error>".encode()
        self._send(reply.status, body, headers)

    def _blob(self, sha256: str, path: str) -> None:
        data = self.hub._blobs.get(sha256)
        if data is None:
            raise _Reply(403, "Access Denied", "AccessDenied")
        self._serve_bytes(path, data, {
            "Content-Type": "application/octet-stream",
            "ETag": f'"{hashlib.md5(data).hexdigest()}"',  # the storage's own etag, not sha256
            "Accept-Ranges": "bytes",
        })  # fmt: skip
