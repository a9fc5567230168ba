"""Rules about what a hub repository holds, shared by the door, the crawl and the evaluator.

Each rule lives here once: what a commit sha looks like, and which config means remote code.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

SHA_RE = re.compile(r"[0-9a-f]{40}")  # a git commit (or blob) sha, lower-case hex


def is_sha(value: object) -> bool:
    """Whether `value` is a 40-hex git sha."""
    return isinstance(value, str) and SHA_RE.fullmatch(value) is not None


def needs_remote_code(config: Mapping[str, Any]) -> bool:
    """A config with `auto_map` asks for code from the repository, which ranker never runs."""
    return "auto_map" in config
