"""The finetuning results of `ranker verify` (`finetunes.jsonl`) and the target tasks' pins
(`verify.json`).

One `FinetuneResult` a line, keyed by (model, revision, protocol, task, seed). A unit's result
is appended as one line (O(1), atomic as far as a line is: a torn last line is left out on
read and repaired by the next append), and a later line of a key supersedes an earlier one, as
in `results/`; a merge (the weekly matrix's one keyed writer) rewrites the file sorted and
without superseded lines. Small by design: the top 10 of each architecture, three tasks, a few
seeds, so one file.

The pins are the commits of the target datasets (`ft_protocol.SUITE`), set once by the first
`ranker verify` and read by every later run on any machine, as `probe.json` pins MNLI.
"""

from __future__ import annotations

import json
import operator
from collections.abc import Iterable

from ranker.errors import StoreError
from ranker.records import FinetuneResult
from ranker.repofiles import is_sha
from ranker.store.base import StoreBase
from ranker.store.codec import canonical, first_difference, parse_jsonl, record_line
from ranker.store.files import append_line, atomic_write_text
from ranker.store.merging import MergeCounts, evaluated_at, merge_keyed, result_precedence

FINETUNES = "finetunes.jsonl"
TARGET_PINS = "verify.json"  # {"tasks": {task: {"repo": ..., "revision": sha}}}
_ORDER = operator.attrgetter("architecture", "model_id", "revision", "protocol_version", "task",
                             "seed")  # fmt: skip


class FinetunesStore(StoreBase):
    """The finetuning-results part of `ranker.store.Store`."""

    FINETUNES = FINETUNES
    TARGET_PINS = TARGET_PINS

    def finetunes(self) -> list[FinetuneResult]:
        """The finetuning results, the last line of each key (empty when there are none)."""
        text = self._read_text(FINETUNES, required=False) or ""
        out: dict[tuple[str, str, str, str, int], FinetuneResult] = {}
        for _, r in parse_jsonl(self.path(FINETUNES), text, FinetuneResult, torn_tail=True,
                                kept=[]):  # fmt: skip
            out[r.key] = r
        return sorted(out.values(), key=_ORDER)

    def save_finetune(self, result: FinetuneResult) -> None:
        """Store one unit's result (superseding an earlier one of its key): one appended line."""
        (checked,) = self._checked(FINETUNES, FinetuneResult, [result])
        self._check_time(checked)
        with self.lock():
            append_line(self.path(FINETUNES), record_line(checked))

    def merge_finetunes(self, records: Iterable[FinetuneResult]) -> MergeCounts:
        """Fold units' results (the matrix's shard files) in, by key: the later `evaluated_at`
        wins, then the greater canonical JSON (order-independent); a stored settled result is
        never replaced by an unsettled one. Idempotent; one bad record refuses them all."""
        incoming: dict[tuple[str, str, str, str, int], FinetuneResult] = {}
        for r in self._checked(FINETUNES, FinetuneResult, records):
            self._check_time(r)
            earlier = incoming.setdefault(r.key, r)
            if earlier != r:
                raise StoreError(self.path(FINETUNES), f"{r.key!r}: two different records",
                                 field=first_difference(earlier, r))  # fmt: skip
        with self.lock():
            stored = {r.key: r for r in self.finetunes()}
            counts, merged = merge_keyed(stored, incoming, finetune_precedence)
            if counts.new or counts.replaced:
                lines = "".join(canonical(r) + "\n" for r in sorted(merged.values(), key=_ORDER))
                atomic_write_text(self.path(FINETUNES), lines)
        return counts

    def _check_time(self, r: FinetuneResult) -> None:
        if evaluated_at(r) is None:  # type: ignore[arg-type]
            raise StoreError(self.path(FINETUNES), f"{r.model_id!r}: not an ISO 8601 time: "
                             f"{r.evaluated_at!r}", field="evaluated_at")  # fmt: skip

    # -- the target datasets' pinned commits ---------------------------------------------------

    def target_revisions(self) -> dict[str, dict[str, str]]:
        """{task: {"repo": repo, "revision": sha}} as pinned (empty until the first verify)."""
        path = self.path(TARGET_PINS)
        text = self._read_text(TARGET_PINS, required=False)
        if text is None:
            return {}
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise StoreError(path, f"not valid JSON: {exc.msg}", line=exc.lineno) from None
        tasks = data.get("tasks") if isinstance(data, dict) else None
        if not isinstance(tasks, dict):
            raise StoreError(path, 'expected {"tasks": {task: {"repo": ..., "revision": ...}}}')
        for name, pin in tasks.items():
            if not (isinstance(pin, dict) and isinstance(pin.get("repo"), str)
                    and is_sha(pin.get("revision"))):  # fmt: skip
                raise StoreError(path, f"task {name!r}: expected a repo and a 40-hex revision",
                                 field="tasks")  # fmt: skip
        return {str(k): {"repo": v["repo"], "revision": v["revision"]} for k, v in tasks.items()}

    def write_target_revisions(self, pins: dict[str, dict[str, str]]) -> None:
        for name, pin in pins.items():
            if not is_sha(pin.get("revision")):
                raise StoreError(self.path(TARGET_PINS), f"task {name!r}: not a commit sha: "
                                 f"{pin.get('revision')!r}")  # fmt: skip
        text = json.dumps({"tasks": pins}, indent=2, sort_keys=True) + "\n"
        with self.lock():
            atomic_write_text(self.path(TARGET_PINS), text)


def finetune_precedence(r: FinetuneResult) -> tuple[bool, object]:
    """Which of two results of one key wins a merge: a settled one (a retried transient failure
    never undoes a score), then `result_precedence` (the later, then the greater canonical
    JSON), so merging in any order, in any number of calls, gives the same file."""
    return r.settled, result_precedence(r)  # type: ignore[arg-type]
