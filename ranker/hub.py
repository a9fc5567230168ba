"""The one door to the hub: every request ranker sends (listings, info, configs, files, datasets).

Why one module: the endpoint, the token, timeouts, pacing, retries, integrity checks,
validation and request counting must hold for every request of a run, and a rule that lives in
five places is followed in four. Everything else in ranker talks to the hub only through `Hub`.

- Endpoint and token: `Hub(endpoint, token)`, defaulting to huggingface_hub's (`HF_ENDPOINT`,
  `HF_TOKEN`); `token=False` sends no `Authorization` header at all. Every URL is built from
  `Hub.endpoint`; a `Link` cursor the hub (or a saved crawl) gives is followed only on it.
- Transport: each Hub sends through its own `httpx2.Client` (redirects followed; httpx drops
  the token on another origin), with a timeout on every request (`RANKER_HUB_TIMEOUT`, 30 s).
  So its counts are its own: `requests`, `bucket_counts` (api, resolvers, pages, cdn),
  `rate_limited` (429s seen), `timeouts`, `waited` (seconds spent pacing); `counts_text()`.
- Pacing (`_Pacer`): the hub counts requests in fixed windows per bucket and says so on every
  answer (`RateLimit: "api";r=..;t=..`, `RateLimit-Policy: ..;q=..;w=..`). Before each request
  (each redirect hop too) the door keeps a reserve of the bucket's quota, and this Hub's own
  `quota_share` of it (shards sharing one token), and waits for the reset when either is spent,
  however long, but never past `deadline` (a `time.monotonic()` value; `RunFailure(QUOTA)`).
- Retries (`_retrying`): a 429 that says when to come back waits that long and is retried
  without using up `attempts`; other transient failures (5xx, timeout, dropped connection,
  integrity) are retried with exponential backoff, honouring `Retry-After` up to `max_wait`, at
  most `attempts` times; anything else fails at once.
- Whose fault (`classify`): typed from the status, `X-Error-Code` and huggingface_hub's typed
  errors, never from message text. A bad token (401 with no code, a token sent), a 403 that
  is not a gated or disabled repo, and 400/416 are the run's faults (`RunFailure`), never a
  model's; gated, disabled, missing are the model's (`HubFailure`, permanent).
- Validation: every JSON body is decoded by `ranker.jsonlimits` (size, depth, no recursion);
  every value we use is checked where it enters (`parse_listing`, `_parse_tree_entry`,
  `_parse_ref`). A bad row comes back as `Rejected` and a bad tag or date is dropped with a
  note (`Listing.problems`), so one value cannot stop a crawl; an odd tree entry is left out
  or marked, and only refused when it is a file we are asked to fetch.
- Integrity: each downloaded file is checked against the tree's `lfs.oid` (sha256) or git blob
  id before it enters the cache, and `config.json` against the hash the hub sends with it
  (`X-Linked-Etag` / `ETag`, as huggingface_hub reads it); a mismatch is transient.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import math
import os
import re
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import parse_qs, quote, urlsplit

from ranker import jsonlimits
from ranker.errors import FailureKind, HubFailure, Reason, RunFailure, hub_failure, kind_of
from ranker.records import is_valid_repo_id

T = TypeVar("T")

DEFAULT_TIMEOUT = 30.0  # seconds per request (connect, read, write, pool)
DEFAULT_ATTEMPTS = 4  # tries of one call, the first included (429s with a reset not counted)
DEFAULT_MAX_WAIT = 60.0  # the longest backoff between tries of a 5xx/timeout, `Retry-After` incl.
DEFAULT_RATE_WAITS = 16  # 429s in a row on one call, each waited out, before the run gives up
DEFAULT_RESERVE = 0.03  # share of a bucket's quota left unspent (other jobs, rounding)
MAX_RESET = 3600.0  # a reset further away than this is not believed (the window is 300 s)
RESET_SLACK = 0.5  # `t` is whole seconds: come back a little after it
MAX_CONFIG_BYTES = 1_000_000  # a config.json larger than this is not a config
MAX_API_BYTES = 64_000_000  # one API answer (a listing page of 1,000 expanded rows is ~5 MB)
LISTING_LIMIT = 1000  # rows a listing page asks for: the hub's maximum
MAX_CURSOR = 4000  # characters of a saved listing cursor URL
COUNT_MAX = jsonlimits.MAX_INT  # counts (downloads, likes, parameters) the store reads back
DATE_RANGE = (dt.datetime(1990, 1, 1, tzinfo=dt.UTC), dt.datetime(2100, 1, 1, tzinfo=dt.UTC))
DEFAULT_CACHE = Path.home() / ".cache" / "ranker" / "hub"
BUCKETS = ("api", "resolvers", "pages")  # the hub's rate-limit buckets; "cdn" is not one

# What a listing returns per model: enough to classify and catalogue without model_info.
EXPAND: tuple[str, ...] = (
    "config", "sha", "lastModified", "downloads", "likes", "tags", "cardData", "library_name",
    "pipeline_tag", "safetensors", "gated", "private", "disabled", "baseModels",
)  # fmt: skip

SHA_RE = re.compile(r"^[0-9a-f]{40}$")
SHA256_RE = re.compile(r"^[0-9a-f]{64}$")
_TAG_RE = re.compile(r"^[\x21-\x7e]{1,200}$")  # printable ASCII, no spaces
_SAFE_PATH = re.compile(r"^(?!/)(?!.*(?:^|/)\.\.?(?:/|$))[A-Za-z0-9_.\-/ +=@,()\[\]]{1,500}$")
_RESOLVE_PATH = re.compile(r"^/(?:(?:datasets|spaces)/)?[^/]+(?:/[^/]+)?/resolve/")


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
    # the sum of `safetensors.parameters` (per dtype; `total` where that is missing); None
    # when the repo has no safetensors
    params: int | None = None
    params_disagree: bool = False  # `safetensors.total` differs from that sum: read config.json
    gated: bool = False
    private: bool = False
    disabled: bool = False
    model_type: str | None = None  # from the reduced config: the hub never lists dimensions
    architectures: tuple[str, ...] = ()
    remote_code: bool = False  # `auto_map` in the reduced config
    quantized: bool = False  # `quantization_config` in the reduced config
    base_models: tuple[str, ...] = ()  # `baseModels.models[].id`
    base_relation: str | None = None  # `baseModels.relation`
    problems: tuple[str, ...] = ()  # values dropped as malformed (a tag, a date): the row stays

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
class Page:
    """One listing page: its rows, and the cursor URL of the next page (None: the last).

    A crawl that fails on a later page saves `next` of the last page it has and resumes with
    `Hub.list_pages(tag, start=cursor)`."""

    rows: list[Listing | Rejected]
    next: str | None


@dataclass(frozen=True)
class RepoFile:
    """One file of a repo at a commit, as the tree API lists it.

    `problem` marks an entry whose hash or size the hub sent malformed: it stays listed (the
    model is not refused for a file nobody fetches), and `download` refuses it if asked."""

    path: str
    size: int
    blob_id: str  # git blob sha1
    sha256: str | None = None  # `lfs.oid`, for LFS files
    problem: str | None = None

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
        raise _Bad(f"{key}: expected text, got {_show(value)}")
    return value


def _count(row: dict[str, Any], key: str) -> int | None:
    value = row.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise _Bad(f"{key}: expected a count, got {_show(value)}")
    if value > COUNT_MAX:
        raise _Bad(f"{key}: count {_show(value)} is beyond what the store can hold")
    return value


def _flag(row: dict[str, Any], key: str) -> bool:
    value = row.get(key, False)
    if value is None or value is False:
        return False
    if value is True or (isinstance(value, str) and value in ("auto", "manual")):
        return True  # `gated` is False, "auto" or "manual"
    raise _Bad(f"{key}: expected true/false, got {_show(value)}")


def _date(row: dict[str, Any], key: str) -> str | None:
    value = _text(row, key)
    if value is None:
        return None
    try:
        parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=dt.UTC)
        parsed = parsed.astimezone(dt.UTC)
    except (ValueError, OverflowError):
        raise _Bad(f"{key}: expected an ISO 8601 date, got {_show(value)}") from None
    if not DATE_RANGE[0] <= parsed < DATE_RANGE[1]:
        raise _Bad(f"{key}: date {_show(value)} is outside {DATE_RANGE[0].year}-2099")
    return parsed.strftime("%Y-%m-%dT%H:%M:%SZ")


def _strings(value: Any, key: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise _Bad(f"{key}: expected a list of text, got {_show(value)}")
    return tuple(value)


def _show(value: Any) -> str:
    """A short, safe rendering of an untrusted value for a message (never a deep repr)."""
    if isinstance(value, dict | list):
        return f"a JSON {'object' if isinstance(value, dict) else 'list'}"
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 128:
        return "a number too large to show"
    return f"{value!r:.60}"


def check_sha(sha: object, what: str = "sha") -> str:
    """A commit sha as the hub must send it: 40 lowercase hex characters (never a path)."""
    if not isinstance(sha, str) or not SHA_RE.fullmatch(sha):
        raise _Bad(f"{what}: expected a 40-hex commit sha, got {_show(sha)}")
    return sha


def parse_listing(row: Any) -> Listing | Rejected:
    """Validate one raw listing row (`/api/models` JSON) into a Listing, or say what is wrong.

    Never raises: any input is a Listing or a Rejected with the reason."""
    if not isinstance(row, dict):
        return Rejected(None, f"expected a JSON object, got {_show(row)}")
    model_id = row.get("id", row.get("modelId"))
    if not is_valid_repo_id(model_id):
        return Rejected(None, f"unsafe or invalid repo id {_show(model_id)}")
    try:
        return _parse_listing(row, model_id)
    except _Bad as exc:
        return Rejected(model_id, str(exc))


def _lenient(problems: list[str], parse: Callable[[], T], default: T) -> T:
    """A value we can do without: malformed, it is dropped and noted; the row stays."""
    try:
        return parse()
    except _Bad as exc:
        problems.append(str(exc))
        return default


def _parse_listing(row: dict[str, Any], model_id: str) -> Listing:
    problems: list[str] = []
    tags = _strings(row.get("tags"), "tags")
    bad = [t for t in tags if not _TAG_RE.fullmatch(t)]
    if bad:
        problems.append(f"tags: dropped {len(bad)} malformed, e.g. {_show(bad[0])}")
        tags = tuple(t for t in tags if _TAG_RE.fullmatch(t))
    card = row.get("cardData")
    if card is not None and not isinstance(card, dict):
        raise _Bad(f"cardData: expected a mapping, got {_show(card)}")
    card = card or {}
    lic = card.get("license")
    if isinstance(lic, list):
        lic = lic[0] if lic else None
    card_license = lic if isinstance(lic, str) and _TAG_RE.fullmatch(lic) else None
    datasets = card.get("datasets")
    card_datasets = tuple(
        d
        for d in (datasets if isinstance(datasets, list) else [datasets])
        if isinstance(d, str) and len(d) <= 200
    )
    params, disagree = _params(row.get("safetensors"))
    config = row.get("config")
    if config is not None and not isinstance(config, dict):
        raise _Bad(f"config: expected a mapping, got {_show(config)}")
    config = config or {}
    model_type = config.get("model_type")
    if model_type is not None and not (
        isinstance(model_type, str) and _TAG_RE.fullmatch(model_type)
    ):
        raise _Bad(f"config.model_type: expected a name, got {_show(model_type)}")
    base_models, relation = _base(row.get("baseModels"))
    return Listing(
        model_id=model_id,
        sha=check_sha(row.get("sha")),
        last_modified=_lenient(problems, lambda: _date(row, "lastModified"), None),
        downloads=_count(row, "downloads"),
        likes=_count(row, "likes"),
        tags=tags,
        card_license=card_license,
        card_datasets=card_datasets,
        library=_text(row, "library_name", limit=100),
        pipeline_tag=_text(row, "pipeline_tag", limit=100),
        params=params,
        params_disagree=disagree,
        gated=_flag(row, "gated"),
        private=_flag(row, "private"),
        disabled=_flag(row, "disabled"),
        model_type=model_type,
        architectures=_strings(config.get("architectures"), "config.architectures"),
        remote_code="auto_map" in config,
        quantized="quantization_config" in config,
        base_models=base_models,
        base_relation=relation,
        problems=tuple(problems),
    )


def _params(st: Any) -> tuple[int | None, bool]:
    """(parameter count, whether `total` disagrees with the per-dtype sum).

    `total` is not a stable number on the hub (sometimes the index metadata's, sometimes a sum
    over subfolder checkpoints too), so the per-dtype `parameters` are the evidence."""
    if st is None:
        return None, False
    if not isinstance(st, dict):
        raise _Bad(f"safetensors: expected a mapping, got {_show(st)}")
    total = _count(st, "total")
    per = st.get("parameters")
    if per is None:
        return total, False
    if not isinstance(per, dict):
        raise _Bad(f"safetensors.parameters: expected a mapping, got {_show(per)}")
    counts = [_count(per, str(k)) for k in per]
    summed = sum(c for c in counts if c is not None)
    if summed > COUNT_MAX:
        raise _Bad("safetensors.parameters: the sum is beyond what the store can hold")
    return summed, total is not None and total != summed


def _base(base: Any) -> tuple[tuple[str, ...], str | None]:
    if base is None:
        return (), None
    if not isinstance(base, dict):
        raise _Bad(f"baseModels: expected a mapping, got {_show(base)}")
    relation = _text(base, "relation", limit=40)
    models = base.get("models") or []
    if not isinstance(models, list):
        raise _Bad(f"baseModels.models: expected a list, got {_show(models)}")
    ids = tuple(m["id"] for m in models if isinstance(m, dict) and is_valid_repo_id(m.get("id")))
    return ids, relation


def _parse_tree_entry(entry: Any) -> RepoFile | None:
    """A tree entry as a RepoFile; None for folders, odd entries and unsafe paths (a path we
    could never fetch safely is left out; the model is not refused for it). A safe path with
    a malformed hash or size is kept, marked with its `problem`."""
    if not isinstance(entry, dict) or entry.get("type") != "file":
        return None
    path = entry.get("path")
    if not isinstance(path, str) or not _SAFE_PATH.fullmatch(path):
        return None
    try:
        size = _count(entry, "size")
        blob = entry.get("oid")
        if size is None or not isinstance(blob, str) or not SHA_RE.fullmatch(blob):
            raise _Bad("missing size or oid")
        lfs = entry.get("lfs")
        sha256 = None
        if lfs is not None:
            oid = lfs.get("oid") if isinstance(lfs, dict) else None
            if not isinstance(oid, str) or not SHA256_RE.fullmatch(oid):
                raise _Bad("lfs.oid is not a sha256")
            sha256 = oid
            size = _count(lfs, "size") or size
    except _Bad as exc:
        return RepoFile(path=path, size=0, blob_id="", problem=f"tree: {path}: {exc}")
    return RepoFile(path=path, size=size, blob_id=blob, sha256=sha256)


# -- rate limits --------------------------------------------------------------------------------


@dataclass(frozen=True)
class RateInfo:
    """What one answer's `RateLimit` / `RateLimit-Policy` headers say about a bucket."""

    bucket: str | None  # as the header names it ("api", ...), None when it names none we know
    remaining: int
    reset: float  # seconds until the window resets
    quota: int | None = None
    window: float | None = None


