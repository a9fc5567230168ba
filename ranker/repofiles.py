"""Rules about what a hub repository holds, shared by the door, the crawl and the evaluator.

Each rule lives here once: what a commit sha and a file hash look like, which file paths are
safe to fetch and write, the config's file name, and which config means remote code.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, TypeGuard

SHA_RE = re.compile(r"[0-9a-f]{40}")  # a git commit (or blob) sha, lower-case hex
SHA256_RE = re.compile(r"[0-9a-f]{64}")  # an LFS file's `oid`, lower-case hex
# A relative path with no `.`/`..` segment, in a small alphabet: safe in a URL and on disk.
SAFE_PATH_RE = re.compile(r"(?!/)(?!.*(?:^|/)\.\.?(?:/|$))[A-Za-z0-9_.\-/ +=@,()\[\]]{1,500}")
CONFIG = "config.json"  # the model's configuration, at the repo's root


def is_sha(value: object) -> TypeGuard[str]:
    """Whether `value` is a 40-hex git sha."""
    return isinstance(value, str) and SHA_RE.fullmatch(value) is not None


def is_sha256(value: object) -> TypeGuard[str]:
    """Whether `value` is a 64-hex sha256 (an LFS file's hash)."""
    return isinstance(value, str) and SHA256_RE.fullmatch(value) is not None


def is_safe_path(value: object) -> TypeGuard[str]:
    """Whether `value` is a repo file path we may fetch and write below a folder of ours."""
    return isinstance(value, str) and SAFE_PATH_RE.fullmatch(value) is not None


def needs_remote_code(config: Mapping[str, Any]) -> bool:
    """A config with `auto_map` asks for code from the repository, which ranker never runs."""
    return "auto_map" in config
