"""The door (`ranker.hub`): pacing, per-Hub counts, whose fault, pages, leniency, integrity,
JSON limits, and property tests of everything the hub sends us.

Two kinds of hub: the loopback hub (`FakeHub`, with its quota on a fake clock shared with the
door, so a 300-second window costs no time), and for exact answers the real hub gives but the
loopback hub has no switch for (a 401 on a token, a 400, a corrupted small file once) a
minimal handler on httpx's MockTransport.
"""

from __future__ import annotations

import hashlib
import json
import pickle
from collections.abc import Callable, Iterator
from typing import Any

import httpx2
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ranker import jsonlimits
from ranker.errors import HubFailure, Reason, RunFailure
from ranker.hub import (
    COUNT_MAX,
    TAG_RE,
    Hub,
    HubSettings,
    Listing,
    RateInfo,
    Rejected,
    RepoFile,
    bucket_of,
    parse_listing,
    parse_ratelimit,
    parse_ref,
    parse_tree_entry,
)
from ranker.jsonlimits import MAX_INT, MIN_INT, JsonProblem, JsonRefused
from ranker.repofiles import SHA_RE
from ranker.testing.hub import FakeHub
from ranker.testing.models import TINY_ROBERTA, fake_model, register
from ranker.testing.quota import Limiter, Quota

ENDPOINT = "https://hub.test"
SHA = "a" * 40
SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


class Clock:
    """A fake monotonic clock; `sleep` advances it (and records each wait)."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def quota_hub(clock: Clock) -> Iterator[FakeHub]:
    """A loopback hub of its own, with a small quota counted on the fake clock."""
    with FakeHub(quota=Quota(api=5, resolvers=10, pages=5, window=300.0)) as hub:
        hub.limiter = Limiter(clock=clock)
        yield hub


def _door(hub: FakeHub, clock: Clock, **kw: Any) -> Hub:
    return Hub(endpoint=hub.url, token=False, sleep=clock.sleep, clock=clock, **kw)


def _mock(handler: Callable[[httpx2.Request], httpx2.Response], clock: Clock, **kw: Any) -> Hub:
    kw.setdefault("token", False)
    return Hub(
        endpoint=ENDPOINT,
        sleep=clock.sleep,
        clock=clock,
        transport=httpx2.MockTransport(handler),
        **kw,
    )


def _info(repo: str) -> bytes:
    return json.dumps({"id": repo, "sha": SHA}).encode()


def _limit(r: int, t: int, q: int = 100, bucket: str = "api") -> dict[str, str]:
    return {
        "RateLimit": f'"{bucket}";r={r};t={t}',
        "RateLimit-Policy": f'"fixed window";"{bucket}";q={q};w=300',
    }


def _blob(body: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(body) + body).hexdigest()


# -- the pacer ----------------------------------------------------------------------------------


def _models(hub: FakeHub, n: int) -> list[str]:
    ids = [f"org/m{i}" for i in range(n)]
    for repo in ids:
        register(hub, repo, fake_model(TINY_ROBERTA), model_type="roberta")
    return ids


def test_a_spent_bucket_waits_for_its_reset_and_never_meets_a_429(
    quota_hub: FakeHub, clock: Clock
) -> None:
    ids = _models(quota_hub, 12)
    door = _door(quota_hub, clock)
    for repo in ids:
        door.ref(repo)  # one api request each: 12 of a quota of 5 per 300 s window
    assert quota_hub.rate_limited == 0 and door.rate_limited == 0
    # Two waits for a reset, each about a window; the reserve (1 of 5) never spent.
    assert len(clock.sleeps) == 2 and all(250 <= s <= 301 for s in clock.sleeps)
    assert door.waited == pytest.approx(sum(clock.sleeps))
    assert door.bucket_counts["api"] == 12 == door.requests


def test_the_door_never_sends_past_the_reserve(clock: Clock) -> None:
    limiter, left = Limiter(clock=clock), []
    quota = Quota(api=100, resolvers=100, pages=100)

    def handler(request: httpx2.Request) -> httpx2.Response:
        within, headers = limiter.take("ip", quota, "api")
        left.append(parse_ratelimit(headers).remaining)  # type: ignore[union-attr]
        return httpx2.Response(200 if within else 429, headers=headers, content=_info("o/m"))

    door = _mock(handler, clock, reserve=0.05)  # keep 5 of 100
    for i in range(200):
        door.ref(f"o/m{i}")
    assert min(left) == 5 and left.count(5) == 2  # twice down to the reserve, never below
    assert len(clock.sleeps) == 2 and door.rate_limited == 0


def test_a_429_waits_its_reset_without_using_attempts(quota_hub: FakeHub, clock: Clock) -> None:
    (repo,) = _models(quota_hub, 1)
    quota_hub.fail(429, times=5)  # no Retry-After: the hub documents none
    door = _door(quota_hub, clock, attempts=2)
    assert door.ref(repo).repo_id == repo
    assert door.rate_limited == 5 and door.retries == 5 and len(clock.sleeps) == 5


def test_a_429_that_would_pass_the_deadline_stops_the_run(clock: Clock) -> None:
    calls = []

    def handler(request: httpx2.Request) -> httpx2.Response:
        calls.append(request)
        return httpx2.Response(429, headers=_limit(0, 120))

    door = _mock(handler, clock, deadline=clock() + 60)
    with pytest.raises(RunFailure) as raised:
        door.ref("o/m")
    assert raised.value.reason is Reason.QUOTA and not isinstance(raised.value, HubFailure)
    assert len(calls) == 1 and clock.sleeps == []  # refused before waiting in vain


def test_a_spent_bucket_past_the_deadline_stops_before_sending(clock: Clock) -> None:
    calls = []

    def handler(request: httpx2.Request) -> httpx2.Response:
        calls.append(request)
        return httpx2.Response(200, headers=_limit(1, 200), content=_info("o/m"))

    door = _mock(handler, clock)
    door.ref("o/a")
    door.deadline = clock() + 100  # set later, as the pipeline does
    with pytest.raises(RunFailure) as raised:
        door.ref("o/b")
    assert raised.value.reason is Reason.QUOTA and len(calls) == 1


def test_a_long_retry_after_on_a_429_is_waited_not_failed(clock: Clock) -> None:
    answers = iter([429, 200])

    def handler(request: httpx2.Request) -> httpx2.Response:
        status = next(answers)
        headers = {"Retry-After": "240"} if status == 429 else {}
        return httpx2.Response(status, headers=headers, content=_info("o/m"))

    door = _mock(handler, clock, max_wait=60)  # the backoff cap is not a rate-limit cap
    assert door.ref("o/m").sha == SHA and clock.sleeps == [240]


def test_a_429_from_the_cdn_is_waited_out_by_the_backoff(clock: Clock) -> None:
    """The CDN's answers never reach the pacer: its Retry-After is slept before the retry."""
    answers = iter([429, 200])

    def handler(request: httpx2.Request) -> httpx2.Response:
        if request.url.host == "hub.test":
            return httpx2.Response(302, headers={"Location": "https://cdn.test/blob"})
        status = next(answers)
        headers = {"Retry-After": "7"} if status == 429 else {}
        return httpx2.Response(status, headers=headers, content=b"{}")

    door = _mock(handler, clock)
    assert door.config("o/m", SHA) == {} and clock.sleeps == [7]


