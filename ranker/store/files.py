"""The store's file primitives: atomic replace, durable append, torn-tail repair, stale temps.

Why here, apart from the formats: every file of `data/` is written by one of these two ways
(a whole-file replace that a reader sees old or new, never half; or one appended line that a
crash can at worst leave torn), and every read of a file from outside goes through the same
checks (UTF-8, size, line length), so each rule exists once.
"""

from __future__ import annotations

import contextlib
import gc
import json
import os
import re
import tempfile
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from ranker.errors import StoreError
from ranker.store.limits import MAX_LINE


def fsync_dir(path: Path) -> None:
    """Make a rename or a new file in folder `path` durable (the entry is the folder's data)."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


# Temp files of atomic writes: `.{name}.{pid}.{random}.tmp` (before the pid was added:
# `.{name}.{random}.tmp`). A write killed between mkstemp and rename leaves one behind.
STALE_TEMP_AGE = 3600.0  # seconds: older than this, a temp file is stale whoever wrote it
STALE_TEMP_GRACE = 60.0  # seconds: a temp file of a dead writer is left alone this long


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


FILE_MODE = 0o666 & ~_umask()


def _pid_alive(pid: int) -> bool:
    """Whether a process `pid` exists on this machine (signal 0 checks without sending)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, OverflowError):
        return False
    except OSError:
        return True  # EPERM: it exists, it is someone else's
    return True


def remove_stale_temps(path: Path, *, now: float | None = None) -> list[Path]:
    """Delete the temp files that killed atomic writes of `path` left; return what went.

    A temp file is stale when it is older than `STALE_TEMP_AGE`, or when the process named in
    its name is gone and it is older than `STALE_TEMP_GRACE` (the grace spares a writer in
    another PID namespace sharing the folder). Temp files of other targets are never touched.
    """
    now = time.time() if now is None else now
    prefix, suffix = f".{path.name}.", ".tmp"
    removed = []
    try:
        candidates = list(path.parent.iterdir())
    except OSError:
        return []
    for tmp in candidates:
        name = tmp.name
        if not (name.startswith(prefix) and name.endswith(suffix)):
            continue
        middle = name[len(prefix) : -len(suffix)]
        with_pid = re.fullmatch(r"(\d+)\.[^.]+", middle)
        if with_pid is None and re.fullmatch(r"[^.]+", middle) is None:
            continue  # a temp file of another target, e.g. `.{name}.bak.{random}.tmp`
        try:
            stat = tmp.lstat()
        except OSError:
            continue
        age = now - stat.st_mtime
        dead = with_pid is not None and not _pid_alive(int(with_pid.group(1)))
        if age > STALE_TEMP_AGE or (dead and age > STALE_TEMP_GRACE):
            with contextlib.suppress(OSError):
                tmp.unlink()
                removed.append(tmp)
    return removed


