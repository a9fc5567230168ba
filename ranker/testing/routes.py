"""The loopback hub's HTTP side: one request handler implementing the hub routes.

See `ranker.testing.hub` for the routes, the access rules and the faults.
"""

from __future__ import annotations

import hashlib
import json
import struct
import time
from http.server import BaseHTTPRequestHandler
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, unquote, urlencode, urlsplit

from ranker.testing.repos import LFS_SUFFIXES, Fault, HubRepo, git_blob_sha

if TYPE_CHECKING:
    from ranker.testing.hub import FakeHub


class _Reply(Exception):
    """Raised inside a handler to answer with an error status."""

    def __init__(self, status: int, message: str, code: str | None = None, **headers: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.headers = headers


def _split_repo(
    hub: FakeHub, repo_type: str, parts: list[str]
) -> tuple[HubRepo | None, str, list[str]]:
    """Split path segments into (repo, repo id, rest): ids have one or two segments."""
    for n in (2, 1):
        if len(parts) >= n:
            repo_id = "/".join(parts[:n])
            repo = hub.repos.get((repo_type, repo_id))
            if repo is not None:
                return repo, repo_id, parts[n:]
    verbs = ("revision", "tree", "paths-info", "resolve")
    n = 2 if len(parts) >= 2 and parts[1] not in verbs else 1
    return None, "/".join(parts[:n]), parts[n:]


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
    hub: FakeHub
    protocol_version = "HTTP/1.1"

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

    def _send(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        headers = dict(headers or {})
        headers.setdefault("Content-Type", "application/json")
        headers.setdefault("Content-Length", str(len(body)))
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)
        self._status = status

    def _json(self, status: int, value: Any, headers: dict[str, str] | None = None) -> None:
        self._send(status, json.dumps(value).encode(), headers)

    def _dispatch(self, method: str) -> None:
        hub = self.hub
        self._status = 0
        split = urlsplit(self.path)
        self.query = parse_qs(split.query, keep_blank_values=True)
        parts = [unquote(p) for p in split.path.split("/") if p]
        if method == "POST":
            length = int(self.headers.get("Content-Length") or 0)
            self.body = self.rfile.read(length) if length else b""
        try:
            route, repo_id, path, action = self._route(method, parts)
            with hub._lock:
                hub.counts[route] += 1
                if repo_id is not None:
                    hub.repo_counts[(route, repo_id)] += 1
                hub.auth_seen.append(self.headers.get("Authorization"))
            fault = hub._fault_for(route, repo_id, path, unquote(split.query))
            if fault is not None and fault.kind == "stall":
                time.sleep(fault.seconds)
            elif fault is not None and fault.kind == "status":
                self._fault_reply(fault)
                return
            self._truncate = fault is not None and fault.kind == "truncate"
            action()
        except _Reply as reply:
            if reply.status == 404 and str(reply).startswith("no route"):
                with hub._lock:
                    hub.counts["unrouted"] += 1
            headers = {k.replace("_", "-"): v for k, v in reply.headers.items()}
            if reply.code:
                headers["X-Error-Code"] = reply.code
            headers["X-Error-Message"] = str(reply)
            self._json(reply.status, {"error": str(reply)}, headers)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
        finally:
            with hub._lock:
                hub.log.append((method, self.path, self._status))

    def _fault_reply(self, fault: Fault) -> None:
        headers: dict[str, str] = {}
        if fault.retry_after is not None:
            headers["Retry-After"] = str(fault.retry_after)
        code = fault.error_code or {401: "GatedRepo", 403: "GatedRepo", 404: "EntryNotFound"}.get(
            fault.status
        )
        message = f"injected fault: HTTP {fault.status}"
        if code:
            headers["X-Error-Code"] = code
        headers["X-Error-Message"] = message
        self._json(fault.status, {"error": message}, headers)

    def _route(self, method: str, parts: list[str]) -> tuple[str, str | None, str | None, Any]:
        """Map a request to (route key, repo id, file path, handler)."""
        if parts[:1] == ["api"] and len(parts) >= 2 and parts[1] in ("models", "datasets"):
            kind = parts[1]
            repo_type = kind[:-1]
            if len(parts) == 2 and method == "GET":
                return f"GET /api/{kind}", None, None, lambda: self._list(repo_type)
            repo, repo_id, rest = _split_repo(self.hub, repo_type, parts[2:])
            if not rest and method == "GET":
                return (f"GET /api/{kind}/{{repo}}", repo_id, None,
                        lambda: self._info(repo, repo_id, None))  # fmt: skip
            if len(rest) == 2 and rest[0] == "revision" and method == "GET":
                return (f"GET /api/{kind}/{{repo}}", repo_id, None,
                        lambda: self._info(repo, repo_id, rest[1]))  # fmt: skip
            if len(rest) >= 2 and rest[0] == "tree" and method == "GET":
                sub = "/".join(rest[2:])
                return (f"GET /api/{kind}/{{repo}}/tree", repo_id, sub or None,
                        lambda: self._tree(repo, repo_id, rest[1], sub))  # fmt: skip
            if len(rest) == 2 and rest[0] == "paths-info" and method == "POST":
                return (f"POST /api/{kind}/{{repo}}/paths-info", repo_id, None,
                        lambda: self._paths_info(repo, repo_id, rest[1]))  # fmt: skip
        elif method in ("GET", "HEAD"):
            prefix = ""
            repo_type = "model"
            if parts[:1] == ["datasets"]:
                prefix, repo_type, parts = "/datasets", "dataset", parts[1:]
            repo, repo_id, rest = _split_repo(self.hub, repo_type, parts)
            if len(rest) >= 3 and rest[0] == "resolve":
                path = "/".join(rest[2:])
                return (f"{method} {prefix}/{{repo}}/resolve", repo_id, path,
                        lambda: self._resolve(repo, repo_id, rest[1], path))  # fmt: skip
        raise _Reply(404, f"no route for {method} {self.path}")

    # -- API ------------------------------------------------------------------------------------

    def _visible(self, repo: HubRepo | None, repo_id: str) -> HubRepo:
        if repo is None or (repo.private and not self._authorized()):
            status = 401
            raise _Reply(status, f"Repository Not Found for {repo_id}", "RepoNotFound")
        return repo

    def _files_at(self, repo: HubRepo, revision: str) -> dict[str, bytes]:
        if revision in ("main", repo.sha):
            return repo.files
        if revision in repo.revisions:
            return repo.revisions[revision]
        raise _Reply(404, f"Invalid rev id: {revision}", "RevisionNotFound")

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
            if all(f in r.tags for f in filters)
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
        fields = self._fields()
        limit = int((q.get("limit") or [str(hub.page_size)])[0])
        page = max(1, min(limit, hub.page_size))
        start = int((q.get("cursor") or ["0"])[0])
        chunk = repos[start : start + page]
        headers = {}
        if start + page < len(repos):
            params = [(k, v) for k, vs in q.items() if k != "cursor" for v in vs]
            params.append(("cursor", str(start + page)))
            next_url = f"{hub.url}/api/{repo_type}s?{urlencode(params)}"
            headers["Link"] = f'<{next_url}>; rel="next"'
        self._json(200, [r.info(fields) for r in chunk], headers)

    def _fields(self) -> set[str] | None:
        """Which fields a listing returns: the expand list, or the hub's defaults."""
        q = self.query
        expand = q.get("expand")
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
        repo = self._visible(repo, repo_id)
        expand = self.query.get("expand")
        fields = set(expand) if expand else None
        info = repo.info(fields)
        if revision is not None and revision not in ("main", repo.sha):
            files = self._files_at(repo, revision)
            info["sha"] = revision
            if fields is None or "siblings" in fields:
                info["siblings"] = [{"rfilename": n} for n in sorted(files)]
        self._json(200, info)

    def _entry(self, name: str, data: bytes) -> dict[str, Any]:
        entry: dict[str, Any] = {"type": "file", "oid": git_blob_sha(data), "size": len(data),
                                 "path": name}  # fmt: skip
        if name.endswith(LFS_SUFFIXES):
            entry["lfs"] = {"oid": hashlib.sha256(data).hexdigest(), "size": len(data),
                            "pointerSize": 134}  # fmt: skip
        return entry

    def _tree(self, repo: HubRepo | None, repo_id: str, revision: str, sub: str) -> None:
        repo = self._visible(repo, repo_id)
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
            out.append(self._entry(name, files[name]))
        self._json(200, out)

    def _paths_info(self, repo: HubRepo | None, repo_id: str, revision: str) -> None:
        repo = self._visible(repo, repo_id)
        files = self._files_at(repo, unquote(revision))
        content_type = self.headers.get("Content-Type", "")
        if "json" in content_type:
            paths = json.loads(self.body or b"{}").get("paths", [])
        else:
            paths = parse_qs(self.body.decode()).get("paths", [])
        self._json(200, [self._entry(p, files[p]) for p in paths if p in files])

    # -- files ---------------------------------------------------------------------------------

    def _resolve(self, repo: HubRepo | None, repo_id: str, revision: str, path: str) -> None:
        repo = self._visible(repo, repo_id)
        revision = unquote(revision)
        files = self._files_at(repo, revision)
        commit = repo.sha if revision == "main" else revision
        if repo.gated:
            status = 403 if self._authorized() else 401
            raise _Reply(status, f"Access to model {repo_id} is restricted.", "GatedRepo",
                         X_Repo_Commit=commit)  # fmt: skip
        if repo.disabled:
            raise _Reply(403, "Access to this resource is disabled.", "DisabledRepo")
        if path not in files:
            raise _Reply(404, f"Entry not found: {path}", "EntryNotFound", X_Repo_Commit=commit)
        data = files[path]
        if repo_id in self.hub.corrupt and path.endswith(".safetensors"):
            data = struct.pack("<Q", 64) + b"{not json" + data[17:]
        lfs = path.endswith(LFS_SUFFIXES)
        etag = hashlib.sha256(data).hexdigest() if lfs else git_blob_sha(data)
        headers = {
            "Content-Type": "application/octet-stream",
            "ETag": f'"{etag}"',
            "X-Repo-Commit": commit,
            "Accept-Ranges": "bytes",
        }
        if lfs:
            headers["X-Linked-Etag"] = f'"{etag}"'
            headers["X-Linked-Size"] = str(len(data))
        status, body = 200, data
        rng = self.headers.get("Range")
        if rng and rng.startswith("bytes=") and self.command == "GET":
            first, _, last = rng[6:].split(",")[0].partition("-")
            start = int(first or 0)
            end = int(last) if last else len(data) - 1
            body = data[start : end + 1]
            status = 206
            headers["Content-Range"] = f"bytes {start}-{start + len(body) - 1}/{len(data)}"
        headers["Content-Length"] = str(len(body))
        if getattr(self, "_truncate", False) and self.command == "GET":
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(body[: len(body) // 2])
            self.wfile.flush()
            self.close_connection = True
            self._status = status
            return
        self._send(status, body, headers)
