"""What the crawl's rules make of one listed model: a small typed value, `Verdict`.

The crawl keeps the entries of its verdicts in the catalog; `ranker.requests` answers an issue
from one verdict (`ranker.crawl.classify_listing`), so both say the same thing about a model.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, cast

from ranker.records import Architecture, CatalogEntry

Status = Literal["ok", "excluded", "unclassified", "untracked"]


@dataclass(frozen=True)
class Verdict:
    """One model's classification.

    `status` is the catalog entry's (`ok`, `excluded`, `unclassified`), or `untracked` when no
    tracked architecture has the model's type. `reason` is an exclusion's code
    (`ranker.explain.REASONS`), or `PENDING` while its config.json waits to be read. `entry`
    is what the crawl keeps in the catalog, None when it keeps nothing (untracked, or a
    candidate of a model_type listing that its listing alone rules out). `arch` is the
    architecture the model is filed under.
    """

    status: Status
    reason: str | None = None
    entry: CatalogEntry | None = None
    arch: Architecture | None = None

    @classmethod
    def of(cls, entry: CatalogEntry, arch: Architecture) -> Verdict:
        """The verdict a catalog entry holds."""
        return cls(cast(Status, entry.status), entry.reason, entry, arch)
