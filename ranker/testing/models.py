"""Tiny random models with real tokenizers, for the loopback hub.

Real `transformers` models (a few thousand parameters) saved with safetensors, with a tokenizer
trained by `tokenizers` on a handful of sentences (WordPiece for BERT, byte-level BPE for
RoBERTa, Unigram/Metaspace for T5 and DeBERTa-v2), so that the evaluator can load and run them
exactly as it would a hub model. Their dimensions are odd on purpose (intermediate sizes 37,
41, 43, 47) so that a test store's `architectures.toml` (see `architectures_toml`) identifies
them by config as it would roberta-base. torch and transformers are imported lazily: building
the crawl tests' cheap repos (`fake_model`) needs neither.
"""

from __future__ import annotations

import functools
import io
import json
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ranker.testing.hub import FakeHub, HubRepo

SENTENCES = (
    "the quick brown fox jumps over the lazy dog",
    "a good movie with a great cast and a happy ending",
    "this film was boring and far too long",
    "what a wonderful day to train a tiny model",
    "models are ranked by how well they start a finetuning run",
    "the hub serves files, configs and tokenizers over http",
    "I loved it. I hated it. It was fine!",
    "numbers like 1, 2 and 3 appear too",
)


@dataclass(frozen=True)
class TinySpec:
    """The dimensions of a tiny architecture; `base_id` is its pretrained base's repo id."""

    base_id: str
    model_type: str
    hidden_size: int
    num_layers: int
    vocab_size: int
    intermediate_size: int
    heads: int = 2


TINY_BERT = TinySpec("tiny/bert-base", "bert", 32, 2, 160, 37)
TINY_ROBERTA = TinySpec("tiny/roberta-base", "roberta", 32, 2, 320, 41)
TINY_T5 = TinySpec("tiny/t5-base", "t5", 32, 2, 128, 43)
TINY_DEBERTA = TinySpec("tiny/deberta-v3-base", "deberta-v2", 32, 2, 128, 47)
SPECS = {s.model_type: s for s in (TINY_BERT, TINY_ROBERTA, TINY_T5, TINY_DEBERTA)}


def architectures_toml(specs: tuple[TinySpec, ...] = (TINY_BERT, TINY_ROBERTA)) -> str:
    """An architectures.toml that tracks the tiny architectures (for a temp store)."""
    blocks = []
    for s in specs:
        slug = s.base_id.replace("/", "-")
        blocks.append(
            "[[architecture]]\n"
            f'id = "{s.base_id}"\n'
            f'aliases = ["{s.base_id}-alias"]\n'
            f'slug = "{slug}"\n'
            f'title = "Tiny {s.model_type}"\n'
            f'model_type = "{s.model_type}"\n'
            f"hidden_size = {s.hidden_size}\n"
            f"num_layers = {s.num_layers}\n"
            f"vocab_size = {s.vocab_size}\n"
            f"intermediate_size = {s.intermediate_size}\n"
        )
    return "\n".join(blocks)


