"""What the loopback hub holds: repos (files, metadata, past revisions) and injected faults.

What a repo *answers* is derived here as the hub derives it, never written by hand: the reduced
`config` of listings and model_info, the `safetensors` parameter counts, `baseModels`, and the
lineage tags (`base_model:ID`, `base_model:<relation>:ID`) computed from the card's `base_model`.
"""

from __future__ import annotations

import hashlib
import json
import struct
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

# The hub's default `.gitattributes` stores these in LFS: served by a 302 to the CDN, listed in
# the tree with `lfs.oid` (the content's sha256). Everything else is a plain git blob.
LFS_SUFFIXES = (
    ".safetensors", ".bin", ".pt", ".pth", ".h5", ".msgpack", ".onnx", ".gguf", ".ckpt",
    ".parquet", ".arrow", ".model", ".npy", ".npz", ".pkl", ".joblib", ".tflite", ".ot", ".pb",
    ".zip", ".gz", ".tgz", ".tar", ".zst", ".xz", ".bz2", ".7z", ".ftz", ".mlmodel", ".wasm",
)  # fmt: skip
DEFAULT_PAGE_SIZE = 1000
# The tree API's pages: 1,000 entries, 50 when `expand` asks for each file's last commit.
TREE_PAGE_SIZE = 1000
TREE_EXPAND_PAGE_SIZE = 50
# The `expand[]` names the hub knows (huggingface_hub 2.4's ExpandModelProperty_T and
# ExpandDatasetProperty_T): any other fails the whole request with 400. The hub may know more
# than its client lists; knowing only these is the stricter choice.
EXPAND_NAMES = {
    "model": frozenset((
        "author", "baseModels", "cardData", "childrenModelCount", "config", "createdAt",
        "disabled", "downloads", "downloadsAllTime", "evalResults", "gated", "gguf", "inference",
        "inferenceProviderMapping", "lastModified", "library_name", "likes", "mask_token",
        "model-index", "pipeline_tag", "private", "resourceGroup", "safetensors", "sha",
        "siblings", "spaces", "tags", "transformersInfo", "trendingScore", "usedStorage",
        "widgetData",
    )),
    "dataset": frozenset((
        "author", "cardData", "citation", "createdAt", "description", "disabled", "downloads",
        "downloadsAllTime", "gated", "lastModified", "likes", "mainSize", "paperswithcode_id",
        "private", "resourceGroup", "sha", "siblings", "tags", "trendingScore", "usedStorage",
    )),
}  # fmt: skip
# The keys of config.json that listings and model_info carry (the rest, dimensions included,
# only config.json itself has); `tokenizer_config` is always there, as an empty dict.
LISTED_CONFIG_KEYS = ("architectures", "model_type", "auto_map", "quantization_config")
RELATIONS = ("finetune", "adapter", "quantized", "merge")

# Fault kinds answered before the route runs, and those applied to the bytes a GET serves.
REQUEST_FAULTS = ("status", "stall", "drop")
CONTENT_FAULTS = ("truncate", "corrupt")