def test_a_429_that_never_ends_stops_the_run_after_bounded_waits(clock: Clock) -> None:
    door = _mock(lambda r: httpx2.Response(429, headers=_limit(0, 5)), clock, rate_waits=4)
    with pytest.raises(RunFailure) as raised:
        door.ref("o/m")
    assert raised.value.reason is Reason.QUOTA and len(clock.sleeps) == 3


def test_a_429_with_no_word_on_when_is_an_ordinary_transient_fault(clock: Clock) -> None:
    door = _mock(lambda r: httpx2.Response(429), clock, attempts=3)
    with pytest.raises(HubFailure) as raised:
        door.ref("o/m")
    assert raised.value.reason is Reason.RATE_LIMITED and len(clock.sleeps) == 2


def test_quota_share_spends_only_this_hubs_part_of_each_window(clock: Clock) -> None:
    windows: dict[int, int] = {}

    def handler(request: httpx2.Request) -> httpx2.Response:
        window = int((clock() - 1000) // 300)
        windows[window] = windows.get(window, 0) + 1
        reset = 300 - (clock() - 1000) % 300
        return httpx2.Response(200, headers=_limit(900, int(reset), q=1000), content=_info("o"))

    door = _mock(handler, clock, quota_share=0.1)  # 100 of 1,000, less its reserve of 3
    for i in range(250):
        door.ref(f"o/m{i}")
    assert max(windows.values()) == 97 and sum(windows.values()) == 250
    assert door.rate_limited == 0


def test_malformed_rate_limit_headers_are_ignored(clock: Clock) -> None:
    values = ['"api";r=-1;t=5', "garbage", '"api";r=1;t=99999999999', '"api";r=' + "9" * 5000,
              '"api";r=0;t=1e9', "", '"ＡＰＩ";r=0;t=5']  # fmt: skip
    headers = iter(values)

    def handler(request: httpx2.Request) -> httpx2.Response:
        raw = [(b"RateLimit", next(headers).encode())]  # not ASCII, too: raw bytes
        return httpx2.Response(200, headers=raw, content=_info("o/m"))

    door = _mock(handler, clock)
    for i in range(len(values)):
        door.ref(f"o/m{i}")
    assert clock.sleeps == []


def test_a_429_whose_header_huggingface_hub_cannot_parse_is_still_a_rate_limit(
    clock: Clock,
) -> None:
    """huggingface_hub's own 429 parser turns any run of digits into an int: 5,000 of them
    raise ValueError inside `hf_raise_for_status`; the door types it by its status."""
    door = _mock(_answer(429, RateLimit='"api";r=' + "9" * 5000 + ";t=1"), clock, attempts=2)
    with pytest.raises(HubFailure) as raised:
        door.ref("o/m")
    assert raised.value.reason is Reason.RATE_LIMITED


def test_parse_ratelimit_reads_the_hubs_headers() -> None:
    assert parse_ratelimit(_limit(7, 42, q=500)) == RateInfo("api", 7, 42.0, 500, 300.0)
    assert parse_ratelimit({"RateLimit": '"resolvers";r=0;t=3'}) == RateInfo("resolvers", 0, 3.0)
    assert parse_ratelimit({"RateLimit": '"other";r=0;t=3'}).bucket is None  # type: ignore[union-attr]
    assert parse_ratelimit({}) is None


@SETTINGS
@given(st.text(max_size=80), st.text(max_size=80))
def test_any_rate_limit_header_is_read_or_ignored(limit: str, policy: str) -> None:
    info = parse_ratelimit({"RateLimit": limit, "RateLimit-Policy": policy})
    assert info is None or (info.remaining >= 0 and 0 <= info.reset <= 3600)


# -- counting per Hub ---------------------------------------------------------------------------


def test_each_hub_counts_its_own_requests_per_bucket(hub: FakeHub) -> None:
    (repo,) = _models(hub, 1)
    first, second = Hub(endpoint=hub.url, token=False), Hub(endpoint=hub.url, token=False)
    first.config(repo, hub.model(repo).sha)  # a small file: 307 to the resolve-cache
    list(second.list_models("roberta"))
    second.ref(repo)
    assert first.bucket_counts == {"api": 0, "resolvers": 2, "pages": 0, "cdn": 0}
    assert second.bucket_counts == {"api": 2, "resolvers": 0, "pages": 0, "cdn": 0}
    assert (first.requests, second.requests) == (2, 2)
    assert second.counts_text() == "requests: api 2 (429: 0, waited 0 s)"


def test_settings_open_the_same_door_in_another_process(clock: Clock) -> None:
    """A worker rebuilds the driver's door from one picklable value: same endpoint, token,
    limits and share; the deadline travels as the seconds left; counts and caches do not."""
    driver = Hub(endpoint=ENDPOINT + "/", token="hf_secret", attempts=2, quota_share=0.5,
                 clock=clock, sleep=clock.sleep, deadline=clock() + 120)  # fmt: skip
    driver.requests = 7
    settings = pickle.loads(pickle.dumps(driver.settings()))
    assert settings == HubSettings(ENDPOINT, "hf_secret", driver.timeout, 2, quota_share=0.5,
                                   seconds_left=120.0)  # fmt: skip
    assert "hf_secret" not in repr(settings)  # a secret never lands in a log
    other = Clock()
    other.now = 5.0
    worker = Hub.from_settings(settings, clock=other, sleep=other.sleep)
    assert worker.settings() == settings and worker.deadline == 125.0
    assert (worker.endpoint, worker.token, worker.attempts, worker.quota_share) == (
        ENDPOINT, "hf_secret", 2, 0.5)  # fmt: skip
    assert worker.requests == 0
    anonymous = Hub.from_settings(Hub(endpoint=ENDPOINT, token=False).settings())
    assert anonymous.deadline is None and anonymous.token is False
    with pytest.raises(ValueError, match="quota_share"):
        HubSettings(ENDPOINT, quota_share=0.0)


def test_buckets_by_url() -> None:
    cases = {
        "/api/models?filter=x": "api",
        "/api/models/o/m/tree/main": "api",
        "/api/resolve-cache/models/o/m/abc/config.json": "resolvers",
        "/o/m/resolve/main/config.json": "resolvers",
        "/roberta-base/resolve/main/config.json": "resolvers",
        "/datasets/o/d/resolve/main/train.jsonl": "resolvers",
        "/o/m": "pages",
    }
    for path, bucket in cases.items():
        assert bucket_of(ENDPOINT + path, ENDPOINT) == bucket, path
    assert bucket_of("https://cdn.test/repos/ab/cd", ENDPOINT) == "cdn"
    assert bucket_of("https://hub.test/prefix/api/models", ENDPOINT + "/prefix") == "api"


def test_timeouts_are_counted(clock: Clock) -> None:
    def handler(request: httpx2.Request) -> httpx2.Response:
        raise httpx2.ReadTimeout("slow", request=request)

    door = _mock(handler, clock, attempts=2)
    with pytest.raises(HubFailure) as raised:
        door.ref("o/m")
    assert raised.value.reason is Reason.TIMEOUT and door.timeouts == 2


def test_tokenless_sends_no_authorization_and_a_token_stays_on_the_hub(clock: Clock) -> None:
    seen: list[tuple[str, str | None]] = []

    def handler(request: httpx2.Request) -> httpx2.Response:
        seen.append((request.url.host, request.headers.get("authorization")))
        if request.url.host == "hub.test":
            return httpx2.Response(302, headers={"Location": "https://cdn.test/blob"})
        return httpx2.Response(200, content=b"{}")

    _mock(handler, clock, token=False).config("o/m", SHA)
    _mock(handler, clock, token="hf_secret").config("o/m", SHA)
    assert seen == [("hub.test", None), ("cdn.test", None),
                    ("hub.test", "Bearer hf_secret"), ("cdn.test", None)]  # fmt: skip


# -- whose fault --------------------------------------------------------------------------------


def _answer(status: int, **headers: str) -> Callable[[httpx2.Request], httpx2.Response]:
    fixed = {k.replace("_", "-"): v for k, v in headers.items()}
    return lambda request: httpx2.Response(status, headers=fixed, content=b"{}")


@pytest.mark.parametrize(
    ("status", "headers", "token", "run", "reason"),
    [
        (401, {"X_Error_Message": "Invalid credentials in Authorization header"}, "hf_x", True,
         Reason.BAD_TOKEN),
        (401, {}, "hf_x", True, Reason.BAD_TOKEN),
        (401, {"X_Error_Code": "RepoNotFound"}, False, False, Reason.NOT_FOUND),
        (401, {"X_Error_Code": "GatedRepo"}, False, False, Reason.GATED),
        (403, {"X_Error_Message": "Access to this resource is disabled."}, "hf_x", False,
         Reason.DISABLED),
        (403, {"X_Error_Message": "AccessDenied"}, False, True, Reason.FORBIDDEN),
        (403, {"X_Error_Code": "GatedRepo"}, "hf_x", False, Reason.GATED),
        (400, {}, False, True, Reason.BAD_REQUEST),
        (416, {}, False, True, Reason.BAD_REQUEST),
        (404, {"X_Error_Code": "RepoNotFound"}, "hf_x", False, Reason.NOT_FOUND),
    ],
)  # fmt: skip
def test_whose_fault_each_answer_is(
    clock: Clock, status: int, headers: dict[str, str], token: Any, run: bool, reason: Reason
) -> None:
    calls = []

    def handler(request: httpx2.Request) -> httpx2.Response:
        calls.append(request)
        return _answer(status, **headers)(request)

    with pytest.raises(RunFailure if run else HubFailure) as raised:
        _mock(handler, clock, token=token).ref("o/m")
    assert raised.value.reason is reason and len(calls) == 1  # never retried


def test_an_invalid_token_on_the_loopback_hub_stops_the_run(hub: FakeHub) -> None:
    (repo,) = _models(hub, 1)
    with pytest.raises(RunFailure) as raised:
        Hub(endpoint=hub.url, token="hf_expired").ref(repo)
    assert raised.value.reason is Reason.BAD_TOKEN


# -- listings by page ---------------------------------------------------------------------------


def test_list_pages_resumes_from_a_saved_cursor(hub: FakeHub) -> None:
    ids = _models(hub, 5)
    hub.page_size = 2
    door = Hub(endpoint=hub.url, token=False)
    pages = list(door.list_pages("roberta"))
    assert [len(p.rows) for p in pages] == [2, 2, 1] and pages[-1].next is None
    assert sorted(r.model_id for p in pages for r in p.rows) == ids
    resumed = list(door.list_pages("roberta", start=pages[0].next))
    assert [p.rows for p in resumed] == [p.rows for p in pages[1:]]
    assert "limit=1000" in next(path for m, path, s in hub.log if path.startswith("/api/models?"))


@pytest.mark.parametrize(
    "cursor",
    [
        "https://elsewhere.test/api/models?filter=roberta&cursor=x",
        "{url}/api/datasets?filter=roberta",
        "{url}/api/models?filter=bert&cursor=x",
        "{url}/api/models/../models?filter=roberta",
        "{url}/api/models?filter=roberta#frag",
        "{url}/api/models?filter=roberta&x=" + "a" * 5000,
        "not a url",
        "",
    ],
)
def test_a_cursor_that_is_not_this_listing_starts_from_the_beginning(
    hub: FakeHub, cursor: str
) -> None:
    _models(hub, 3)
    hub.page_size = 2
    door = Hub(endpoint=hub.url, token=False)
    first = next(door.list_pages("roberta"))
    assert next(door.list_pages("roberta", start=cursor.format(url=hub.url))).rows == first.rows


def test_a_failing_page_keeps_the_pages_before_it(clock: Clock) -> None:
    fails = {"n": 0}

    def handler(request: httpx2.Request) -> httpx2.Response:
        page = int(request.url.params.get("cursor", "0"))
        if page == 2 and fails["n"] < 4:
            fails["n"] += 1
            return httpx2.Response(503)
        rows = [{"id": f"o/m{page}{i}", "sha": SHA} for i in range(2)]
        headers = {}
        if page < 3:
            nxt = f"{ENDPOINT}/api/models?filter=t&cursor={page + 1}"
            headers["Link"] = f'<{nxt}>; rel="next"'
        return httpx2.Response(200, headers=headers, content=json.dumps(rows).encode())

    door = _mock(handler, clock)
    kept = []
    with pytest.raises(HubFailure) as raised:
        for page in door.list_pages("t"):
            kept.append(page)
    assert raised.value.reason is Reason.SERVER_ERROR and len(kept) == 2
    rest = list(door.list_pages("t", start=kept[-1].next))  # the next night
    got = [r.model_id for p in kept + rest for r in p.rows]
    assert got == [f"o/m{p}{i}" for p in range(4) for i in range(2)]


def test_a_next_link_to_another_host_is_not_followed(clock: Clock) -> None:
    link = '<https://evil.test/api/models?cursor=1>; rel="next"'
    door = _mock(lambda r: httpx2.Response(200, headers={"Link": link}, content=b"[]"), clock)
    with pytest.raises(HubFailure) as raised:
        list(door.list_pages("t"))
    assert raised.value.reason is Reason.INVALID


# -- validate what we use -----------------------------------------------------------------------


def _row(**fields: Any) -> dict[str, Any]:
    return {"id": "o/m", "sha": SHA, **fields}


def test_a_malformed_tag_is_dropped_and_reported() -> None:
    row = parse_listing(_row(tags=["roberta", "bad tag\n", "license:mit", "ｌｏｏｋ"]))
    assert isinstance(row, Listing)
    assert row.tags == ("roberta", "license:mit") and row.license == "mit"
    assert len(row.problems) == 1 and "tags" in row.problems[0]


def test_params_are_the_per_dtype_sum_and_a_differing_total_is_flagged() -> None:
    same = parse_listing(_row(safetensors={"parameters": {"F32": 100, "F16": 20}, "total": 120}))
    odd = parse_listing(_row(safetensors={"parameters": {"F32": 100}, "total": 5000}))
    only_total = parse_listing(_row(safetensors={"total": 7}))
    assert isinstance(same, Listing) and (same.params, same.params_disagree) == (120, False)
    assert isinstance(odd, Listing) and (odd.params, odd.params_disagree) == (100, True)
    assert isinstance(only_total, Listing) and only_total.params == 7


@pytest.mark.parametrize(
    "fields",
    [
        {"downloads": MAX_INT + 1},
        {"likes": float(2**64)},
        {"safetensors": {"parameters": {"F32": MAX_INT, "F16": 1}}},
        {"safetensors": {"total": 2**70}},
    ],
)
def test_counts_the_store_cannot_hold_reject_the_row(fields: dict[str, Any]) -> None:
    row = parse_listing(_row(**fields))
    assert isinstance(row, Rejected) and row.model_id == "o/m"


def test_a_date_outside_the_sane_window_is_dropped() -> None:
    row = parse_listing(_row(lastModified="9999-12-31T23:59:59Z"))
    assert isinstance(row, Listing) and row.last_modified is None and row.problems


def _tree(entries: list[dict[str, Any]], link: str | None = None) -> httpx2.Response:
    headers = {"Link": f'<{link}>; rel="next"'} if link else {}
    return httpx2.Response(200, headers=headers, content=json.dumps(entries).encode())


def test_an_odd_path_in_a_tree_does_not_refuse_the_model(clock: Clock, tmp_path: Any) -> None:
    body = b"{}"
    good = {"type": "file", "path": "config.json", "size": 2, "oid": _blob(body)}
    odd = {"type": "file", "path": "../../etc/passwd", "size": 2, "oid": "b" * 40}
    bad_hash = {"type": "file", "path": "model.safetensors", "size": 9, "oid": "c" * 40,
                "lfs": {"oid": "not-a-sha256", "size": 9}}  # fmt: skip

    def handler(request: httpx2.Request) -> httpx2.Response:
        if "/tree/" in request.url.path:
            if request.url.params.get("cursor") == "2":
                return _tree([bad_hash])
            return _tree([odd, good], f"{ENDPOINT}/api/models/o/m/tree/{SHA}?cursor=2")
        return httpx2.Response(200, content=body)

    door = _mock(handler, clock)
    files = door.files("o/m", SHA)
    assert [f.path for f in files] == ["config.json", "model.safetensors"]  # both pages
    assert files[0].problem is None and files[1].problem is not None
    door.download("o/m", SHA, files[:1], cache_dir=tmp_path)  # what we fetch is fine
    with pytest.raises(HubFailure) as raised:
        door.download("o/m", SHA, files[1:], cache_dir=tmp_path)
    assert raised.value.reason is Reason.INVALID
    unsafe = RepoFile(path="../x", size=1, blob_id="d" * 40)
    with pytest.raises(HubFailure):
        door.download("o/m", SHA, [unsafe], cache_dir=tmp_path)


# -- config integrity ---------------------------------------------------------------------------


def _config_hub(clock: Clock, bodies: list[bytes], etag: str | None, **kw: Any) -> Hub:
    """A hub whose config.json answers 307 to the resolve-cache, as the real hub's small files
    do; the cache answers each body in turn, with `etag` (git blob sha) when given."""
    answers = iter(bodies)

    def handler(request: httpx2.Request) -> httpx2.Response:
        if "/resolve-cache/" not in request.url.path:
            location = f"/api/resolve-cache/models/o/m/{SHA}/config.json"
            return httpx2.Response(307, headers={"Location": location})
        headers = {"ETag": f'"{etag}"'} if etag else {}
        return httpx2.Response(200, headers=headers, content=next(answers))

    return _mock(handler, clock, **kw)


def test_a_config_corrupted_once_is_retried_and_then_read(clock: Clock) -> None:
    good = b'{"model_type": "roberta"}'
    door = _config_hub(clock, [b'{"model_type": "robertX"}', good], _blob(good))
    assert door.config("o/m", SHA) == {"model_type": "roberta"}
    assert door.retries == 1 and door.bucket_counts["resolvers"] == 4


def test_a_config_corrupted_every_time_is_transient(clock: Clock) -> None:
    good = b'{"model_type": "roberta"}'
    door = _config_hub(clock, [b"{" + good[1:-1] + b"!"] * 4, _blob(good))
    with pytest.raises(HubFailure) as raised:
        door.config("o/m", SHA)
    assert raised.value.reason is Reason.INTEGRITY and raised.value.transient


def test_a_config_that_checks_out_and_is_not_json_is_the_models(clock: Clock) -> None:
    body = b"not json"
    with pytest.raises(HubFailure) as raised:
        _config_hub(clock, [body], _blob(body)).config("o/m", SHA)
    assert raised.value.reason is Reason.NO_CONFIG and not raised.value.transient


def test_a_config_not_json_with_no_hash_is_transient(clock: Clock) -> None:
    with pytest.raises(HubFailure) as raised:
        _config_hub(clock, [b"not json"] * 4, None).config("o/m", SHA)
    assert raised.value.reason is Reason.INTEGRITY


def test_a_config_of_100000_brackets_is_a_typed_failure(clock: Clock) -> None:
    body = b"[" * 100_000 + b"]" * 100_000
    with pytest.raises(HubFailure) as raised:
        _config_hub(clock, [body], _blob(body)).config("o/m", SHA)
    assert raised.value.reason is Reason.NO_CONFIG and "nested" in str(raised.value)


def test_the_loopback_hubs_config_checks_out(hub: FakeHub) -> None:
    (repo,) = _models(hub, 1)
    door = Hub(endpoint=hub.url, token=False)
    assert door.config(repo, hub.model(repo).sha)["model_type"] == "roberta"
    hub.corrupt_bytes(repo, "config.json", times=1)
    door = Hub(endpoint=hub.url, token=False, sleep=lambda s: None)
    assert door.config(repo, hub.model(repo).sha)["model_type"] == "roberta"
    assert door.retries == 1


# -- JSON limits --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        (b"[" * 100_000, JsonProblem.TOO_DEEP),
        (b"[" * 100_000 + b"]" * 100_000, JsonProblem.TOO_DEEP),
        (b'{"a":' * 65 + b"1" + b"}" * 65, JsonProblem.TOO_DEEP),
        (str(MAX_INT + 1).encode(), JsonProblem.INT_RANGE),
        (b"1e400", JsonProblem.NOT_JSON),
        (b"NaN", JsonProblem.NOT_JSON),
        (b'"\xff"', JsonProblem.NOT_JSON),
        ('"\ud800"', JsonProblem.NOT_JSON),
        (b" " * 300_001, JsonProblem.TOO_LARGE),
    ],
)
def test_json_limits_refuse_with_a_typed_problem(data: bytes | str, problem: JsonProblem) -> None:
    with pytest.raises(JsonRefused) as raised:
        jsonlimits.loads(data, what="x.json", max_bytes=300_000)
    assert raised.value.problem is problem and str(raised.value).startswith("x.json: ")