_RATELIMIT = re.compile(r'^\s*"(?P<b>[a-z]{1,20})"\s*;\s*r\s*=\s*(?P<r>\d{1,9})\s*;\s*t\s*=\s*'
                        r"(?P<t>\d{1,9})\s*$")  # fmt: skip
_POLICY_Q = re.compile(r";\s*q\s*=\s*(\d{1,9})\s*(?:;|$)")
_POLICY_W = re.compile(r";\s*w\s*=\s*(\d{1,9})\s*(?:;|$)")


def parse_ratelimit(headers: Any) -> RateInfo | None:
    """The `RateLimit` headers of an answer, or None when absent or malformed (never raises:
    a header we cannot read is ignored, and the 429 path still protects us)."""
    try:
        match = _RATELIMIT.match(str(headers.get("RateLimit") or ""))
        if match is None:
            return None
        reset = float(match["t"])
        if reset > MAX_RESET:
            return None
        bucket = match["b"] if match["b"] in BUCKETS else None
        policy = str(headers.get("RateLimit-Policy") or "")
        q, w = _POLICY_Q.search(policy), _POLICY_W.search(policy)
        quota = int(q[1]) if q and int(q[1]) > 0 else None
        window = float(w[1]) if w and 0 < int(w[1]) <= MAX_RESET else None
        return RateInfo(bucket, int(match["r"]), reset, quota, window)
    except (AttributeError, TypeError, ValueError, UnicodeError):
        return None


