"""The crawl's listings, page by page: what a listing that fails midway keeps, and where the
next run picks it up.

A big model_type listing is dozens of pages; one page that still fails after the door's
retries must not throw away the pages before it (nor the lineage listings read before it).
So each listing keeps every row it got, and remembers the cursor of the page that failed (the
`Link: rel="next"` URL the hub gave, `Page.next`) in `data/crawl_state.json`; the next run
starts that listing there. A listing that was not read in full from its first page this run
(it failed, it resumed from a cursor, the time budget ended it) is *partial*: its rows are
classified, but nothing of its architectures is marked removed for not being in it.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from ranker.crawl.summary import CrawlSummary
from ranker.errors import HubFailure, Reason, RunFailure
from ranker.hub import Hub, Listing, Rejected


class Unreachable(Exception):
    """The crawl's very first page could not be had: nothing else would get through."""

    def __init__(self, failure: HubFailure) -> None:
        super().__init__(str(failure))
        self.failure = failure


class Lister:
    """Reads each listing once per crawl, keeping what it got when a page fails.

    `cursors` (tag -> URL of the page to start at) comes from the store and is updated in
    place of a listing read: set to the failed page's URL, cleared when a listing reaches its
    end. A run-level failure (quota, token) is not raised here but kept in `stop` after the
    rows read so far, so that the caller can keep them; `late()` says the time budget is spent.
    """

    def __init__(
        self,
        hub: Hub,
        summary: CrawlSummary,
        cursors: dict[str, str],
        late: Callable[[], bool] = lambda: False,
    ) -> None:
        self.hub = hub
        self.summary = summary
        self.cursors = dict(cursors)
        self.late = late
        self.cache: dict[str, list[Listing]] = {}
        self.partial: set[str] = set()  # tags not read in full, from the first page, this run
        self.failed: dict[str, str] = {}  # tag -> why its listing stopped midway
        self.stop: RunFailure | None = None
        self.answered = False  # some page of this crawl was answered

    def __call__(self, tag: str) -> list[Listing]:
        if tag in self.cache:
            return self.cache[tag]
        rows: list[Listing] = []
        self.cache[tag] = rows
        if self.stop is not None or self.late():
            self.partial.add(tag)  # not read at all this run; its cursor stays as it was
            self.summary.out_of_time |= self.stop is None
            return rows
        self.summary.listings += 1
        start = self.cursors.get(tag)
        if start is not None:
            self.summary.resumed.append(tag)
        try:
            self._read(tag, start, rows)
        except _StaleCursor:
            # a saved cursor the hub no longer takes (expired, or another hub's): start over;
            # a request of ours the hub refused is our fault, never a reason to stop every run
            self.cursors.pop(tag, None)
            self.summary.resumed.remove(tag)
            self.partial.discard(tag)
            self._read(tag, None, rows)
        return rows

    def _read(self, tag: str, start: str | None, rows: list[Listing]) -> None:
        at = start  # the URL of the page being asked for (None: the first page)
        if start is not None:
            self.partial.add(tag)  # the pages before the cursor are not read this run
        try:
            for page in self.hub.list_pages(tag, start=start):
                self.answered = True
                self.summary.pages += 1
                self._take(page.rows, rows)
                at = page.next
                if at is not None and self.late():
                    self.summary.out_of_time = True
                    self._stopped_at(tag, at)
                    return
        except HubFailure as exc:
            if start is not None and at == start and not exc.transient:
                raise _StaleCursor from None
            if not self.answered and exc.transient:
                raise Unreachable(exc) from None
            self.failed[tag] = str(exc)
            self._stopped_at(tag, at)
            return
        except RunFailure as exc:
            if start is not None and at == start and exc.reason is Reason.BAD_REQUEST:
                raise _StaleCursor from None
            self.stop = exc
            self._stopped_at(tag, at)
            return
        self.cursors.pop(tag, None)  # read to its end: the next run starts at the first page

    def _stopped_at(self, tag: str, at: str | None) -> None:
        self.partial.add(tag)
        if at is None:
            self.cursors.pop(tag, None)  # the first page failed: start there next run
        else:
            self.cursors[tag] = at
            self.summary.saved.append(tag)

    def _take(self, page: list[Listing | Rejected], rows: list[Listing]) -> None:
        for row in page:
            if isinstance(row, Rejected):
                self.summary.rejected[row.model_id or row.problem] = row.problem
            else:
                if row.problems:  # values the door dropped (a malformed tag): listed anyway
                    self.summary.repaired[row.model_id] = "; ".join(row.problems)
                rows.append(row)


class _StaleCursor(Exception):
    """The first page asked for at a saved cursor was refused outright (not a passing fault)."""


def deadline_check(deadline: float | None, clock: Callable[[], float] = time.monotonic):
    """A `late()` for `Lister` and the classifier: True once `clock()` reaches `deadline`."""
    if deadline is None:
        return lambda: False
    return lambda: clock() >= deadline
