"""Turning candidates into catalog entries, spending config.json requests with care.

Whose fault a failed config read is decides what is stored (the one rule: a failure is stored
against a model only when the model's own content caused it):

- the model's own content (no config.json, not JSON whose bytes checked out, gated, disabled):
  an exclusion, kept until the model's sha changes;
- the hub or the network for this request (5xx, timeout, dropped connection, bytes that did not
  match their hash): the candidate stays `unclassified` (`config-pending`), read next run;
- a rate limit that outlasted the door's pacing: never this candidate's fault and never a
  reason to skip to the next one (that one would be refused too): the run stops reading configs
  (`RunFailure(QUOTA)`), and every candidate from this one on waits, in order, for the next run;
- the run's own faults (a bad token, ...) are `RunFailure`s from the door: never caught here.

A hub that stalls every config read would keep a crawl going for days (30 s timeouts, four
tries, thousands of configs): when more than half of the last `STALL_WINDOW` reads got no
answer, the crawl stops with `RunFailure(HUB_DOWN)`.
"""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass

from ranker.crawl import classify
from ranker.crawl.verdict import Verdict
from ranker.errors import HubFailure, Reason, RunFailure
from ranker.explain import PENDING
from ranker.hub import Hub, Listing
from ranker.records import SCHEMA_VERSION, Architecture, CatalogEntry, config_dims, describe_dims

STALL_WINDOW = 20  # the last N config reads; more than half of them unanswered stops the crawl
_UNANSWERED = frozenset({Reason.TIMEOUT, Reason.CONNECTION})
# What a config read's permanent failure means for the model (anything else: no-config).
_EXCLUDED_BY = {Reason.GATED: "gated", Reason.DISABLED: "disabled"}


@dataclass
class Candidate:
    listing: Listing
    claim: Architecture | None  # the architecture a lineage tag, the 2023 data or the base names
    found_by: str  # "lineage", "legacy" or "config"
    base: bool = False  # an architecture's own base model: classified before anything else


def order(c: Candidate) -> tuple:
    """Who is classified first (what the config budget and the time budget reach): the
    architectures' bases, then the 2023 models, then lineage-tagged ones, then by downloads."""
    return (
        not c.base,
        c.found_by != "legacy",
        c.found_by != "lineage",
        -(c.listing.downloads or 0),
        c.listing.model_id,
    )


def entry(
    c: Candidate, arch: Architecture, status: str, reason: str | None, detail: str | None
) -> CatalogEntry:
    row = c.listing
    return CatalogEntry(
        schema_version=SCHEMA_VERSION,
        model_id=row.model_id,
        architecture=arch.id,
        sha=row.sha,
        status=status,
        reason=reason,
        last_modified=row.last_modified,
        downloads=row.downloads,
        likes=row.likes,
        license=row.license,
        library=row.library,
        pipeline_tag=row.pipeline_tag,
        params=row.params,
        found_by=c.found_by,
        tags=tuple(sorted(row.tags)),
        detail=detail,
    )


