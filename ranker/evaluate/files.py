"""Which files of a model repo (or folder) a probe reads, by their names alone.

The one place for the repo file-name rules of the evaluation: root-level config, tokenizer and
weight files (`select_files`), their load order (`weight_files`, `index_shards`), and what a
local folder holds (`folder_files`, `local_id`, `content_hash`). Both `loading` (the checks
before loading) and `pickles` (the conversion child) read them from here, so neither imports
the other for them.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Iterable
from pathlib import Path, PurePosixPath

from ranker.errors import ModelRefused, Reason

CONFIG = "config.json"
SAFETENSORS = "model.safetensors"
SAFETENSORS_INDEX = "model.safetensors.index.json"
PICKLE = "pytorch_model.bin"
PICKLE_INDEX = "pytorch_model.bin.index.json"
SAFETENSORS_SHARD = re.compile(r"model-\d{1,6}-of-\d{1,6}\.safetensors")
PICKLE_SHARD = re.compile(r"pytorch_model-\d{1,6}-of-\d{1,6}\.bin")
# Files that make a tokenizer: any one of these is enough to load one.
TOKENIZER_FILES = (
    "tokenizer.json",
    "vocab.txt",
    "vocab.json",
    "spiece.model",
    "sentencepiece.bpe.model",
    "spm.model",
)
# Root-level files a probe needs besides the weights: the config and every tokenizer file.
AUX_FILES = (
    CONFIG,
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "added_tokens.json",
    "vocab.txt",
    "vocab.json",
    "merges.txt",
    "spiece.model",
    "sentencepiece.bpe.model",
    "spm.model",
)
# Suffixes of weight files in any format, read or not: named when a repo has none we read.
WEIGHT_SUFFIXES = (
    ".safetensors", ".bin", ".pt", ".pth", ".ckpt", ".pkl", ".h5", ".msgpack", ".onnx", ".gguf",
    ".ot", ".tflite", ".mlmodel", ".pb",
)  # fmt: skip
# The suffixes of the weight files `select_files` chooses (the size cap counts their bytes).
CHOSEN_WEIGHT_SUFFIXES = (".safetensors", ".bin")

Selection = tuple[list[str], str]  # (the chosen files, their weight format)


def select_files(paths: Iterable[str]) -> Selection:
    """The files of a repo to download, and their weight format ("safetensors" or "pickle").

    `paths` is every file of the repo at one revision (the hub's tree listing, subfolders
    included). Only root-level files are chosen: config.json, tokenizer files, and the weights
    transformers would load, safetensors first (`model.safetensors`, else its index and shards),
    else pickle (`pytorch_model.bin`, else its index and shards). Never a subfolder, code, ONNX,
    TF, Flax or other pickle (`*.pt`, `*.ckpt`, ...) file. Refuses (ModelRefused) a repo with no
    config.json, one whose weights are only in subfolders, and one with no weights we read.
    """
    all_paths = sorted({str(p) for p in paths if p})
    root = {p for p in all_paths if "/" not in p and "\\" not in p}
    if CONFIG not in root:
        raise ModelRefused("no config.json at the repo's root", Reason.NO_CONFIG)
    aux = [f for f in AUX_FILES if f in root]
    weights, fmt = _root_weights(root)
    if weights:
        return sorted(aux + weights), fmt
    nested = sorted(p for p in all_paths if "/" in p and _readable_weight(p.rsplit("/", 1)[1]))
    if nested:
        folders = sorted({p.rsplit("/", 1)[0] + "/" for p in nested})
        raise ModelRefused(
            f"weights only in subfolders ({_shown(folders, 5)}), none at the repo's root",
            Reason.SUBFOLDER_ONLY,
        )
    raise ModelRefused(_no_weights_message(all_paths), Reason.NO_WEIGHTS)


def _root_weights(root: set[str]) -> tuple[list[str], str]:
    """The root weight files transformers would load, in its order of preference, and format."""
    for name, index, shard, fmt in _FORMATS:
        if name in root:
            return [name], fmt
        if index in root:
            shards = sorted(f for f in root if shard.fullmatch(f))
            if shards:
                return [index, *shards], fmt
    return [], ""


# (single file, index, shard pattern, format), in transformers' order of preference
_FORMATS = (
    (SAFETENSORS, SAFETENSORS_INDEX, SAFETENSORS_SHARD, "safetensors"),
    (PICKLE, PICKLE_INDEX, PICKLE_SHARD, "pickle"),
)


def _readable_weight(name: str) -> bool:
    """A file name that would be weights we read, were it at the root."""
    return name in (SAFETENSORS, PICKLE) or bool(
        SAFETENSORS_SHARD.fullmatch(name) or PICKLE_SHARD.fullmatch(name)
    )


def _no_weights_message(paths: list[str]) -> str:
    found = [p for p in paths if p.lower().endswith(WEIGHT_SUFFIXES)]
    wanted = f"{SAFETENSORS}, {PICKLE} or their sharded forms"
    if not found:
        return f"no weight files at all (looked for {wanted} at the root)"
    return f"no weights in a format ranker reads ({wanted} at the root); found {_shown(found, 6)}"


def _shown(items: list[str], n: int) -> str:
    more = f" and {len(items) - n} more" if len(items) > n else ""
    return ", ".join(items[:n]) + more


def folder_files(folder: Path, limit: int = 100_000) -> list[str]:
    """Every file under a local folder, as repo-relative POSIX paths (hidden folders skipped)."""
    out: list[str] = []
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        rel = PurePosixPath(Path(dirpath).relative_to(folder).as_posix())
        out.extend(str(rel / f) if str(rel) != "." else f for f in sorted(filenames))
        if len(out) >= limit:
            break
    return out


def local_id(path: Path) -> str:
    """A store-safe id for a local folder: its name, cleaned."""
    name = "".join(c if c.isalnum() or c in "._-" else "-" for c in path.resolve().name)
    name = name.strip("._-").replace("--", "-") or "local-model"
    return name[:96]


def content_hash(folder: Path) -> str:
    """Short sha256 of a folder's weight and config files: the revision of a local model."""
    h = hashlib.sha256()
    for f in sorted(folder.iterdir()):
        if f.is_file() and (f.suffix in CHOSEN_WEIGHT_SUFFIXES or f.name == CONFIG):
            h.update(f.name.encode())
            with f.open("rb") as fh:
                for chunk in iter(lambda fh=fh: fh.read(1 << 22), b""):
                    h.update(chunk)
    return h.hexdigest()[:12]


