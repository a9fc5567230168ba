"""`ranker import-legacy`: IBM's published 2023 model-recycling results into the store."""

from __future__ import annotations

import argparse
from pathlib import Path

from ranker.cli.options import Adder


def register(add: Adder, common: argparse.ArgumentParser) -> None:
    p = add(
        "import-legacy",
        help="import IBM's published 2023 model-recycling results into the store",
    )
    p.add_argument("source", type=Path, help="folder holding models_tested.csv and the baselines")
    p.set_defaults(func=import_legacy_command)


def import_legacy_command(args: argparse.Namespace) -> int:
    from ranker.store.legacy_import import import_legacy

    report = import_legacy(args.source, args.data)
    print(report.summary())
    return 0
