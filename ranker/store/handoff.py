"""The files the nightly's crawl stage hands to its shards and its merge, as the store names them.

Why in the store: which files a crawl writes (catalog, results, MNLI pin, requests, crawl
state) is the store's knowledge; `ranker handoff` (the CLI) only says which action. The other
folder is another job's output: links are refused, never followed, and copies are byte for
byte, as the store wrote them.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

from ranker.errors import StoreError
from ranker.store.catalog import CATALOG
from ranker.store.requests import RequestsStore
from ranker.store.results import RESULTS_DIR
from ranker.store.state import CRAWL_STATE, PROBE_PIN

FILES = (CATALOG, PROBE_PIN, RequestsStore.REQUESTS, CRAWL_STATE)  # copied whole
FOLDERS = (RESULTS_DIR,)  # copied whole; plain files only inside


class HandoffRefused(StoreError):
    """The hand-off folder holds a link or a folder where the crawl stage writes plain files."""

    exit_code = 2


def save_handoff(data: Path, dest: Path) -> list[str]:
    """Copy the store's crawl outputs in `data` into `dest`; the copies that failed, in words."""
    dest.mkdir(parents=True, exist_ok=True)
    failed = [_copy(shutil.copyfile, data / n, dest / n) for n in FILES if (data / n).is_file()]
    failed += [_copy(_copy_tree, data / n, dest / n) for n in FOLDERS if (data / n).is_dir()]
    return [f for f in failed if f]


def take_handoff(data: Path, src: Path) -> None:
    """Copy `src`'s crawl outputs over the store in `data` (a shard), its results folder
    whole; HandoffRefused at a link, or a folder inside the results folder."""
    for name in FILES:
        path = src / name
        _refuse_link(path)
        if path.is_file():
            _take(shutil.copyfile, path, data / name)
    for name in FOLDERS:
        path = src / name
        _refuse_link(path)
        if not path.is_dir():
            continue
        if any(p.is_symlink() or p.is_dir() for p in path.iterdir()):  # nothing below them
            raise HandoffRefused(path, "holds links or folders; the crawl stage writes plain files")
        _take(_replace_tree, path, data / name)


def handoff_inputs(src: Path) -> tuple[Path | None, list[Path]]:
    """(the catalog to merge, or None; the results files to merge) of the folder `src`."""
    _refuse_link(src)
    catalog = src / CATALOG
    files = sorted((src / RESULTS_DIR).glob("*.jsonl"))
    for file in files:
        _refuse_link(file)
    plain = catalog.is_file() and not catalog.is_symlink()
    return (catalog if plain else None), files


def take_handoff_state(data: Path, src: Path) -> list[str]:
    """The crawl's MNLI pin when the store has none, and where its listings stopped (a
    resumption hint, the night's own); the copies that failed, in words."""
    failed = []
    pin, state = src / PROBE_PIN, src / CRAWL_STATE
    if not (data / PROBE_PIN).exists() and _plain(pin):
        failed.append(_copy(shutil.copyfile, pin, data / PROBE_PIN))
    if _plain(state):
        failed.append(_copy(shutil.copyfile, state, data / CRAWL_STATE))
    return [f for f in failed if f]


def _plain(path: Path) -> bool:
    return path.is_file() and not path.is_symlink()


def _refuse_link(path: Path) -> None:
    if path.is_symlink():
        raise HandoffRefused(path, "is a link; the crawl stage writes plain files and folders")


def _copy_tree(src: Path, dest: Path) -> None:
    shutil.copytree(src, dest, symlinks=True)  # as `cp -R`: a link stays a link


def _copy(copy: Callable[[Path, Path], object], src: Path, dest: Path) -> str:
    """'' when `src` was copied to `dest`, else why not."""
    try:
        copy(src, dest)
    except OSError as exc:
        return f"cannot copy {src}: {exc}"
    return ""


def _take(copy: Callable[[Path, Path], object], src: Path, dest: Path) -> None:
    try:
        copy(src, dest)
    except OSError:
        raise HandoffRefused(src, "cannot copy") from None


def _replace_tree(src: Path, dest: Path) -> None:
    shutil.rmtree(dest, ignore_errors=True)
    if dest.exists():
        raise OSError(f"cannot remove {dest}")
    _copy_tree(src, dest)
