"""A loopback stand-in for the Hugging Face hub that the real `huggingface_hub` client talks to.

The hub cannot be reached from our machines, so tests (and `ranker demo`) start `FakeHub`: a
real HTTP server on 127.0.0.1 (a free port, in a thread) serving repos held in memory, and a
second one, the "CDN" (another port), serving LFS files' bytes. Point the client at the hub with
`HfApi(endpoint=hub.url)` or `HF_ENDPOINT=hub.url` (`hub.patch_endpoint()` / `hub.as_endpoint()`
do the latter for code that reads `huggingface_hub.constants`). It answers as the real hub does
(see /work/shared/hub-contract.md); where the real behaviour is unknown it takes the stricter
choice, said so where it is made.

Routes (the ones huggingface_hub 2.x uses), models and datasets alike:

    GET  /api/models                              list: filter (tags, AND), search, author,
                                                  gated, sort, direction, limit, expand, full,
                                                  config, cardData; `Link: <...>; rel="next"`
    GET  /api/models/{repo}[/revision/{rev}]      model_info (siblings, sha, config, ...)
    GET  /api/models/{repo}/tree/{rev}[/{path}]   list_repo_tree (`oid`: git blob sha; LFS
                                                  files also `lfs.oid`: the content's sha256)
    POST /api/models/{repo}/paths-info/{rev}      get_paths_info
    HEAD /{repo}/resolve/{rev}/{path}             LFS files (`LFS_SUFFIXES`): 302 to the CDN,
    GET  /{repo}/resolve/{rev}/{path}               X-Linked-Etag (sha256), X-Linked-Size,
                                                    X-Repo-Commit, ETag (the LFS pointer's sha);
                                                  small files: 307 to /{repo}/resolve/{sha}/...
                                                    when rev is not the commit sha, else 200
                                                    with ETag (git blob sha), X-Repo-Commit
    ...  /api/datasets/..., /datasets/{repo}/resolve/...   the same for dataset repos
    GET|HEAD {cdn}/repos/{models|datasets}/{repo}/{sha256}?path=...   the CDN: the bytes,
                                                  `Range: bytes=a-[b]` honoured (206)

What the API answers is derived as the hub derives it: `config` is REDUCED to `architectures`,
`model_type`, `tokenizer_config` ({}), and `auto_map` / `quantization_config` when config.json
has them (never the dimensions: read config.json for those); `safetensors` is there only when
the repo holds `*.safetensors` (subfolders count); `baseModels` (expand only) and the lineage
tags `base_model:ID`, `base_model:<relation>:ID` only when `card_data` declares `base_model`
(relation: `base_model_relation`, else inferred: adapter, quantized, merge, finetune).

Access rules as on the hub: private repos are listed and served only to a request carrying an
`Authorization` header; missing or private repos answer 401 (anonymous) or 404 (with a token),
`X-Error-Code: RepoNotFound`; gated repos list and show their metadata but refuse files (401
without a token, 403 with one, `GatedRepo`); disabled repos refuse files (403, `DisabledRepo`);
a missing file is 404 `EntryNotFound`, a missing revision 404 `RevisionNotFound`. Errors carry
`X-Error-Code` and `X-Error-Message`. A renamed repo (`hub.rename(old, new)`) answers 307 to the
same path under its new id on API and resolve routes; listings show only the new id.

Faults, injected per route, repo and/or file (`hub.inject(Fault(...))` or the helpers); a fault
with no `route` matches every route, the CDN's included:

    hub.fail(503, times=2)                       5xx (or any status) N times, then OK
    hub.fail(500, query="filter=roberta")        ... only for requests whose query has this
    hub.fail(429, retry_after=0)                 rate limit: `Retry-After` and `RateLimit`
    hub.fail(429, route="GET cdn", retry_after=0)   ... on the CDN only
    hub.fail(404, repo=r, path="config.json")    a missing file (X-Error-Code EntryNotFound)
    hub.fail(401 / 403, repo=r)                  gated (X-Error-Code GatedRepo)
    hub.stall(2.0, route="GET /api/models")      sleep before answering (client timeouts)
    hub.stall(route=...)                         never answer (`math.inf`); stop() and reset()
                                                 release the stalled requests (no answer)
    hub.drop(route="HEAD /{repo}/resolve", repo=r)   close the connection, no response at all
    hub.truncate(r, "model.safetensors")         Content-Length larger than the body sent
    hub.corrupt_bytes(r, "model.safetensors")    same length, a few bytes changed inside the
                                                 tensor data (pickle: mid-file), headers and
                                                 tree still naming the true sha256
    hub.set_listing_field(r, "downloads", "lots")   listing and info rows carry this raw value
    hub.corrupt_safetensors(r)                   serve the weights with a garbled header

Fault kinds (`Fault.kind`): "status", "stall", "drop" act on the request; "truncate" and
"corrupt" on the bytes a GET serves (the CDN's, or a small file's 200). `times=None` makes a
fault permanent; `clear_faults()` removes every fault and listing override. Content faults are
just repo contents: pickle-only weights (a `pytorch_model.bin` and no `*.safetensors`), custom
code (`auto_map` in config.json plus the `custom_code` tag), adapters, quantised or merged
models (their tags, `base_model_relation` in the card).

Every request is counted: `hub.counts[route]` per route key: "GET /api/models",
"GET /api/models/{repo}", "GET /api/models/{repo}/tree", "POST /api/models/{repo}/paths-info",
"HEAD /{repo}/resolve", "GET /{repo}/resolve" (and the /api/datasets, /datasets ones), the CDN's
"GET cdn" and "HEAD cdn"; `hub.repo_counts[(route, repo_id)]` per repo (the id as requested,
the old one for a renamed repo); `hub.log` keeps (method, path, status), status 0 for a dropped
or released request. A request to a route the hub does not implement gets a 404 and counts as
"unrouted" (one such is huggingface_hub's once-a-process `GET /api/agent-harnesses` when
telemetry is on and `HF_ENDPOINT` points here; the 404 makes it give up quietly).
"""

