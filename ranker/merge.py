"""`ranker merge FILE...`: fold shard result files into the store.

A sharded run (`ranker update --no-crawl --shard I/N --results-out FILE` on N machines or CI
jobs, each on a copy of the same store) writes its results to a JSON Lines file of EvalResult
records. This folds those files into the store's results (`data/results/`, one file a hash
bucket of model ids: see `ranker.store.result_bucket`), keyed by (model, revision, protocol
version), with the precedence of `Store.merge_results`: a new key is added, a stored key keeps
the result with the later `evaluated_at`. Only the files of the buckets a merge changes are
rewritten (sorted, each atomically). Merging a file twice changes nothing, byte for byte.

Every file is read and checked whole before anything is merged: a file with any malformed line
(not JSON, a record that fails validation, an invalid repo id, one key twice with different
content) is refused as a whole, with an error naming the file, the line and the field, and
nothing of it is merged; the other files are merged, and the command exits 1.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ranker.errors import StoreError
from ranker.records import EvalResult
from ranker.store import MergeCounts, Store, read_results_file


@dataclass
class FileMerge:
    """One file's outcome: its counts, or the error that refused it."""

    path: Path
    counts: MergeCounts | None = None
    error: StoreError | None = None


@dataclass
class MergeReport:
    store: Path
    files: list[FileMerge] = field(default_factory=list)

    @property
    def refused(self) -> list[FileMerge]:
        return [f for f in self.files if f.error is not None]

    @property
    def total(self) -> MergeCounts:
        out = MergeCounts()
        for f in self.files:
            if f.counts is not None:
                out = out + f.counts
        return out

    def text(self) -> str:
        """What was merged, per file and in all (refusals are in `refused`)."""
        lines = [f"{f.path}: {f.counts.text()}" for f in self.files if f.counts is not None]
        merged = len(self.files) - len(self.refused)
        line = f"merged {merged} of {len(self.files)} files into {self.store}: {self.total.text()}"
        if self.refused:
            line += f"; refused {len(self.refused)} (nothing of them merged)"
        return "\n".join([*lines, line])


def merge_files(store: Store, files: Sequence[Path | str]) -> MergeReport:
    """Check every file, then merge the good ones in order (`Store.merge_results` each)."""
    store.check()
    checked: list[tuple[Path, list[EvalResult] | StoreError]] = []
    for name in files:
        path = Path(name)
        try:
            checked.append((path, read_results_file(path)))
        except StoreError as exc:
            checked.append((path, exc))
    report = MergeReport(store.results_dir)
    for path, records in checked:
        if isinstance(records, StoreError):
            report.files.append(FileMerge(path, error=records))
        else:
            report.files.append(FileMerge(path, counts=store.merge_results(records)))
    return report


def merge_command(args: argparse.Namespace) -> int:
    report = merge_files(Store(args.data), args.files)
    for refused in report.refused:
        print(f"ranker merge: refused {refused.path}: {refused.error}", file=sys.stderr)
    print(report.text())
    return 1 if report.refused else 0
