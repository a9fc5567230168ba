"""The one door to the hub: every request ranker sends (listings, info, configs, files, datasets).

Why one door: the endpoint, the token, timeouts, pacing, retries, integrity checks,
validation and request counting must hold for every request of a run, and a rule that lives in
five places is followed in four. Everything else in ranker talks to the hub only through `Hub`.

- `client`: `Hub`, by what it asks for (listings, info, config.json, the tree, downloads).
- `settings`: `HubSettings`, the door as one picklable value (`hub.settings()`,
  `Hub.from_settings(...)`), for a worker in another process.
- `transport`: the door's own HTTP client, its counts (`counts_text()`) and bounded retries.
- `pacer`: the hub's rate-limit headers, and the waits that keep each bucket within its quota
  and the door's share of it, never past the run's deadline (`RunFailure(QUOTA)`).
- `faults`: whose fault a failure is, typed from the status and error code, never message text.
- `wire`, `listing`, `files`: the hub's answers validated where they enter (pure; no I/O but
  `files.verify`, which checks a downloaded file's bytes against the tree's hash).
"""

from __future__ import annotations

from ranker.hub.client import Hub
from ranker.hub.files import RepoFile, parse_tree_entry
from ranker.hub.listing import EXPAND, Listing, Page, Rejected, parse_listing
from ranker.hub.pacer import BUCKETS, RateInfo, bucket_of, parse_ratelimit
from ranker.hub.settings import HubSettings
from ranker.hub.wire import COUNT_MAX, TAG_RE, RepoRef, parse_ref

__all__ = [
    "BUCKETS",
    "COUNT_MAX",
    "EXPAND",
    "TAG_RE",
    "Hub",
    "HubSettings",
    "Listing",
    "Page",
    "RateInfo",
    "Rejected",
    "RepoFile",
    "RepoRef",
    "bucket_of",
    "parse_listing",
    "parse_ratelimit",
    "parse_ref",
    "parse_tree_entry",
]