def _train_tokenizer(model_type: str, vocab_size: int) -> Any:
    """A tokenizers.Tokenizer trained on SENTENCES, wrapped for transformers."""
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors
    from tokenizers.trainers import BpeTrainer, WordPieceTrainer

    if model_type == "bert":
        from transformers import BertTokenizerFast

        specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
        tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
        tok.normalizer = normalizers.BertNormalizer(lowercase=True)
        tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
        tok.decoder = decoders.WordPiece()
        tok.train_from_iterator(
            SENTENCES,
            WordPieceTrainer(vocab_size=vocab_size, special_tokens=specials, show_progress=False),
        )
        cls, sep = tok.token_to_id("[CLS]"), tok.token_to_id("[SEP]")
        tok.post_processor = processors.TemplateProcessing(
            single="[CLS] $A [SEP]",
            pair="[CLS] $A [SEP] $B:1 [SEP]:1",
            special_tokens=[("[CLS]", cls), ("[SEP]", sep)],
        )
        return BertTokenizerFast(tokenizer_object=tok, model_max_length=64)
    from transformers import RobertaTokenizerFast

    specials = ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = BpeTrainer(
        show_progress=False,
        vocab_size=vocab_size,
        special_tokens=specials,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    tok.train_from_iterator(SENTENCES, trainer)
    tok.post_processor = processors.RobertaProcessing(
        ("</s>", tok.token_to_id("</s>")), ("<s>", tok.token_to_id("<s>"))
    )
    return RobertaTokenizerFast(tokenizer_object=tok, model_max_length=64)


def _train_unigram(model_type: str, vocab_size: int) -> Any:
    """A SentencePiece-style (Unigram + Metaspace) tokenizer, as T5 and DeBERTa-v3 use."""
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors
    from tokenizers.trainers import UnigramTrainer

    t5 = model_type == "t5"
    specials = ["<pad>", "</s>", "<unk>"] if t5 else ["[PAD]", "[CLS]", "[SEP]", "[UNK]", "[MASK]"]
    unk = "<unk>" if t5 else "[UNK]"
    tok = Tokenizer(models.Unigram())
    tok.normalizer = normalizers.NFKC()
    tok.pre_tokenizer = pre_tokenizers.Metaspace()
    tok.decoder = decoders.Metaspace()
    trainer = UnigramTrainer(
        vocab_size=vocab_size, special_tokens=specials, unk_token=unk, show_progress=False
    )
    tok.train_from_iterator(SENTENCES, trainer)
    if t5:
        from transformers import T5TokenizerFast

        eos = ("</s>", tok.token_to_id("</s>"))
        tok.post_processor = processors.TemplateProcessing(
            single="$A </s>", pair="$A </s> $B </s>", special_tokens=[eos]
        )
        return T5TokenizerFast(
            tokenizer_object=tok,
            extra_ids=0,
            pad_token="<pad>",
            eos_token="</s>",
            unk_token="<unk>",
            model_max_length=64,
        )
    from transformers import DebertaV2TokenizerFast

    cls, sep = ("[CLS]", tok.token_to_id("[CLS]")), ("[SEP]", tok.token_to_id("[SEP]"))
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1", special_tokens=[cls, sep]
    )
    return DebertaV2TokenizerFast(tokenizer_object=tok, model_max_length=64, pad_token="[PAD]",
                                  cls_token="[CLS]", sep_token="[SEP]", unk_token="[UNK]",
                                  mask_token="[MASK]")  # fmt: skip


@functools.cache
def _tokenizer_files(model_type: str) -> tuple[tuple[str, bytes], ...]:
    spec = SPECS[model_type]
    train = _train_tokenizer if model_type in ("bert", "roberta") else _train_unigram
    tokenizer = train(model_type, spec.vocab_size)
    with tempfile.TemporaryDirectory() as tmp:
        tokenizer.save_pretrained(tmp)
        return tuple(sorted((p.name, p.read_bytes()) for p in Path(tmp).iterdir()))


def _config(spec: TinySpec) -> Any:
    """A transformers config of the tiny dimensions."""
    import transformers

    common = {"vocab_size": spec.vocab_size}
    if spec.model_type == "t5":
        return transformers.T5Config(
            d_model=spec.hidden_size,
            d_kv=spec.hidden_size // spec.heads,
            d_ff=spec.intermediate_size,
            num_layers=spec.num_layers,
            num_heads=spec.heads,
            decoder_start_token_id=0,
            pad_token_id=0,
            eos_token_id=1,
            **common,
        )
    config_cls = transformers.AutoConfig.for_model(spec.model_type).__class__
    extra: dict[str, Any] = {}
    if spec.model_type == "roberta":
        extra = {"pad_token_id": 1, "bos_token_id": 0, "eos_token_id": 2, "type_vocab_size": 1}
    if spec.model_type == "deberta-v2":
        extra = {"pad_token_id": 0, "relative_attention": True, "position_buckets": 16,
                 "pos_att_type": ["p2c", "c2p"], "max_relative_positions": -1,
                 "position_biased_input": False, "type_vocab_size": 0}  # fmt: skip
    return config_cls(
        hidden_size=spec.hidden_size,
        num_hidden_layers=spec.num_layers,
        num_attention_heads=spec.heads,
        intermediate_size=spec.intermediate_size,
        max_position_embeddings=66,
        **common,
        **extra,
    )


