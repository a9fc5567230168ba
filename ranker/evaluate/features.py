"""Frozen-encoder features: the only module that imports torch and transformers.

Cost is all in forward passes, so pairs are tokenised once per tokenizer (and reused by every model
sharing it), sorted by length into token-budget batches with dynamic padding, and run under
`torch.inference_mode` with SDPA attention, in float32 on every device (on CUDA with TF32 off:
see `numerics`), so that a GPU's features equal a CPU's to float32 rounding.
"""

from __future__ import annotations

import hashlib
import importlib.util
import logging
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import transformers
from transformers import AutoConfig, AutoTokenizer, PreTrainedModel

from ranker import protocol
from ranker.errors import ModelRefused, RankerError, Reason, RunFailure
from ranker.evaluate.files import TOKENIZER_FILES
from ranker.evaluate.loading import Checkpoint
from ranker.evaluate.resources import out_of_memory

# What running out of memory raises, on the CPU and on an accelerator: a resource fault.
MEMORY_ERRORS = (MemoryError, torch.OutOfMemoryError)

_ENCODER_ONLY = {"t5": "T5EncoderModel", "mt5": "MT5EncoderModel", "umt5": "UMT5EncoderModel"}
# Weights that the probe does not use: a missing pooler is no reason to refuse a body.
_UNUSED = ("pooler.",)
# Top-level packages of ranker's own stack (the eval extra): one missing is the run's fault.
_OUR_PACKAGES = frozenset({"sentencepiece", "google", "tokenizers", "transformers", "torch"})
# SentencePiece models that a fast tokenizer is converted from when no tokenizer.json ships.
_SPM_FILES = ("spm.model", "spiece.model", "sentencepiece.bpe.model")


@dataclass(frozen=True)
class Encoded:
    """Token ids of sentence pairs (no padding), made once per tokenizer and data sample."""

    input_ids: list[list[int]]
    token_type_ids: list[list[int]] | None

    @property
    def lengths(self) -> np.ndarray:
        return np.fromiter((len(x) for x in self.input_ids), dtype=np.int64)


def library_versions() -> dict[str, str]:
    """The versions of what produced a result (stored in its `versions`): every library that
    can change a feature or a fit, tokenizers included (it makes the token ids)."""
    import safetensors
    import sklearn
    import tokenizers

    return {
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "tokenizers": tokenizers.__version__,
        "safetensors": safetensors.__version__,
        "numpy": np.__version__,
        "scikit-learn": sklearn.__version__,
    }