def atomic_write_text(path: Path, text: str) -> None:
    """Replace `path` with `text` so that a reader sees the old file or the new, never half.

    First removes the stale temp files of earlier writes of `path` that were killed midway.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temps(path)
    fd, tmp = tempfile.mkstemp(
        prefix=f".{path.name}.{os.getpid()}.", suffix=".tmp", dir=path.parent
    )
    try:
        os.fchmod(fd, FILE_MODE)  # mkstemp makes 0600; stored files are ordinary files
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)  # the rename itself: without it a crash can bring back the old file


class TornLineWarning(UserWarning):
    """A JSON Lines file ends in a torn line: an append cut short (a crash, a full disk)."""


def warn_torn(path: Path, line: int, size: int, action: str, stacklevel: int = 3) -> None:
    warnings.warn(
        f"{path}:{line}: {action} a torn last line ({size} bytes, no newline, not JSON): "
        "an append that did not finish",
        TornLineWarning,
        stacklevel=stacklevel,
    )


def repair_tail(fd: int, path: Path) -> bytes:
    """Make the file open as `fd` (read-write) end at a line end; return what must precede the
    next line. A last line without a newline that is JSON (e.g. a hand-edited file) is kept and
    gets its newline; one that is not (a torn append) is cut off, with a `TornLineWarning`."""
    size = os.fstat(fd).st_size
    if size == 0 or os.pread(fd, 1, size - 1) == b"\n":
        return b""
    start, chunk = size, 64 * 1024
    while start > 0:  # back to the last newline, a chunk at a time
        begin = max(0, start - chunk)
        found = os.pread(fd, start - begin, begin).rfind(b"\n")
        if found >= 0:
            start = begin + found + 1
            break
        start = begin
    tail = os.pread(fd, size - start, start)
    try:
        json.loads(tail)
        return b"\n"
    except ValueError:  # JSONDecodeError, or bytes that are not UTF-8
        pass
    line = os.pread(fd, start, 0).count(b"\n") + 1
    os.ftruncate(fd, start)
    warn_torn(path, line, len(tail), "removed")
    return b""


def append_line(path: Path, line: str) -> None:
    """Append one line (ending in a newline) to `path`, creating it, durably: one write() with
    O_APPEND, then fsync, so a crash leaves at most a torn last line (no newline), which a
    read ignores and the next append first removes (`repair_tail`).

    O(1) whatever the file's size: nothing else in it is read or rewritten. The caller holds
    whatever lock excludes other writers of `path` (`Store` holds its results lock)."""
    if not line.endswith("\n") or "\n" in line[:-1]:
        raise ValueError("expected exactly one line, ending in a newline")
    path.parent.mkdir(parents=True, exist_ok=True)
    created = not path.exists()
    fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, FILE_MODE)
    try:
        data = memoryview(repair_tail(fd, path) + line.encode("utf-8"))
        while data:  # a regular file takes it in one write; loop in case it does not
            data = data[os.write(fd, data) :]
        os.fsync(fd)
    finally:
        os.close(fd)
    if created:
        fsync_dir(path.parent)


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while a load makes its records: each of 100k records
    is ~40 tracked objects, so collections ran again and again over everything loaded so far
    (a quarter of a 100k load), and records hold no cycles for them to find."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def open_binary(path: Path, *, missing_ok: bool = False) -> BinaryIO | None:
    """`path` open for reading bytes; a missing (unless `missing_ok`: None), unreadable or
    folder path is a StoreError naming it. The one wording of these errors."""
    try:
        return path.open("rb")
    except FileNotFoundError:
        if missing_ok:
            return None
        raise StoreError(path, "file not found") from None
    except IsADirectoryError:
        raise StoreError(path, "is a directory, expected a file") from None
    except OSError as exc:
        raise StoreError(path, f"cannot read: {exc.strerror}") from None


def read_text_file(path: Path | str, *, max_bytes: int | None = None, lossy: bool = False) -> str:
    """A UTF-8 text file; a missing, unreadable or (unless `lossy`) non-UTF-8 file is a
    StoreError naming it. With `max_bytes`, at most that many bytes and one more are read (a
    longer file gives a longer text, for the caller's own limit to refuse); with `lossy`,
    bytes that are not UTF-8 become U+FFFD (an issue body: no id holds one)."""
    path = Path(path)
    fh = open_binary(path)
    assert fh is not None
    with fh:
        data = fh.read() if max_bytes is None else fh.read(max_bytes + 1)
    if lossy:
        return data.decode("utf-8", errors="replace")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise StoreError(path, f"not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    return universal_newlines(text)


def universal_newlines(text: str) -> str:
    """`text` with "\\r\\n" and "\\r" as "\\n", as Python's text mode reads a file."""
    return text.replace("\r\n", "\n").replace("\r", "\n") if "\r" in text else text


def read_appended(path: Path, *, required: bool = False) -> str | None:
    """The text of a file that grows by appends (None if it does not exist, unless `required`).

    As `read_text_file`, except that bytes that are not UTF-8 in a last line with no newline
    that is not JSON are a torn append cut inside a character, not an error: that line is
    decoded with replacement characters, for `parse_jsonl(torn_tail=True)` to leave out."""
    fh = open_binary(path, missing_ok=not required)
    if fh is None:
        return None
    with fh:
        data = fh.read()
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        cut = data.rfind(b"\n") + 1
        bad = StoreError(path, f"not UTF-8 text ({exc.reason} at byte {exc.start})")
        if exc.start < cut:
            raise bad from None
        tail = data[cut:].decode("utf-8", errors="replace")
        try:
            json.loads(tail)
        except ValueError:
            return data[:cut].decode("utf-8") + tail
        raise bad from None


def check_line_sizes(path: Path | str, *, max_line: int = MAX_LINE) -> None:
    """Refuse (StoreError, file and line) a file with a line longer than `max_line` bytes (its
    newline counted), reading it a chunk at a time: a file from outside the store (a shard's)
    is refused before a line of 110 MB is read whole, let alone parsed."""
    path = Path(path)
    fh = open_binary(path)
    assert fh is not None
    with fh:
        line, run = 1, 0
        while chunk := fh.read(1 << 20):
            start = 0
            while (end := chunk.find(b"\n", start)) >= 0:
                if run + end - start + 1 > max_line:
                    break
                line, run, start = line + 1, 0, end + 1
            else:
                run += len(chunk) - start
                if run <= max_line:
                    continue
            raise StoreError(path, f"a line of more than {max_line:,} bytes", line=line)