def _retry_after_header(headers: Any) -> float | None:
    try:
        value = float(str(headers.get("Retry-After")).strip())
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) and 0 <= value <= MAX_RESET else None


@dataclass
class _Bucket:
    remaining: int | None = None  # what the hub last said is left (minus what we sent since)
    reset_at: float | None = None  # clock time the window resets
    quota: int | None = None
    own: int = 0  # requests this Hub sent in the current window


class _Pacer:
    """Waits before a request when its bucket is spent (see the module docstring)."""

    def __init__(self, hub: Hub, share: float, reserve: float) -> None:
        self.hub = hub
        self.share = share
        self.reserve = reserve
        self.buckets = {name: _Bucket() for name in BUCKETS}
        self.lock = threading.Lock()

    def _keep(self, quota: int | None) -> int:
        return max(1, math.ceil(quota * self.reserve)) if quota else 1

    def _spent(self, b: _Bucket) -> bool:
        if b.remaining is not None and b.remaining <= self._keep(b.quota):
            return True
        if self.share < 1 and b.quota:
            mine = math.floor(b.quota * self.share)
            return b.own >= max(1, mine - self._keep(mine))
        return False

    def before(self, bucket: str) -> None:
        """Count a request about to go out, first waiting for the reset if the bucket is spent."""
        hub = self.hub
        while True:
            with self.lock:
                b = self.buckets[bucket]
                now = hub.clock()
                if b.reset_at is not None and now >= b.reset_at:
                    b.remaining, b.reset_at, b.own = None, None, 0  # a new window
                if b.reset_at is None or not self._spent(b):
                    b.own += 1
                    if b.remaining is not None:
                        b.remaining -= 1
                    return
                reset_at = b.reset_at
                wait = reset_at - now
            if hub.deadline is not None and now + wait > hub.deadline:
                raise hub_failure(
                    f"the hub's {bucket!r} quota is spent for {wait:.0f} s more, past the "
                    f"run's time budget ({max(0.0, hub.deadline - now):.0f} s left)",
                    Reason.QUOTA,
                )
            hub.sleep(wait)
            with self.lock:
                hub.waited += wait
                if b.reset_at == reset_at:  # nobody heard of a later reset meanwhile
                    b.remaining, b.reset_at, b.own = None, None, 0

    def after(self, bucket: str, headers: Any, status: int) -> None:
        """Learn the bucket's state from an answer (every answer carries it)."""
        info = parse_ratelimit(headers)
        now = self.hub.clock()
        with self.lock:
            if info is not None:
                b = self.buckets[info.bucket or bucket]
                b.remaining = info.remaining
                b.reset_at = now + info.reset + RESET_SLACK
                b.quota = info.quota or b.quota
            if status == 429:
                b = self.buckets[(info.bucket if info else None) or bucket]
                after = _retry_after_header(headers)
                b.remaining = 0
                if after is not None:
                    b.reset_at = now + after
                elif info is None:
                    b.reset_at = None  # no word on when: the retry's backoff decides


