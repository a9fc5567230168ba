"""The finetuning protocol `ft-1`'s fixed choices, in one place; `docs/protocol.md` explains each.

The probe (`ranker.protocol`, `lp-2`) ranks every model; `ft-1` verifies the leaders by really
finetuning them on a small suite of target tasks, several seeds each, and the pretrained base
with more seeds, so that a model's "verified gain" over its base has an interval. Any change
that can move a finetuned score bumps `FT_PROTOCOL_VERSION`: results of different versions are
stored side by side and never compared.

Why these tasks: `bench/choose_suite.py` on the 2023 data (`docs/benchmarks.md`, "The
finetuning suite of ft-1"): held out, stsb alone and stsb, boolq, wic predict the average gain
on the tasks outside the suite equally well (0.65), but the three-task suite's worst
architecture is 0.51 against 0.36, and one task would leave a verified gain at the mercy of the
task on which the T5 bases are least stable. More than three tasks added nothing measurable.
"""

from __future__ import annotations

from dataclasses import dataclass

FT_PROTOCOL_VERSION = "ft-1"


@dataclass(frozen=True)
class TargetTask:
    """One target task: where its data lives on the hub and how it is read and scored."""

    name: str  # the 2023 column name (`records.LEGACY_TASKS`)
    repo: str  # the hub dataset repo, read at a pinned commit (`data/verify.json`)
    train_pattern: str  # parquet files of the training split, relative to the repo's root
    eval_pattern: str  # parquet files of the split scored (the validation split)
    text_fields: tuple[str, ...]  # columns joined into the model's input pair (see `inputs`)
    label_field: str
    kind: str  # "classification" (integer labels 0..classes-1) or "regression" (floats)
    classes: int  # output units of the head: classes, or 1 for regression
    metric: str  # "accuracy" or "pearson"


# GLUE's and SuperGLUE's parquet conversions on the hub (the layout of the conversions made when
# the hub stopped running dataset scripts). Not checkable from here (no hub): the first
# `ranker verify` resolves each repo's default branch once, writes the commit to
# `data/verify.json`, and refuses with the repo and the pattern named if no file matches.
SUITE: tuple[TargetTask, ...] = (
    TargetTask("stsb", "nyu-mll/glue", "stsb/train-*.parquet", "stsb/validation-*.parquet",
               ("sentence1", "sentence2"), "label", "regression", 1, "pearson"),
    TargetTask("boolq", "aps/super_glue", "boolq/train-*.parquet", "boolq/validation-*.parquet",
               ("question", "passage"), "label", "classification", 2, "accuracy"),
    # wic's input: "<word>: <sentence1>" paired with <sentence2> (the word the task asks about)
    TargetTask("wic", "aps/super_glue", "wic/train-*.parquet", "wic/validation-*.parquet",
               ("word", "sentence1", "sentence2"), "label", "classification", 2, "accuracy"),
)  # fmt: skip
TASKS: dict[str, TargetTask] = {task.name: task for task in SUITE}

# Data: each task's training set capped at TRAIN_CAP examples and its validation set at
# EVAL_CAP, both drawn once with the protocol's own seeds (stratified for classification), so
# every model and seed sees the same examples; the seed of a run moves only the head's
# initialisation, dropout and the order of batches.
TRAIN_CAP = 4_000
EVAL_CAP = 1_000
TRAIN_SAMPLE_SEED = 20231
EVAL_SAMPLE_SEED = 20232

# Training: the whole model (encoder + a new head on the first-token state concatenated with
# the mean of the last layer, as the probe pools), float32, AdamW, linear warm-up then linear
# decay to zero, gradient norm clipped. One setting for every architecture (the 2023 ranking
# also used one).
MAX_LENGTH = 128  # tokens of the input pair, truncated longest-first
EPOCHS = 3
BATCH_SIZE = 16
LEARNING_RATE = 3e-5
WEIGHT_DECAY = 0.01
WARMUP_FRACTION = 0.06
MAX_GRAD_NORM = 1.0
HEAD_DROPOUT = 0.1
PRECISION = "fp32"

# Seeds: each model is finetuned with MODEL_SEEDS seeds per task, its base with BASE_SEEDS (the
# T5 family with T5_BASE_SEEDS: its bases are the least stable under finetuning, the 2023 data
# show a seed standard deviation on stsb of 0.09 and 0.30 against 0.002 to 0.008 for the
# encoders). A seed that fails is recorded as a failure, never dropped silently.
MODEL_SEEDS = 3
BASE_SEEDS = 5
T5_BASE_SEEDS = 10
T5_FAMILY = frozenset({"t5", "mt5"})

# Which models: per architecture the first DEFAULT_TOP_K models of the probe's table order
# (rank, then score), and any other model whose rank is at most DEFAULT_TOP_K (the data cannot
# tell it from one of those).
DEFAULT_TOP_K = 10

CONFIDENCE = 0.95  # of the verified gain's interval (Welch's t over the seeds)


def seeds_for(model_type: str, *, is_base: bool) -> tuple[int, ...]:
    """The seeds a model is finetuned with: more for a base (its spread is the yardstick)."""
    if not is_base:
        return tuple(range(MODEL_SEEDS))
    return tuple(range(T5_BASE_SEEDS if model_type in T5_FAMILY else BASE_SEEDS))


def settings() -> dict[str, float | int | str]:
    """The training settings, as each result records them."""
    return {
        "train_cap": TRAIN_CAP, "eval_cap": EVAL_CAP, "train_sample_seed": TRAIN_SAMPLE_SEED,
        "eval_sample_seed": EVAL_SAMPLE_SEED, "max_length": MAX_LENGTH, "epochs": EPOCHS,
        "batch_size": BATCH_SIZE, "learning_rate": LEARNING_RATE, "weight_decay": WEIGHT_DECAY,
        "warmup_fraction": WARMUP_FRACTION, "max_grad_norm": MAX_GRAD_NORM,
        "head_dropout": HEAD_DROPOUT, "precision": PRECISION, "pooling": "first+mean",
        "optimizer": "adamw", "schedule": "linear",
    }  # fmt: skip
