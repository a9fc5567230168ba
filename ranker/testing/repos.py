"""What the loopback hub holds: repos (files, metadata, past revisions) and injected faults."""

from __future__ import annotations

import hashlib
import json
import struct
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

LFS_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth", ".h5", ".msgpack", ".onnx", ".gguf", ".ckpt")
DEFAULT_PAGE_SIZE = 1000


def git_blob_sha(data: bytes) -> str:
    """The git object id of a blob, as the hub reports for non-LFS files."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def safetensors_params(data: bytes) -> dict[str, int] | None:
    """Parameter counts per dtype from a safetensors header; None when it is not readable."""
    try:
        (n,) = struct.unpack("<Q", data[:8])
        header = json.loads(data[8 : 8 + n])
        counts: Counter[str] = Counter()
        for name, spec in header.items():
            if name == "__metadata__":
                continue
            size = 1
            for dim in spec["shape"]:
                size *= int(dim)
            counts[spec["dtype"]] += size
        return dict(counts)
    except (struct.error, ValueError, KeyError, TypeError, AttributeError):
        return None


def iso(ts: datetime) -> str:
    return ts.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")


@dataclass
class HubRepo:
    """One repo as the hub holds it: current files and metadata, and every past revision."""

    id: str
    files: dict[str, bytes]
    repo_type: str = "model"
    sha: str = ""
    tags: list[str] = field(default_factory=list)
    last_modified: datetime = field(default_factory=lambda: datetime(2024, 1, 1, tzinfo=UTC))
    created_at: datetime = field(default_factory=lambda: datetime(2023, 1, 1, tzinfo=UTC))
    downloads: int = 0
    likes: int = 0
    library_name: str | None = "transformers"
    pipeline_tag: str | None = None
    card_data: dict[str, Any] | None = None
    gated: str | bool = False  # False, "auto" or "manual"
    private: bool = False
    disabled: bool = False
    revisions: dict[str, dict[str, bytes]] = field(default_factory=dict)  # sha -> files

    def __post_init__(self) -> None:
        if not self.sha:
            self.sha = self.make_sha()
        self.revisions[self.sha] = dict(self.files)

    def make_sha(self) -> str:
        digest = hashlib.sha1(f"{self.repo_type}:{self.id}:{len(self.revisions)}".encode())
        for name in sorted(self.files):
            digest.update(name.encode() + b"\0" + hashlib.sha1(self.files[name]).digest())
        return digest.hexdigest()

    @property
    def config(self) -> dict[str, Any] | None:
        raw = self.files.get("config.json")
        if raw is None:
            return None
        try:
            value = json.loads(raw)
        except ValueError:
            return None
        return value if isinstance(value, dict) else None

    @property
    def safetensors(self) -> dict[str, Any] | None:
        """What the hub's `safetensors` field says: parameter counts summed over the shards."""
        total: Counter[str] = Counter()
        found = False
        for name, data in self.files.items():
            if name.endswith(".safetensors"):
                params = safetensors_params(data)
                if params is not None:
                    found = True
                    total.update(params)
        if not found:
            return None
        return {"parameters": dict(total), "total": sum(total.values())}

    def info(self, fields: set[str] | None) -> dict[str, Any]:
        """The JSON the API returns for this repo; `fields` None means every field."""
        full: dict[str, Any] = {
            "author": self.id.split("/")[0] if "/" in self.id else None,
            "sha": self.sha,
            "lastModified": iso(self.last_modified),
            "createdAt": iso(self.created_at),
            "private": self.private,
            "gated": self.gated,
            "disabled": self.disabled,
            "downloads": self.downloads,
            "likes": self.likes,
            "tags": list(self.tags),
            "cardData": self.card_data,
            "siblings": [{"rfilename": name} for name in sorted(self.files)],
        }
        if self.repo_type == "model":
            full.update(
                library_name=self.library_name,
                pipeline_tag=self.pipeline_tag,
                config=self.config,
                safetensors=self.safetensors,
            )
        keep = full if fields is None else {k: v for k, v in full.items() if k in fields}
        out = {"_id": hashlib.md5(self.id.encode()).hexdigest()[:24], "id": self.id}
        if self.repo_type == "model":
            out["modelId"] = self.id
        out.update({k: v for k, v in keep.items() if v is not None or k in ("gated",)})
        return out


@dataclass
class Fault:
    """A failure the hub injects into matching requests; `times` None means every time."""

    kind: str = "status"  # "status", "stall" or "truncate"
    status: int = 503
    route: str | None = None  # a route key such as "GET /api/models"; None matches any
    repo: str | None = None
    path: str | None = None  # a file in the repo (resolve, tree) ; None matches any
    query: str | None = None  # a substring of the raw query, e.g. "filter=roberta"
    times: int | None = 1
    retry_after: int | None = None
    seconds: float = 0.0  # stall length
    error_code: str | None = None  # X-Error-Code; derived from the status when None
    fired: int = 0

    def matches(self, route: str, repo: str | None, path: str | None, query: str) -> bool:
        return (
            (self.times is None or self.fired < self.times)
            and (self.route is None or self.route == route)
            and (self.repo is None or self.repo == repo)
            and (self.path is None or self.path == path)
            and (self.query is None or self.query in query)
        )
