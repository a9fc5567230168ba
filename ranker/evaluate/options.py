"""The `ranker evaluate` arguments (kept here, light, so `ranker.cli` stays thin)."""

from __future__ import annotations

import argparse
from pathlib import Path

from ranker import protocol


def add_arguments(p: argparse.ArgumentParser) -> None:
    """`ranker evaluate`: the models, and how to run the probe."""
    p.add_argument(
        "models",
        nargs="*",
        metavar="MODEL",
        help="hub repo ids; a local folder only with a ./, ../, / or ~ prefix (or --path)",
    )
    p.add_argument(
        "--path",
        type=Path,
        action="append",
        metavar="DIR",
        help="a local model folder to evaluate (repeatable)",
    )
    p.add_argument("--revision", help="hub commit to evaluate (default: the latest)")
    add_run_arguments(p)
    p.add_argument(
        "--architecture", help="tracked architecture (id, alias or slug); default: from the config"
    )
    p.add_argument("--base", help="base model for the gain (hub id or folder); default: the arch's")
    p.add_argument("--model-id", help="id to store a local folder's result under")
    p.add_argument("--json", action="store_true", help="print each record as JSON")


def add_run_arguments(p: argparse.ArgumentParser) -> None:
    """How to run the probe; shared by `ranker evaluate` and `ranker update`."""
    p.add_argument(
        "--probe-data",
        type=Path,
        help="MultiNLI-format JSONL[.gz] training file (default: MNLI from the hub); the "
        "evaluation file is its sibling *_test*/*_dev* unless --eval-data names one",
    )
    p.add_argument("--eval-data", type=Path, help="MultiNLI-format JSONL[.gz] evaluation file")
    p.add_argument("--train-size", type=int, default=protocol.DEFAULT_TRAIN_SIZE, metavar="N")
    p.add_argument("--eval-size", type=int, default=protocol.DEFAULT_EVAL_SIZE, metavar="M")
    p.add_argument("--seed", type=int, default=protocol.DEFAULT_SEED)
    p.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    p.add_argument("--cache-dir", type=Path, help="feature cache (default: ~/.cache/ranker)")
    p.add_argument("--max-params", type=int, default=protocol.DEFAULT_MAX_PARAMS)
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument(
        "--no-token",
        action="store_true",
        help="send no HF_TOKEN to the hub (public models need none; jobs that load untrusted "
        "weights should run anonymous)",
    )
