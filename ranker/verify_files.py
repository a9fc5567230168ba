"""Where `ranker verify` keeps its results outside the store (`--results-out`, a shard of the
weekly matrix) and how it gets the target tasks' pins.

`FinetunesFile` is to `FinetuneResult`s what `ranker.store.ResultsFile` is to a shard's
`EvalResult`s: one record a line, each checked as the store checks its own before it is
written (`check_storable`, an ISO time). A new key is appended (O(1)); a key the file already
has (a transient failure run again) replaces its line in an atomic rewrite, so the file never
holds one key twice (`Store.merge_finetunes` refuses two different records of a key). A torn
last line (a killed run) is left out on read and repaired by the next append.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import TYPE_CHECKING

from ranker.errors import RankerError, StoreError
from ranker.ft_protocol import SUITE
from ranker.records import FinetuneResult
from ranker.store import Store, check_storable, parse_jsonl, record_line
from ranker.store.files import append_line, atomic_write_text

if TYPE_CHECKING:
    from ranker.hub import Hub


class FinetunesFile:
    """Finetuning results kept in a JSON Lines file of their own (`--results-out`)."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self._keys: set[tuple[str, str, str, str, int]] | None = None  # the file's, once read

    def finetunes(self) -> list[FinetuneResult]:
        """The file's results, the last line of each key (empty when the file is absent)."""
        if not self.path.exists():
            self._keys = set()
            return []
        text = self.path.read_text(encoding="utf-8")
        out: dict[tuple[str, str, str, str, int], FinetuneResult] = {}
        for _, r in parse_jsonl(self.path, text, FinetuneResult, torn_tail=True, kept=[]):
            out[r.key] = r
        self._keys = set(out)
        return list(out.values())

    def save_finetune(self, result: FinetuneResult) -> None:
        """Append one unit's result, checked as the store would check it."""
        if type(result) is not FinetuneResult:
            raise StoreError(self.path, f"expected a FinetuneResult, got {type(result).__name__}")
        check_storable(self.path, result)
        try:
            dt.datetime.fromisoformat(result.evaluated_at.replace("Z", "+00:00"))
        except (ValueError, AttributeError):
            when = result.evaluated_at
            raise StoreError(self.path, f"model {result.model_id!r}: not an ISO 8601 time: "
                             f"{when!r}", field="evaluated_at") from None  # fmt: skip
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if self._keys is None:
            self.finetunes()
        assert self._keys is not None
        if result.key in self._keys:
            kept = [r for r in self.finetunes() if r.key != result.key]
            atomic_write_text(self.path, "".join(record_line(r) for r in [*kept, result]))
        else:
            append_line(self.path, record_line(result))
            self._keys.add(result.key)


def missing_pins(pins: dict[str, dict[str, str]]) -> list[str]:
    """The suite's tasks that have no pinned commit."""
    return [t.name for t in SUITE if t.name not in pins]


def target_pins(store: Store, hub: Hub | None, *, write: bool) -> dict[str, dict[str, str]]:
    """The target tasks' pinned commits (`Store.target_revisions`). Missing ones are resolved
    once on the hub and written, when `write`; without (a matrix shard, which writes nothing in
    the store) they must already be there: the plan job pins them."""
    pins = store.target_revisions()
    missing = missing_pins(pins)
    if not missing:
        return pins
    if not write:
        raise RankerError(
            f"--results-out: the store {store.root} has no pin for {', '.join(missing)} "
            f"({store.path(store.TARGET_PINS)}) and this mode writes nothing there: run "
            "`ranker verify --pin-only` first"
        )
    from ranker.evaluate.targets import resolve_pins

    resolved = resolve_pins(hub)
    pins = {**{t: p for t, p in resolved.items() if t in missing}, **pins}
    store.write_target_revisions(pins)
    return pins