def pick_device(name: str) -> torch.device:
    """The device `--device` names; a device this machine lacks is the run's fault
    (`RunFailure(NO_DEVICE)`), never a model's: checked once before the queue starts."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise RunFailure(
            "--device cuda asked for, but no CUDA device is available", Reason.NO_DEVICE
        )
    try:
        device = torch.device(name)
    except RuntimeError:
        raise RunFailure(f"--device {name!r}: not a device", Reason.NO_DEVICE) from None
    precision_for(device)
    return device


def precision_for(device: torch.device) -> str:
    """The float format of the forward pass on `device`: the protocol's, float32, everywhere.

    Not a speed choice: bf16 autocast moved features by ~1e-2 and TF32 matmuls by ~1e-3 against
    the CPU's, enough to flip predictions; float32 with TF32 off stays within ~1e-5.
    """
    if device.type not in ("cpu", "cuda"):
        raise RunFailure(
            f"device {device.type!r} is not supported: use cpu or cuda", Reason.NO_DEVICE
        )
    return protocol.PRECISION


@contextmanager
def numerics(device: torch.device) -> Iterator[str]:
    """Run the forward pass in the protocol's precision on `device`; yields its name.

    No autocast, and full-precision float32 matmuls and convolutions: TF32 off for cuBLAS and
    cuDNN, and float32 matmul precision "highest" (no reduced-precision internal format on any
    backend). The global settings are restored afterwards.
    """
    precision = precision_for(device)
    saved = (
        torch.backends.cuda.matmul.allow_tf32,
        torch.backends.cudnn.allow_tf32,
        torch.get_float32_matmul_precision(),
    )
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    torch.set_float32_matmul_precision("highest")
    try:
        with torch.autocast(device.type, enabled=False):
            yield precision
    finally:
        torch.backends.cuda.matmul.allow_tf32 = saved[0]
        torch.backends.cudnn.allow_tf32 = saved[1]
        torch.set_float32_matmul_precision(saved[2])


def load_tokenizer(folder: Path):
    """A fast tokenizer from local files; never remote code.

    A folder with only a SentencePiece model (`spm.model`, `spiece.model`: DeBERTa-v3, T5) gets
    a fast tokenizer converted from it, which needs the `sentencepiece` and `protobuf` packages.
    """
    spm_only = not (folder / "tokenizer.json").is_file() and any(
        (folder / f).is_file() for f in _SPM_FILES
    )
    if spm_only:
        lacking = [m for m in ("sentencepiece", "google.protobuf") if not _importable(m)]
        if lacking:  # our installation, not the model: the run stops, nothing is stored
            raise RunFailure(
                f"the tokenizer in {folder.name} is a SentencePiece model, which needs "
                f"{' and '.join(m.split('.')[-1] for m in lacking)} (the eval extra)",
                Reason.DEPENDENCY,
            )
    try:
        return AutoTokenizer.from_pretrained(str(folder), trust_remote_code=False, use_fast=True)
    except ImportError as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:300]
        if (exc.name or "").split(".")[0] in _OUR_PACKAGES:  # our installation: the run's fault
            raise RunFailure(f"loading a tokenizer needs {exc.name}: {first}",
                             Reason.DEPENDENCY) from None  # fmt: skip
        raise ModelRefused(  # a package outside ranker's stack, which this model asks for
            f"the tokenizer in {folder.name} needs a package ranker does not install: {first}",
            Reason.TOKENIZER,
        ) from None
    except MemoryError:
        raise out_of_memory(f"loading the tokenizer in {folder.name}") from None
    except Exception as exc:  # the tokenizer files are the model's content
        raise ModelRefused(
            f"cannot load the tokenizer in {folder.name}: {exc}", Reason.TOKENIZER
        ) from None


def _importable(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def tokenizer_key(folder: Path) -> str:
    """Identity of a tokenizer by its files' content: models sharing files share token ids."""
    h = hashlib.sha256()
    for name in (*TOKENIZER_FILES, "tokenizer_config.json", "special_tokens_map.json"):
        f = folder / name
        if f.is_file():
            h.update(name.encode() + f.read_bytes())
    return h.hexdigest()[:16]


def tokenize(tokenizer, premises: Sequence[str], hypotheses: Sequence[str]) -> Encoded:
    """Sentence-pair token ids, truncated longest-first at the protocol's length."""
    out = tokenizer(
        list(premises),
        list(hypotheses),
        truncation="longest_first",
        max_length=protocol.MAX_LENGTH,
        padding=False,
    )
    return Encoded(out["input_ids"], out.get("token_type_ids"))


def load_body(ckpt: Checkpoint, device: torch.device) -> PreTrainedModel:
    """The encoder body, whatever head was saved with it, with every body weight verified.

    transformers fills weights it cannot match with random values and only warns; a score of
    such a model is meaningless, so any body weight that the checkpoint does not provide
    (after stripping a head's prefix, e.g. `roberta.`) refuses the model.

    Only what the model's bytes cause is the model's fault: a config transformers refuses, a
    safetensors file it cannot read (`SafetensorError`), a tensor whose shape is not the
    config's (reported by transformers as `mismatched_keys`, not by an exception). Running out
    of memory is a resource fault (`MEMORY_ERRORS`, turned into OUT_OF_MEMORY by the caller);
    any other exception is a bug of ours and propagates.
    """
    from safetensors import SafetensorError

    name = _ENCODER_ONLY.get(ckpt.model_type)
    if ckpt.config.get("is_encoder_decoder") and not name:
        raise ModelRefused(
            f"{ckpt.model_id}: encoder-decoder {ckpt.model_type!r} is not supported",
            Reason.MISMATCH,
        )
    config = _config(ckpt)
    cls = getattr(transformers, name) if name else _auto_class(ckpt, config)
    try:
        with warnings.catch_warnings(), _quiet():
            warnings.simplefilter("ignore")
            model, info = _from_pretrained(cls, ckpt.folder, config, _attention(cls))
    except SafetensorError as exc:
        raise ModelRefused(
            f"{ckpt.model_id}: unreadable safetensors weights: {exc}", Reason.UNREADABLE_WEIGHTS
        ) from None
    mismatched = sorted(str(k[0] if isinstance(k, tuple) else k)
                        for k in info.get("mismatched_keys", ()))  # fmt: skip
    if mismatched:
        raise ModelRefused(
            f"{ckpt.model_id}: {len(mismatched)} weights have another shape than config.json "
            f"says ({_shown(mismatched)})",
            Reason.UNREADABLE_WEIGHTS,
        )
    missing = _missing_body_weights(model, ckpt.weight_names)
    missing |= {k for k in info.get("missing_keys", ()) if not k.startswith(_UNUSED)}
    if missing:
        raise ModelRefused(
            f"{ckpt.model_id}: missing body weights ({len(missing)}): {_shown(sorted(missing))}; "
            "they would be random, so the model is not scored",
            Reason.MISSING_WEIGHTS,
        )
    return model.eval().to(device)


