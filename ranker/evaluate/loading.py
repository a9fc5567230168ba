"""Safe model files: choose only what a probe needs (`select_files`), refuse bad checkpoints
before any loading (`inspect`).

Everything here works on file names, JSON and safetensors headers alone (no torch), so a refused
model costs no import of the deep-learning stack and the checks are testable anywhere. Pickle
weights (`pytorch_model*.bin`) are never unpickled in this process: `ranker.evaluate.pickles`
converts them to safetensors in a separate, token-free process with PyTorch's restricted
(weights-only) unpickler, and everything after that reads safetensors only.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import struct
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from ranker import protocol
from ranker.errors import ModelFailure, Reason
from ranker.records import Architecture, config_dims, describe_dims

CONFIG = "config.json"
SAFETENSORS = "model.safetensors"
SAFETENSORS_INDEX = "model.safetensors.index.json"
PICKLE = "pytorch_model.bin"
PICKLE_INDEX = "pytorch_model.bin.index.json"
SAFETENSORS_SHARD = re.compile(r"model-\d{1,6}-of-\d{1,6}\.safetensors")
PICKLE_SHARD = re.compile(r"pytorch_model-\d{1,6}-of-\d{1,6}\.bin")
WEIGHT_FORMATS = ("safetensors", "pickle")
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
# A tensor takes at most 8 bytes a parameter (float64): pickles larger than that are refused
# before conversion; the exact count comes from the converted safetensors headers.


class ModelRefused(ModelFailure):
    """A model that is not scored, and why: `ModelRefused(message, Reason.X)`."""


@dataclass(frozen=True)
class Checkpoint:
    """A model folder that passed the file checks: its config and its weight names.

    `folder` holds config.json, the tokenizer files and safetensors weights only: for a pickle
    checkpoint (`weight_format == "pickle"`) it is the converted copy, not the downloaded folder
    (`source`), and the caller may delete it with the download.
    """

    folder: Path
    model_id: str
    revision: str
    config: dict[str, Any]
    weight_names: frozenset[str]
    params: int
    has_tokenizer: bool
    weight_format: str = "safetensors"
    source: Path | None = None  # the folder inspected, when `folder` is a converted copy

    @property
    def model_type(self) -> str:
        return str(self.config.get("model_type", ""))


def select_files(paths: Iterable[str]) -> tuple[list[str], str]:
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
    if SAFETENSORS in root:
        return [SAFETENSORS], "safetensors"
    if SAFETENSORS_INDEX in root:
        shards = sorted(f for f in root if SAFETENSORS_SHARD.fullmatch(f))
        if shards:
            return [SAFETENSORS_INDEX, *shards], "safetensors"
    if PICKLE in root:
        return [PICKLE], "pickle"
    if PICKLE_INDEX in root:
        shards = sorted(f for f in root if PICKLE_SHARD.fullmatch(f))
        if shards:
            return [PICKLE_INDEX, *shards], "pickle"
    return [], ""


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


def _local_id(path: Path) -> str:
    """A store-safe id for a local folder: its name, cleaned."""
    name = "".join(c if c.isalnum() or c in "._-" else "-" for c in path.resolve().name)
    name = name.strip("._-").replace("--", "-") or "local-model"
    return name[:96]


def content_hash(folder: Path) -> str:
    """Short sha256 of a folder's weight and config files: the revision of a local model."""
    h = hashlib.sha256()
    for f in sorted(folder.iterdir()):
        if f.is_file() and (f.suffix in (".safetensors", ".bin") or f.name == CONFIG):
            h.update(f.name.encode())
            with f.open("rb") as fh:
                for chunk in iter(lambda fh=fh: fh.read(1 << 22), b""):
                    h.update(chunk)
    return h.hexdigest()[:12]


def safetensors_header(path: Path) -> dict[str, Any]:
    """The JSON header of a safetensors file (names, dtypes, shapes) without reading tensors."""
    try:
        with path.open("rb") as fh:
            (size,) = struct.unpack("<Q", fh.read(8))
            if size > 100_000_000:
                raise ValueError("header too large")
            header = json.loads(fh.read(size))
        if not isinstance(header, dict):
            raise ValueError("header is not a JSON object")
    except (OSError, ValueError, struct.error) as exc:
        raise ModelRefused(
            f"{path.name}: not a readable safetensors file ({exc})", Reason.UNREADABLE_WEIGHTS
        ) from None
    header.pop("__metadata__", None)
    return header


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


