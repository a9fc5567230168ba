"""A repo's files as the tree API lists them, and the integrity checks of downloaded bytes.

`parse_tree_entry` is pure; `verify` reads (and on a mismatch deletes) a local file we just
downloaded. A file's bytes are checked against the tree's `lfs.oid` (sha256) or git blob id,
and a small file's against the hash the hub sends with it (`ETag`, as huggingface_hub reads
it), before anything uses them: a mismatch is transient (INTEGRITY), never the model's fault.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ranker.errors import HubFailure, Reason
from ranker.hub.wire import Bad, count
from ranker.repofiles import is_safe_path, is_sha, is_sha256


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


def parse_tree_entry(entry: Any) -> RepoFile | None:
    """A tree entry as a RepoFile; None for folders, odd entries and unsafe paths (a path we
    could never fetch safely is left out; the model is not refused for it). A safe path with
    a malformed hash or size is kept, marked with its `problem`."""
    if not isinstance(entry, dict) or entry.get("type") != "file":
        return None
    path = entry.get("path")
    if not is_safe_path(path):
        return None
    try:
        size = count(entry, "size")
        blob = entry.get("oid")
        if size is None or not is_sha(blob):
            raise Bad("missing size or oid")
        lfs = entry.get("lfs")
        sha256 = None
        if lfs is not None:
            oid = lfs.get("oid") if isinstance(lfs, dict) else None
            if not is_sha256(oid):
                raise Bad("lfs.oid is not a sha256")
            sha256 = oid
            size = count(lfs, "size") or size
    except Bad as exc:
        return RepoFile(path=path, size=0, blob_id="", problem=f"tree: {path}: {exc}")
    return RepoFile(path=path, size=size, blob_id=blob, sha256=sha256)


def etag_hash(value: str | None) -> str | None:
    """A hash from an ETag header as huggingface_hub normalises it (no `W/`, no quotes)."""
    if not value:
        return None
    value = value.strip().removeprefix("W/").strip('"').lower()
    return value if is_sha(value) or is_sha256(value) else None


def matches(body: bytes, want: str) -> bool:
    """Whether `body` has the hash `want`: a sha256 (64 hex) or a git blob id (40 hex)."""
    if len(want) == 64:
        return hashlib.sha256(body).hexdigest() == want
    return hashlib.sha1(b"blob %d\0" % len(body) + body).hexdigest() == want


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