def test_json_limits_accept_what_is_within_them() -> None:
    assert jsonlimits.loads(b"[" * 64 + b"]" * 64) is not None
    assert jsonlimits.loads(str(MAX_INT).encode()) == MAX_INT
    assert jsonlimits.loads(str(MIN_INT).encode()) == MIN_INT
    assert jsonlimits.loads(b"[18446744073709551615]", check_ints=False) == [2**64 - 1]
    assert isinstance(jsonlimits.loads(str(MIN_INT - 1).encode()), float)  # orjson's own


def test_check_refuses_a_decoded_value_out_of_range() -> None:
    with pytest.raises(JsonRefused) as raised:
        jsonlimits.check({"a": [MIN_INT - 1]}, what="record")
    assert raised.value.problem is JsonProblem.INT_RANGE


def _json_values(low: int, high: int) -> st.SearchStrategy[Any]:
    """JSON values whose integers lie in [low, high]."""
    return st.recursive(
        st.none() | st.booleans() | st.integers(low, high)
        | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=20),
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner,
                                                                    max_size=4),
        max_leaves=25,
    )  # fmt: skip


_JSON = _json_values(-(2**70), 2**70)


@SETTINGS
@given(st.one_of(st.binary(max_size=300), _JSON.map(lambda v: json.dumps(v).encode()),
                 st.integers(1, 3000).map(lambda n: b"[" * n + b"]" * n)))  # fmt: skip
