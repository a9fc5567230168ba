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
                                                  (`page_size` rows a page, default 1,000)
    GET  /api/models/{repo}[/revision/{rev}]      model_info (siblings, sha, config, ...)
    GET  /api/models/{repo}/tree/{rev}[/{path}]   list_repo_tree (`oid`: git blob sha; LFS
                                                  files also `lfs.oid`: the content's sha256,
                                                  Xet-backed ones `xetHash` beside it); 1,000
                                                  entries a page, 50 with `expand`, `Link` next
    POST /api/models/{repo}/paths-info/{rev}      get_paths_info
    HEAD /{repo}/resolve/{rev}/{path}             LFS files (`LFS_SUFFIXES`): 302 to the CDN,
    GET  /{repo}/resolve/{rev}/{path}               X-Linked-Etag (sha256), X-Linked-Size,
                                                    X-Repo-Commit, ETag (the LFS pointer's sha),
                                                    X-Xet-Hash for Xet-backed files (302 to the
                                                    CDN's Xet bridge path);
                                                  small files: 307 (at `main` and at a pinned
                                                    sha alike) to
    HEAD|GET /api/resolve-cache/models/{repo}/{sha}/{path}?...   200, ETag (git blob sha),
                                                    X-Repo-Commit: two resolver hits a file
    ...  /api/datasets/..., /datasets/{repo}/resolve/..., /api/resolve-cache/datasets/...
                                                  the same for dataset repos
    GET|HEAD {cdn}/repos/{models|datasets}/{repo}/{sha256}?path=...   the CDN: the bytes,
    GET|HEAD {cdn}/xet-bridge/{models|datasets}/{repo}/{xet hash}?path=...   `Range:
                                                  bytes=a-[b]` honoured (206)

An unknown `expand[]` name (huggingface_hub's own list is the hub's, the stricter choice) fails
the whole request with 400.

Rate limits as the hub's (`ranker.testing.quota`): every answer of the hub (not the CDN) is
counted in its bucket (api: `/api/...` but the resolve cache; resolvers: `/resolve/` and
`/api/resolve-cache/`; pages: the rest) in fixed windows, and carries `RateLimit:
"<bucket>";r=<remaining>;t=<seconds to reset>` and `RateLimit-Policy: "fixed window";
"<bucket>";q=<quota>;w=<window>`; past the quota it answers 429 with no `Retry-After` (unless
`FakeHub(retry_after=True)`). `FakeHub(quota=ANONYMOUS, token_quota=FREE, tokens=())`:
anonymous requests share one per-IP quota, each accepted token (`tokens=`, or `add_token`)
has its own, shared by every job that sends it; `quota=None` turns limits and headers off.
`Quota(api, resolvers, pages, window=300.0)`: tests use windows of a second or so.
`hub.bucket_counts[bucket]` counts requests per bucket, `hub.rate_limited` the 429s sent.

What the API answers is derived as the hub derives it: `config` is REDUCED to `architectures`,
`model_type`, `tokenizer_config` ({}), and `auto_map` / `quantization_config` when config.json
has them (never the dimensions: read config.json for those); `safetensors` is there only when
the repo holds `*.safetensors` (subfolders count); `baseModels` (expand only) and the lineage
tags `base_model:ID`, `base_model:<relation>:ID` only when `card_data` declares `base_model`
(relation: `base_model_relation`, else inferred: adapter, quantized, merge, finetune).

Access rules as on the hub: a token the hub was not given answers 401 `X-Error-Message: Invalid
credentials in Authorization header` with no error code, on public repos too; private repos are
listed and served only to a request with one of their readers' tokens; missing or private repos
answer 401 (anonymous) or 404 (with a token), `X-Error-Code: RepoNotFound`; gated repos list and
show their metadata but refuse files (401 without a token, 403 with one, `GatedRepo`); disabled
repos are listed but answer 403 on info, tree and files, named only by `X-Error-Message: Access
to this resource is disabled.` (no error code: huggingface_hub's DisabledRepoError needs just
that); a missing file is 404 `EntryNotFound`, a missing revision 404 `RevisionNotFound`. Errors
carry `X-Error-Code` and `X-Error-Message`. A renamed repo (`hub.rename(old, new)`) answers 307
to the same path under its new id on API and resolve routes; listings show only the new id.

Faults, injected per route, repo and/or file (`hub.inject(Fault(...))` or the helpers); a fault
with no `route` matches every route, the CDN's included:

    hub.fail(503, times=2)                       5xx (or any status) N times, then OK
    hub.fail(500, query="filter=roberta")        ... only for requests whose query has this
    hub.fail(429, retry_after=0)                 rate limit: `Retry-After`, `RateLimit` r=0
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
"HEAD /{repo}/resolve", "GET /{repo}/resolve", "GET /api/resolve-cache/models/{repo}" (and the
/api/datasets, /datasets, /api/resolve-cache/datasets ones), the CDN's "GET cdn" and "HEAD cdn";
`hub.repo_counts[(route, repo_id)]` per repo (the id as requested,
the old one for a renamed repo); `hub.log` keeps (method, path, status), status 0 for a dropped
or released request. A request to a route the hub does not implement gets a 404 and counts as
"unrouted" (one such is huggingface_hub's once-a-process `GET /api/agent-harnesses` when
telemetry is on and `HF_ENDPOINT` points here; the 404 makes it give up quietly).

The parts: this module (`FakeHub`: state, lifecycle, repos, counts), `faults` (injection and
matching), `repos` (what a repo holds and answers), `quota` (rate limits), `server` (the
sockets), `handler` (what every request goes through), `routes` (the route table, the CDN),
`api` (API routes and access rules) and `resolve` (file routes).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import threading
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from ranker.testing.faults import FaultInjection
from ranker.testing.quota import ANONYMOUS, BUCKETS, FREE, PRO, Limiter, Quota
from ranker.testing.repos import (
    CONTENT_FAULTS,
    DEFAULT_PAGE_SIZE,
    REQUEST_FAULTS,
    TREE_EXPAND_PAGE_SIZE,
    TREE_PAGE_SIZE,
    Fault,
    HubRepo,
    git_blob_sha,
    safetensors_params,
)
from ranker.testing.routes import CdnHandler, Handler
from ranker.testing.server import LoopbackServer


class FakeHub(FaultInjection):
    """The loopback hub: `with FakeHub() as hub: hub.add_model(...); HfApi(endpoint=hub.url)`."""

    def __init__(
        self,
        *,
        page_size: int = DEFAULT_PAGE_SIZE,
        quota: Quota | None = ANONYMOUS,
        token_quota: Quota = FREE,
        tokens: Iterable[str] | Mapping[str, Quota] = (),
        retry_after: bool = False,
    ) -> None:
        """`quota`: the anonymous quota (per client IP; None: no limits and no RateLimit
        headers at all); `tokens`: the only tokens it accepts (any other is a 401), each with
        `token_quota` or, given as a mapping, its own; `retry_after`: a 429 past the quota also
        carries `Retry-After` (the hub does not document one: off by default)."""
        self.page_size = page_size
        self.tree_page_size = TREE_PAGE_SIZE
        self.tree_expand_page_size = TREE_EXPAND_PAGE_SIZE
        self.quota = quota
        self.token_quota = token_quota
        self.retry_after = retry_after
        self._initial_limits = (quota, token_quota, retry_after)  # what reset() restores
        self._initial_tokens = self._token_map(tokens)
        self.tokens: dict[str, Quota] = dict(self._initial_tokens)
        self.limiter = Limiter()
        self.bucket_counts: Counter[str] = Counter()
        self.rate_limited = 0  # 429s sent, the quota's and injected ones
        self.repos: dict[tuple[str, str], HubRepo] = {}
        self.renames: dict[tuple[str, str], str] = {}  # (type, old id) -> new id
        super().__init__()  # faults, listing overrides, stalls
        self.counts: Counter[str] = Counter()
        self.repo_counts: Counter[tuple[str, str]] = Counter()
        self.log: list[tuple[str, str, int]] = []
        self.auth_seen: list[str | None] = []
        self._blobs: dict[str, bytes] = {}  # sha256 (or Xet hash) -> bytes, what the CDN holds
        self.lock = threading.RLock()
        self._server: LoopbackServer | None = None
        self._cdn: LoopbackServer | None = None
        self._threads: list[threading.Thread] = []

    def _token_map(self, tokens: Iterable[str] | Mapping[str, Quota]) -> dict[str, Quota]:
        if isinstance(tokens, str):
            raise TypeError("tokens: give a list of tokens, not one string")
        if isinstance(tokens, Mapping):
            return dict(tokens)
        return {token: self.token_quota for token in tokens}

    def add_token(self, token: str, quota: Quota | None = None) -> None:
        """Accept `token` from now on (with `quota`, default `token_quota`); reset() forgets
        tokens added this way."""
        with self.lock:
            self.tokens[token] = quota or self.token_quota

    def admit(self, token: str | None, bucket: str) -> tuple[str, dict[str, str]]:
        """Count one request in its bucket: ("ok" | "invalid-token" | "limited", headers).

        An unknown token is refused before it is counted against any token's quota; the
        request is counted against the client's IP instead, as an anonymous one."""
        with self.lock:
            self.bucket_counts[bucket] += 1
            known = token is None or token in self.tokens
            anonymous = self.quota
            mine = self.tokens[token] if token is not None and known else None
        if anonymous is None:  # no limits at all
            return ("ok" if known else "invalid-token"), {}
        if mine is None:  # anonymous, or a token the hub does not know: the client's IP
            within, headers = self.limiter.take("ip:127.0.0.1", anonymous, bucket)
        else:
            within, headers = self.limiter.take(f"token:{token}", mine, bucket)
        if not known:
            return "invalid-token", headers
        return ("ok" if within else "limited"), headers

    # -- lifecycle -----------------------------------------------------------------------------

    @property
    def url(self) -> str:
        return self._origin(self._server)

    @property
    def cdn_url(self) -> str:
        """The CDN's origin, where the resolvers' 302s for LFS files point."""
        return self._origin(self._cdn)

    @staticmethod
    def _origin(server: LoopbackServer | None) -> str:
        if server is None:
            raise RuntimeError("FakeHub is not started")
        return server.origin

    def start(self) -> FakeHub:
        hub = self

        class BoundHandler(Handler):
            pass

        class BoundCdnHandler(CdnHandler):
            pass

        BoundHandler.hub = hub
        BoundCdnHandler.hub = hub
        self.arm_stalls()
        self._server = LoopbackServer(BoundHandler)
        self._cdn = LoopbackServer(BoundCdnHandler)
        self._threads = [
            threading.Thread(target=server.serve_forever, args=(0.05,), name=name, daemon=True)
            for server, name in ((self._server, "FakeHub"), (self._cdn, "FakeHub-CDN"))
        ]
        for thread in self._threads:
            thread.start()
        return self

    def stop(self) -> None:
        """Stop both servers promptly: stalled requests are released unanswered."""
        self.release_stalls()
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
        with self.lock:
            self.repos[("model", repo_id)] = repo
        return repo

    def add_dataset(self, repo_id: str, files: dict[str, bytes], **meta: Any) -> HubRepo:
        meta.setdefault("library_name", None)
        repo = HubRepo(id=repo_id, files=dict(files), repo_type="dataset", **meta)
        with self.lock:
            self.repos[("dataset", repo_id)] = repo
        return repo

    def model(self, repo_id: str) -> HubRepo:
        return self.repos[("model", repo_id)]

    def remove(self, repo_id: str, repo_type: str = "model") -> None:
        with self.lock:
            del self.repos[(repo_type, repo_id)]
            self.listing_overrides.pop((repo_type, repo_id), None)

    def rename(self, old_id: str, new_id: str, repo_type: str = "model") -> HubRepo:
        """Move a repo to a new id (sha and history kept): the old id answers 307 to the new
        one on API and resolve routes; listings show only the new id."""
        with self.lock:
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
        with self.lock:
            repo = self.repos[(repo_type, repo_id)]
            repo.files.update(files or {})
            repo.sha = repo.make_sha()
            repo.revisions[repo.sha] = dict(repo.files)
            repo.last_modified = datetime.now(UTC)
            return repo.sha

    # -- the CDN ---------------------------------------------------------------------------------

    def put_blob(self, data: bytes, key: str | None = None) -> str:
        """Put LFS bytes on the CDN (content-addressed, by sha256 unless `key` is given, as a
        Xet hash); returns the key."""
        key = key or hashlib.sha256(data).hexdigest()
        with self.lock:
            self._blobs[key] = data
        return key

    def blob(self, key: str) -> bytes | None:
        """The bytes the CDN holds under `key`, None when it holds none."""
        with self.lock:
            return self._blobs.get(key)

    def cdn_location(self, repo: HubRepo, key: str, path: str, xet: bool = False) -> str:
        """Where a resolver's 302 sends an LFS file: the CDN, by sha256; a Xet-backed file to
        the CDN's Xet bridge path, by its Xet hash (a plain GET there gets the whole file)."""
        folder = "xet-bridge" if xet else "repos"
        return (f"{self.cdn_url}/{folder}/{repo.repo_type}s/{quote(repo.id)}/{key}"
                f"?path={quote(path, safe='')}")  # fmt: skip

    # -- counts ------------------------------------------------------------------------------

    def reset(self) -> None:
        """Forget every repo, rename, fault, override, added token and count, restore the
        quotas given and open fresh rate-limit windows (a session-wide hub reused by many
        tests)."""
        with self.lock:
            self.repos.clear()
            self.renames.clear()
            self._blobs.clear()
            self.page_size = DEFAULT_PAGE_SIZE
            self.tree_page_size = TREE_PAGE_SIZE
            self.tree_expand_page_size = TREE_EXPAND_PAGE_SIZE
            self.tokens = dict(self._initial_tokens)
            self.quota, self.token_quota, self.retry_after = self._initial_limits
        self.limiter.clear()  # every window starts afresh
        self.clear_faults()
        self.reset_counts()

    def reset_counts(self) -> None:
        """Forget the counts (the rate-limit windows run on: they are the hub's time)."""
        with self.lock:
            self.bucket_counts.clear()
            self.rate_limited = 0
            self.counts.clear()
            self.repo_counts.clear()
            self.log.clear()
            self.auth_seen.clear()

    def count_request(self, route: str, repo_id: str | None, authorization: str | None) -> None:
        """Count one request in `counts`, `repo_counts` and `auth_seen` (as it arrives)."""
        with self.lock:
            self.counts[route] += 1
            if repo_id is not None:
                self.repo_counts[(route, repo_id)] += 1
            self.auth_seen.append(authorization)

    def count_answer(self, status: int) -> None:
        """Count one status sent (before its bytes go out): 429s in `rate_limited`."""
        if status == 429:
            with self.lock:
                self.rate_limited += 1

    def log_answer(self, method: str, path: str, status: int) -> None:
        """Keep (method, path, status) in `log`; status 0: dropped or released unanswered."""
        with self.lock:
            self.log.append((method, path, status))

    def per_repo(self, route: str) -> dict[str, int]:
        """Request counts of one route by repo, e.g. per_repo("GET /api/models/{repo}")."""
        return {repo: n for (r, repo), n in self.repo_counts.items() if r == route}

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


__all__ = ["ANONYMOUS", "BUCKETS", "CONTENT_FAULTS", "FREE", "PRO", "REQUEST_FAULTS", "FakeHub",
           "Fault", "HubRepo", "Quota", "git_blob_sha", "safetensors_params"]  # fmt: skip
