"""Safe model files: refuse bad checkpoints before any loading (`inspect`), on the files that
`ranker.evaluate.files.select_files` chose (only what a probe needs).

Everything here works on file names, JSON and safetensors headers alone (no torch), so a refused
model costs no import of the deep-learning stack and the checks are testable anywhere. Pickle
weights (`pytorch_model*.bin`) are never unpickled in this process: `ranker.evaluate.pickles`
converts them to safetensors in a separate, token-free process with PyTorch's restricted
(weights-only) unpickler, and everything after that reads safetensors only.
"""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ranker import protocol
from ranker.errors import ModelRefused, Reason
from ranker.evaluate import pickles
from ranker.evaluate.files import (
    CONFIG,
    TOKENIZER_FILES,
    Selection,
    folder_files,
    select_files,
    weight_files,
)
from ranker.records import Architecture, config_dims, describe_dims
from ranker.repofiles import needs_remote_code

__all__ = ["Checkpoint", "ModelRefused", "check_architecture", "inspect", "match_architecture",
           "select_files"]  # fmt: skip


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
    selection: Selection | None = None,
) -> Checkpoint:
    """Refuse unsafe or unusable checkpoints before loading; return what the loader needs.

    `selection`: the files `select_files` already chose for this folder (from the hub's tree,
    which the folder's files were downloaded from); chosen here from the folder when None.
    Pickle weights are converted to safetensors first (`ranker.evaluate.pickles`, in a separate
    process, weights only), into `convert_dir` (default: a sibling `<folder>-from-pickle`).
    """
    config = read_config(folder, model_id)
    try:
        files, fmt = selection if selection is not None else select_files(folder_files(folder))
        source: Path | None = None
        if fmt == "pickle":
            source, folder = folder, _converted(folder, (files, fmt), max_params, convert_dir)
        names, params = count_params(_safetensors_files(folder, files, fmt))
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


def read_config(folder: Path, model_id: str) -> dict[str, Any]:
    """The folder's config.json, refused when unreadable, typeless or asking for remote code."""
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
    if needs_remote_code(config):
        raise ModelRefused(
            f"{model_id}: config asks for remote code (auto_map); remote code is never run",
            Reason.CUSTOM_CODE,
        )
    return config


def _safetensors_files(folder: Path, files: list[str], fmt: str) -> list[Path]:
    """The safetensors weights to count: the chosen ones, or a conversion's output (one
    `model.safetensors`, or its index and shards, as `pickles.convert_pickle` writes them)."""
    if fmt == "safetensors":
        return weight_files(folder, files, fmt)
    return weight_files(folder, pickles.converted_files(folder), "safetensors")


def _converted(folder: Path, selection: Selection, max_params: int, out: Path | None) -> Path:
    """The safetensors copy of a pickle checkpoint, unless its bytes already break the cap."""
    size = sum(p.stat().st_size for p in weight_files(folder, selection[0], "pickle"))
    if size > protocol.max_weight_bytes(max_params):
        raise ModelRefused(
            f"{size:,} bytes of pickle weights are more than the cap of {max_params:,} "
            "parameters can take",
            Reason.TOO_LARGE,
        )
    return pickles.convert_pickle(folder, out, max_params=max_params, selection=selection)


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
