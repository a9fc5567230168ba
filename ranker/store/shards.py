"""Results outside the store: a shard's `--results-out` file, written and read back.

Why here: a shard's file is read by `ranker merge` with the store's own checks (every line a
storable record within the limits, no unknown field, no key twice), and written by
`ResultsFile` with the same checks, so the file never holds a line the merge refuses.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ranker.errors import StoreError
from ranker.records import EvalResult, FinetuneResult
from ranker.store.codec import check_storable, first_difference, parse_jsonl, record_line
from ranker.store.files import (
    append_line,
    atomic_write_text,
    check_line_sizes,
    read_appended,
    read_text_file,
)
from ranker.store.limits import MAX_LINE
from ranker.store.merging import evaluated_at
from ranker.store.results import results_text


def read_other_records(path: Path, record: type, *, max_line: int = MAX_LINE) -> list[Any]:
    """A catalog or request file from another copy of the store (`ranker merge --catalog`),
    each line checked as the store checks its own; a line of a newer schema is refused here
    (it cannot be checked), and so is a line over `max_line` bytes, before anything is read."""
    check_line_sizes(path, max_line=max_line)
    text = read_text_file(path)
    return [r for _, r in parse_jsonl(path, text, record)]


def read_results_file(path: Path | str) -> list[EvalResult]:
    """The results of a JSON Lines file of EvalResult records (`ranker update --results-out`),
    as `read_results_lines` reads them, without their line numbers."""
    return [result for _, result in read_results_lines(path)]


def read_results_lines(
    path: Path | str, *, max_line: int = MAX_LINE
) -> list[tuple[int, EvalResult]]:
    """(line number, result) of a JSON Lines file of EvalResult records (`ranker update
    --results-out`), checked as the store checks what it writes: no line over `max_line`
    bytes (`check_line_sizes`, before anything is parsed), every line a valid, storable
    record within the store's limits with a parseable `evaluated_at`, no field EvalResult
    does not have and no newer schema (what this version cannot check, it does not take
    from outside), and no key (model, revision, protocol) twice with different content (a
    line repeated verbatim is read once). Any malformed line refuses the whole file:
    StoreError naming the file, the line and the field. An empty file holds no results. A
    torn last line (no newline, not JSON: a run killed mid-append, see `append_line`) is left
    out with a `TornLineWarning`: its model was not stored, so it stays in the queue, as when
    a run is killed before storing it; the file's other results are read.
    """
    seen: dict[tuple[str, str, str], tuple[int, EvalResult]] = {}
    for number, result in _checked_lines(Path(path), EvalResult, "a result", max_line):
        if result.key in seen:
            first, earlier = seen[result.key]
            if earlier != result:
                raise StoreError(
                    path,
                    f"{result.model_id!r} at revision {result.revision!r}, protocol "
                    f"{result.protocol_version!r} is on line {first} too, with another value",
                    line=number,
                    field=first_difference(earlier, result),
                )
            continue
        seen[result.key] = (number, result)
    return [(number, result) for number, result in seen.values()]


def read_finetunes_lines(
    path: Path | str, *, max_line: int = MAX_LINE
) -> list[tuple[int, FinetuneResult]]:
    """(line number, result) of a unit file (`ranker verify --results-out`), checked as
    `read_results_lines` checks a shard's results. A later line of a key supersedes an earlier
    one, as the file's writer (`ranker.verify_files.FinetunesFile`, a unit tried again) and the
    store's own `finetunes.jsonl` mean."""
    last: dict[tuple[str, str, str, str, int], tuple[int, FinetuneResult]] = {}
    for number, r in _checked_lines(Path(path), FinetuneResult, "a finetuning result", max_line):
        last.pop(r.key, None)  # keeps the file's order of the lines that count
        last[r.key] = (number, r)
    return list(last.values())


def _checked_lines(path: Path, record: type, what: str, max_line: int) -> list[tuple[int, Any]]:
    """(line number, record) of a JSON Lines file from outside the store, every line checked
    as the store checks what it writes (sizes first, then a storable record within the limits,
    no unknown field, a parseable `evaluated_at`); a torn last line is left out with a warning.
    Any bad line: StoreError naming the file, the line and the field."""
    check_line_sizes(path, max_line=max_line)
    text = read_appended(path, required=True)
    assert text is not None
    out = []
    for number, r in parse_jsonl(path, text, record, torn_tail=True):
        try:
            check_storable(path, r)
        except StoreError as exc:
            raise StoreError(path, exc.reason, line=number, field=exc.field) from None
        if r.extra_fields:
            unknown = ", ".join(sorted(r.extra_fields))
            raise StoreError(path, f"not a field of {what}: {unknown}", line=number)
        if evaluated_at(r) is None:
            raise StoreError(path, f"not an ISO 8601 time: {r.evaluated_at!r}", line=number,
                             field="evaluated_at")  # fmt: skip
        out.append((number, r))
    return out


class ResultsFile:
    """Results kept in a JSON Lines file of their own (a shard's `--results-out`), not a store.

    One `EvalResult` per line, as the store writes its results (`record_line`).
    Read with `read_results_file`, as `ranker merge` reads it; each record is
    checked before it is written the way the store checks its own (`check_storable`) and as
    the merge will (`evaluated_at`), so the file never holds a line the merge refuses.

    A result for a new key is appended (`append_line`: one write, fsync), so a
    shard's run costs O(1) a result, not a rewrite of the file; a crash mid-append leaves a
    torn last line, which a read leaves out (with a warning) and the next append removes. A
    result for a key the file already has (a transient error tried again) replaces the earlier
    one in an atomic rewrite, since the merge refuses a key twice with different content;
    that is rare. A rerun keeps what is there. One writer a file (one shard, one process).
    """

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self._keys: set[tuple[str, str, str]] | None = None  # the file's keys, once read

    def results(self) -> list[EvalResult]:
        results = read_results_file(self.path) if self.path.exists() else []
        self._keys = {r.key for r in results}
        return results

    def save_result(self, result: EvalResult) -> None:
        if type(result) is not EvalResult:
            raise StoreError(self.path, f"expected an EvalResult, got {type(result).__name__}")
        check_storable(self.path, result)
        if evaluated_at(result) is None:
            raise StoreError(self.path, f"model {result.model_id!r}: not an ISO 8601 time: "
                             f"{result.evaluated_at!r}", field="evaluated_at")  # fmt: skip
        if self._keys is None:
            self.results()
        assert self._keys is not None
        if result.key in self._keys:
            kept = [r for r in self.results() if r.key != result.key]
            atomic_write_text(self.path, results_text([*kept, result]))
        else:
            append_line(self.path, record_line(result))
            self._keys.add(result.key)