def test_any_bytes_decode_or_are_refused_with_a_problem(data: bytes) -> None:
    try:
        value = jsonlimits.loads(data)
    except JsonRefused as exc:
        assert isinstance(exc.problem, JsonProblem)
    else:
        jsonlimits.check(value)  # what it let through is within the limits


_IN_RANGE = _json_values(MIN_INT, MAX_INT)


@SETTINGS
@given(_IN_RANGE)
def test_json_within_the_limits_reads_back_unchanged(value: Any) -> None:
    assert jsonlimits.loads(json.dumps(value)) == value


# -- property tests: any hub value is accepted or refused with a reason -----------------------


_LOOKALIKE = "ＡａΑаᎪ\u200b\u202e\x00\x1b\r\n\t /\\.:@%"
_TEXT = st.text(alphabet=st.characters(codec="utf-8") | st.sampled_from(_LOOKALIKE), max_size=30)
_INTS = st.one_of(st.integers(-5, 5), st.integers(-(2**70), 2**70),
                  st.sampled_from([MAX_INT, MAX_INT + 1, 2**64, MIN_INT]))  # fmt: skip
_ANY = _JSON | _TEXT | _INTS
_ID = st.one_of(st.sampled_from(["o/m", "roberta-base", "a/b-c.d_e"]), _TEXT)
_SHA = st.one_of(st.just(SHA), _TEXT)
_ROW = st.fixed_dictionaries(
    {"id": _ID, "sha": _SHA},
    optional={
        "tags": st.one_of(st.lists(st.one_of(_TEXT, st.just("license:mit")), max_size=5), _ANY),
        "downloads": st.one_of(_INTS, _ANY), "likes": _INTS,
        "lastModified": st.one_of(st.datetimes().map(lambda d: d.isoformat() + "Z"), _TEXT),
        "safetensors": st.one_of(
            st.fixed_dictionaries({"parameters": st.dictionaries(_TEXT, _INTS, max_size=3)},
                                  optional={"total": _INTS}), _ANY),
        "config": st.one_of(st.fixed_dictionaries({}, optional={
            "model_type": _TEXT, "architectures": _ANY, "auto_map": _ANY}), _ANY),
        "cardData": st.one_of(st.fixed_dictionaries({}, optional={"license": _ANY,
                                                                  "datasets": _ANY}), _ANY),
        "baseModels": st.one_of(st.fixed_dictionaries({"relation": _ANY, "models": st.lists(
            st.fixed_dictionaries({"id": _ID}), max_size=3)}), _ANY),
        "gated": st.one_of(st.sampled_from([False, "auto", "manual", True]), _ANY),
        "library_name": _ANY, "pipeline_tag": _ANY, "private": _ANY,
    },
)  # fmt: skip