class Classifier:
    """Classifies candidates, spending at most `max_configs` config requests, and none once
    `late()` (the time budget) or once `reading` is switched off (a stop).

    Keeps what it spent and skipped (`config_requests`, `config_timeouts`, `out_of_time`,
    `skipped`) for the crawl's summary."""

    def __init__(
        self,
        hub: Hub,
        archs: list[Architecture],
        previous: dict[str, CatalogEntry],
        max_params: int,
        max_configs: int,
        late: Callable[[], bool] = lambda: False,
    ) -> None:
        self.hub, self.previous, self.late = hub, previous, late
        self.by_type: dict[str, list[Architecture]] = {}
        for a in archs:
            self.by_type.setdefault(a.model_type, []).append(a)
        self.archs = {a.id: a for a in archs}
        self.max_params, self.budget = max_params, max_configs
        self.reading = True
        self.recent: deque[bool] = deque(maxlen=STALL_WINDOW)  # True: the read got no answer
        self.config_requests = 0
        self.config_timeouts = 0  # config reads that got no answer
        self.out_of_time = False  # the time budget ended the config reads
        self.skipped: Counter[str] = Counter()  # model_type candidates ruled out, not kept

    def home(self, c: Candidate) -> Architecture | None:
        """The architecture an entry is filed under before its config is known."""
        if c.claim is not None:
            return c.claim
        group = self.by_type.get(c.listing.model_type or "")
        return group[0] if group else None

    def __call__(self, c: Candidate) -> CatalogEntry | None:
        """The candidate's catalog entry, None when the catalog keeps none."""
        verdict = self.verdict(c)
        if verdict.entry is None and verdict.reason is not None:
            self.skipped[verdict.reason] += 1
        return verdict.entry

    def verdict(self, c: Candidate) -> Verdict:
        """What the crawl's rules make of the candidate (one config read at most)."""
        arch = self.home(c)
        if arch is None:
            return Verdict("untracked")
        reason = self._listing_reason(c)
        if reason is not None:
            if c.found_by == "config" and not c.base:  # never shown to belong: not kept
                return Verdict("excluded", reason, None, arch)
            return _verdict(c, arch, "excluded", reason, None)
        old = self.previous.get(c.listing.model_id)
        if old is not None and old.sha == c.listing.sha and old.status in ("ok", "excluded"):
            home = self.archs.get(old.architecture, arch)  # classified at this sha: reuse it
            return _verdict(c, home, old.status, old.reason, old.detail)
        if c.found_by == "legacy":
            return _verdict(c, arch, "ok", None, "a 2023 ranking member")
        if not self.reading or self.budget <= 0:
            return _verdict(c, arch, "unclassified", PENDING, None)
        if self.late():
            self.reading = False
            self.out_of_time = True
            return _verdict(c, arch, "unclassified", PENDING, None)
        return self._read(c, arch)

    def _listing_reason(self, c: Candidate) -> str | None:
        """Why the listing alone rules the candidate out (a model_type candidate also when no
        architecture of its type has a size near its listed one), else None."""
        reason = classify.listing_reason(c.listing, c.claim, max_params=self.max_params)
        if reason is None and c.claim is None:
            group = self.by_type.get(c.listing.model_type or "", [])
            params = classify.listed_params(c.listing)
            if not any(classify.plausible_size(params, a) for a in group):
                reason = "size-mismatch"
        return reason

    def _read(self, c: Candidate, arch: Architecture) -> Verdict:
        """One config.json read at the listed sha, and what it says."""
        self.budget -= 1
        self.config_requests += 1
        try:
            config = self.hub.config(c.listing.model_id, c.listing.sha)
        except HubFailure as exc:
            self._answered(exc.reason not in _UNANSWERED)
            if exc.reason is Reason.RATE_LIMITED:
                raise RunFailure(
                    f"the hub kept refusing config reads for its rate limit ({exc})", Reason.QUOTA
                ) from None
            if exc.transient:
                return _verdict(c, arch, "unclassified", PENDING, str(exc))
            why = _EXCLUDED_BY.get(exc.reason, "no-config")
            return _verdict(c, arch, "excluded", why, str(exc))
        self._answered(True)
        candidates = self.by_type.get(str(config.get("model_type")), [])
        match = next((a for a in candidates if a.matches(config)), None)
        home = match or arch
        detail = describe_dims(config_dims(config))
        why = classify.config_reason(config, home)
        return _verdict(c, home, "excluded" if why else "ok", why, detail)

    def _answered(self, answered: bool) -> None:
        """Keep the last reads' outcomes; stop the crawl when most of them got no answer."""
        self.recent.append(not answered)
        if not answered:
            self.config_timeouts += 1
        silent = sum(self.recent)
        if silent > (self.recent.maxlen or STALL_WINDOW) // 2:
            raise RunFailure(
                f"the hub is not answering config reads: {silent} of the last "
                f"{len(self.recent)} timed out or lost their connection",
                Reason.HUB_DOWN,
            )


def _verdict(
    c: Candidate, arch: Architecture, status: str, reason: str | None, detail: str | None
) -> Verdict:
    return Verdict.of(entry(c, arch, status, reason, detail), arch)
