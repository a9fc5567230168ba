"""Tiny models whose only tokenizer is a real SentencePiece model, as DeBERTa-v3 and T5 repos ship.

Such repos have `spm.model` (DeBERTa-v2/v3) or `spiece.model` (T5) and no `tokenizer.json`, so
the evaluator must convert the fast tokenizer from the SentencePiece model. The model is trained
with the `sentencepiece` package (Unigram, as the real ones) on `SENTENCES`; its vocabulary fits
the tiny config's `vocab_size`. Needs torch, transformers and sentencepiece (the eval extra).
"""

from __future__ import annotations

import functools
import io
import json

from ranker.testing.models import SENTENCES, SPECS, weight_files

# Per model_type: the SentencePiece file name, the trainer's special pieces, and the
# tokenizer_config.json that names the (slow) tokenizer class and its special tokens.
_SPM = {
    "deberta-v2": (
        "spm.model",
        {
            "pad_id": 0, "pad_piece": "[PAD]", "bos_id": 1, "bos_piece": "[CLS]",
            "eos_id": 2, "eos_piece": "[SEP]", "unk_id": 3, "unk_piece": "[UNK]",
            "user_defined_symbols": ["[MASK]"],
        },
        {
            "tokenizer_class": "DebertaV2Tokenizer", "do_lower_case": False,
            "split_by_punct": False, "vocab_type": "spm", "bos_token": "[CLS]",
            "eos_token": "[SEP]", "unk_token": "[UNK]", "sep_token": "[SEP]",
            "pad_token": "[PAD]", "cls_token": "[CLS]", "mask_token": "[MASK]",
            "model_max_length": 64,
        },
    ),
    "t5": (
        "spiece.model",
        {
            "pad_id": 0, "pad_piece": "<pad>", "eos_id": 1, "eos_piece": "</s>",
            "unk_id": 2, "unk_piece": "<unk>", "bos_id": -1,
        },
        {
            "tokenizer_class": "T5Tokenizer", "extra_ids": 0, "eos_token": "</s>",
            "unk_token": "<unk>", "pad_token": "<pad>", "model_max_length": 64,
        },
    ),
}  # fmt: skip


@functools.cache
def _spm_model(model_type: str) -> bytes:
    """A serialized SentencePiece Unigram model trained on SENTENCES."""
    import sentencepiece as spm

    _, specials, _ = _SPM[model_type]
    buf = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(SENTENCES),
        model_writer=buf,
        model_type="unigram",
        vocab_size=SPECS[model_type].vocab_size,
        hard_vocab_limit=False,  # eight sentences hold fewer pieces: at most vocab_size
        character_coverage=1.0,
        minloglevel=2,
        num_threads=1,
        **specials,
    )
    return buf.getvalue()


@functools.cache
def _spm_only_files(model_type: str) -> tuple[tuple[str, bytes], ...]:
    if model_type not in _SPM:
        raise ValueError(f"no SentencePiece-only tiny model for {model_type!r}; use {list(_SPM)}")
    name, _, tokenizer_config = _SPM[model_type]
    files = dict(weight_files(model_type, 0, "masked-lm", False))
    files[name] = _spm_model(model_type)
    files["tokenizer_config.json"] = json.dumps(tokenizer_config, indent=2).encode()
    return tuple(sorted(files.items()))


def spm_only_model(model_type: str) -> dict[str, bytes]:
    """The files of a tiny random "deberta-v2" or "t5" model whose tokenizer is only a
    SentencePiece model (`spm.model` or `spiece.model`, no tokenizer.json); cached."""
    return dict(_spm_only_files(model_type))
