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

import contextlib
import os
import threading
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import ThreadingHTTPServer
from typing import Any

from ranker.testing.repos import (
    DEFAULT_PAGE_SIZE,
    Fault,
    HubRepo,
    git_blob_sha,
    safetensors_params,
)
from ranker.testing.routes import Handler


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

        class BoundHandler(Handler):
            pass

        BoundHandler.hub = hub
        server = ThreadingHTTPServer(("127.0.0.1", 0), BoundHandler)
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


# -- request handling --------------------------------------------------------------------------


__all__ = ["FakeHub", "Fault", "HubRepo", "git_blob_sha", "safetensors_params"]