@SETTINGS
@given(st.one_of(_ROW, _ANY))
def test_any_listing_row_is_a_listing_or_rejected_with_a_reason(row: Any) -> None:
    got = parse_listing(row)
    if isinstance(got, Rejected):
        assert got.problem
        return
    assert isinstance(got, Listing) and SHA_RE.fullmatch(got.sha)
    assert all(TAG_RE.fullmatch(t) for t in got.tags)
    for count in (got.downloads, got.likes, got.params):
        assert count is None or (isinstance(count, int) and 0 <= count <= COUNT_MAX)


_ENTRY = st.fixed_dictionaries(
    {"type": st.sampled_from(["file", "directory"]), "path": st.one_of(
        st.sampled_from(["config.json", "a/b.bin", "../x", "/abs", "a/./b"]), _TEXT)},
    optional={"size": _INTS, "oid": st.one_of(st.just("b" * 40), _TEXT),
              "lfs": st.one_of(st.fixed_dictionaries({"oid": st.one_of(st.just("c" * 64),
                                                      _TEXT), "size": _INTS}), _ANY)},
)  # fmt: skip


@SETTINGS
@given(st.one_of(_ENTRY, _ANY))
def test_any_tree_entry_is_a_file_a_marked_file_or_left_out(entry: Any) -> None:
    got = parse_tree_entry(entry)
    assert got is None or isinstance(got, RepoFile)
    if got is not None and got.problem is None:
        assert SHA_RE.fullmatch(got.blob_id) and 0 <= got.size <= COUNT_MAX
        assert ".." not in got.path.split("/") and not got.path.startswith("/")