from __future__ import annotations

import contextlib
import hashlib
import math
import os
import socket
import threading
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import ThreadingHTTPServer
from typing import Any
from urllib.parse import quote

from ranker.testing.repos import (
    CONTENT_FAULTS,
    DEFAULT_PAGE_SIZE,
    REQUEST_FAULTS,
    Fault,
    HubRepo,
    git_blob_sha,
    safetensors_params,
)
from ranker.testing.routes import CdnHandler, Handler


class _Server(ThreadingHTTPServer):
    """A threading server that can close its open (keep-alive or stalled) connections."""

    daemon_threads = True
    block_on_close = False

    def __init__(self, handler: type[Handler]) -> None:
        self._open: set[socket.socket] = set()
        self._open_lock = threading.Lock()
        super().__init__(("127.0.0.1", 0), handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._open_lock:
            self._open.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._open_lock:
            self._open.discard(request)
        super().shutdown_request(request)

    def close_connections(self) -> None:
        with self._open_lock:
            open_now = list(self._open)
        for sock in open_now:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)


class FakeHub:
    """The loopback hub: `with FakeHub() as hub: hub.add_model(...); HfApi(endpoint=hub.url)`."""

    def __init__(self, *, page_size: int = DEFAULT_PAGE_SIZE) -> None:
        self.page_size = page_size
        self.repos: dict[tuple[str, str], HubRepo] = {}
        self.renames: dict[tuple[str, str], str] = {}  # (type, old id) -> new id
        self.listing_overrides: dict[tuple[str, str], dict[str, Any]] = {}
        self.faults: list[Fault] = []
        self.corrupt: set[str] = set()
        self.counts: Counter[str] = Counter()
        self.repo_counts: Counter[tuple[str, str]] = Counter()
        self.log: list[tuple[str, str, int]] = []
        self.auth_seen: list[str | None] = []
        self._blobs: dict[str, bytes] = {}  # sha256 -> bytes, what the CDN holds
        self._lock = threading.RLock()
        self._release = threading.Event()  # set: stalled requests give up without answering
        self._server: _Server | None = None
        self._cdn: _Server | None = None
        self._threads: list[threading.Thread] = []

    # -- lifecycle -----------------------------------------------------------------------------

    @property
    def url(self) -> str:
        return self._origin(self._server)

    @property
    def cdn_url(self) -> str:
        """The CDN's origin, where the resolvers' 302s for LFS files point."""
        return self._origin(self._cdn)

    @staticmethod
    def _origin(server: _Server | None) -> str:
        if server is None:
            raise RuntimeError("FakeHub is not started")
        host, port = server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> FakeHub:
        hub = self

        class BoundHandler(Handler):
            pass

        class BoundCdnHandler(CdnHandler):
            pass

        BoundHandler.hub = hub
        BoundCdnHandler.hub = hub
        self._release = threading.Event()
        self._server = _Server(BoundHandler)
        self._cdn = _Server(BoundCdnHandler)
        self._threads = [
            threading.Thread(target=server.serve_forever, args=(0.05,), name=name, daemon=True)
            for server, name in ((self._server, "FakeHub"), (self._cdn, "FakeHub-CDN"))
        ]
        for thread in self._threads:
            thread.start()
        return self

    def stop(self) -> None:
        """Stop both servers promptly: stalled requests are released unanswered."""
        self._release.set()
        for server in (self._server, self._cdn):
            if server is not None:
                server.shutdown()
                server.close_connections()
                server.server_close()
        for thread in self._threads:
            thread.join(timeout=5)
        self._server = self._cdn = None
        self._threads = []

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
            self.listing_overrides.pop((repo_type, repo_id), None)

    def rename(self, old_id: str, new_id: str, repo_type: str = "model") -> HubRepo:
        """Move a repo to a new id (sha and history kept): the old id answers 307 to the new
        one on API and resolve routes; listings show only the new id."""
        with self._lock:
            repo = self.repos.pop((repo_type, old_id))
            repo.id = new_id
            self.repos[(repo_type, new_id)] = repo
            if (repo_type, old_id) in self.listing_overrides:
                moved = self.listing_overrides.pop((repo_type, old_id))
                self.listing_overrides[(repo_type, new_id)] = moved
            for key, target in list(self.renames.items()):  # a -> old becomes a -> new
                if target == old_id and key[0] == repo_type:
                    self.renames[key] = new_id
            self.renames.pop((repo_type, new_id), None)  # renamed back: new_id is live again
            self.renames[(repo_type, old_id)] = new_id
            return repo

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

    # -- the CDN ---------------------------------------------------------------------------------

    def _put_blob(self, data: bytes) -> str:
        """Put LFS bytes on the CDN (content-addressed); returns their sha256."""
        sha256 = hashlib.sha256(data).hexdigest()
        with self._lock:
            self._blobs[sha256] = data
        return sha256

    def cdn_location(self, repo: HubRepo, sha256: str, path: str) -> str:
        """Where a resolver's 302 sends an LFS file: the CDN, by sha256."""
        return (f"{self.cdn_url}/repos/{repo.repo_type}s/{quote(repo.id)}/{sha256}"
                f"?path={quote(path, safe='')}")  # fmt: skip

    # -- faults and counts ---------------------------------------------------------------------

    def inject(self, fault: Fault) -> Fault:
        with self._lock:
            self.faults.append(fault)
        return fault

    def fail(self, status: int, **where: Any) -> Fault:
        """Answer `status` (with `retry_after`: Retry-After, and RateLimit for a 429)."""
        return self.inject(Fault(kind="status", status=status, **where))

    def stall(self, seconds: float = math.inf, **where: Any) -> Fault:
        """Wait `seconds` before answering; `math.inf` (the default) never answers. stop(),
        reset() and clear_faults() release stalled requests, which then close unanswered."""
        return self.inject(Fault(kind="stall", seconds=seconds, **where))

    def drop(self, times: int | None = 1, **where: Any) -> Fault:
        """Close the connection without any response (e.g. route="HEAD /{repo}/resolve")."""
        return self.inject(Fault(kind="drop", times=times, **where))

    def truncate(self, repo: str, path: str, times: int | None = 1) -> Fault:
        """Send half the body under the full Content-Length (wherever the bytes are served:
        the CDN for LFS files, the resolver for small ones)."""
        return self.inject(Fault(kind="truncate", repo=repo, path=path, times=times))

    def corrupt_bytes(self, repo: str, path: str, times: int | None = 1) -> Fault:
        """Serve `path` `times` times with a few bytes changed inside the tensor data (after
        the safetensors header; mid-file for pickle), same length; X-Linked-Etag from the
        resolver and the tree's `lfs.oid` still name the true sha256. Then the true bytes."""
        return self.inject(Fault(kind="corrupt", repo=repo, path=path, times=times))

    def set_listing_field(
        self, repo: str, field: str, value: Any, repo_type: str = "model"
    ) -> None:
        """Make listing and info rows of `repo` carry `field` = `value`, raw and as given
        (downloads="lots", lastModified="yesterday", sha="../../x", ...), wherever the field
        is asked for (expand, full, or a plain model_info)."""
        with self._lock:
            self.listing_overrides.setdefault((repo_type, repo), {})[field] = value

    def corrupt_safetensors(self, repo: str) -> None:
        """Serve this repo's `*.safetensors` files with a garbled header (listing unchanged)."""
        self.corrupt.add(repo)

    def clear_faults(self) -> None:
        """Remove every fault and listing override; release stalled requests."""
        with self._lock:
            self.faults.clear()
            self.corrupt.clear()
            self.listing_overrides.clear()
            self._release.set()
            self._release = threading.Event()

    def reset(self) -> None:
        """Forget every repo, rename, fault, override and count (a session-wide hub reused by
        many tests)."""
        with self._lock:
            self.repos.clear()
            self.renames.clear()
            self._blobs.clear()
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
        self,
        route: str,
        repo: str | None,
        path: str | None,
        query: str,
        kinds: tuple[str, ...] = REQUEST_FAULTS,
    ) -> Fault | None:
        """The first live fault of one of `kinds` matching the request (it fires once)."""
        with self._lock:
            for fault in self.faults:
                if fault.kind in kinds and fault.matches(route, repo, path, query):
                    fault.fired += 1
                    return fault
        return None

    def _wait(self, seconds: float) -> bool:
        """A stall: True when released early (stop, reset), False after `seconds`."""
        event = self._release
        return event.wait(None if math.isinf(seconds) else seconds)

    @contextlib.contextmanager
    def as_endpoint(self) -> Iterator[FakeHub]:
        """Point huggingface_hub's module-level defaults at this hub, then restore them."""
        from huggingface_hub import constants

        saved = (os.environ.get("HF_ENDPOINT"), constants.ENDPOINT,
                 constants.HUGGINGFACE_CO_URL_TEMPLATE)  # fmt: skip
        os.environ["HF_ENDPOINT"] = self.url
        constants.ENDPOINT = self.url
        constants.HUGGINGFACE_CO_URL_TEMPLATE = (
            self.url + "/{repo_id}/resolve/{revision}/{filename}"
        )
        try:
            yield self
        finally:
            if saved[0] is None:
                os.environ.pop("HF_ENDPOINT", None)
            else:
                os.environ["HF_ENDPOINT"] = saved[0]
            constants.ENDPOINT, constants.HUGGINGFACE_CO_URL_TEMPLATE = saved[1], saved[2]

    def patch_endpoint(self, monkeypatch: Any) -> None:
        """Point module-level huggingface_hub defaults at this hub (pytest monkeypatch)."""
        from huggingface_hub import constants

        monkeypatch.setenv("HF_ENDPOINT", self.url)
        monkeypatch.setattr(constants, "ENDPOINT", self.url)
        template = self.url + "/{repo_id}/resolve/{revision}/{filename}"
        monkeypatch.setattr(constants, "HUGGINGFACE_CO_URL_TEMPLATE", template)


__all__ = ["CONTENT_FAULTS", "REQUEST_FAULTS", "FakeHub", "Fault", "HubRepo", "git_blob_sha",
           "safetensors_params"]  # fmt: skip