def count_params(paths: list[Path]) -> tuple[frozenset[str], int]:
    """Tensor names and parameter count from safetensors headers (no tensor data is read)."""
    names: set[str] = set()
    params = 0
    for w in paths:
        for name, meta in safetensors_header(w).items():
            names.add(name)
            count = 1
            try:
                for d in meta.get("shape", []):
                    count *= int(d)
            except (AttributeError, TypeError, ValueError):
                raise ModelRefused(
                    f"{w.name}: tensor {name!r} has no readable shape", Reason.UNREADABLE_WEIGHTS
                ) from None
            params += count
    return frozenset(names), params


def inspect(
    folder: Path,
    model_id: str,
    revision: str,
    max_params: int,
    *,
    convert_dir: Path | None = None,
) -> Checkpoint:
    """Refuse unsafe or unusable checkpoints before loading; return what the loader needs.

    Pickle weights are converted to safetensors first (`ranker.evaluate.pickles`, in a separate
    process, weights only), into `convert_dir` (default: a sibling `<folder>-from-pickle`).
    """
    config_path = folder / CONFIG
    if not config_path.is_file():
        raise ModelRefused(f"{model_id}: no config.json", Reason.NO_CONFIG)
    try:
        config = json.loads(config_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ModelRefused(
            f"{model_id}: unreadable config.json ({exc})", Reason.NO_CONFIG
        ) from None
    if not isinstance(config, dict) or "model_type" not in config:
        raise ModelRefused(f"{model_id}: config.json has no model_type", Reason.NO_CONFIG)
    if "auto_map" in config:
        raise ModelRefused(
            f"{model_id}: config asks for remote code (auto_map); remote code is never run",
            Reason.CUSTOM_CODE,
        )
    try:
        files, fmt = select_files(folder_files(folder))
        source: Path | None = None
        if fmt == "pickle":
            source, folder = folder, _converted(folder, files, max_params, convert_dir)
            files, _ = select_files(folder_files(folder))
        names, params = count_params(weight_files(folder, files, "safetensors"))
    except ModelRefused as exc:
        raise ModelRefused(f"{model_id}: {exc}", exc.reason) from None
    if params > max_params:
        raise ModelRefused(
            f"{model_id}: {params:,} parameters exceed the cap of {max_params:,}", Reason.TOO_LARGE
        )
    has_tok = any((folder / f).is_file() for f in TOKENIZER_FILES)
    return Checkpoint(
        folder, model_id, revision, config, names, params, has_tok, weight_format=fmt, source=source
    )


def _converted(folder: Path, files: list[str], max_params: int, out: Path | None) -> Path:
    """The safetensors copy of a pickle checkpoint, unless its bytes already break the cap."""
    size = sum(p.stat().st_size for p in weight_files(folder, files, "pickle"))
    if size > protocol.max_weight_bytes(max_params):
        raise ModelRefused(
            f"{size:,} bytes of pickle weights are more than the cap of {max_params:,} "
            "parameters can take",
            Reason.TOO_LARGE,
        )
    from ranker.evaluate.pickles import convert_pickle

    return convert_pickle(folder, out, max_params=max_params)


def check_architecture(ckpt: Checkpoint, arch: Architecture) -> None:
    """A finetune must have its architecture's shape (`Architecture.matches`, the one rule)."""
    if not arch.matches(ckpt.config):
        raise ModelRefused(
            f"{ckpt.model_id}: config.json ({describe_dims(config_dims(ckpt.config))}) is not "
            f"architecture {arch.id} ({describe_dims(arch.dims)})",
            Reason.MISMATCH,
        )


def match_architecture(config: dict[str, Any], archs: list[Architecture]) -> Architecture | None:
    """The tracked architecture whose dimensions the config has, if exactly one."""
    found = [a for a in archs if a.matches(config)]
    return found[0] if len(found) == 1 else None