def _shown(names: list[str], n: int = 5) -> str:
    more = f" and {len(names) - n} more" if len(names) > n else ""
    return ", ".join(names[:n]) + more


def _config(ckpt: Checkpoint):
    """transformers' config from the model's config.json: one it refuses is the model's."""
    try:
        with warnings.catch_warnings(), _quiet():
            warnings.simplefilter("ignore")
            return AutoConfig.from_pretrained(str(ckpt.folder), trust_remote_code=False)
    except (ValueError, TypeError, KeyError, AttributeError, OSError) as exc:
        raise ModelRefused(
            f"{ckpt.model_id}: transformers cannot read config.json: {exc}", Reason.NO_CONFIG
        ) from None


def _auto_class(ckpt: Checkpoint, config) -> type:
    """The base-model class transformers maps this config to (a typed lookup, no loading)."""
    from transformers.models.auto.modeling_auto import MODEL_MAPPING

    try:
        return MODEL_MAPPING[type(config)]
    except KeyError:
        raise ModelRefused(
            f"{ckpt.model_id}: transformers has no model for {ckpt.model_type!r}",
            Reason.MISMATCH,
        ) from None


def _attention(cls: type) -> str:
    """SDPA where the class implements it (its `_supports_sdpa` flag), else its own attention
    (DeBERTa-v2/v3): chosen by feature detection, never by an error message."""
    return "sdpa" if getattr(cls, "_supports_sdpa", False) else "eager"


def _from_pretrained(cls, folder: Path, config, attention: str):
    """Safetensors only, never remote code, float32; (model, loading info). A tensor of
    another shape is reported in the info (`mismatched_keys`) rather than raised, so that it
    is recognised by type, not by the text of an error."""
    return cls.from_pretrained(
        str(folder),
        config=config,
        ignore_mismatched_sizes=True,
        use_safetensors=True,
        trust_remote_code=False,
        output_loading_info=True,
        attn_implementation=attention,
        dtype=torch.float32,
    )


def _missing_body_weights(model: PreTrainedModel, names: frozenset[str]) -> set[str]:
    """Body parameters the checkpoint lacks under every known prefix (ties count as present)."""
    state = model.state_dict()
    wanted = {k for k in state if not k.startswith(_UNUSED)}
    renamed = {n.replace(".gamma", ".weight").replace(".beta", ".bias") for n in names}
    prefixes = {"", f"{model.base_model_prefix}.", "encoder.", "model.", "model.encoder."}
    best: set[str] | None = None
    for p in prefixes:
        have = {n[len(p) :] for n in renamed if n.startswith(p)} | (names if p == "" else set())
        missing = wanted - have
        if best is None or len(missing) < len(best):
            best = missing
    assert best is not None
    # A tied weight (T5's encoder.embed_tokens is `shared`) is present if its twin is.
    ptr = {}
    for k, v in state.items():
        ptr.setdefault(v.data_ptr(), set()).add(k)
    return {k for k in best if not (ptr[state[k].data_ptr()] - best)}


class _quiet:
    """Silence transformers' loading chatter; verification reports what matters."""

    def __enter__(self) -> None:
        self.level = transformers.logging.get_verbosity()
        self.bars = transformers.utils.logging.is_progress_bar_enabled()
        transformers.logging.set_verbosity_error()
        transformers.utils.logging.disable_progress_bar()
        logging.getLogger("transformers").setLevel(logging.ERROR)

    def __exit__(self, *exc: object) -> None:
        transformers.logging.set_verbosity(self.level)
        if self.bars:
            transformers.utils.logging.enable_progress_bar()


