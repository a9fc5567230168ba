"""The loopback hub's fault injection: what a test asks to go wrong, and the matching of it.

`FakeHub` mixes this in; its docstring lists the faults. Request faults ("status", "stall",
"drop") act before a route answers, content faults ("truncate", "corrupt") on the bytes a GET
serves; a fault fires `times` times (None: every time).
"""

from __future__ import annotations

import math
import threading
from typing import Any

from ranker.testing.repos import REQUEST_FAULTS, Fault


class FaultInjection:
    """The faults half of `FakeHub`: injecting faults, matching them, releasing stalls."""

    lock: threading.RLock
    faults: list[Fault]
    corrupt: set[str]  # repos whose `*.safetensors` are served with a garbled header
    listing_overrides: dict[tuple[str, str], dict[str, Any]]

    def __init__(self) -> None:
        self.faults = []
        self.corrupt = set()
        self.listing_overrides = {}
        self._release = threading.Event()  # set: stalled requests give up without answering

    def inject(self, fault: Fault) -> Fault:
        with self.lock:
            self.faults.append(fault)
        return fault

    def fail(self, status: int, **where: Any) -> Fault:
        """Answer `status` (with `retry_after`: Retry-After, and RateLimit for a 429)."""
        return self.inject(Fault(kind="status", status=status, **where))

    def stall(self, seconds: float = math.inf, **where: Any) -> Fault:
        """Wait `seconds` before answering; `math.inf` (the default) never answers. stop(),
        reset() and clear_faults() release stalled requests, which then close unanswered."""
        return self.inject(Fault(kind="stall", seconds=seconds, **where))

    def drop(self, times: int | None = 1, **where: Any) -> Fault:
        """Close the connection without any response (e.g. route="HEAD /{repo}/resolve")."""
        return self.inject(Fault(kind="drop", times=times, **where))

    def truncate(self, repo: str, path: str, times: int | None = 1) -> Fault:
        """Send half the body under the full Content-Length (wherever the bytes are served:
        the CDN for LFS files, the resolver for small ones)."""
        return self.inject(Fault(kind="truncate", repo=repo, path=path, times=times))

    def corrupt_bytes(self, repo: str, path: str, times: int | None = 1) -> Fault:
        """Serve `path` `times` times with a few bytes changed inside the tensor data (after
        the safetensors header; mid-file for pickle), same length; X-Linked-Etag from the
        resolver and the tree's `lfs.oid` still name the true sha256. Then the true bytes."""
        return self.inject(Fault(kind="corrupt", repo=repo, path=path, times=times))

    def set_listing_field(
        self, repo: str, field: str, value: Any, repo_type: str = "model"
    ) -> None:
        """Make listing and info rows of `repo` carry `field` = `value`, raw and as given
        (downloads="lots", lastModified="yesterday", sha="../../x", ...), wherever the field
        is asked for (expand, full, or a plain model_info)."""
        with self.lock:
            self.listing_overrides.setdefault((repo_type, repo), {})[field] = value

    def corrupt_safetensors(self, repo: str) -> None:
        """Serve this repo's `*.safetensors` files with a garbled header (listing unchanged)."""
        self.corrupt.add(repo)

    def clear_faults(self) -> None:
        """Remove every fault and listing override; release stalled requests."""
        with self.lock:
            self.faults.clear()
            self.corrupt.clear()
            self.listing_overrides.clear()
            self._release.set()
            self._release = threading.Event()

    def release_stalls(self) -> None:
        """Release every stalled request, and any that stalls until `arm_stalls()` (stop)."""
        self._release.set()

    def arm_stalls(self) -> None:
        """Stalls hold their requests again (start)."""
        self._release = threading.Event()

    def fault_for(
        self,
        route: str,
        repo: str | None,
        path: str | None,
        query: str,
        kinds: tuple[str, ...] = REQUEST_FAULTS,
    ) -> Fault | None:
        """The first live fault of one of `kinds` matching the request (it fires once)."""
        with self.lock:
            for fault in self.faults:
                if fault.kind in kinds and fault.matches(route, repo, path, query):
                    fault.fired += 1
                    return fault
        return None

    def wait_stall(self, seconds: float) -> bool:
        """A stall: True when released early (stop, reset), False after `seconds`."""
        event = self._release
        return event.wait(None if math.isinf(seconds) else seconds)
