"""A loopback stand-in for the Hugging Face hub that the real `huggingface_hub` client talks to.

The hub cannot be reached from our machines, so tests (and `ranker demo`) start `FakeHub`: a
real HTTP server on 127.0.0.1 (a free port, in a thread) serving repos held in memory. Point the
client at it with `HfApi(endpoint=hub.url)` or `HF_ENDPOINT=hub.url` (`hub.patch_endpoint()`
does the latter for code that reads `huggingface_hub.constants`).

Routes (the ones huggingface_hub 2.x uses), models and datasets alike:

    GET  /api/models                              list: filter (tags, AND), search, author,
                                                  gated, sort, direction, limit, expand, full,
                                                  config, cardData; `Link: <...>; rel="next"`
    GET  /api/models/{repo}[/revision/{rev}]      model_info (siblings, sha, config, ...)
    GET  /api/models/{repo}/tree/{rev}[/{path}]   list_repo_tree
    POST /api/models/{repo}/paths-info/{rev}      get_paths_info
    HEAD /{repo}/resolve/{rev}/{path}             file metadata: ETag, X-Repo-Commit, Content-Length
    GET  /{repo}/resolve/{rev}/{path}             file body; honours `Range: bytes=a-[b]`
    ...  /api/datasets/..., /datasets/{repo}/resolve/...   the same for dataset repos

Access rules as on the hub: private repos are listed and served only to a request carrying an
`Authorization` header; gated repos list and show their metadata but refuse files (401 without a
token, 403 with one, `X-Error-Code: GatedRepo`); disabled repos refuse files (403).

Faults, injected per route, repo and/or file (`hub.inject(Fault(...))` or the helpers):

    hub.fail(503, times=2)                       5xx (or any status) N times, then OK
    hub.fail(500, query="filter=roberta")        ... only for requests whose query has this
    hub.fail(429, retry_after=0)                 rate limit with `Retry-After`
    hub.fail(404, repo=r, path="config.json")    a missing file (X-Error-Code EntryNotFound)
    hub.fail(401 / 403, repo=r)                  gated (X-Error-Code GatedRepo)
    hub.stall(2.0, route="GET /api/models")      sleep before answering (client timeouts)
    hub.truncate(r, "model.safetensors")         Content-Length larger than the body sent
    hub.corrupt_safetensors(r)                   serve the weights with a garbled header

`times=None` makes a fault permanent. Content faults are just repo contents: pickle-only weights
(a `pytorch_model.bin` and no `*.safetensors`), custom code (`auto_map` in config.json plus the
`custom_code` tag), adapters, quantised or merged models (their tags).

Every request is counted: `hub.counts["GET /api/models"]` per route key (the templates above,
with `{repo}` for the repo part, e.g. "GET /api/models/{repo}" or "HEAD /{repo}/resolve"), and
`hub.repo_counts[(route, repo_id)]` per repo; `hub.log` keeps (method, path, status). A
request to a route the hub does not implement gets a 404 and counts as "unrouted" (one such is
huggingface_hub's once-a-process `GET /api/agent-harnesses` when telemetry is on and
`HF_ENDPOINT` points here; the 404 makes it give up quietly).
"""

from __future__ import annotations

import hashlib
import json
import struct
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlencode, urlsplit

LFS_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth", ".h5", ".msgpack", ".onnx", ".gguf", ".ckpt")
DEFAULT_PAGE_SIZE = 1000


