"""How to run the probe: the options `ranker evaluate` and `ranker update` share."""

from __future__ import annotations

import argparse
from pathlib import Path

from ranker import protocol


def add_run_arguments(p: argparse.ArgumentParser) -> None:
    """The probe's data, sizes, seed and device, and the model download's limits."""
    p.add_argument(
        "--probe-data",
        type=Path,
        help="MultiNLI-format JSONL[.gz] training file (default: MNLI from the hub); the "
        "evaluation file is its sibling *_test*/*_dev* unless --eval-data names one",
    )
    p.add_argument("--eval-data", type=Path, help="MultiNLI-format JSONL[.gz] evaluation file")
    p.add_argument(
        "--train-size", type=int, default=protocol.DEFAULT_TRAIN_SIZE, metavar="N",
        help="probe training pairs, a stratified sample of the training split, drawn with --seed",
    )  # fmt: skip
    p.add_argument(
        "--eval-size", type=int, default=protocol.DEFAULT_EVAL_SIZE, metavar="M",
        help="evaluation pairs, a fixed stratified sample of the evaluation split (the same "
        "for every run and model)",
    )  # fmt: skip
    p.add_argument(
        "--seed", type=int, default=protocol.DEFAULT_SEED,
        help="seed of the training sample and of the probe's fit",
    )  # fmt: skip
    p.add_argument(
        "--device", choices=("auto", "cpu", "cuda"), default="auto",
        help="where the forward pass runs (auto: cuda when there is one)",
    )  # fmt: skip
    p.add_argument("--cache-dir", type=Path, help="feature cache (default: ~/.cache/ranker)")
    p.add_argument(
        "--max-params", type=int, default=protocol.DEFAULT_MAX_PARAMS,
        help="refuse models with more parameters than this",
    )  # fmt: skip
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument(
        "--no-token",
        action="store_true",
        help="send no HF_TOKEN to the hub (public models need none; jobs that load untrusted "
        "weights should run anonymous)",
    )