def git_blob_sha(data: bytes) -> str:
    """The git object id of a blob, as the hub reports for non-LFS files."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def is_lfs(path: str) -> bool:
    return path.endswith(LFS_SUFFIXES)


def lfs_pointer(data: bytes) -> bytes:
    """The pointer file git holds for an LFS file (its blob sha is the tree's `oid`)."""
    sha = hashlib.sha256(data).hexdigest()
    spec = "version https://git-lfs.github.com/spec/v1"
    return f"{spec}\noid sha256:{sha}\nsize {len(data)}\n".encode()


def xet_hash(data: bytes) -> str:
    """A stand-in for a Xet file hash (the real one is a merkle hash of the file's chunks):
    64 hex digits, deterministic, and NOT the sha256, so code cannot confuse the two."""
    return hashlib.sha256(b"xet\0" + data).hexdigest()


def git_oid(path: str, data: bytes) -> str:
    """The tree's `oid`: the git blob sha of the file, or of its LFS pointer for LFS files."""
    return git_blob_sha(lfs_pointer(data) if is_lfs(path) else data)


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


def corrupted(path: str, data: bytes) -> bytes:
    """The same length, a few bytes changed inside the payload (as a flipped bit in transit).

    For safetensors, inside the tensor data after the header, so the file still parses and
    loads; for anything else (pickle, ...), around the middle. A safetensors file with no tensor
    data at all (the crawl tests' header-only fakes) is changed in the middle of the file.
    """
    if not data:
        return data
    start, end = 0, len(data)
    if path.endswith(".safetensors"):
        try:
            (n,) = struct.unpack("<Q", data[:8])
            if 8 + n < len(data):
                start = 8 + n
        except struct.error:
            pass
    middle = start + (end - start) // 2
    out = bytearray(data)
    for i in range(middle, min(middle + 4, end)):
        out[i] ^= 0x01
    return bytes(out)


def iso(ts: datetime) -> str:
    return ts.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")


@dataclass
class HubRepo:
    """One repo as the hub holds it: current files and metadata, and every past revision.

    `tags` are the tags the repo was given (library, type, license, task...); what the hub
    answers is `hub_tags()`, those plus the lineage tags it computes from `card_data`.
    """

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
    # The tokens of the users who may read a private repo (its owner, members of its org):
    # the hub answers any other token as if the repo did not exist.
    readers: frozenset[str] = frozenset()
    disabled: bool = False
    # Xet-backed LFS files: True (all of them) or the paths of those that are.
    xet: bool | frozenset[str] | set[str] | tuple[str, ...] = False
    revisions: dict[str, dict[str, bytes]] = field(default_factory=dict)  # sha -> files

    def __post_init__(self) -> None:
        if not self.sha:
            self.sha = self.make_sha()
        self.revisions[self.sha] = dict(self.files)

    def is_xet(self, path: str) -> bool:
        """Whether `path` is stored on Xet (only LFS files are)."""
        if not is_lfs(path):
            return False
        return self.xet is True or (not isinstance(self.xet, bool) and path in self.xet)

    def make_sha(self) -> str:
        digest = hashlib.sha1(f"{self.repo_type}:{self.id}:{len(self.revisions)}".encode())
        for name in sorted(self.files):
            digest.update(name.encode() + b"\0" + hashlib.sha1(self.files[name]).digest())
        return digest.hexdigest()

    @property
    def config(self) -> dict[str, Any] | None:
        """The whole of config.json (what a download gets, NOT what the API answers)."""
        raw = self.files.get("config.json")
        if raw is None:
            return None
        try:
            value = json.loads(raw)
        except ValueError:
            return None
        return value if isinstance(value, dict) else None

    @property
    def listed_config(self) -> dict[str, Any] | None:
        """The API's `config`: a few keys of config.json, never the dimensions."""
        config = self.config
        if config is None:
            return None
        out = {k: config[k] for k in LISTED_CONFIG_KEYS if k in config}
        # The real hub fills this from tokenizer_config.json's special tokens and chat template;
        # always empty here, the stricter choice: nothing to learn about the tokenizer from it.
        out["tokenizer_config"] = {}
        return out

    @property
    def safetensors(self) -> dict[str, Any] | None:
        """What the hub's `safetensors` field says: parameter counts summed over the files.

        Where the real hub's rule is unknown this takes the more misleading choice: every
        `*.safetensors` in the repo counts, subfolders included. So a repo whose only
        safetensors are `checkpoint-500/model.safetensors` beside a root `pytorch_model.bin`
        still reports `safetensors`, and root weights plus checkpoints are counted twice:
        neither the field's presence nor its `total` says what the root model loads.
        """
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

    @property
    def base_models(self) -> list[str]:
        """The card's `base_model` (a string or a list), as a list of ids."""
        value = (self.card_data or {}).get("base_model")
        if isinstance(value, str):
            return [value]
        if isinstance(value, list):
            return [v for v in value if isinstance(v, str)]
        return []

    @property
    def base_model_relation(self) -> str | None:
        """The card's `base_model_relation`, else what the hub infers from the repo, as it
        documents: an adapter (adapter_config.json), quantized (GGUF files or a
        quantization_config), a merge (several base models), otherwise a finetune."""
        bases = self.base_models
        if not bases:
            return None
        declared = (self.card_data or {}).get("base_model_relation")
        if declared in RELATIONS:
            return str(declared)
        if "adapter_config.json" in self.files:
            return "adapter"
        if any(n.endswith(".gguf") for n in self.files) or "quantization_config" in (
            self.config or {}
        ):
            return "quantized"
        return "merge" if len(bases) > 1 else "finetune"

    def hub_tags(self) -> list[str]:
        """The tags the hub answers: the repo's own, and the lineage tags from its card.

        Hand-written `base_model:` tags are dropped (the stricter choice): lineage tags come
        only from a card that declares `base_model`, as on the hub.
        """
        tags = [t for t in self.tags if not t.startswith("base_model:")]
        relation = self.base_model_relation
        for base in self.base_models:
            tags += [f"base_model:{base}", f"base_model:{relation}:{base}"]
        return tags

    def info(
        self, fields: set[str] | None, overrides: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """The JSON the API returns for this repo; `fields` None means model_info's defaults.

        `overrides` replace fields with raw values, served as given (wrong types included).
        """
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
            "tags": self.hub_tags(),
            "cardData": self.card_data,
            "siblings": [{"rfilename": name} for name in sorted(self.files)],
        }
        if self.repo_type == "model":
            relation = self.base_model_relation
            full.update(
                library_name=self.library_name,
                pipeline_tag=self.pipeline_tag,
                config=self.listed_config,
                safetensors=self.safetensors,
                baseModels=(
                    {"relation": relation, "models": [{"id": b} for b in self.base_models]}
                    if relation
                    else None
                ),
            )
        if fields is None:
            # Unknown whether a plain model_info carries baseModels: the stricter choice is
            # that it comes only when asked for (`expand=["baseModels"]`).
            full.pop("baseModels", None)
            keep = full
        else:
            keep = {k: v for k, v in full.items() if k in fields}
        out = {"_id": hashlib.md5(self.id.encode()).hexdigest()[:24], "id": self.id}
        if self.repo_type == "model":
            out["modelId"] = self.id
        out.update({k: v for k, v in keep.items() if v is not None or k in ("gated",)})
        for name, value in (overrides or {}).items():
            if fields is None or name in fields or name in out:
                out[name] = value
        return out


@dataclass
class Fault:
    """A failure the hub injects into matching requests; `times` None means every time.

    Kinds: "status" (answer `status`), "stall" (wait `seconds`, then answer; `math.inf` never
    answers), "drop" (close the connection without a response); and, applied to the bytes a GET
    serves (the CDN's or a small file's), "truncate" (half the body, full Content-Length) and
    "corrupt" (a few bytes changed, same length, headers still naming the true content).
    """

    kind: str = "status"  # "status", "stall", "drop", "truncate" or "corrupt"
    status: int = 503
    route: str | None = None  # a route key such as "GET /api/models" or "GET cdn"; None: any
    repo: str | None = None
    path: str | None = None  # a file in the repo (resolve, tree, CDN); None matches any
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
