"""Pure decisions on listing metadata: does a model belong to an architecture, and may it be
ranked? Excluded models are kept with a reason, never dropped silently, so that the catalog
can say why a model people expect is missing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ranker.records import Architecture

DEFAULT_MAX_PARAMS = 1_000_000_000

# Tags that mark a repo as something other than full finetuned weights. Matched exactly, or as
# the prefix of a lineage tag (`base_model:adapter:x`, `base_model:quantized:x`...).
ADAPTER_TAGS = frozenset({"peft", "adapter-transformers", "lora", "adapter", "qlora"})
QUANTIZED_TAGS = frozenset(
    {"gguf", "gptq", "awq", "4-bit", "8-bit", "bitsandbytes", "exl2", "quantized", "int8", "int4",
     "onnx-quantized", "hqq", "aqlm"}
)  # fmt: skip
MERGE_TAGS = frozenset({"merge", "mergekit", "model-merge"})
LINEAGE_PREFIX = {"adapter": "base_model:adapter:", "quantized": "base_model:quantized:",
                  "merge": "base_model:merge:"}  # fmt: skip

# Exclusion reasons, in the order they are checked (the first that applies is recorded).
REASONS: tuple[str, ...] = (
    "disabled", "private", "gated", "adapter", "merge", "quantized", "custom-code",
    "no-config", "config-mismatch", "no-safetensors", "too-large",
)  # fmt: skip

# Config keys per dimension: BERT-style names first, then T5's.
DIMENSIONS: dict[str, tuple[str, ...]] = {
    "hidden_size": ("hidden_size", "d_model"),
    "num_layers": ("num_hidden_layers", "num_layers"),
    "vocab_size": ("vocab_size",),
    "intermediate_size": ("intermediate_size", "d_ff"),
}


@dataclass(frozen=True)
class Listing:
    """What one listing row says about a model (huggingface_hub types already unwrapped)."""

    model_id: str
    sha: str | None
    last_modified: str | None = None
    downloads: int | None = None
    likes: int | None = None
    tags: tuple[str, ...] = ()
    card_license: Any = None
    library: str | None = None
    pipeline_tag: str | None = None
    params: int | None = None  # safetensors total; None when the repo has no safetensors
    gated: bool = False
    private: bool = False
    disabled: bool = False
    config: dict[str, Any] | None = None

    @property
    def license(self) -> str | None:
        for tag in self.tags:
            if tag.startswith("license:"):
                return tag.removeprefix("license:")
        lic = self.card_license
        if isinstance(lic, list) and lic:
            lic = lic[0]
        return lic if isinstance(lic, str) and lic else None


def _config_value(config: dict[str, Any], keys: tuple[str, ...]) -> Any:
    for key in keys:
        if key in config:
            return config[key]
    return None


def matches_architecture(config: dict[str, Any] | None, arch: Architecture) -> bool:
    """True when a config has the architecture's model_type and all four dimensions."""
    if not config or config.get("model_type") != arch.model_type:
        return False
    return all(
        _config_value(config, keys) == getattr(arch, dim) for dim, keys in DIMENSIONS.items()
    )


def _tagged(tags: set[str], names: frozenset[str], reason: str) -> bool:
    prefix = LINEAGE_PREFIX[reason]
    return bool(tags & names) or any(t.startswith(prefix) for t in tags)


def exclusion_reason(
    listing: Listing,
    arch: Architecture,
    *,
    max_params: int = DEFAULT_MAX_PARAMS,
    check_config: bool = True,
) -> str | None:
    """The first reason (see REASONS) not to rank this model, or None to rank it."""
    tags = {t.lower() for t in listing.tags}
    config = listing.config or {}
    quantized = _tagged(tags, QUANTIZED_TAGS, "quantized") or "quantization_config" in config
    checks: tuple[tuple[str, bool], ...] = (
        ("disabled", listing.disabled),
        ("private", listing.private),
        ("gated", listing.gated),
        ("adapter", _tagged(tags, ADAPTER_TAGS, "adapter")),
        ("merge", _tagged(tags, MERGE_TAGS, "merge")),
        ("quantized", quantized),
        ("custom-code", "custom_code" in tags or "auto_map" in config),
        ("no-config", check_config and listing.config is None),
        ("config-mismatch", check_config and listing.config is not None
         and not matches_architecture(listing.config, arch)),
        ("no-safetensors", listing.params is None),
        ("too-large", listing.params is not None and listing.params > max_params),
    )  # fmt: skip
    for reason, applies in checks:
        if applies:
            return reason
    return None
