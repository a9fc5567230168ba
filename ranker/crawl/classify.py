"""Pure decisions on what the hub lists: may a model be ranked, and does it need its config?

The hub's listings never carry a model's dimensions (see `../shared/hub-contract.md`): they say
what the tags, the reduced config (`model_type`, `auto_map`, `quantization_config`) and the
sum of `safetensors.parameters` say. So classification has two steps: `listing_reason` decides
what the listing alone can (adapters, gated repos, sizes far from the architecture's), and
only the rest costs one config.json request, decided by `Architecture.matches` (the one
dimension rule).
The reasons' codes and words are a base contract, `ranker.explain.REASONS` (the crawl, the
requests and the site say them alike). Excluded models are kept with a reason, never dropped
silently, so that the catalog can say why a model people expect is missing.
"""

from __future__ import annotations

from ranker.hub import Listing
from ranker.protocol import DEFAULT_MAX_PARAMS
from ranker.records import Architecture
from ranker.repofiles import needs_remote_code

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

# A listed parameter count (safetensors total) this far from the architecture's estimate cannot
# be the same architecture: with a head, tied or untied embeddings, or an encoder-only export
# (T5's encoder is ~0.5 of the whole), a member stays well within [0.35, 2.0] of the estimate.
SIZE_WINDOW = (0.35, 2.0)


def _tagged(tags: set[str], names: frozenset[str], reason: str) -> bool:
    prefix = LINEAGE_PREFIX[reason]
    return bool(tags & names) or any(t.startswith(prefix) for t in tags)


def estimate_params(arch: Architecture) -> int:
    """Rough parameter count of the architecture from its dimensions (embeddings + layers)."""
    h, ff = arch.hidden_size, arch.intermediate_size
    per_layer = 4 * h * h + 2 * h * ff
    layers = arch.num_layers * per_layer
    if arch.model_type in ("t5", "mt5"):
        layers = arch.num_layers * (per_layer + (4 * h * h + 2 * h * ff))  # encoder + decoder
    return arch.vocab_size * h + layers


def plausible_size(params: int | None, arch: Architecture) -> bool:
    if params is None:
        return True  # pickle-only repos list no count: only config.json can tell
    low, high = SIZE_WINDOW
    estimate = estimate_params(arch)
    return low * estimate <= params <= high * estimate


def listed_params(listing: Listing) -> int | None:
    """The listing's parameter count (the sum of `safetensors.parameters`) when a size decision
    may rest on it: None when the listing's own numbers disagree (`total` is not a stable count
    on the hub), so that config.json decides rather than a count that may be wrong."""
    return None if listing.params_disagree else listing.params


def listing_reason(
    listing: Listing, arch: Architecture | None, *, max_params: int = DEFAULT_MAX_PARAMS
) -> str | None:
    """The first reason (`ranker.explain.REASONS`) that the listing alone gives not to rank
    the model."""
    tags = {t.lower() for t in listing.tags}
    params = listed_params(listing)
    size_off = arch is not None and not plausible_size(params, arch)
    checks: tuple[tuple[str, bool], ...] = (
        ("disabled", listing.disabled),
        ("private", listing.private),
        ("gated", listing.gated),
        ("adapter", _tagged(tags, ADAPTER_TAGS, "adapter") or listing.base_relation == "adapter"),
        ("merge", _tagged(tags, MERGE_TAGS, "merge") or listing.base_relation == "merge"),
        ("quantized", _tagged(tags, QUANTIZED_TAGS, "quantized") or listing.quantized
         or listing.base_relation == "quantized"),
        ("custom-code", "custom_code" in tags or listing.remote_code),
        ("too-large", params is not None and params > max_params),
        ("size-mismatch", size_off),
    )  # fmt: skip
    for reason, applies in checks:
        if applies:
            return reason
    return None


def config_reason(config: dict, arch: Architecture) -> str | None:
    """What config.json says against ranking the model as `arch` (None: it belongs)."""
    if needs_remote_code(config):
        return "custom-code"
    if "quantization_config" in config:
        return "quantized"
    return None if arch.matches(config) else "config-mismatch"
