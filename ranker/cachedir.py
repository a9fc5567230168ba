"""Where ranker keeps what it downloads and computes: one rule for every command and the door.

`$RANKER_CACHE` if set, else `~/.cache/ranker`; the door's verified downloads live in its `hub/`
folder, the evaluator's features in `features/`. Read when asked, so a test or a worker that
sets the variable later is heard.
"""

from __future__ import annotations

import os
from pathlib import Path


def default_cache_dir() -> Path:
    """The cache folder: `$RANKER_CACHE` if set, else `~/.cache/ranker`."""
    return Path(os.environ.get("RANKER_CACHE") or Path.home() / ".cache" / "ranker")


def hub_cache_dir() -> Path:
    """The door's downloads (huggingface_hub's layout), inside the cache folder."""
    return default_cache_dir() / "hub"
