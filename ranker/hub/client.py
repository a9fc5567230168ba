"""`Hub`, the one door: every request ranker sends to the hub, by what it asks for.

Every URL is built from `Hub.endpoint`; a `Link` cursor the hub (or a saved crawl) gives is
followed only on it. Every answer is validated where it enters (`ranker.hub.listing`,
`ranker.hub.files`, `ranker.hub.wire`), and every file checked against its hash before it
takes its place in the cache.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

from ranker import jsonlimits
from ranker.cachedir import hub_cache_dir
from ranker.errors import HubFailure, Reason
from ranker.hub.faults import raise_for_status
from ranker.hub.files import RepoFile, etag_hash, matches, parse_tree_entry, verify
from ranker.hub.listing import EXPAND, LISTING_LIMIT, Listing, Page, Rejected, parse_listing
from ranker.hub.pacer import DEFAULT_RESERVE, bucket_of
from ranker.hub.settings import (
    DEFAULT_ATTEMPTS,
    DEFAULT_MAX_WAIT,
    DEFAULT_RATE_WAITS,
    DEFAULT_TIMEOUT,
    HubSettings,
)
from ranker.hub.transport import Transport, decode
from ranker.hub.wire import RepoRef, check_repo, parse_ref, show
from ranker.repofiles import CONFIG, is_safe_path

MAX_CONFIG_BYTES = 1_000_000  # a config.json larger than this is not a config
MAX_CURSOR = 4000  # characters of a saved listing cursor URL


class Hub(Transport):
    """All of a run's hub requests, paced and counted per Hub (see `ranker.hub`).

    `Hub(endpoint, token)` defaults to huggingface_hub's (`HF_ENDPOINT`, `HF_TOKEN`);
    `token=False` sends no `Authorization` header at all. `deadline` is a `clock()` value."""

    def __init__(
        self,
        endpoint: str | None = None,
        token: str | bool | None = None,
        *,
        timeout: float | None = None,
        attempts: int = DEFAULT_ATTEMPTS,
        max_wait: float = DEFAULT_MAX_WAIT,
        base_wait: float = 1.0,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        deadline: float | None = None,
        quota_share: float = 1.0,
        reserve: float = DEFAULT_RESERVE,
        rate_waits: int = DEFAULT_RATE_WAITS,
        transport: Any = None,
    ) -> None:
        from huggingface_hub import constants

        settings = HubSettings(
            endpoint=(endpoint or constants.ENDPOINT).rstrip("/"),
            token=token,
            timeout=timeout or float(os.environ.get("RANKER_HUB_TIMEOUT", DEFAULT_TIMEOUT)),
            attempts=max(1, attempts),
            max_wait=max_wait,
            base_wait=base_wait,
            quota_share=quota_share,
            reserve=reserve,
            rate_waits=max(1, rate_waits),
        )
        super().__init__(settings, sleep=sleep, clock=clock, deadline=deadline, transport=transport)
        self._refs: dict[str, RepoRef] = {}  # per run: a base's sha is asked for once
        self._trees: dict[tuple[str, str, str], list[RepoFile]] = {}  # by sha: immutable
        self._verified: set[tuple[str, int, int]] = set()  # (path, size, mtime) checked this run

    @classmethod
    def from_settings(
        cls,
        settings: HubSettings,
        *,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        transport: Any = None,
    ) -> Hub:
        """The door `settings` describe (from `Hub.settings()`, maybe in another process); its
        deadline is `settings.seconds_left` from now on `clock`."""
        left = settings.seconds_left
        return cls(
            settings.endpoint,
            settings.token,
            timeout=settings.timeout,
            attempts=settings.attempts,
            max_wait=settings.max_wait,
            base_wait=settings.base_wait,
            sleep=sleep,
            clock=clock,
            deadline=None if left is None else clock() + left,
            quota_share=settings.quota_share,
            reserve=settings.reserve,
            rate_waits=settings.rate_waits,
            transport=transport,
        )

    # -- listings ----------------------------------------------------------------------------------

    def _next_url(self, link: Any, what: str, under: str) -> str | None:
        """The `Link` next URL, only if it stays on our endpoint under `under` (a cursor is
        followed with our token: another host never gets it)."""
        if link is None:
            return None
        if not self._on_endpoint(link, under):
            raise HubFailure(f"{what}: next page {show(link)} is not on the hub", Reason.INVALID)
        return str(link)

    def _on_endpoint(self, url: Any, under: str) -> bool:
        """Whether `url` is on our endpoint, at the path `under` (or below it, for `under`
        ending in "/")."""
        if not isinstance(url, str) or len(url) > MAX_CURSOR:
            return False
        try:
            parts, base = urlsplit(url), urlsplit(self.endpoint)
        except ValueError:
            return False
        return (
            (parts.scheme, parts.netloc) == (base.scheme, base.netloc)
            and "@" not in parts.netloc
            and not parts.fragment
            and (
                parts.path.startswith(base.path.rstrip("/") + under)
                if under.endswith("/")
                else parts.path == base.path.rstrip("/") + under
            )
        )

    def _pages(self, what: str, url: str, params: Any, under: str) -> Iterator[tuple[list, Any]]:
        """(items, next URL) of a paginated API answer (`Link: <...>; rel="next"`), page by
        page, each fetched with `_retrying`: bounded tries and waits."""
        next_url: str | None = url
        while next_url is not None:
            page_url, page_params = next_url, params

            def fetch(page_url: str = page_url, page_params: Any = page_params) -> Any:
                body, response = self._get(page_url, page_params, what=what)
                link = response.links.get("next", {}).get("url")
                return decode(body, what), link

            items, link = self._retrying(what, fetch)
            next_url = self._next_url(link, what, under)
            params = None  # the next link carries the query
            if not isinstance(items, list):
                raise HubFailure(f"{what}: expected a JSON list", Reason.INVALID)
            yield items, next_url

    def list_pages(self, tag: str, start: str | None = None) -> Iterator[Page]:
        """Every model carrying `tag`, a validated page at a time; from `start` (a saved
        `Page.next`) when it is a cursor for this listing on this hub, else from the first
        page. A page that fails after the retries raises; the pages before it are the
        caller's to keep."""
        what = f"listing models tagged {tag!r}"
        url = f"{self.endpoint}/api/models"
        params: Any = [
            ("filter", tag),
            *(("expand", e) for e in EXPAND),
            ("limit", str(LISTING_LIMIT)),
        ]
        if start is not None and self._cursor_for(start, tag):
            url, params = start, None
        for items, next_url in self._pages(what, url, params, "/api/models"):
            yield Page([parse_listing(row) for row in items], next_url)

    def _cursor_for(self, start: str, tag: str) -> bool:
        """Whether a saved cursor (untrusted stored data) is this hub's listing of `tag`."""
        if not self._on_endpoint(start, "/api/models"):
            return False
        try:
            query = parse_qs(urlsplit(start).query, strict_parsing=False)
        except ValueError:
            return False
        return query.get("filter") == [tag]

    def list_models(self, tag: str) -> Iterator[Listing | Rejected]:
        """Every model carrying `tag`, validated row by row; HubFailure if the listing fails."""
        for page in self.list_pages(tag):
            yield from page.rows

    # -- single repos ------------------------------------------------------------------------------

    def ref(self, repo_id: str, repo_type: str = "model") -> RepoRef:
        """The repo's current id (a rename is followed) and sha; cached for the run."""
        check_repo(repo_id)
        key = f"{repo_type}:{repo_id}"
        if key not in self._refs:
            url = f"{self.endpoint}/api/{repo_type}s/{repo_id}"
            what = f"{repo_id}: info"
            data = self._retrying(what, lambda: self._get_json(url, {"expand": "sha"}, what=what))
            self._refs[key] = parse_ref(repo_id, data)
        return self._refs[key]

    def listing(self, repo_id: str) -> Listing:
        """One model's info with the fields a crawl listing row has (`GET /api/models/{id}`
        with the crawl's expand list), validated as a listing row is: for a single model asked
        for by id (an evaluation request) rather than found by a listing."""
        check_repo(repo_id)
        url = f"{self.endpoint}/api/models/{repo_id}"
        params = [("expand", e) for e in EXPAND]
        what = f"{repo_id}: info"
        data = self._retrying(what, lambda: self._get_json(url, params, what=what))
        row = parse_listing(data)
        if isinstance(row, Rejected):
            raise HubFailure(f"{repo_id}: info: {row.problem}", Reason.INVALID)
        return row

    def config(self, repo_id: str, sha: str) -> dict[str, Any]:
        """The repo's `config.json` at `sha`, checked against the hash the hub sends with it.

        A mismatch is transient (INTEGRITY, retried). Bytes that match the hash and are not
        a JSON object (or nest too deep) are the model's own: NO_CONFIG, permanent. When the
        hub sent no hash, a body that is not JSON may have been damaged on the way, so it is
        transient too (INTEGRITY): we cannot tell it from the model's fault. (The real hub
        sends an ETag with every small file; a body we cannot check is never blamed on the
        model.)"""
        check_repo(repo_id, sha)
        url = f"{self.endpoint}/{repo_id}/resolve/{sha}/{CONFIG}"
        what = f"{repo_id}: {CONFIG}"

        def fetch() -> dict[str, Any]:
            body, response = self._get(url, limit=MAX_CONFIG_BYTES, what=what)
            return _config_body(body, self._hash_of(response), what)

        return self._retrying(what, fetch)

    def _hash_of(self, response: Any) -> str | None:
        """The content hash the hub sent with a file: `X-Linked-Etag` (LFS: sha256) on any hop,
        else the `ETag` (a small file's git blob sha1) of the last answer from the hub itself,
        as huggingface_hub's `get_hf_file_metadata` reads them."""
        hops = [*response.history, response]
        for hop in reversed(hops):
            found = etag_hash(hop.headers.get("X-Linked-Etag"))
            if found:
                return found
        for hop in reversed(hops):
            if bucket_of(hop.request.url, self.endpoint) != "cdn":
                found = etag_hash(hop.headers.get("ETag"))
                if found:
                    return found
        return None

    def files(self, repo_id: str, sha: str, repo_type: str = "model") -> list[RepoFile]:
        """Every file of the repo at `sha`, with sizes and hashes (the tree API, recursive,
        every page). Unsafe paths are left out; entries with a malformed hash are marked."""
        check_repo(repo_id, sha)
        key = (repo_type, repo_id, sha)
        if key not in self._trees:
            self._trees[key] = self._files(repo_id, sha, repo_type)
        return self._trees[key]

    def _files(self, repo_id: str, sha: str, repo_type: str) -> list[RepoFile]:
        url = f"{self.endpoint}/api/{repo_type}s/{repo_id}/tree/{sha}"
        out = []
        # "/api/": a renamed repo's next page is under its new id
        pages = self._pages(f"{repo_id}: file list", url, {"recursive": "true"}, "/api/")
        for items, _ in pages:
            for entry in items:
                parsed = parse_tree_entry(entry)
                if parsed is not None:
                    out.append(parsed)
        return out

    # -- downloads ---------------------------------------------------------------------------------

    def download(
        self,
        repo_id: str,
        sha: str,
        files: Iterable[RepoFile],
        cache_dir: Path | None = None,
        repo_type: str = "model",
    ) -> Path:
        """Download `files` at `sha` into `cache_dir`, each checked against the tree's hash
        before it takes its place; returns the snapshot folder (huggingface_hub's layout,
        `models--owner--name/snapshots/<sha>/`, plain files). A cached file is re-checked
        once a run, not re-fetched.

        Why not `hf_hub_download`: it waits for any `Retry-After` however long, nests its own
        retries inside ours, and writes a file into its cache before anyone checked it.
        """
        check_repo(repo_id, sha)
        root = Path(cache_dir) if cache_dir is not None else hub_cache_dir()
        folder = root / f"{repo_type}s--{repo_id.replace('/', '--')}" / "snapshots" / sha
        prefix = "" if repo_type == "model" else f"{repo_type}s/"
        for f in files:
            if f.problem is not None:
                raise HubFailure(f"{repo_id}: {f.problem}", Reason.INVALID)
            dest = folder / f.path
            if not is_safe_path(f.path) or folder.resolve() not in dest.resolve().parents:
                raise HubFailure(f"{repo_id}: unsafe file path {show(f.path)}", Reason.INVALID)
            if self._cached(dest, f, repo_id):
                continue
            url = f"{self.endpoint}/{prefix}{repo_id}/resolve/{sha}/{quote(f.path)}"
            self._retrying(
                f"{repo_id}: {f.path}", lambda f=f, url=url, dest=dest: self._fetch(url, f, dest)
            )
            self._verified.add(_seen(dest))
        return folder

    def _cached(self, dest: Path, expected: RepoFile, repo_id: str) -> bool:
        """Whether `dest` already holds the file, checked once a run; a damaged cached copy is
        deleted (and fetched again)."""
        if not dest.is_file():
            return False
        seen = _seen(dest)
        if seen in self._verified:
            return True
        try:
            verify(dest, expected, repo_id)
        except HubFailure:
            return False
        self._verified.add(seen)
        return True

    def _fetch(self, url: str, expected: RepoFile, dest: Path) -> None:
        """One GET (redirects to the CDN followed; httpx drops the token on another origin)
        into a temp file, checked, then renamed into place: a wrong file is never cached."""
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = dest.with_name(f".{dest.name}.{os.getpid()}.part")
        try:
            with self.client.stream("GET", url, headers=self._headers()) as response:
                if response.status_code >= 400:
                    response.read()
                raise_for_status(response)
                with tmp.open("wb") as out:
                    written = 0
                    for chunk in response.iter_bytes(1 << 20):
                        written += len(chunk)
                        if written > expected.size:
                            break  # longer than listed: verify() says so
                        out.write(chunk)
            verify(tmp, expected, dest.name)
            os.replace(tmp, dest)
        finally:
            tmp.unlink(missing_ok=True)


def _seen(path: Path) -> tuple[str, int, int]:
    """A file as checked: (path, size, mtime), so a changed file is checked again."""
    stat = path.stat()
    return str(path), stat.st_size, stat.st_mtime_ns


def _config_body(body: bytes, want: str | None, what: str) -> dict[str, Any]:
    """A config.json body checked against the hub's hash `want` (None: it sent none) and
    decoded; whose fault a bad one is: see `Hub.config`."""
    if want is not None and not matches(body, want):
        raise HubFailure(f"the bytes do not match the hub's hash {want}", Reason.INTEGRITY)
    try:
        # integers are the crawl's to check, for the keys it reads
        config = jsonlimits.loads(body, what=what, max_bytes=MAX_CONFIG_BYTES, check_ints=False)
    except jsonlimits.JsonRefused as exc:
        if want is None:
            raise HubFailure(
                f"{exc.detail}, and the hub sent no hash to check it against", Reason.INTEGRITY
            ) from None
        raise HubFailure(exc.detail, Reason.NO_CONFIG) from None
    if not isinstance(config, dict):
        raise HubFailure(
            "not a JSON object" + ("" if want else ", and the hub sent no hash"),
            Reason.NO_CONFIG if want else Reason.INTEGRITY,
        )
    return config
