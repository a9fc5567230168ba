"""The one door to the hub: every request ranker sends (listings, info, configs, files, datasets).

Why one module: the endpoint, the token, timeouts, retries, integrity checks, validation and
request counting must hold for every request of a run, and a rule that lives in five places is
followed in four. Everything else in ranker talks to the hub only through `Hub`.

- Endpoint and token: `Hub(endpoint, token)`, defaulting to huggingface_hub's (`HF_ENDPOINT`,
  `HF_TOKEN`); every URL below is built from `Hub.endpoint`.
- Timeouts: huggingface_hub's shared client gets a timeout on every request (its default has
  none); `RANKER_HUB_TIMEOUT` seconds, 30 by default.
- Retries: huggingface_hub does not retry its single calls (the HEAD before a download,
  `model_info`), and its listing backoff waits for any `Retry-After` however long; so `Hub`
  fetches every API page and every file through `_retrying`: transient failures (429, 5xx,
  timeout, dropped connection, integrity) are retried with exponential backoff, honouring
  `Retry-After` up to `max_wait`, at most `attempts` times; anything else fails at once. (A file
  body's GET also keeps the library's own backoff inside one try.)
- Failures are typed: `HubFailure(message, Reason)`; a non-hub exception is a bug and propagates.
- Validation: every value the hub sends is checked where it enters (`parse_listing`,
  `_parse_tree_entry`, `_ref`): ids, 40-hex shas, dates, counts, tags. A bad listing row comes
  back as `Rejected`, so one row cannot stop a crawl.
- Integrity: each downloaded file is checked against the tree's `lfs.oid` (sha256) or git blob
  id before it enters the cache; a mismatch is a transient failure (retried, never scored).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import re
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote

from ranker.errors import HubFailure, Reason
from ranker.records import is_valid_repo_id

T = TypeVar("T")

DEFAULT_TIMEOUT = 30.0  # seconds per request (connect, read, write, pool)
DEFAULT_ATTEMPTS = 4  # tries of one call, the first included
DEFAULT_MAX_WAIT = 60.0  # the longest we wait between tries, `Retry-After` included
MAX_CONFIG_BYTES = 1_000_000  # a config.json larger than this is not a config
DEFAULT_CACHE = Path.home() / ".cache" / "ranker" / "hub"

# What a listing returns per model: enough to classify and catalogue without model_info.
EXPAND: tuple[str, ...] = (
    "config", "sha", "lastModified", "downloads", "likes", "tags", "cardData", "library_name",
    "pipeline_tag", "safetensors", "gated", "private", "disabled", "baseModels",
)  # fmt: skip

SHA_RE = re.compile(r"^[0-9a-f]{40}$")
SHA256_RE = re.compile(r"^[0-9a-f]{64}$")
_TAG_RE = re.compile(r"^[\x21-\x7e]{1,200}$")  # printable ASCII, no spaces
_SAFE_PATH = re.compile(r"^(?!/)(?!.*(?:^|/)\.\.?(?:/|$))[A-Za-z0-9_.\-/ +=@,()\[\]]{1,500}$")


# -- what the hub tells us, validated -----------------------------------------------------------


@dataclass(frozen=True)
class Listing:
    """One validated listing row (plain values: classification needs no huggingface_hub)."""

    model_id: str
    sha: str
    last_modified: str | None = None
    downloads: int | None = None
    likes: int | None = None
    tags: tuple[str, ...] = ()
    card_license: str | None = None
    card_datasets: tuple[str, ...] = ()
    library: str | None = None
    pipeline_tag: str | None = None
    params: int | None = None  # safetensors total; None when the repo has no safetensors
    gated: bool = False
    private: bool = False
    disabled: bool = False
    model_type: str | None = None  # from the reduced config: the hub never lists dimensions
    architectures: tuple[str, ...] = ()
    remote_code: bool = False  # `auto_map` in the reduced config
    quantized: bool = False  # `quantization_config` in the reduced config
    base_models: tuple[str, ...] = ()  # `baseModels.models[].id`
    base_relation: str | None = None  # `baseModels.relation`

    @property
    def license(self) -> str | None:
        for tag in self.tags:
            if tag.startswith("license:"):
                return tag.removeprefix("license:")
        return self.card_license


@dataclass(frozen=True)
class Rejected:
    """A listing row that failed validation: kept with the problem, never half-used."""

    model_id: str | None  # None (or unsafe) when the id itself is what is wrong
    problem: str


@dataclass(frozen=True)
class RepoFile:
    """One file of a repo at a commit, as the tree API lists it."""

    path: str
    size: int
    blob_id: str  # git blob sha1
    sha256: str | None = None  # `lfs.oid`, for LFS files

    @property
    def at_root(self) -> bool:
        return "/" not in self.path


@dataclass(frozen=True)
class RepoRef:
    """A repo's current id (after any rename) and the commit of its default branch."""

    repo_id: str
    sha: str


