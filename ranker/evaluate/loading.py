"""Safe model resolution: fetch only safe files, and refuse bad checkpoints before any loading.

Everything here works on files and JSON alone (no torch), so a refused model costs no import of
the deep-learning stack and the checks are testable anywhere.
"""

from __future__ import annotations

import hashlib
import json
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ranker.errors import RankerError
from ranker.records import Architecture, is_valid_repo_id

# Files a probe needs: config, safetensors weights, tokenizer files. Never pickles or code.
SAFE_PATTERNS = [
    "config.json",
    "*.safetensors",
    "model.safetensors.index.json",
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
]
PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".ckpt", ".pkl", ".h5", ".msgpack")
TOKENIZER_FILES = (
    "tokenizer.json",
    "vocab.txt",
    "vocab.json",
    "spiece.model",
    "sentencepiece.bpe.model",
    "spm.model",
)
# Per model_type: config keys for (hidden size, layers, vocabulary, feed-forward width).
_DIMS = {
    "t5": ("d_model", "num_layers", "vocab_size", "d_ff"),
    "mt5": ("d_model", "num_layers", "vocab_size", "d_ff"),
}
_DEFAULT_DIMS = ("hidden_size", "num_hidden_layers", "vocab_size", "intermediate_size")


class ModelRefused(RankerError):
    """A model that is not scored, and why: unsafe, unloadable, too large, or mismatched."""


@dataclass(frozen=True)
class Checkpoint:
    """A model folder that passed the file checks: its config and its weight names."""

    folder: Path
    model_id: str
    revision: str
    config: dict[str, Any]
    weight_names: frozenset[str]
    params: int
    has_tokenizer: bool

    @property
    def model_type(self) -> str:
        return str(self.config.get("model_type", ""))


def resolve(
    model: str, revision: str | None = None, cache_dir: Path | None = None
) -> tuple[Path, str, str]:
    """A local folder, or a hub repo downloaded with safe files only: (folder, id, revision)."""
    path = Path(model).expanduser()
    if path.is_dir():
        return path, _local_id(path), "local-" + content_hash(path)
    if not is_valid_repo_id(model):
        raise ModelRefused(f"{model!r} is neither a folder nor a valid hub repo id")
    from huggingface_hub import HfApi, snapshot_download

    try:
        info = HfApi().model_info(model, revision=revision, files_metadata=False)
        files = [s.rfilename for s in info.siblings or []]
        if not any(f.endswith(".safetensors") for f in files):
            raise ModelRefused(
                f"{model}: no safetensors weights (pickle-only checkpoints are refused)"
            )
        folder = snapshot_download(
            model, revision=info.sha, allow_patterns=SAFE_PATTERNS, cache_dir=cache_dir
        )
    except ModelRefused:
        raise
    except Exception as exc:
        raise ModelRefused(f"{model}: cannot download: {exc}") from None
    return Path(folder), model, str(info.sha)


def _local_id(path: Path) -> str:
    """A store-safe id for a local folder: its name, cleaned."""
    name = "".join(c if c.isalnum() or c in "._-" else "-" for c in path.resolve().name)
    name = name.strip("._-").replace("--", "-") or "local-model"
    return name[:96]


def content_hash(folder: Path) -> str:
    """Short sha256 of a folder's weight and config files: the revision of a local model."""
    h = hashlib.sha256()
    for f in sorted(folder.iterdir()):
        if f.is_file() and (f.suffix == ".safetensors" or f.name == "config.json"):
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
    except (OSError, ValueError, struct.error) as exc:
        raise ModelRefused(f"{path.name}: not a readable safetensors file ({exc})") from None
    header.pop("__metadata__", None)
    return header


def inspect(folder: Path, model_id: str, revision: str, max_params: int) -> Checkpoint:
    """Refuse unsafe or unusable checkpoints before loading; return what the loader needs."""
    config_path = folder / "config.json"
    if not config_path.is_file():
        raise ModelRefused(f"{model_id}: no config.json")
    try:
        config = json.loads(config_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ModelRefused(f"{model_id}: unreadable config.json ({exc})") from None
    if not isinstance(config, dict) or "model_type" not in config:
        raise ModelRefused(f"{model_id}: config.json has no model_type")
    if "auto_map" in config:
        raise ModelRefused(
            f"{model_id}: config asks for remote code (auto_map); remote code is never run"
        )
    weights = sorted(folder.glob("*.safetensors"))
    if not weights:
        pickles = [f.name for f in folder.iterdir() if f.suffix in PICKLE_SUFFIXES]
        found = f" (found {', '.join(sorted(pickles))})" if pickles else ""
        raise ModelRefused(
            f"{model_id}: no safetensors weights{found}; pickle checkpoints are refused"
        )
    names: set[str] = set()
    params = 0
    for w in weights:
        for name, meta in safetensors_header(w).items():
            names.add(name)
            count = 1
            for d in meta.get("shape", []):
                count *= int(d)
            params += count
    if params > max_params:
        raise ModelRefused(f"{model_id}: {params:,} parameters exceed the cap of {max_params:,}")
    has_tok = any((folder / f).is_file() for f in TOKENIZER_FILES)
    return Checkpoint(folder, model_id, revision, config, frozenset(names), params, has_tok)


def dims(config: dict[str, Any]) -> tuple[Any, ...]:
    """(model_type, hidden, layers, vocab, feed-forward) as architectures.toml lists them."""
    keys = _DIMS.get(str(config.get("model_type")), _DEFAULT_DIMS)
    return (config.get("model_type"), *(config.get(k) for k in keys))


def arch_dims(arch: Architecture) -> tuple[Any, ...]:
    return (
        arch.model_type,
        arch.hidden_size,
        arch.num_layers,
        arch.vocab_size,
        arch.intermediate_size,
    )


def check_architecture(ckpt: Checkpoint, arch: Architecture) -> None:
    """A finetune must have its architecture's shape; anything else is another architecture."""
    if dims(ckpt.config) != arch_dims(arch):
        raise ModelRefused(
            f"{ckpt.model_id}: config {dims(ckpt.config)} is not architecture {arch.id} "
            f"{arch_dims(arch)} (model_type, hidden, layers, vocab, feed-forward)"
        )


def match_architecture(config: dict[str, Any], archs: list[Architecture]) -> Architecture | None:
    """The tracked architecture whose dimensions the config has, if exactly one."""
    found = [a for a in archs if arch_dims(a) == dims(config)]
    return found[0] if len(found) == 1 else None
