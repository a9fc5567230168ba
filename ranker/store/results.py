"""The evaluation results: `results/<bucket>.jsonl` files that grow by one appended line.

Why this layout: one results file rewritten whole per result made a backfill O(n^2), lost
updates between parallel writers, and passes GitHub's 100 MB file limit near 100k results.
Now a result is one appended line (`save_result`, O(1)), in the file of its model's hash
bucket (`result_bucket`), under the store's lock; a later line for a key supersedes an
earlier one on read. Bulk operations (write, merge, rename) and `compact` rewrite the files
they change, sorted and without superseded lines, each atomically.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import operator
import re
from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from ranker.errors import StoreError
from ranker.records import EvalResult, is_valid_repo_id
from ranker.store.base import StoreBase
from ranker.store.codec import check_storable, decode_jsonl, first_difference, record_line
from ranker.store.files import append_line, atomic_write_text, fsync_dir, gc_paused, read_appended
from ranker.store.limits import KeptLine, keep_lines, kept_text
from ranker.store.merging import MergeCounts, evaluated_at, merge_keyed, result_precedence

RESULTS_DIR = "results"  # the results: RESULTS_DIR/<bucket>.jsonl, see `result_bucket`
RESULT_BUCKETS = 64  # a power of two up to 256; changing it means rewriting every result


def result_bucket(model_id: str) -> str:
    """The results file of `model_id`'s results: `RESULTS_DIR/<bucket>.jsonl`, two hex digits.

    Why a hash of the model id, not the architecture: every result of one key (model, revision,
    protocol) must be in one file, in the order written, for a later line to supersede an
    earlier one on read; the key holds no architecture (a reclassified model would otherwise
    have its results in two files, with no order between them). A hash also bounds every file
    however the results are spread over architectures (all 100k in one is the worst case for a
    per-architecture split), needs no file-name-safe architecture, and is stable: sha256, on
    every machine and Python. bench/bench_store.py measures it: a full ok record (5,000
    `correct` bits, timings, versions) is ~2 KB, so 100k results of one architecture make 64
    files of ~2.9 MB (the largest 3.0 MB); a file nears 25 MB only past ~800k results, and
    GitHub's 100 MB past 3 million. Fewer, larger files would load no faster (a load is the
    same lines), and each append and rewrite touches one file, whatever the count.
    """
    return _BUCKET_NAMES[hashlib.sha256(model_id.encode("utf-8")).digest()[0]]


_BUCKET_NAMES = [f"{byte % RESULT_BUCKETS:02x}" for byte in range(256)]
_BUCKET_BYTES = {  # the first sha256 bytes of each bucket's model ids
    name: frozenset(b for b in range(256) if _BUCKET_NAMES[b] == name) for name in _BUCKET_NAMES
}


_BUCKET_FILE = re.compile(r"[0-9a-f]{2}\.jsonl")
# A result's key (model, revision, protocol) and its place in a file and in `Store.results()`.
_RESULT_KEY = operator.attrgetter("model_id", "revision", "protocol_version")
_RESULT_ORDER = operator.attrgetter("architecture", "model_id", "revision", "protocol_version")
_MODEL_ID = operator.attrgetter("model_id")

# A results file as loaded: (its text, {key: result} with the last line of a key, kept lines)
Bucket = tuple[str, dict[Any, EvalResult], list[KeptLine]]


def results_text(results: Iterable[EvalResult]) -> str:
    """The text of a results file: one line a result, by (architecture, model, revision,
    protocol), so that a rewrite puts every line where it was and a git diff shows the change."""
    return "".join(record_line(r) for r in sorted(results, key=_RESULT_ORDER))


class ResultsStore(StoreBase):
    """The results part of `ranker.store.Store`."""

    @property
    def results_dir(self) -> Path:
        return self.path(RESULTS_DIR)

    def results_file(self, model_id: str) -> Path:
        """The file that holds (and is appended) `model_id`'s results."""
        return self.results_dir / f"{result_bucket(model_id)}.jsonl"

    def _result_path(self, record: Any) -> Path:
        """Where an error about `record` points: its file, or the results folder."""
        model = getattr(record, "model_id", None)
        return self.results_file(model) if isinstance(model, str) else self.results_dir

    def _results_lock(self) -> contextlib.AbstractContextManager[None]:
        """The store's write lock (`lock`), with the results folder made."""
        self.results_dir.mkdir(parents=True, exist_ok=True)
        return self.lock()

    def _bucket_files(self) -> list[Path]:
        try:
            paths = sorted(self.results_dir.iterdir())
        except FileNotFoundError:
            return []
        except NotADirectoryError:
            raise StoreError(self.results_dir, "not a directory") from None
        out = []
        for path in paths:
            if path.name.startswith(".") or not path.name.endswith(".jsonl"):
                continue  # temp files of atomic writes, notes; a stray .jsonl is an error
            if _BUCKET_FILE.fullmatch(path.name) is None or path.stem >= f"{RESULT_BUCKETS:02x}":
                raise StoreError(path, f"not a results file (expected 00.jsonl to "
                                       f"{RESULT_BUCKETS - 1:02x}.jsonl)")  # fmt: skip
            out.append(path)
        return out

    def _load_results(self) -> dict[str, Bucket]:
        """{bucket: (file text, {key: result}, kept lines)}.

        In a bucket the last line of a key wins; each line must be in its model's bucket (else
        a later line could not supersede it). Every line is validated (`parse_jsonl`)."""
        with gc_paused():
            return self._load_results_now()

    def _load_results_now(self) -> dict[str, Bucket]:
        buckets: dict[str, Bucket] = {}
        for path in self._bucket_files():
            text = read_appended(path)
            if text is None:
                continue  # emptied and removed since listed
            kept: list[KeptLine] = []
            numbers, results = decode_jsonl(path, text, EvalResult, torn_tail=True, kept=kept)
            bucket, sha256 = path.stem, hashlib.sha256  # `result_bucket`, for a file at once
            firsts = [
                sha256(model.encode("utf-8")).digest()[0] for model in map(_MODEL_ID, results)
            ]
            if not _BUCKET_BYTES[bucket].issuperset(firsts):
                n = next(n for n, first in enumerate(firsts) if _BUCKET_NAMES[first] != bucket)
                model = results[n].model_id
                raise StoreError(path, f"model {model!r} belongs in "
                                       f"{self.results_file(model).name}",
                                 line=numbers[n], field="model_id")  # fmt: skip
            # the last line of a key wins (at the place of its first)
            records = dict(zip(map(_RESULT_KEY, results), results, strict=True))
            buckets[bucket] = (text, records, kept)
        return buckets

    @staticmethod
    def _merged(buckets: dict[str, Bucket]) -> dict[Any, EvalResult]:
        merged: dict[Any, EvalResult] = {}
        for _, records, _ in buckets.values():
            merged.update(records)
        return merged

    def results(self) -> list[EvalResult]:
        """Every stored result, one per key, by (architecture, model, revision, protocol)."""
        results = list(self._merged(self._load_results()).values())
        # `_RESULT_ORDER` as one string a result, which sorts 100k results in half the time of
        # tuples (the same order unless a field holds a NUL character, which no stored result
        # does); the strings made, and the results put in order, with no Python call each
        keys = list(map("\0".join, map(_RESULT_ORDER, results)))
        return list(map(results.__getitem__, sorted(range(len(keys)), key=keys.__getitem__)))

    def write_results(self, results: Iterable[EvalResult]) -> None:
        """Replace the results; a record that would not read back raises StoreError, unwritten."""
        checked = self._checked_results(results)
        with self._results_lock():
            self._commit_results(checked, self._load_results())

    def _checked_results(self, records: Iterable[Any]) -> list[EvalResult]:
        """As `_checked`, with errors naming the file the record would go to."""
        out = list(records)
        for r in out:
            path = self._result_path(r)
            if type(r) is not EvalResult:
                kind = f"expected a record of type EvalResult, got {type(r).__name__}"
                raise StoreError(path, kind)
            check_storable(path, r)
        return out

    def _commit_results(
        self,
        results: Iterable[EvalResult],
        loaded: dict[str, Bucket],
        *,
        only: set[str] | None = None,
    ) -> int:
        """Make the results files hold exactly `results` (the caller holds the lock; `loaded`
        is what it read under it); return how many files were written or removed.

        Only files whose sorted text differs are written (each atomically), and with `only`
        only those buckets are looked at (the caller knows the rest is unchanged). Files that
        keep or gain results are written before those that lose some, and emptied files are
        removed after, so a crash midway can leave a result in two files (a rename), never in
        none.
        """
        buckets = loaded
        by_bucket: dict[str, list[EvalResult]] = defaultdict(list)
        for r in results:
            by_bucket[result_bucket(r.model_id)].append(r)
        names = set(by_bucket) | set(buckets) if only is None else only
        writes, removals = [], []
        for name in sorted(names):
            path = self.results_dir / f"{name}.jsonl"
            text, records, kept = buckets.get(name, ("", {}, []))
            new = by_bucket.get(name, [])
            kept = keep_lines(kept, (r.key for r in new))  # lines this version keeps as written
            if not new and not kept:
                if name in buckets:
                    removals.append(path)
                continue
            content = results_text(new) + kept_text(kept)
            if content != text:
                loses = bool(records.keys() - {r.key for r in new})
                writes.append((loses, path, content))
        for _, path, content in sorted(writes, key=lambda w: w[0]):
            atomic_write_text(path, content)
        for path in removals:
            path.unlink(missing_ok=True)
        for folder in {p.parent for p in removals}:
            fsync_dir(folder)
        return len(writes) + len(removals)

    def compact(self) -> int:
        """Rewrite the results files that are not as a bulk write leaves them (superseded
        lines, a torn last line, out of order), each atomically; return how many files
        changed (0: nothing written). O(all results): for the nightly job to run before it
        commits `data/`, so the committed files are sorted lines (appends between runs only
        add lines at the ends of files, which diffs as well)."""
        with self._results_lock():
            loaded = self._load_results()
            return self._commit_results(self._merged(loaded).values(), loaded)

    def rename_results(self, old: str, new: str) -> int:
        """Move `old`'s results to `new` (a renamed repo); return how many left `old`.

        Where `new` already has a result for the same (revision, protocol), that one is kept
        and `old`'s is dropped. Nothing is written when `old` has no results.
        """
        for name, value in (("old", old), ("new", new)):
            if not is_valid_repo_id(value):
                raise StoreError(self.results_dir, f"invalid hub repo id {value!r}", field=name)
        if old == new:
            return 0
        with self._results_lock():
            loaded = self._load_results()
            results = list(self._merged(loaded).values())
            moving = [r for r in results if r.model_id == old]
            if not moving:
                return 0
            kept = [r for r in results if r.model_id != old]
            have = {r.key for r in kept}
            moved = [dataclasses.replace(r, model_id=new) for r in moving]
            # read (so validated) records under a checked id: nothing new to check
            final = [*kept, *(r for r in moved if r.key not in have)]
            self._commit_results(final, loaded, only={result_bucket(old), result_bucket(new)})
        return len(moved)

    def save_result(self, result: EvalResult) -> None:
        """Store one result, replacing any earlier one for the same (model, revision, protocol).

        O(1): `result` is checked (it must read back as itself), then appended as one line to
        its model's file under the results lock (`append_line`): nothing else is read or
        rewritten, and on read this line supersedes any earlier one for its key.
        """
        (checked,) = self._checked_results([result])
        with self._results_lock():
            append_line(self.results_file(checked.model_id), record_line(checked))

    def merge_results(
        self, records: Iterable[EvalResult], *, keep_settled: bool = False
    ) -> MergeCounts:
        """Fold `records` (e.g. one shard's `ranker update --results-out` file) into the results,
        and count what each did. Only the files of the buckets it changes are rewritten, each
        atomically and sorted (a crash midway leaves some merged, and merging again is safe).

        Keyed by (model, revision, protocol): a record for a new key is added; for a stored key,
        the record with the later `evaluated_at` is kept, which is what a local run does (its
        later evaluation replaces the earlier) and keeps an old shard file, merged again, from
        undoing a newer result; a tie of two different records keeps the greater canonical JSON,
        so the store's bytes do not depend on the order files are merged in. Merging the same
        records again changes nothing and writes nothing. Every record is checked first (as
        `write_results` does, plus a parseable `evaluated_at`, and no key twice with different
        content); one bad record raises StoreError and nothing is written. With `keep_settled`
        (`ranker merge --plan`), a stored settled result (ok, or a permanent failure) is never
        replaced: it counts as `older`, so one shard cannot overwrite another's result.
        """
        incoming: dict[tuple[str, str, str], EvalResult] = {}
        for result in self._checked_results(records):
            path = self.results_file(result.model_id)
            if evaluated_at(result) is None:
                raise StoreError(
                    path,
                    f"model {result.model_id!r}: not an ISO 8601 time: {result.evaluated_at!r}",
                    field="evaluated_at",
                )
            earlier = incoming.setdefault(result.key, result)
            if earlier != result:
                raise StoreError(
                    path,
                    f"model {result.model_id!r}: two different records for revision "
                    f"{result.revision!r}, protocol {result.protocol_version!r}",
                    field=first_difference(earlier, result),
                )
        with self._results_lock():
            return self._merge_locked(incoming, keep_settled=keep_settled)

    def _merge_locked(
        self, incoming: dict[tuple[str, str, str], EvalResult], *, keep_settled: bool = False
    ) -> MergeCounts:
        """`merge_results` once its records are checked, under the results lock: the files
        of the buckets it changes are rewritten (sorted, superseded lines dropped)."""
        loaded = self._load_results()
        stored = self._merged(loaded)
        settled = operator.attrgetter("settled") if keep_settled else None
        counts, merged = merge_keyed(stored, incoming, result_precedence, keep=settled)
        taken = {key: r for key, r in incoming.items() if merged.get(key) is r}
        if taken:
            # read (so validated) records and checked new ones: nothing more to check
            stored.update(taken)
            changed = {result_bucket(model) for model, _, _ in taken}
            self._commit_results(stored.values(), loaded, only=changed)
        return counts
