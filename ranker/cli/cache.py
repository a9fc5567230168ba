"""Where the run keeps its downloads and features: one rule for every command."""

from __future__ import annotations

from pathlib import Path

from ranker.cachedir import default_cache_dir


def cache_dir(given: Path | None = None) -> Path:
    """`--cache-dir`, else the one default (`$RANKER_CACHE`, else ~/.cache/ranker)."""
    return Path(given) if given else default_cache_dir()