def batches(lengths: np.ndarray, max_tokens: int, max_batch: int, exact: bool) -> list[np.ndarray]:
    """Length-sorted batches whose padded size stays under a token budget.

    With `exact`, a batch holds pairs of one length only: no padding and no attention mask, which
    is fastest on CPU; on GPU fewer, larger (slightly padded) batches win.
    """
    order = np.argsort(-lengths, kind="stable")
    out: list[np.ndarray] = []
    start = 0
    while start < len(order):
        longest = int(lengths[order[start]])
        size = max(1, min(max_batch, max_tokens // max(longest, 1)))
        stop = min(start + size, len(order))
        if exact:
            same = np.flatnonzero(lengths[order[start:stop]] != longest)
            stop = start + int(same[0]) if len(same) else stop
        out.append(order[start:stop])
        start = stop
    return out


def encode(
    model: PreTrainedModel,
    encoded: Encoded,
    device: torch.device,
    pad_id: int = 0,
    max_tokens: int | None = None,
    max_batch: int | None = None,
    progress: bool = False,
    exact: bool | None = None,
) -> np.ndarray:
    """Pooled last-layer features [first token ‖ mean], float32, in the input's order.

    Computed in the protocol's precision (`numerics`): float32, no TF32, no autocast."""
    # GPU: few large batches (launch overhead dominates small ones); CPU: cache-sized batches.
    if max_tokens is None:
        max_tokens = 131_072 if device.type == "cuda" else 2_048
    if max_batch is None:
        max_batch = 4_096 if device.type == "cuda" else 64
    lengths = encoded.lengths
    n = len(lengths)
    hidden = model.config.d_model if hasattr(model.config, "d_model") else model.config.hidden_size
    out = np.empty((n, 2 * hidden), dtype=np.float32)
    if exact is None:
        exact = device.type != "cuda"
    dtype = next(model.parameters()).dtype
    if dtype != torch.float32:  # load_body loads float32; anything else is not the protocol
        raise RankerError(f"the model's weights are {dtype}, not float32")
    plan = batches(lengths, max_tokens, max_batch, exact=exact)
    types = getattr(model.config, "type_vocab_size", 0)
    use_types = encoded.token_type_ids is not None and types > 1
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=n, unit="pair", desc="forward", leave=False)
    with torch.inference_mode(), numerics(device):
        for index in plan:
            out[index] = _pooled(model, _padded(encoded, index, pad_id, use_types), device)
            if bar is not None:
                bar.update(len(index))
    if bar is not None:
        bar.close()
    return out


def _padded(
    encoded: Encoded, index: np.ndarray, pad_id: int, use_types: bool
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """One batch's (input ids, attention mask, token type ids or None), padded to its longest."""
    width = max(len(encoded.input_ids[i]) for i in index)
    ids = np.full((len(index), width), pad_id, dtype=np.int64)
    mask = np.zeros((len(index), width), dtype=np.int64)
    tt = np.zeros((len(index), width), dtype=np.int64) if use_types else None
    types = encoded.token_type_ids
    for row, i in enumerate(index):
        seq = encoded.input_ids[i]
        ids[row, : len(seq)] = seq
        mask[row, : len(seq)] = 1
        if tt is not None and types is not None:
            tt[row, : len(seq)] = types[i]
    return ids, mask, tt


def _pooled(
    model: PreTrainedModel,
    batch: tuple[np.ndarray, np.ndarray, np.ndarray | None],
    device: torch.device,
) -> np.ndarray:
    """[first token ‖ mean over the unpadded tokens] of one batch's last hidden states."""
    ids, mask, tt = batch
    padded = bool((mask == 0).any())
    kwargs = {"input_ids": torch.from_numpy(ids).to(device, non_blocking=True)}
    if padded:  # an all-ones mask is left out: SDPA's unmasked path is faster
        kwargs["attention_mask"] = torch.from_numpy(mask).to(device, non_blocking=True)
    if tt is not None:
        kwargs["token_type_ids"] = torch.from_numpy(tt).to(device, non_blocking=True)
    states = model(**kwargs).last_hidden_state.float()
    if padded:
        m = kwargs["attention_mask"].unsqueeze(-1).to(states.dtype)
        mean = (states * m).sum(1) / m.sum(1).clamp(min=1)
    else:
        mean = states.mean(1)
    return torch.cat([states[:, 0], mean], dim=1).cpu().numpy()


def peak_memory_mb(device: torch.device) -> float:
    """Peak accelerator memory, or the process's peak resident memory on CPU."""
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def reset_peak(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return f"cuda:{torch.cuda.get_device_name(device)}"
    return f"cpu:{torch.get_num_threads()}threads"
