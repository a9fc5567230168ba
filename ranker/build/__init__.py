"""The site stage: read the store, render the static site.

Like mkdocs, it gathers everything first (tables, pages, downloads) and only then writes, into a
fresh folder that replaces the old output in one rename: a failed build leaves the old site.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from ranker.build.site import SiteFiles, render_site
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


def _replace_output(files: SiteFiles, out: Path) -> None:
    if out.exists() and not out.is_dir():
        raise RankerError(f"{out}: output path exists and is not a folder")
    if out.is_dir() and any(out.iterdir()) and not (out / MARKER).exists():
        raise RankerError(f"{out}: folder is not empty and was not built by ranker; not replacing")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        for rel, content in files.items():
            target = tmp / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(content)
        (tmp / MARKER).write_text("built by ranker; replaced on every build\n", encoding="utf-8")
        os.chmod(tmp, 0o755)  # mkdtemp makes 0700; the site is served to everyone
        old = None
        if out.exists():
            old = out.with_name(f".{out.name}.old.{os.getpid()}")
            out.rename(old)
        tmp.rename(out)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def build_site(data: Path | str, out: Path | str, site_url: str | None = None) -> BuildReport:
    """Build the site from the store at `data` into `out`.

    `site_url` is the public address the site is served from; badges' Markdown snippets need it.
    """
    start = time.perf_counter()
    store = Store(data)
    store.check()
    files, pages, models = render_site(store, site_url or os.environ.get("RANKER_SITE_URL"))
    out = Path(out)
    _replace_output(files, out)
    return BuildReport(
        out=out,
        pages=pages,
        models=models,
        files=len(files),
        bytes=sum(len(c) for c in files.values()),
        seconds=time.perf_counter() - start,
    )


__all__ = ["BuildReport", "build_site"]
