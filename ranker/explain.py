"""Why a model is not ranked, in plain words, and what its owner can do about it.

One table for every place that says it: the crawl's exclusion reasons (`ranker.crawl` records
them), the reply to an evaluation request (`ranker.requests`) and the site's "why is my model
not here?" page (`ranker.build`). A base contract: it imports nothing, so that each room reads
the same words without importing another room.
"""

from __future__ import annotations

# The crawl's exclusion reasons, in the order it checks them (the first that applies is
# recorded: `ranker.crawl.classify.listing_reason`), and what each means to a model's owner.
REASONS: dict[str, str] = {
    "disabled": "the repo is disabled on the hub",
    "private": "the repo is private",
    "gated": "the repo is gated: its files need an accepted licence",
    "adapter": "an adapter (PEFT/LoRA), not full weights",
    "merge": "a merge of several models",
    "quantized": "quantised weights",
    "custom-code": "needs remote code (auto_map), which is never run",
    "too-large": "more parameters than the cap",
    "size-mismatch": "its parameter count is far from the architecture's",
    "no-config": "no readable config.json",
    "config-mismatch": "config.json has other dimensions than the architecture",
}
# Why an entry is still `unclassified`: its config.json was not read yet (the run's budget of
# config requests was spent, or the hub failed transiently); the next run tries again.
PENDING = "config-pending"

# What a model's owner can do about each reason (exclusions of the crawl, failures of the
# evaluation). Plain words; shown after the reason itself.
ADVICE: dict[str, str] = {
    "disabled": "A disabled repo cannot be read.",
    "private": "Make the repo public to have it ranked.",
    "gated": "Gated repos are not fetched; a repo without the access gate can be ranked.",
    "adapter": "Merge the adapter into the base model and upload the full weights to a repo "
    "of their own.",
    "merge": "Merged models are not ranked.",
    "quantized": "Upload the full-precision weights to a repo of their own.",
    "custom-code": "Use the standard transformers classes and drop `auto_map` from config.json.",
    "too-large": "Only models under the parameter cap are evaluated.",
    "size-mismatch": "Only the exact sizes of the tracked architectures are ranked.",
    "no-config": "Add the model's config.json at the root of the repo.",
    "config-mismatch": "Only the exact sizes of the tracked architectures are ranked; if the "
    "model is one of them, check the dimensions in its config.json.",
    "not-found": "Check the spelling (it is case-sensitive) and that the repo is public.",
    "untracked": "Only the architectures on the site are ranked; a maintainer can add one in "
    "data/architectures.toml.",
    "no-weights": "Put the weights (`model.safetensors`, or `pytorch_model.bin`) at the root "
    "of the repo.",
    "subfolder-only": "Put the final weights at the root of the repo, not only in a "
    "checkpoint subfolder.",
    "unsafe-pickle": "The pickle needs more than plain tensors to load: upload "
    "`model.safetensors` instead.",
    "unreadable-weights": "Check that the weights file loads; `model.safetensors` is best.",
    "missing-weights": "Upload the complete weights of the model's body.",
    "tokenizer": "Check that the repo's tokenizer files load with transformers.",
    "non-finite": "Check that the weights load and give finite outputs.",
}
FAILURE_WORDS: dict[str, str] = {
    "not-found": "the repo, its revision or a file of it was not found",
    "gated": "the repo is gated",
    "disabled": "the repo is disabled",
    "invalid": "the hub sent a value that failed validation",
    "no-config": "no readable config.json",
    "custom-code": "it needs remote code, which is never run",
    "config-mismatch": "its config.json has other dimensions than the architecture",
    "no-weights": "no weights at the root of the repo in a format we read",
    "subfolder-only": "its weights are only in subfolders",
    "unsafe-pickle": "its pickle needs more than plain tensors to load",
    "unreadable-weights": "its weights could not be read",
    "missing-weights": "weights of the model's body are missing from the checkpoint",
    "too-large": "more parameters than the cap",
    "tokenizer": "its tokenizer could not be loaded",
    "non-finite": "its weights give infinite or undefined (NaN) features",
    # resource: the model needed more than the run had; tried again on coming nights
    "out-of-memory": "it needed more memory than the evaluation run had",
    "child-killed": "the process that read it was killed",
    "child-timeout": "reading it took longer than the time limit",
    # the run's own faults: never stored against a model, but named if an old record has one
    "bad-token": "the run's hub token was refused (not the model's fault)",
    "forbidden": "the hub refused the run's token access (not the model's fault)",
    "bad-request": "the hub refused a request of ours (not the model's fault)",
    "quota": "the run's hub quota was spent (not the model's fault)",
    "hub-down": "the hub did not answer (not the model's fault)",
    "no-device": "the run had no device to evaluate on (not the model's fault)",
    "dependency": "the run missed a package it needs (not the model's fault)",
}


PENDING_WORDS = "not classified yet: its config.json is read on a coming night"
REMOVED_WORDS = "no longer on the hub"


def reason_words(reason: str | None) -> str:
    """The reason in plain words (the crawl's description, or the evaluation failure's)."""
    if reason is None:
        return "no reason recorded"
    if reason == PENDING:
        return PENDING_WORDS
    return REASONS.get(reason) or FAILURE_WORDS.get(reason) or reason.replace("-", " ")


def advice(reason: str | None) -> str:
    """What the owner can do, or "" when nothing but waiting helps."""
    return ADVICE.get(reason or "", "")