def index_shards(folder: Path, index_name: str, shard: re.Pattern[str]) -> list[Path]:
    """The shard files a weight index names, each checked to be a root shard that is present."""
    try:
        index = json.loads((folder / index_name).read_text(encoding="utf-8"))
        weight_map = index["weight_map"]
        names = sorted({str(v) for v in weight_map.values()})
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise ModelRefused(
            f"{index_name}: not a readable weight index ({exc})", Reason.UNREADABLE_WEIGHTS
        ) from None
    if not names:
        raise ModelRefused(f"{index_name}: names no weight files", Reason.UNREADABLE_WEIGHTS)
    for name in names:
        if not shard.fullmatch(name):
            raise ModelRefused(
                f"{index_name}: names {name!r}, which is no root weight shard",
                Reason.UNREADABLE_WEIGHTS,
            )
        if not (folder / name).is_file():
            raise ModelRefused(
                f"{index_name}: names {name}, which is missing", Reason.MISSING_WEIGHTS
            )
    return [folder / n for n in names]


def weight_files(folder: Path, files: list[str], fmt: str) -> list[Path]:
    """The weight files of a folder that `select_files` chose (`files`), in load order."""
    if fmt == "safetensors":
        name, index, shard = SAFETENSORS, SAFETENSORS_INDEX, SAFETENSORS_SHARD
    else:
        name, index, shard = PICKLE, PICKLE_INDEX, PICKLE_SHARD
    if name in files:
        return [folder / name]
    return index_shards(folder, index, shard)