def git_blob_sha(data: bytes) -> str:
    """The git object id of a blob, as the hub reports for non-LFS files."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def safetensors_params(data: bytes) -> dict[str, int] | None:
    """Parameter counts per dtype from a safetensors header; None when it is not readable."""
    try:
        (n,) = struct.unpack("<Q", data[:8])
        header = json.loads(data[8 : 8 + n])
        counts: Counter[str] = Counter()
        for name, spec in header.items():
            if name == "__metadata__":
                continue
            size = 1
            for dim in spec["shape"]:
                size *= int(dim)
            counts[spec["dtype"]] += size
        return dict(counts)
    except (struct.error, ValueError, KeyError, TypeError, AttributeError):
        return None


def iso(ts: datetime) -> str:
    return ts.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")


@dataclass
class HubRepo:
    """One repo as the hub holds it: current files and metadata, and every past revision."""

    id: str
    files: dict[str, bytes]
    repo_type: str = "model"
    sha: str = ""
    tags: list[str] = field(default_factory=list)
    last_modified: datetime = field(default_factory=lambda: datetime(2024, 1, 1, tzinfo=UTC))
    created_at: datetime = field(default_factory=lambda: datetime(2023, 1, 1, tzinfo=UTC))
    downloads: int = 0
    likes: int = 0
    library_name: str | None = "transformers"
    pipeline_tag: str | None = None
    card_data: dict[str, Any] | None = None
    gated: str | bool = False  # False, "auto" or "manual"
    private: bool = False
    disabled: bool = False
    revisions: dict[str, dict[str, bytes]] = field(default_factory=dict)  # sha -> files

    def __post_init__(self) -> None:
        if not self.sha:
            self.sha = self.make_sha()
        self.revisions[self.sha] = dict(self.files)

    def make_sha(self) -> str:
        digest = hashlib.sha1(f"{self.repo_type}:{self.id}:{len(self.revisions)}".encode())
        for name in sorted(self.files):
            digest.update(name.encode() + b"\0" + hashlib.sha1(self.files[name]).digest())
        return digest.hexdigest()

    @property
    def config(self) -> dict[str, Any] | None:
        raw = self.files.get("config.json")
        if raw is None:
            return None
        try:
            value = json.loads(raw)
        except ValueError:
            return None
        return value if isinstance(value, dict) else None

    @property
    def safetensors(self) -> dict[str, Any] | None:
        """What the hub's `safetensors` field says: parameter counts summed over the shards."""
        total: Counter[str] = Counter()
        found = False
        for name, data in self.files.items():
            if name.endswith(".safetensors"):
                params = safetensors_params(data)
                if params is not None:
                    found = True
                    total.update(params)
        if not found:
            return None
        return {"parameters": dict(total), "total": sum(total.values())}

    def info(self, fields: set[str] | None) -> dict[str, Any]:
        """The JSON the API returns for this repo; `fields` None means every field."""
        full: dict[str, Any] = {
            "author": self.id.split("/")[0] if "/" in self.id else None,
            "sha": self.sha,
            "lastModified": iso(self.last_modified),
            "createdAt": iso(self.created_at),
            "private": self.private,
            "gated": self.gated,
            "disabled": self.disabled,
            "downloads": self.downloads,
            "likes": self.likes,
            "tags": list(self.tags),
            "cardData": self.card_data,
            "siblings": [{"rfilename": name} for name in sorted(self.files)],
        }
        if self.repo_type == "model":
            full.update(
                library_name=self.library_name,
                pipeline_tag=self.pipeline_tag,
                config=self.config,
                safetensors=self.safetensors,
            )
        keep = full if fields is None else {k: v for k, v in full.items() if k in fields}
        out = {"_id": hashlib.md5(self.id.encode()).hexdigest()[:24], "id": self.id}
        if self.repo_type == "model":
            out["modelId"] = self.id
        out.update({k: v for k, v in keep.items() if v is not None or k in ("gated",)})
        return out


@dataclass
class Fault:
    """A failure the hub injects into matching requests; `times` None means every time."""

    kind: str = "status"  # "status", "stall" or "truncate"
    status: int = 503
    route: str | None = None  # a route key such as "GET /api/models"; None matches any
    repo: str | None = None
    path: str | None = None  # a file in the repo (resolve, tree) ; None matches any
    query: str | None = None  # a substring of the raw query, e.g. "filter=roberta"
    times: int | None = 1
    retry_after: int | None = None
    seconds: float = 0.0  # stall length
    error_code: str | None = None  # X-Error-Code; derived from the status when None
    fired: int = 0

    def matches(self, route: str, repo: str | None, path: str | None, query: str) -> bool:
        return (
            (self.times is None or self.fired < self.times)
            and (self.route is None or self.route == route)
            and (self.repo is None or self.repo == repo)
            and (self.path is None or self.path == path)
            and (self.query is None or self.query in query)
        )


