"""The request queue: `requests.jsonl`, one accepted `ModelRequest` a line.

Keyed by (issue, model_id), sorted by that key; written by `ranker request` (`ranker.requests`)
and read by `pipeline.pending`. Only accepted requests are stored: an invalid id, an unknown
model or an excluded one is answered on its issue and never written here.
"""

from __future__ import annotations

from collections.abc import Iterable

from ranker.errors import StoreError
from ranker.records import ModelRequest
from ranker.store.base import StoreBase
from ranker.store.codec import first_difference, parse_jsonl
from ranker.store.merging import MergeCounts, merge_keyed, request_precedence


class RequestsStore(StoreBase):
    """The request-queue part of `ranker.store.Store`."""

    REQUESTS = "requests.jsonl"

    def has_requests(self) -> bool:
        """Whether the store has a request queue file (even an empty one)."""
        return self.path(self.REQUESTS).is_file()

    def requests(self) -> list[ModelRequest]:
        """The request queue (empty when the file does not exist), each line validated."""
        path = self.path(self.REQUESTS)
        text = self._read_text(self.REQUESTS, required=False)
        out: dict[tuple[int, str], ModelRequest] = {}
        for number, request in parse_jsonl(path, text or "", ModelRequest, kept=[]):
            if request.key in out:
                raise StoreError(path, f"request {request.key} is listed twice", line=number)
            out[request.key] = request
        return list(out.values())

    def write_requests(self, requests: Iterable[ModelRequest]) -> None:
        """Replace the request queue; a record that would not read back raises StoreError."""
        checked = {r.key: r for r in self._checked(self.REQUESTS, ModelRequest, requests)}
        with self.lock():
            self._write_jsonl(
                self.REQUESTS, ModelRequest, sorted(checked.values(), key=lambda r: r.key)
            )

    def save_request(self, request: ModelRequest) -> None:
        """Add one request, replacing the stored one with the same (issue, model_id)."""
        with self.lock():  # the read and the write as one
            kept = [r for r in self.requests() if r.key != request.key]
            self.write_requests([*kept, request])

    def merge_requests(self, requests: Iterable[ModelRequest]) -> MergeCounts:
        """Fold another copy's request queue into this one, keyed by (issue, model id).

        A request only on one side is kept (one asked on main during the night survives); for
        one on both sides, a replied request wins over a queued one (a reply is never undone),
        then the later `replied_at`, then the greater canonical JSON. Idempotent; each request
        checked as `write_requests` checks it, nothing written when one is bad."""
        incoming: dict[tuple[int, str], ModelRequest] = {}
        for request in requests:
            if type(request) is not ModelRequest:
                kind = type(request).__name__
                raise StoreError(self.path(self.REQUESTS), f"expected a ModelRequest, got {kind}")
            earlier = incoming.setdefault(request.key, request)
            if earlier != request:
                raise StoreError(self.path(self.REQUESTS),
                                 f"request {request.key!r} is listed twice, differently",
                                 field=first_difference(earlier, request))  # fmt: skip
        with self.lock():
            stored = {r.key: r for r in self.requests()}
            counts, merged = merge_keyed(stored, incoming, request_precedence)
            if counts.new or counts.replaced:
                self.write_requests(merged.values())
        return counts
