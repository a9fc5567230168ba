"""The store in `data/`: the only package that knows its files and formats.

Formats are text that diffs well in git (TOML, CSV, JSON Lines), written in a stable order and
atomically (temp file + rename), and validated on read: a malformed row raises `StoreError`
naming the file, the line and the field. The catalog, the results and the requests are
validated on write too, so the store never holds a row it cannot read back, and within the
store's limits (`limits_problem`: integers 0 to 2**63 - 1, text up to 64 Ki characters, nesting,
dates from 2018 to a day past the writer's clock, lines up to 1 MiB): a value out of them is
refused with the record and the field, never written. The results, which grow by one a
model, are the exception to whole-file rewrites: `results/<bucket>.jsonl` files that a result
is appended to (`ranker.store.results`).

Across versions: a line of a newer `schema_version`, or one an old version wrote out of the
limits, is not read as a record but kept byte for byte by every rewrite (`KeptLine`), with a
`KeptLineWarning` naming the file and line; fields of this schema that this version does not
know are kept with their record (`ranker.records.Versioned`). Every writer takes one lock
(`Store.lock`), and a rename is followed by an fsync of its folder.

The parts: `files` (atomic write, append, torn-tail repair, stale temps), `limits`, `codec`
(JSON Lines <-> records, with msgspec), `merging` (the keyed-merge rule), `results`, `shards`
(a shard's results file), `catalog`, `requests`, `state` (MNLI pin, crawl state), `legacy`
(the 2023 data), `legacy_import` (`ranker import-legacy`) and `finetunes` (`ranker verify`'s
results and the target tasks' pins). `Store` joins them.
"""

from __future__ import annotations

from ranker.jsonlimits import MAX_INT
from ranker.records import ModelRequest
from ranker.store.catalog import CATALOG
from ranker.store.codec import check_storable, parse_jsonl, record_line
from ranker.store.files import (
    STALE_TEMP_AGE,
    STALE_TEMP_GRACE,
    TornLineWarning,
    atomic_write_text,
    read_text_file,
    remove_stale_temps,
)
from ranker.store.finetunes import FINETUNES, TARGET_PINS, FinetunesStore, finetune_precedence
from ranker.store.legacy import LEGACY_MODELS, LegacyStore
from ranker.store.limits import (
    EARLIEST,
    FUTURE_SLACK,
    MAX_DEPTH,
    MAX_LINE,
    KeptLineWarning,
    limits_problem,
)
from ranker.store.merging import MergeCounts
from ranker.store.requests import RequestsStore
from ranker.store.results import (
    RESULT_BUCKETS,
    RESULTS_DIR,
    ResultsStore,
    result_bucket,
    results_text,
)
from ranker.store.shards import (
    ResultsFile,
    read_finetunes_lines,
    read_other_records,
    read_results_file,
    read_results_lines,
)
from ranker.store.state import CrawlStateWarning, StateStore


class Store(ResultsStore, LegacyStore, RequestsStore, StateStore, FinetunesStore):
    """A store rooted at a data directory (by default the repo's `data/`): the architectures
    and catalog, the 2023 data, the results, the request queue, the MNLI pin and the crawl
    state, under one lock (`lock`)."""


__all__ = [
    "CATALOG",
    "EARLIEST",
    "FINETUNES",
    "FUTURE_SLACK",
    "LEGACY_MODELS",
    "MAX_DEPTH",
    "MAX_INT",
    "MAX_LINE",
    "RESULTS_DIR",
    "RESULT_BUCKETS",
    "STALE_TEMP_AGE",
    "STALE_TEMP_GRACE",
    "TARGET_PINS",
    "CrawlStateWarning",
    "KeptLineWarning",
    "MergeCounts",
    "ModelRequest",
    "ResultsFile",
    "Store",
    "TornLineWarning",
    "atomic_write_text",
    "check_storable",
    "finetune_precedence",
    "limits_problem",
    "parse_jsonl",
    "read_finetunes_lines",
    "read_other_records",
    "read_results_file",
    "read_results_lines",
    "read_text_file",
    "record_line",
    "remove_stale_temps",
    "result_bucket",
    "results_text",
]  # fmt: skip