@SETTINGS
@given(st.one_of(st.fixed_dictionaries({"id": _ID, "sha": _SHA}), _ANY))
def test_any_info_answer_is_a_ref_or_invalid(data: Any) -> None:
    try:
        ref = parse_ref("o/m", data)
    except HubFailure as exc:
        assert exc.reason is Reason.INVALID
    else:
        assert SHA_RE.fullmatch(ref.sha)


_BODY = st.one_of(
    st.binary(max_size=200),
    _JSON.map(lambda v: json.dumps(v).encode()),
    st.integers(1, 200_000).map(lambda n: b'{"a":' * n),
    st.integers(1, 3000).map(lambda n: b"[" * n + b"]" * n),
)


@SETTINGS
@given(_BODY, st.sampled_from(["match", "none", "wrong"]))
def test_any_config_body_is_a_config_or_a_typed_failure(body: bytes, hashed: str) -> None:
    etag = {"match": _blob(body), "none": None, "wrong": "e" * 40}[hashed]
    door = _config_hub(Clock(), [body] * 4, etag)
    try:
        config = door.config("o/m", SHA)
    except HubFailure as exc:
        expected = {"match": Reason.NO_CONFIG, "none": Reason.INTEGRITY,
                    "wrong": Reason.INTEGRITY}[hashed]  # fmt: skip
        assert exc.reason in (expected, Reason.INVALID)  # INVALID: over the size limit
    else:
        assert isinstance(config, dict) and hashed != "wrong"
