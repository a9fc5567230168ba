"""What the store tracks and what the crawl found: `architectures.toml` and `catalog.jsonl`."""

from __future__ import annotations

import dataclasses
import tomllib
from collections.abc import Iterable

from ranker.errors import StoreError, UnknownArchitectureError
from ranker.records import Architecture, CatalogEntry, RecordError
from ranker.store.base import StoreBase
from ranker.store.codec import first_difference
from ranker.store.files import atomic_write_text
from ranker.store.merging import MergeCounts, merge_keyed, seen_precedence

ARCHITECTURES = "architectures.toml"
CATALOG = "catalog.jsonl"


class CatalogStore(StoreBase):
    """The architectures and the catalog part of `ranker.store.Store`."""

    def architectures(self) -> list[Architecture]:
        path = self.path(ARCHITECTURES)
        text = self._read_text(ARCHITECTURES)
        assert text is not None
        try:
            doc = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise StoreError(path, f"malformed TOML: {exc}") from None
        entries = doc.get("architecture")
        if not isinstance(entries, list) or not entries:
            raise StoreError(path, "expected one or more [[architecture]] tables")
        out: list[Architecture] = []
        seen: set[str] = set()
        for index, entry in enumerate(entries, start=1):
            where = f"architecture #{index}"
            if not isinstance(entry, dict):
                raise StoreError(path, f"{where}: expected a table")
            try:
                arch = Architecture.from_dict(entry)
            except RecordError as exc:
                raise StoreError(path, f"{where}, field {exc.field!r}: {exc.reason}") from None
            problem = arch.problem()
            if problem is not None:
                raise StoreError(path, f"{where}: {problem[1]}")
            for hub_id in arch.hub_ids:
                if hub_id in seen:
                    raise StoreError(path, f"{where}: hub id {hub_id!r} is listed twice")
                seen.add(hub_id)
            out.append(arch)
        return out

    def architecture(self, name: str) -> Architecture:
        """Resolve an architecture by its id, any alias, or its slug."""
        archs = self.architectures()
        for arch in archs:
            if name in arch.hub_ids or name == arch.slug:
                return arch
        raise UnknownArchitectureError(name, [a.id for a in archs])

    def write_architectures_text(self, text: str) -> None:
        """Replace `architectures.toml` with `text` (a new store: `ranker demo`, the tests),
        refused unless it reads as the store reads it."""
        try:
            tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise StoreError(self.path(ARCHITECTURES), f"malformed TOML: {exc}") from None
        with self.lock():
            atomic_write_text(self.path(ARCHITECTURES), text)

    def catalog(self) -> list[CatalogEntry]:
        return self._read_jsonl(CATALOG, CatalogEntry)

    def write_catalog(self, entries: Iterable[CatalogEntry]) -> None:
        """Replace the catalog; a record that would not read back raises StoreError, unwritten."""
        checked = self._checked(CATALOG, CatalogEntry, entries)
        ordered = sorted(checked, key=lambda e: (e.architecture, e.model_id))
        with self.lock():
            self._write_jsonl(CATALOG, CatalogEntry, ordered)

    def merge_catalog(self, entries: Iterable[CatalogEntry]) -> MergeCounts:
        """Fold another copy's catalog (the night's crawl) into this one, keyed by model id.

        Why keyed, not copied over: while the night ran, main may have gained entries (a
        request's check adds its model) that a copy would drop. Per model the entry seen more
        recently wins (`last_seen`, which a crawl moves only when an entry changes; then the
        greater canonical JSON, so the result does not depend on the order of merges); an entry
        on one side only is kept; `first_seen` is the earlier of the two. Merging the same
        catalog again changes nothing and writes nothing. Every entry is checked first (as
        `write_catalog` does; one model twice with different content is refused): one bad
        entry raises StoreError and nothing is written.
        """
        path = self.path(CATALOG)
        incoming: dict[str, CatalogEntry] = {}
        for entry in self._checked(CATALOG, CatalogEntry, entries):
            earlier = incoming.setdefault(entry.model_id, entry)
            if earlier != entry:
                raise StoreError(path, f"model {entry.model_id!r} is listed twice, differently",
                                 field=first_difference(earlier, entry))  # fmt: skip
        with self.lock():
            stored = {e.model_id: e for e in self.catalog()}
            for model, entry in incoming.items():  # the earlier first sighting, either side's
                have = stored.get(model)
                if (
                    have is not None
                    and have.first_seen
                    and (entry.first_seen is None or have.first_seen < entry.first_seen)
                ):
                    incoming[model] = dataclasses.replace(entry, first_seen=have.first_seen)
            counts, merged = merge_keyed(stored, incoming, seen_precedence)
            if counts.new or counts.replaced:
                ordered = sorted(merged.values(), key=lambda e: (e.architecture, e.model_id))
                self._write_jsonl(CATALOG, CatalogEntry, ordered)
        return counts