def bucket_of(url: Any, endpoint: str) -> str:
    """The hub's rate-limit bucket of a URL: api, resolvers, pages, or cdn (another origin)."""
    parts = urlsplit(str(url))
    base = urlsplit(endpoint)
    if (parts.scheme, parts.netloc) != (base.scheme, base.netloc):
        return "cdn"
    path = parts.path
    prefix = base.path.rstrip("/")
    if prefix and path.startswith(prefix + "/"):
        path = path[len(prefix) :]
    if path.startswith("/api/resolve-cache/") or _RESOLVE_PATH.match(path):
        return "resolvers"
    if path.startswith("/api/"):
        return "api"
    return "pages"


# -- whose fault --------------------------------------------------------------------------------


def _chain(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def _http_reason(exc: BaseException, response: Any) -> Reason:
    """The reason for a hub error answer: from its status, error code and huggingface_hub's
    typed error (which alone recognises a disabled repo); never from message text."""
    from huggingface_hub import errors as hf

    status = response.status_code
    code = response.headers.get("X-Error-Code", "")
    if status == 429:
        return Reason.RATE_LIMITED
    if status == 408:
        return Reason.TIMEOUT
    if status >= 500:
        return Reason.SERVER_ERROR
    if code == "GatedRepo" or isinstance(exc, hf.GatedRepoError):
        return Reason.GATED
    if isinstance(exc, hf.DisabledRepoError) or code.startswith("Disabled"):
        return Reason.DISABLED
    sent_token = response.request is not None and "authorization" in response.request.headers
    if status == 401 and not code and sent_token:
        return Reason.BAD_TOKEN  # "Invalid credentials": the run's token, on any repo
    if status == 403 and code != "RepoNotFound":
        return Reason.FORBIDDEN  # a token's scope, a CDN's AccessDenied: not the model's
    if status in (400, 416):
        return Reason.BAD_REQUEST  # a request of ours the hub refused: our bug
    return Reason.NOT_FOUND


def classify(exc: BaseException) -> tuple[Reason, str] | None:
    """(reason, one-line message) for a hub or network failure; None when it is not one (a bug)."""
    import httpx2
    from huggingface_hub import errors as hf

    for e in _chain(exc):
        if isinstance(e, HubFailure | RunFailure):
            return e.reason, str(e)
        response = getattr(e, "response", None)
        if isinstance(e, hf.HfHubHTTPError) and response is not None:
            code = response.headers.get("X-Error-Code", "")
            message = response.headers.get("X-Error-Message") or response.reason_phrase
            text = f"HTTP {response.status_code}" + (f" {code}" if code else "") + f": {message}"
            return _http_reason(e, response), text[:300]
        if isinstance(e, hf.GatedRepoError):
            return Reason.GATED, "gated repo"
        if isinstance(e, hf.DisabledRepoError):
            return Reason.DISABLED, "disabled repo"
        if isinstance(e, hf.RepositoryNotFoundError | hf.RevisionNotFoundError):
            return Reason.NOT_FOUND, type(e).__name__
        if isinstance(e, httpx2.TimeoutException | TimeoutError):
            return Reason.TIMEOUT, f"no answer within the timeout ({type(e).__name__})"
        if isinstance(e, httpx2.TooManyRedirects):
            return Reason.SERVER_ERROR, "too many redirects"
        if isinstance(e, httpx2.TransportError | ConnectionError):
            return Reason.CONNECTION, f"connection failed ({type(e).__name__}: {_first(e)})"
    for e in _chain(exc):
        if isinstance(e, hf.LocalEntryNotFoundError):  # a HEAD that never got an answer
            return Reason.CONNECTION, "the hub could not be reached"
    return None


def _first(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0][:200] if text else type(exc).__name__


def _response(exc: BaseException) -> Any:
    for e in _chain(exc):
        response = getattr(e, "response", None)
        if response is not None:
            return response
    return None


def _rate_wait(exc: BaseException) -> float | None:
    """How long a 429 asked us to wait (`Retry-After`, else the `RateLimit` reset), or None
    when it said nothing we believe."""
    response = _response(exc)
    if response is None:
        return None
    after = _retry_after_header(response.headers)
    if after is not None:
        return after
    info = parse_ratelimit(response.headers)
    return info.reset if info is not None else None


def _raise_for_status(response: Any) -> None:
    """huggingface_hub's typed errors for an error answer; an answer it cannot even parse
    (its 429 header parser takes any number of digits) is typed by its status alone."""
    from huggingface_hub import errors as hf
    from huggingface_hub.utils import hf_raise_for_status

    try:
        hf_raise_for_status(response)
    except hf.HfHubHTTPError:
        raise
    except (ValueError, TypeError):
        raise hf.HfHubHTTPError(f"HTTP {response.status_code}", response=response) from None


def _etag(value: str | None) -> str | None:
    """A hash from an ETag header as huggingface_hub normalises it (no `W/`, no quotes)."""
    if not value:
        return None
    value = value.strip().removeprefix("W/").strip('"').lower()
    return value if SHA_RE.fullmatch(value) or SHA256_RE.fullmatch(value) else None


def _matches(body: bytes, want: str) -> bool:
    if len(want) == 64:
        return hashlib.sha256(body).hexdigest() == want
    return hashlib.sha1(b"blob %d\0" % len(body) + body).hexdigest() == want


# -- the door -----------------------------------------------------------------------------------


class Hub:
    """All of a run's hub requests, paced and counted per Hub (see the module docstring)."""

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

        if not 0 < quota_share <= 1:
            raise ValueError(f"quota_share must be in (0, 1], got {quota_share!r}")
        self.endpoint = (endpoint or constants.ENDPOINT).rstrip("/")
        self.token = token
        self.timeout = timeout or float(os.environ.get("RANKER_HUB_TIMEOUT", DEFAULT_TIMEOUT))
        self.attempts = max(1, attempts)
        self.max_wait = max_wait
        self.base_wait = base_wait
        self.sleep = sleep
        self.clock = clock
        self.deadline = deadline  # a clock() value; settable later (the pipeline's budget)
        self.quota_share = quota_share
        self.rate_waits = max(1, rate_waits)
        self.retries = 0
        self.requests = 0
        self.bucket_counts: dict[str, int] = dict.fromkeys((*BUCKETS, "cdn"), 0)
        self.rate_limited = 0
        self.timeouts = 0
        self.waited = 0.0
        self._transport = transport
        self._client: Any = None
        self._count_lock = threading.Lock()
        self._pacer = _Pacer(self, quota_share, reserve)
        self._refs: dict[str, RepoRef] = {}  # per run: a base's sha is asked for once
        self._trees: dict[tuple[str, str, str], list[RepoFile]] = {}  # by sha: immutable
        self._verified: set[tuple[str, int, int]] = set()  # (path, size, mtime) checked this run

    # -- transport ---------------------------------------------------------------------------------

    @property
    def client(self) -> Any:
        """This Hub's own HTTP client (made on first use): its hooks pace and count."""
        if self._client is None:
            import httpx2
            from huggingface_hub.utils._http import hf_request_event_hook

            self._client = httpx2.Client(
                event_hooks={
                    "request": [hf_request_event_hook, self._on_request],
                    "response": [self._on_response],
                },
                follow_redirects=True,
                timeout=httpx2.Timeout(self.timeout),
                transport=self._transport,
            )
        return self._client

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    def _on_request(self, request: Any) -> None:
        bucket = bucket_of(request.url, self.endpoint)
        if bucket != "cdn":
            self._pacer.before(bucket)
        with self._count_lock:
            self.requests += 1
            self.bucket_counts[bucket] += 1

    def _on_response(self, response: Any) -> None:
        bucket = bucket_of(response.request.url, self.endpoint)
        if response.status_code == 429:
            with self._count_lock:
                self.rate_limited += 1
        if bucket != "cdn":
            self._pacer.after(bucket, response.headers, response.status_code)

    def counts_text(self) -> str:
        """One line for a run's summary: requests per bucket, 429s and the time spent pacing."""
        parts = [f"{name} {n}" for name, n in self.bucket_counts.items() if n]
        return (
            f"requests: {', '.join(parts) or 'none'} "
            f"(429: {self.rate_limited}, waited {self.waited:.0f} s)"
        )

    def _headers(self) -> dict[str, str]:
        from huggingface_hub.utils import build_hf_headers

        return build_hf_headers(token=self.token)

    def _retrying(self, what: str, call: Callable[[], T]) -> T:
        """Run `call`, retrying transient hub failures; type the rest (see the docstring)."""
        wait = self.base_wait
        attempt, rate_waits = 1, 0
        while True:
            try:
                return call()
            except RunFailure:
                raise
            except Exception as exc:
                found = classify(exc)
                if found is None:
                    raise  # not the hub's doing: a bug, reported as such
                reason, message = found
                if reason is Reason.TIMEOUT:
                    self.timeouts += 1
                if reason is Reason.RATE_LIMITED and _rate_wait(exc) is not None:
                    # The hub said when: the pacer (told by the answer) waits for it before
                    # the retry goes out, or stops the run if that is past the deadline.
                    rate_waits += 1
                    if rate_waits >= self.rate_waits:
                        raise hub_failure(
                            f"{what}: still rate limited after waiting {rate_waits} times",
                            Reason.QUOTA,
                        ) from None
                    self.retries += 1
                    continue
                if kind_of(reason) is not FailureKind.TRANSIENT or attempt >= self.attempts:
                    raise hub_failure(f"{what}: {message}", reason) from None
                response = _response(exc)
                after = _retry_after_header(response.headers) if response is not None else None
                delay = wait if after is None else after
                if delay > self.max_wait:
                    raise HubFailure(
                        f"{what}: {message} (asked to wait {delay:.0f} s, more than the "
                        f"{self.max_wait:.0f} s we wait)",
                        reason,
                    ) from None
                self.retries += 1
                attempt += 1
                self.sleep(delay)
                wait = min(wait * 2, self.max_wait)

    def _get(
        self, url: str, params: Any = None, *, limit: int = MAX_API_BYTES, what: str = "answer"
    ) -> tuple[bytes, Any]:
        """One GET (redirects followed), its body read up to `limit` bytes; error answers
        raise huggingface_hub's typed errors."""
        with self.client.stream("GET", url, params=params, headers=self._headers()) as response:
            if response.status_code >= 400:
                response.read()
            _raise_for_status(response)
            body = bytearray()
            for chunk in response.iter_bytes():
                body += chunk
                if len(body) > limit:
                    raise HubFailure(f"larger than {limit} bytes", Reason.INVALID)
            return bytes(body), response

    def _get_json(self, url: str, params: Any = None, *, what: str = "answer") -> Any:
        body, _ = self._get(url, params, what=what)
        return self._decode(body, what)

    @staticmethod
    def _decode(body: bytes, what: str, *, check_ints: bool = False) -> Any:
        """An API answer through the one untrusted-JSON decoder; a refusal is the hub's data
        failing validation (INVALID). Integers are range-checked field by field."""
        try:
            return jsonlimits.loads(body, what=what, max_bytes=MAX_API_BYTES, check_ints=check_ints)
        except jsonlimits.JsonRefused as exc:
            raise HubFailure(exc.detail, Reason.INVALID) from None

    # -- listings ----------------------------------------------------------------------------------

    def _next_url(self, link: Any, what: str, under: str) -> str | None:
        """The `Link` next URL, only if it stays on our endpoint under `under` (a cursor is
        followed with our token: another host never gets it)."""
        if link is None:
            return None
        if not self._on_endpoint(link, under):
            raise HubFailure(f"{what}: next page {_show(link)} is not on the hub", Reason.INVALID)
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
                return self._decode(body, what), link

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
        if not is_valid_repo_id(repo_id):
            raise HubFailure(f"{_show(repo_id)}: invalid hub repo id", Reason.INVALID)
        key = f"{repo_type}:{repo_id}"
        if key not in self._refs:
            url = f"{self.endpoint}/api/{repo_type}s/{repo_id}"
            what = f"{repo_id}: info"
            data = self._retrying(what, lambda: self._get_json(url, {"expand": "sha"}, what=what))
            self._refs[key] = self._parse_ref(repo_id, data)
        return self._refs[key]

    @staticmethod
    def _parse_ref(repo_id: str, data: Any) -> RepoRef:
        try:
            if not isinstance(data, dict):
                raise _Bad(f"expected a JSON object, got {_show(data)}")
            new_id = data.get("id", repo_id)
            if not is_valid_repo_id(new_id):
                raise _Bad(f"id: unsafe or invalid repo id {_show(new_id)}")
            return RepoRef(new_id, check_sha(data.get("sha")))
        except _Bad as exc:
            raise HubFailure(f"{repo_id}: info: {exc}", Reason.INVALID) from None

    def listing(self, repo_id: str) -> Listing:
        """One model's info with the fields a crawl listing row has (`GET /api/models/{id}`
        with the crawl's expand list), validated as a listing row is: for a single model asked
        for by id (an evaluation request) rather than found by a listing."""
        if not is_valid_repo_id(repo_id):
            raise HubFailure(f"{_show(repo_id)}: invalid hub repo id", Reason.INVALID)
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
        self._checked(repo_id, sha)
        url = f"{self.endpoint}/{repo_id}/resolve/{sha}/config.json"
        what = f"{repo_id}: config.json"

        def fetch() -> dict[str, Any]:
            body, response = self._get(url, limit=MAX_CONFIG_BYTES, what=what)
            want = self._hash_of(response)
            if want is not None and not _matches(body, want):
                raise HubFailure(f"the bytes do not match the hub's hash {want}", Reason.INTEGRITY)
            try:
                # integers are the crawl's to check, for the keys it reads
                config = jsonlimits.loads(
                    body, what=what, max_bytes=MAX_CONFIG_BYTES, check_ints=False
                )
            except jsonlimits.JsonRefused as exc:
                if want is None:
                    raise HubFailure(
                        f"{exc.detail}, and the hub sent no hash to check it against",
                        Reason.INTEGRITY,
                    ) from None
                raise HubFailure(exc.detail, Reason.NO_CONFIG) from None
            if not isinstance(config, dict):
                raise HubFailure(
                    "not a JSON object" + ("" if want else ", and the hub sent no hash"),
                    Reason.NO_CONFIG if want else Reason.INTEGRITY,
                )
            return config

        return self._retrying(what, fetch)

    def _hash_of(self, response: Any) -> str | None:
        """The content hash the hub sent with a file: `X-Linked-Etag` (LFS: sha256) on any hop,
        else the `ETag` (a small file's git blob sha1) of the last answer from the hub itself,
        as huggingface_hub's `get_hf_file_metadata` reads them."""
        hops = [*response.history, response]
        for hop in reversed(hops):
            found = _etag(hop.headers.get("X-Linked-Etag"))
            if found:
                return found
        for hop in reversed(hops):
            if bucket_of(hop.request.url, self.endpoint) != "cdn":
                found = _etag(hop.headers.get("ETag"))
                if found:
                    return found
        return None

    @staticmethod
    def _checked(repo_id: str, sha: str) -> str:
        if not is_valid_repo_id(repo_id):
            raise HubFailure(f"{_show(repo_id)}: invalid hub repo id", Reason.INVALID)
        try:
            check_sha(sha, "revision")
        except _Bad as exc:
            raise HubFailure(f"{repo_id}: {exc}", Reason.INVALID) from None
        return repo_id

    def files(self, repo_id: str, sha: str, repo_type: str = "model") -> list[RepoFile]:
        """Every file of the repo at `sha`, with sizes and hashes (the tree API, recursive,
        every page). Unsafe paths are left out; entries with a malformed hash are marked."""

        self._checked(repo_id, sha)
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
                parsed = _parse_tree_entry(entry)
                if parsed is not None:
                    out.append(parsed)
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
            if f.problem is not None:
                raise HubFailure(f"{repo_id}: {f.problem}", Reason.INVALID)
            dest = folder / f.path
            if not _SAFE_PATH.fullmatch(f.path) or folder.resolve() not in dest.resolve().parents:
                raise HubFailure(f"{repo_id}: unsafe file path {_show(f.path)}", Reason.INVALID)
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
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = dest.with_name(f".{dest.name}.{os.getpid()}.part")
        try:
            with self.client.stream("GET", url, headers=self._headers()) as response:
                if response.status_code >= 400:
                    response.read()
                _raise_for_status(response)
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