@functools.cache
def weight_files(
    model_type: str, seed: int, head: str, pickle_only: bool
) -> tuple[tuple[str, bytes], ...]:
    """A tiny random model's own files (config and weights, no tokenizer), sorted; cached."""
    import torch
    import transformers

    config = _config(SPECS[model_type])
    torch.manual_seed(seed)
    if head == "classification":
        config.num_labels = 2
        model = transformers.AutoModelForSequenceClassification.from_config(config)
    elif model_type == "t5":
        model = transformers.AutoModelForSeq2SeqLM.from_config(config)
    else:
        model = transformers.AutoModelForMaskedLM.from_config(config)
    model.eval()
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # no "Writing model shards" bar per tiny model
    with tempfile.TemporaryDirectory() as tmp:
        model.save_pretrained(tmp)
        files = {p.name: p.read_bytes() for p in Path(tmp).iterdir()}
    if pickle_only:
        del files["model.safetensors"]
        buf = io.BytesIO()
        torch.save(model.state_dict(), buf)
        files["pytorch_model.bin"] = buf.getvalue()
    return tuple(sorted(files.items()))


def tiny_model(
    model_type: str, *, seed: int = 0, head: str = "masked-lm", pickle_only: bool = False
) -> dict[str, bytes]:
    """The files of a tiny random model and its tokenizer (cached per arguments)."""
    files = dict(_tokenizer_files(model_type))
    files.update(weight_files(model_type, seed, head, pickle_only))
    return files


def tiny_set() -> dict[str, dict[str, bytes]]:
    """The tiny models a test session or the demo serves, by role."""
    return {
        "bert": tiny_model("bert"),
        "bert-cls": tiny_model("bert", seed=1, head="classification"),
        "roberta": tiny_model("roberta"),
        "roberta-cls": tiny_model("roberta", seed=1, head="classification"),
        "roberta-pickle": tiny_model("roberta", seed=2, head="classification", pickle_only=True),
    }


def with_config(files: dict[str, bytes], **changes: Any) -> dict[str, bytes]:
    """The same files with keys of config.json changed."""
    config = {**json.loads(files["config.json"]), **changes}
    return {**files, "config.json": json.dumps(config, indent=2).encode()}


def with_custom_code(files: dict[str, bytes]) -> dict[str, bytes]:
    """A repo that needs trust_remote_code: `auto_map` in config.json and the module it names."""
    out = with_config(files, auto_map={"AutoModel": "modeling_custom.CustomModel"})
    out["modeling_custom.py"] = b"raise RuntimeError('remote code must never run')\n"
    return out


def fake_model(
    spec: TinySpec, *, params: int = 1000, safetensors: bool = True, **config: Any
) -> dict[str, bytes]:
    """Files that look right to a crawler (config + a safetensors header) but hold no model.

    Cheap (no torch): for crawl tests, which read only the listing.
    """
    names = ("d_model", "num_layers", "d_ff") if spec.model_type == "t5" else (
        "hidden_size", "num_hidden_layers", "intermediate_size")  # fmt: skip
    cfg = {
        "model_type": spec.model_type,
        names[0]: spec.hidden_size,
        names[1]: spec.num_layers,
        "vocab_size": spec.vocab_size,
        names[2]: spec.intermediate_size,
        **config,
    }
    files = {"config.json": json.dumps(cfg, indent=2).encode()}
    if safetensors:
        # Header only: the listing reads parameter counts from it; the data is never fetched.
        tensor = {"dtype": "F32", "shape": [params], "data_offsets": [0, 4 * params]}
        raw = json.dumps({"w": tensor}).encode()
        files["model.safetensors"] = len(raw).to_bytes(8, "little") + raw
    else:
        files["pytorch_model.bin"] = b"PK\x03\x04 pickle"
    return files


def register(
    hub: FakeHub,
    repo_id: str,
    files: dict[str, bytes],
    *,
    model_type: str,
    base_id: str | None = None,
    license: str | None = "apache-2.0",
    extra_tags: tuple[str, ...] = (),
    pipeline_tag: str | None = "text-classification",
    **meta: Any,
) -> HubRepo:
    """Add a model with the tags the hub would compute for it (type, license, format...).

    `base_id` declares the lineage in the card (`card_data["base_model"]`, merged into any
    `card_data` given); the hub derives the `base_model:` tags and `baseModels` from it.
    """
    if base_id:
        meta["card_data"] = {**(meta.get("card_data") or {}), "base_model": base_id}
    tags = ["transformers", model_type]
    if any(name.endswith(".safetensors") for name in files):
        tags.append("safetensors")
    if any(name.endswith(".bin") for name in files):
        tags.append("pytorch")
    if pipeline_tag:
        tags.append(pipeline_tag)
    if license:
        tags.append(f"license:{license}")
    tags += list(extra_tags)
    return hub.add_model(repo_id, files, tags=tags, pipeline_tag=pipeline_tag, **meta)
