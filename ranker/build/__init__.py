"""The site stage: read the store, render the static site.

Files are written one by one, as they are produced, into a hidden fresh folder beside the
output; only a finished build replaces the old output, in one rename. A failed build, or one
stopped by SIGTERM or Ctrl-C, removes its folder and leaves the old site in place. Memory does
not hold the site: the build keeps per-model tables, never the pages.
"""

from __future__ import annotations

import contextlib
import gzip
import io
import os
import shutil
import signal
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from ranker.build.site import render_site
from ranker.errors import RankerError
from ranker.store import Store

MARKER = ".ranker-site"


@dataclass(frozen=True)
class BuildReport:
    out: Path
    pages: int
    models: int
    files: int
    bytes: int
    seconds: float
    largest_page: str = ""
    largest_page_bytes: int = 0


class SiteWriter:
    """Writes the site's files under `root` as they come, and counts them."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.files = 0
        self.bytes = 0
        self.largest_page = ("", 0)
        self._folders: set[Path] = set()

    def _target(self, rel: str) -> Path:
        target = self.root / rel
        if target.parent not in self._folders:
            target.parent.mkdir(parents=True, exist_ok=True)
            self._folders.add(target.parent)
        return target

    def _count(self, rel: str, size: int) -> None:
        self.files += 1
        self.bytes += size
        if rel.endswith(".html") and size > self.largest_page[1]:
            self.largest_page = (rel, size)

    def write(self, rel: str, content: bytes | str) -> None:
        data = content.encode() if isinstance(content, str) else content
        with open(self._target(rel), "wb") as fh:
            fh.write(data)
        self._count(rel, len(data))

    @contextlib.contextmanager
    def stream(self, rel: str) -> Iterator[IO[str]]:
        """A text file written piece by piece (a download of every model); gzip-compressed
        (reproducibly: no time stamp) when `rel` ends in .gz."""
        target = self._target(rel)
        if rel.endswith(".gz"):
            with (
                open(target, "wb") as raw,
                gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) as packed,
                io.TextIOWrapper(packed, encoding="utf-8", newline="") as fh,
            ):
                yield fh
        else:
            with open(target, "w", encoding="utf-8", newline="") as fh:
                yield fh
        self._count(rel, target.stat().st_size)


class BuildTerminated(SystemExit):
    """SIGTERM during a build: raised in the build so that it cleans up, then exits 143."""


@contextlib.contextmanager
def _terminate_cleanly() -> Iterator[dict[str, bool]]:
    """While the build runs, SIGTERM raises BuildTerminated (so `finally` and `except` run);
    inside `state["critical"]` (the swap) it is only noted and re-sent once the swap is done.
    The previous handler comes back afterwards. Only the main thread can set handlers; in
    another thread the build runs without one."""
    state = {"critical": False, "pending": False}
    if threading.current_thread() is not threading.main_thread():
        yield state
        return

    def handler(signum: int, frame: Any) -> None:
        if state["critical"]:
            state["pending"] = True
            return
        raise BuildTerminated(128 + signum)

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield state
    finally:
        signal.signal(signal.SIGTERM, previous)
        if state["pending"]:
            os.kill(os.getpid(), signal.SIGTERM)  # the finished build stands; now stop


def _check_output(out: Path) -> None:
    if out.exists() and not out.is_dir():
        raise RankerError(f"{out}: output path exists and is not a folder")
    if out.is_dir() and any(out.iterdir()) and not (out / MARKER).exists():
        raise RankerError(f"{out}: folder is not empty and was not built by ranker; not replacing")


def _swap(tmp: Path, out: Path) -> None:
    old = None
    if out.exists():
        old = out.with_name(f".{out.name}.old.{os.getpid()}")
        out.rename(old)
    tmp.rename(out)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def build_site(
    data: Path | str, out: Path | str, site_url: str | None = None, repo_url: str | None = None
) -> BuildReport:
    """Build the site from the store at `data` into `out`.

    `site_url` is the public address the site is served from; badges' Markdown snippets need it.
    `repo_url` is the site's source repository (https): the pages link it and its request form;
    without it they say in words where requests go.
    """
    start = time.perf_counter()
    out = Path(out)
    store = Store(data)
    store.check()
    _check_output(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with _terminate_cleanly() as state:
        tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
        try:
            writer = SiteWriter(tmp)
            pages, models = render_site(
                store, site_url or os.environ.get("RANKER_SITE_URL"), writer, repo_url
            )
            writer.write(MARKER, "built by ranker; replaced on every build\n")
            os.chmod(tmp, 0o755)  # mkdtemp makes 0700; the site is served to everyone
            state["critical"] = True
            _swap(tmp, out)
        except BaseException:
            state["critical"] = True  # another SIGTERM waits until the folder is gone
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        finally:
            state["critical"] = False
    return BuildReport(
        out=out,
        pages=pages,
        models=models,
        files=writer.files,
        bytes=writer.bytes,
        seconds=time.perf_counter() - start,
        largest_page=writer.largest_page[0],
        largest_page_bytes=writer.largest_page[1],
    )


__all__ = ["BuildReport", "SiteWriter", "build_site"]