class _Bad(ValueError):
    pass


def _text(row: dict[str, Any], key: str, *, limit: int = 200) -> str | None:
    value = row.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > limit:
        raise _Bad(f"{key}: expected text, got {value!r:.60}")
    return value


def _count(row: dict[str, Any], key: str) -> int | None:
    value = row.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise _Bad(f"{key}: expected a count, got {value!r:.60}")
    return value


def _flag(row: dict[str, Any], key: str) -> bool:
    value = row.get(key, False)
    if value is None or value is False:
        return False
    if value is True or (isinstance(value, str) and value in ("auto", "manual")):
        return True  # `gated` is False, "auto" or "manual"
    raise _Bad(f"{key}: expected true/false, got {value!r:.60}")


def _date(row: dict[str, Any], key: str) -> str | None:
    value = _text(row, key)
    if value is None:
        return None
    try:
        parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise _Bad(f"{key}: expected an ISO 8601 date, got {value!r:.60}") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.UTC)
    return parsed.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _strings(value: Any, key: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise _Bad(f"{key}: expected a list of text, got {value!r:.60}")
    return tuple(value)


def check_sha(sha: object, what: str = "sha") -> str:
    """A commit sha as the hub must send it: 40 lowercase hex characters (never a path)."""
    if not isinstance(sha, str) or not SHA_RE.fullmatch(sha):
        raise _Bad(f"{what}: expected a 40-hex commit sha, got {sha!r:.60}")
    return sha


def parse_listing(row: Any) -> Listing | Rejected:
    """Validate one raw listing row (`/api/models` JSON) into a Listing, or say what is wrong."""
    if not isinstance(row, dict):
        return Rejected(None, f"expected a JSON object, got {row!r:.60}")
    model_id = row.get("id", row.get("modelId"))
    if not is_valid_repo_id(model_id):
        return Rejected(None, f"unsafe or invalid repo id {model_id!r:.80}")
    try:
        return _parse_listing(row, model_id)
    except _Bad as exc:
        return Rejected(model_id, str(exc))


def _parse_listing(row: dict[str, Any], model_id: str) -> Listing:
    tags = _strings(row.get("tags"), "tags")
    bad = [t for t in tags if not _TAG_RE.fullmatch(t)]
    if bad:
        raise _Bad(f"tags: unexpected tag {bad[0]!r:.60}")
    card = row.get("cardData")
    if card is not None and not isinstance(card, dict):
        raise _Bad(f"cardData: expected a mapping, got {card!r:.60}")
    card = card or {}
    lic = card.get("license")
    if isinstance(lic, list):
        lic = lic[0] if lic else None
    card_license = lic if isinstance(lic, str) and _TAG_RE.fullmatch(lic) else None
    datasets = card.get("datasets")
    card_datasets = tuple(
        d for d in (datasets if isinstance(datasets, list) else [datasets]) if isinstance(d, str)
    )
    st = row.get("safetensors")
    params = None
    if st is not None:
        if not isinstance(st, dict):
            raise _Bad(f"safetensors: expected a mapping, got {st!r:.60}")
        params = _count(st, "total")
    config = row.get("config")
    if config is not None and not isinstance(config, dict):
        raise _Bad(f"config: expected a mapping, got {config!r:.60}")
    config = config or {}
    model_type = config.get("model_type")
    if model_type is not None and not (
        isinstance(model_type, str) and _TAG_RE.fullmatch(model_type)
    ):
        raise _Bad(f"config.model_type: expected a name, got {model_type!r:.60}")
    base = row.get("baseModels")
    base_models: tuple[str, ...] = ()
    relation = None
    if base is not None:
        if not isinstance(base, dict):
            raise _Bad(f"baseModels: expected a mapping, got {base!r:.60}")
        relation = _text(base, "relation", limit=40)
        models = base.get("models") or []
        if not isinstance(models, list):
            raise _Bad(f"baseModels.models: expected a list, got {models!r:.60}")
        base_models = tuple(
            m["id"] for m in models if isinstance(m, dict) and is_valid_repo_id(m.get("id"))
        )
    return Listing(
        model_id=model_id,
        sha=check_sha(row.get("sha")),
        last_modified=_date(row, "lastModified"),
        downloads=_count(row, "downloads"),
        likes=_count(row, "likes"),
        tags=tags,
        card_license=card_license,
        card_datasets=card_datasets,
        library=_text(row, "library_name", limit=100),
        pipeline_tag=_text(row, "pipeline_tag", limit=100),
        params=params,
        gated=_flag(row, "gated"),
        private=_flag(row, "private"),
        disabled=_flag(row, "disabled"),
        model_type=model_type,
        architectures=_strings(config.get("architectures"), "config.architectures"),
        remote_code="auto_map" in config,
        quantized="quantization_config" in config,
        base_models=base_models,
        base_relation=relation,
    )


def _parse_tree_entry(entry: Any) -> RepoFile | None:
    """A tree entry as a RepoFile (None for folders); unsafe paths or hashes are refused."""
    if not isinstance(entry, dict) or entry.get("type") != "file":
        return None
    path = entry.get("path")
    if not isinstance(path, str) or not _SAFE_PATH.fullmatch(path):
        raise _Bad(f"tree: unsafe file path {path!r:.80}")
    size = _count(entry, "size")
    blob = entry.get("oid")
    if size is None or not isinstance(blob, str) or not SHA_RE.fullmatch(blob):
        raise _Bad(f"tree: {path}: missing size or oid")
    lfs = entry.get("lfs")
    sha256 = None
    if lfs is not None:
        oid = lfs.get("oid") if isinstance(lfs, dict) else None
        if not isinstance(oid, str) or not SHA256_RE.fullmatch(oid):
            raise _Bad(f"tree: {path}: lfs.oid is not a sha256")
        sha256 = oid
        size = _count(lfs, "size") or size
    return RepoFile(path=path, size=size, blob_id=blob, sha256=sha256)


# -- transport: timeouts, counting, classification ----------------------------------------------


class _Counter:
    """Counts every request huggingface_hub's shared client sends (retries and CDN included)."""

    def __init__(self) -> None:
        self.total = 0
        self._lock = threading.Lock()

    def __call__(self, request: Any) -> None:
        with self._lock:
            self.total += 1


_COUNTER = _Counter()
_INSTALLED: list[float] = []


def _install_client(timeout: float) -> None:
    """Give huggingface_hub's shared client a timeout and our counter (once per timeout)."""
    if _INSTALLED and _INSTALLED[0] == timeout:
        return
    import httpx2
    import huggingface_hub
    from huggingface_hub.utils._http import hf_request_event_hook

    def factory() -> Any:
        return httpx2.Client(
            event_hooks={"request": [hf_request_event_hook, _COUNTER]},
            follow_redirects=True,
            timeout=httpx2.Timeout(timeout),
        )

    huggingface_hub.set_client_factory(factory)
    _INSTALLED[:] = [timeout]


def _chain(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def _http_reason(status: int, code: str) -> Reason:
    if status == 429:
        return Reason.RATE_LIMITED
    if status >= 500 or status == 408:
        return Reason.SERVER_ERROR if status != 408 else Reason.TIMEOUT
    if code == "GatedRepo":
        return Reason.GATED
    if code.startswith("Disabled") or (status == 403 and not code):
        return Reason.DISABLED
    return Reason.NOT_FOUND


def classify(exc: BaseException) -> tuple[Reason, str] | None:
    """(reason, one-line message) for a hub or network failure; None when it is not one (a bug)."""
    import httpx2
    from huggingface_hub import errors as hf

    for e in _chain(exc):
        if isinstance(e, HubFailure):
            return e.reason, str(e)
        response = getattr(e, "response", None)
        if isinstance(e, hf.HfHubHTTPError) and response is not None:
            code = response.headers.get("X-Error-Code", "")
            message = response.headers.get("X-Error-Message") or response.reason_phrase
            text = f"HTTP {response.status_code}" + (f" {code}" if code else "") + f": {message}"
            return _http_reason(response.status_code, code), text
        if isinstance(e, hf.GatedRepoError):
            return Reason.GATED, "gated repo"
        if isinstance(e, hf.DisabledRepoError):
            return Reason.DISABLED, "disabled repo"
        if isinstance(e, hf.RepositoryNotFoundError | hf.RevisionNotFoundError):
            return Reason.NOT_FOUND, type(e).__name__
        if isinstance(e, httpx2.TimeoutException | TimeoutError):
            return Reason.TIMEOUT, f"no answer within the timeout ({type(e).__name__})"
        if isinstance(e, httpx2.TransportError | ConnectionError):
            return Reason.CONNECTION, f"connection failed ({type(e).__name__}: {_first(e)})"
    for e in _chain(exc):
        if isinstance(e, hf.LocalEntryNotFoundError):  # a HEAD that never got an answer
            return Reason.CONNECTION, "the hub could not be reached"
    return None


def _first(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0][:200] if text else type(exc).__name__


def _retry_after(exc: BaseException) -> float | None:
    for e in _chain(exc):
        response = getattr(e, "response", None)
        if response is not None:
            value = response.headers.get("Retry-After")
            try:
                return float(value) if value is not None else None
            except ValueError:
                return None
    return None


# -- the door -----------------------------------------------------------------------------------


class Hub:
    """All of a run's hub requests; `requests` counts the HTTP requests it sent."""

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
    ) -> None:
        from huggingface_hub import constants

        self.endpoint = (endpoint or constants.ENDPOINT).rstrip("/")
        self.token = token
        self.timeout = timeout or float(os.environ.get("RANKER_HUB_TIMEOUT", DEFAULT_TIMEOUT))
        self.attempts = max(1, attempts)
        self.max_wait = max_wait
        self.base_wait = base_wait
        self.sleep = sleep
        self.retries = 0
        _install_client(self.timeout)
        self._start = _COUNTER.total
        self._refs: dict[str, RepoRef] = {}  # per run: a base's sha is asked for once
        self._trees: dict[tuple[str, str, str], list[RepoFile]] = {}  # by sha: immutable
        self._verified: set[tuple[str, int, int]] = set()  # (path, size, mtime) checked this run

    @property
    def requests(self) -> int:
        return _COUNTER.total - self._start

    def _headers(self) -> dict[str, str]:
        from huggingface_hub.utils import build_hf_headers

        return build_hf_headers(token=self.token)

    def _retrying(self, what: str, call: Callable[[], T]) -> T:
        """Run `call`, retrying transient hub failures with bounded backoff; type the rest."""
        wait = self.base_wait
        for attempt in range(1, self.attempts + 1):
            try:
                return call()
            except Exception as exc:
                found = classify(exc)
                if found is None:
                    raise  # not the hub's doing: a bug, reported as such
                reason, message = found
                failure = HubFailure(f"{what}: {message}", reason)
                if not failure.transient or attempt == self.attempts:
                    raise failure from None
                after = _retry_after(exc)
                delay = wait if after is None else after
                if delay > self.max_wait:
                    raise HubFailure(
                        f"{what}: {message} (asked to wait {delay:.0f} s, more than the "
                        f"{self.max_wait:.0f} s we wait)",
                        reason,
                    ) from None
                self.retries += 1
                self.sleep(delay)
                wait = min(wait * 2, self.max_wait)
        raise AssertionError("unreachable")

    def _get_json(self, url: str, params: dict[str, Any] | None = None) -> Any:
        from huggingface_hub import get_session
        from huggingface_hub.utils import hf_raise_for_status

        response = get_session().get(
            url, params=params, headers=self._headers(), timeout=self.timeout
        )
        hf_raise_for_status(response)
        return response.json()

    # -- listings ----------------------------------------------------------------------------------

    def _pages(self, what: str, url: str, params: Any = None) -> Iterator[Any]:
        """The items of a paginated API answer (`Link: <...>; rel="next"`), page by page, each
        page fetched with `_retrying`: bounded tries and waits, unlike the library's paginate,
        whose backoff waits for any `Retry-After` and retries timeouts five times."""
        from huggingface_hub import get_session
        from huggingface_hub.utils import hf_raise_for_status

        next_url: str | None = url
        while next_url is not None:
            page_url, page_params = next_url, params

            def fetch(page_url: str = page_url, page_params: Any = page_params) -> Any:
                response = get_session().get(
                    page_url, params=page_params, headers=self._headers(), timeout=self.timeout
                )
                hf_raise_for_status(response)
                return response.json(), response.links.get("next", {}).get("url")

            items, next_url = self._retrying(what, fetch)
            params = None  # the next link carries the query
            if not isinstance(items, list):
                raise HubFailure(f"{what}: expected a JSON list", Reason.INVALID)
            yield from items

    def list_models(self, tag: str) -> Iterator[Listing | Rejected]:
        """Every model carrying `tag`, validated row by row; HubFailure if the listing fails."""
        params = [("filter", tag), *(("expand", e) for e in EXPAND)]
        for row in self._pages(f"listing models tagged {tag!r}", f"{self.endpoint}/api/models",
                               params):  # fmt: skip
            yield parse_listing(row)

    # -- single repos ------------------------------------------------------------------------------

    def ref(self, repo_id: str, repo_type: str = "model") -> RepoRef:
        """The repo's current id (a rename is followed) and sha; cached for the run."""
        if not is_valid_repo_id(repo_id):
            raise HubFailure(f"{repo_id!r}: invalid hub repo id", Reason.INVALID)
        key = f"{repo_type}:{repo_id}"
        if key not in self._refs:
            url = f"{self.endpoint}/api/{repo_type}s/{repo_id}"
            data = self._retrying(
                f"{repo_id}: info", lambda: self._get_json(url, {"expand": "sha"})
            )
            self._refs[key] = self._parse_ref(repo_id, data)
        return self._refs[key]

    @staticmethod
    def _parse_ref(repo_id: str, data: Any) -> RepoRef:
        try:
            if not isinstance(data, dict):
                raise _Bad(f"expected a JSON object, got {data!r:.60}")
            new_id = data.get("id", repo_id)
            if not is_valid_repo_id(new_id):
                raise _Bad(f"id: unsafe or invalid repo id {new_id!r:.80}")
            return RepoRef(new_id, check_sha(data.get("sha")))
        except _Bad as exc:
            raise HubFailure(f"{repo_id}: info: {exc}", Reason.INVALID) from None

    def listing(self, repo_id: str) -> Listing:
        """One model's info with the fields a crawl listing row has (`GET /api/models/{id}`
        with the crawl's expand list), validated as a listing row is: for a single model asked
        for by id (an evaluation request) rather than found by a listing."""
        if not is_valid_repo_id(repo_id):
            raise HubFailure(f"{repo_id!r}: invalid hub repo id", Reason.INVALID)
        url = f"{self.endpoint}/api/models/{repo_id}"
        params = [("expand", e) for e in EXPAND]
        data = self._retrying(f"{repo_id}: info", lambda: self._get_json(url, params))
        row = parse_listing(data)
        if isinstance(row, Rejected):
            raise HubFailure(f"{repo_id}: info: {row.problem}", Reason.INVALID)
        return row

    def config(self, repo_id: str, sha: str) -> dict[str, Any]:
        """The repo's `config.json` at `sha`: one small request (cached by sha in the catalog)."""
        import json

        from huggingface_hub import get_session
        from huggingface_hub.utils import hf_raise_for_status

        self._checked(repo_id, sha)
        url = f"{self.endpoint}/{repo_id}/resolve/{sha}/config.json"

        def fetch() -> bytes:
            with get_session().stream(
                "GET", url, headers=self._headers(), timeout=self.timeout
            ) as response:
                if response.status_code >= 400:
                    response.read()
                hf_raise_for_status(response)
                body = b""
                for chunk in response.iter_bytes():
                    body += chunk
                    if len(body) > MAX_CONFIG_BYTES:
                        raise HubFailure(
                            f"{repo_id}: config.json is larger than {MAX_CONFIG_BYTES} bytes",
                            Reason.INVALID,
                        )
                return body

        body = self._retrying(f"{repo_id}: config.json", fetch)
        try:
            config = json.loads(body)
        except ValueError:
            raise HubFailure(f"{repo_id}: config.json is not JSON", Reason.NO_CONFIG) from None
        if not isinstance(config, dict):
            raise HubFailure(f"{repo_id}: config.json is not a JSON object", Reason.NO_CONFIG)
        return config

    @staticmethod
    def _checked(repo_id: str, sha: str) -> str:
        if not is_valid_repo_id(repo_id):
            raise HubFailure(f"{repo_id!r}: invalid hub repo id", Reason.INVALID)
        try:
            check_sha(sha, "revision")
        except _Bad as exc:
            raise HubFailure(f"{repo_id}: {exc}", Reason.INVALID) from None
        return repo_id

    def files(self, repo_id: str, sha: str, repo_type: str = "model") -> list[RepoFile]:
        """Every file of the repo at `sha`, with sizes and hashes (the tree API, recursive)."""

        self._checked(repo_id, sha)
        key = (repo_type, repo_id, sha)
        if key not in self._trees:
            self._trees[key] = self._files(repo_id, sha, repo_type)
        return self._trees[key]

    def _files(self, repo_id: str, sha: str, repo_type: str) -> list[RepoFile]:
        url = f"{self.endpoint}/api/{repo_type}s/{repo_id}/tree/{sha}"
        out = []
        try:
            for entry in self._pages(f"{repo_id}: file list", url, {"recursive": "true"}):
                parsed = _parse_tree_entry(entry)
                if parsed is not None:
                    out.append(parsed)
        except _Bad as exc:
            raise HubFailure(f"{repo_id}: {exc}", Reason.INVALID) from None
        return out

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
        self._checked(repo_id, sha)
        root = Path(cache_dir) if cache_dir is not None else DEFAULT_CACHE
        folder = root / f"{repo_type}s--{repo_id.replace('/', '--')}" / "snapshots" / sha
        prefix = "" if repo_type == "model" else f"{repo_type}s/"
        for f in files:
            dest = folder / f.path
            if folder.resolve() not in dest.resolve().parents:
                raise HubFailure(f"{repo_id}: unsafe file path {f.path!r}", Reason.INVALID)
            if dest.is_file():
                stat = dest.stat()
                seen = (str(dest), stat.st_size, stat.st_mtime_ns)
                if seen in self._verified:
                    continue
                try:
                    verify(dest, f, repo_id)
                    self._verified.add(seen)
                    continue
                except HubFailure:
                    pass  # a damaged cached copy was deleted: fetch it again
            url = f"{self.endpoint}/{prefix}{repo_id}/resolve/{sha}/{quote(f.path)}"
            self._retrying(
                f"{repo_id}: {f.path}", lambda f=f, url=url, dest=dest: self._fetch(url, f, dest)
            )
            stat = dest.stat()
            self._verified.add((str(dest), stat.st_size, stat.st_mtime_ns))
        return folder

    def _fetch(self, url: str, expected: RepoFile, dest: Path) -> None:
        """One GET (redirects to the CDN followed; httpx drops the token on another origin)
        into a temp file, checked, then renamed into place: a wrong file is never cached."""
        from huggingface_hub import get_session
        from huggingface_hub.utils import hf_raise_for_status

        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = dest.with_name(f".{dest.name}.{os.getpid()}.part")
        try:
            with get_session().stream(
                "GET", url, headers=self._headers(), timeout=self.timeout
            ) as response:
                if response.status_code >= 400:
                    response.read()
                hf_raise_for_status(response)
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


def verify(path: Path, expected: RepoFile, repo_id: str) -> None:
    """Check a downloaded file's size and hash; on mismatch delete it and fail (transient)."""
    h = hashlib.sha256() if expected.sha256 else hashlib.sha1()
    size = path.stat().st_size
    if not expected.sha256:
        h.update(b"blob %d\0" % size)
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 22), b""):
            h.update(chunk)
    want = expected.sha256 or expected.blob_id
    if size == expected.size and h.hexdigest() == want:
        return
    path.unlink(missing_ok=True)
    raise HubFailure(
        f"{repo_id}: {expected.path}: downloaded bytes do not match the hub's "
        f"{'sha256' if expected.sha256 else 'git blob id'} (size {size}, expected "
        f"{expected.size}); deleted",
        Reason.INTEGRITY,
    )