class _Reply(Exception):
    """Raised inside a handler to answer with an error status."""

    def __init__(self, status: int, message: str, code: str | None = None, **headers: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.headers = headers


class FakeHub:
    """The loopback hub: `with FakeHub() as hub: hub.add_model(...); HfApi(endpoint=hub.url)`."""

    def __init__(self, *, page_size: int = DEFAULT_PAGE_SIZE) -> None:
        self.page_size = page_size
        self.repos: dict[tuple[str, str], HubRepo] = {}
        self.faults: list[Fault] = []
        self.corrupt: set[str] = set()
        self.counts: Counter[str] = Counter()
        self.repo_counts: Counter[tuple[str, str]] = Counter()
        self.log: list[tuple[str, str, int]] = []
        self.auth_seen: list[str | None] = []
        self._lock = threading.RLock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle -----------------------------------------------------------------------------

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("FakeHub is not started")
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> FakeHub:
        hub = self

        class Handler(_Handler):
            pass

        Handler.hub = hub
        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        server.daemon_threads = True
        server.block_on_close = False
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, name="FakeHub", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> FakeHub:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- repos ---------------------------------------------------------------------------------

    def add_model(self, repo_id: str, files: dict[str, bytes], **meta: Any) -> HubRepo:
        """Add (or replace) a model repo; `meta` sets `HubRepo` fields (tags, downloads...)."""
        repo = HubRepo(id=repo_id, files=dict(files), repo_type="model", **meta)
        with self._lock:
            self.repos[("model", repo_id)] = repo
        return repo

    def add_dataset(self, repo_id: str, files: dict[str, bytes], **meta: Any) -> HubRepo:
        meta.setdefault("library_name", None)
        repo = HubRepo(id=repo_id, files=dict(files), repo_type="dataset", **meta)
        with self._lock:
            self.repos[("dataset", repo_id)] = repo
        return repo

    def model(self, repo_id: str) -> HubRepo:
        return self.repos[("model", repo_id)]

    def remove(self, repo_id: str, repo_type: str = "model") -> None:
        with self._lock:
            del self.repos[(repo_type, repo_id)]

    def commit(
        self, repo_id: str, files: dict[str, bytes] | None = None, repo_type: str = "model"
    ) -> str:
        """A new commit: replace/add `files` (or just bump the sha); returns the new sha."""
        with self._lock:
            repo = self.repos[(repo_type, repo_id)]
            repo.files.update(files or {})
            repo.sha = repo.make_sha()
            repo.revisions[repo.sha] = dict(repo.files)
            repo.last_modified = datetime.now(UTC)
            return repo.sha

    # -- faults and counts ---------------------------------------------------------------------

    def inject(self, fault: Fault) -> Fault:
        with self._lock:
            self.faults.append(fault)
        return fault

    def fail(self, status: int, **where: Any) -> Fault:
        return self.inject(Fault(kind="status", status=status, **where))

    def stall(self, seconds: float, **where: Any) -> Fault:
        return self.inject(Fault(kind="stall", seconds=seconds, **where))

    def truncate(self, repo: str, path: str, times: int | None = 1) -> Fault:
        return self.inject(
            Fault(kind="truncate", route="GET /{repo}/resolve", repo=repo, path=path, times=times)
        )

    def corrupt_safetensors(self, repo: str) -> None:
        """Serve this repo's `*.safetensors` files with a garbled header (listing unchanged)."""
        self.corrupt.add(repo)

    def clear_faults(self) -> None:
        with self._lock:
            self.faults.clear()
            self.corrupt.clear()

    def reset(self) -> None:
        """Forget every repo, fault and count (a session-wide hub reused by many tests)."""
        with self._lock:
            self.repos.clear()
            self.page_size = DEFAULT_PAGE_SIZE
        self.clear_faults()
        self.reset_counts()

    def reset_counts(self) -> None:
        with self._lock:
            self.counts.clear()
            self.repo_counts.clear()
            self.log.clear()
            self.auth_seen.clear()

    def per_repo(self, route: str) -> dict[str, int]:
        """Request counts of one route by repo, e.g. per_repo("GET /api/models/{repo}")."""
        return {repo: n for (r, repo), n in self.repo_counts.items() if r == route}

    def _fault_for(
        self, route: str, repo: str | None, path: str | None, query: str
    ) -> Fault | None:
        with self._lock:
            for fault in self.faults:
                if fault.matches(route, repo, path, query):
                    fault.fired += 1
                    return fault
        return None

    def patch_endpoint(self, monkeypatch: Any) -> None:
        """Point module-level huggingface_hub defaults at this hub (pytest monkeypatch)."""
        from huggingface_hub import constants

        monkeypatch.setenv("HF_ENDPOINT", self.url)
        monkeypatch.setattr(constants, "ENDPOINT", self.url)
        template = self.url + "/{repo_id}/resolve/{revision}/{filename}"
        monkeypatch.setattr(constants, "HUGGINGFACE_CO_URL_TEMPLATE", template)


# -- request handling --------------------------------------------------------------------------


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


class _Handler(BaseHTTPRequestHandler):
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


def iter_repo_ids(hub: FakeHub, repo_type: str = "model") -> Iterator[str]:
    """The ids the hub holds, for assertions."""
    return (repo_id for (t, repo_id) in hub.repos if t == repo_type)


__all__ = ["FakeHub", "Fault", "HubRepo", "git_blob_sha", "safetensors_params"]
