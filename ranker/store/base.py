"""The store's root: its folder, its one write lock, and reading and writing its files whole.

Every part of the store (`catalog`, `results`, `requests`, `legacy`, `state`) is a mixin over
`StoreBase`, so `ranker.store.Store` is one object with one lock over one folder.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import threading
import warnings
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from ranker.errors import StoreError
from ranker.store.codec import canonical, check_storable, parse_jsonl
from ranker.store.files import atomic_write_text, universal_newlines
from ranker.store.limits import KeptLine, KeptLineWarning, keep_lines, kept_text


class StoreBase:
    """A store rooted at a data directory (by default the repo's `data/`)."""

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root)
        self._mutex = threading.RLock()  # the threads of this process, before the flock
        self._depth = 0  # how deep this Store holds `lock` (it is re-entrant)

    def __getstate__(self) -> dict[str, Any]:
        return {"root": self.root}  # a lock is not sent (e.g. to a worker process)

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["root"])  # type: ignore[misc]

    @contextlib.contextmanager
    def lock(self) -> Iterator[None]:
        """Hold the store's one write lock: every writer of `data/` takes it (the results, the
        catalog, the requests, the MNLI pin, the crawl state), so a read-modify-write of one
        never interleaves with another's in any process. A caller that reads, decides and
        writes (e.g. a request check that updates the catalog and the queue) holds it around
        all three: it is re-entrant in one `Store`. flock on the data folder itself (no lock
        file to commit); a crashed holder's lock goes with its process. Two `Store` objects of
        one folder in one thread must not nest it (flock would wait on itself)."""
        with self._mutex:
            if self._depth:
                self._depth += 1
                try:
                    yield
                finally:
                    self._depth -= 1
                return
            self.root.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.root, os.O_RDONLY | os.O_DIRECTORY)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
                self._depth = 1
                try:
                    yield
                finally:
                    self._depth = 0
            finally:
                os.close(fd)  # releases the lock

    def path(self, name: str) -> Path:
        return self.root / name

    def check(self) -> None:
        """Fail early, with the path, when the data directory is missing or unreadable."""
        if not self.root.exists():
            raise StoreError(self.root, "data directory not found")
        if not self.root.is_dir():
            raise StoreError(self.root, "not a directory")
        if not os.access(self.root, os.R_OK | os.X_OK):
            raise StoreError(self.root, "data directory is not readable")

    def _read_text(self, name: str, *, required: bool = True) -> str | None:
        path = self.path(name)
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            if required:
                self.check()
                raise StoreError(path, "file not found") from None
            return None
        except OSError as exc:
            raise StoreError(path, f"cannot read: {exc.strerror}") from None
        try:
            return universal_newlines(data.decode("utf-8"))
        except UnicodeDecodeError as exc:
            raise StoreError(path, f"not UTF-8 text ({exc.reason} at byte {exc.start})") from None

    def _read_jsonl(self, name: str, record: type, kept: list[KeptLine] | None = None) -> list[Any]:
        """The records of a JSON Lines file of the store; the lines kept as written (a newer
        schema, out of range) go to `kept` with a warning (a list is made when none is given:
        a store's own file never fails on one)."""
        text = self._read_text(name, required=False)
        if text is None:
            return []
        kept = [] if kept is None else kept
        return [r for _, r in parse_jsonl(self.path(name), text, record, kept=kept)]

    def _kept_lines(self, name: str, record: type) -> list[KeptLine]:
        """The lines of a file of the store that a rewrite must write back (`KeptLine`)."""
        kept: list[KeptLine] = []
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", KeptLineWarning)  # the reads warn about them
            self._read_jsonl(name, record, kept)
        return kept

    def _checked(self, name: str, record: type, records: Iterable[Any]) -> list[Any]:
        """`records` as a list, each shown to read back as itself; else StoreError, no write."""
        path = self.path(name)
        out = list(records)
        for r in out:
            if type(r) is not record:
                kind = f"expected a record of type {record.__name__}, got {type(r).__name__}"
                raise StoreError(path, kind)
            check_storable(path, r)
        return out

    def _write_jsonl(self, name: str, record: type, records: Iterable[Any]) -> None:
        """Replace a JSON Lines file of the store with `records` (in order), then the lines it
        keeps as written (`keep_lines`). The caller holds the lock."""
        records = list(records)
        kept = keep_lines(self._kept_lines(name, record), (r.key for r in records))
        lines = "".join(canonical(r) + "\n" for r in records)
        atomic_write_text(self.path(name), lines + kept_text(kept))
