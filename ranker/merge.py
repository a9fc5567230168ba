"""`ranker plan` and `ranker merge`: shard the queue, then fold what came back into the store.

A sharded run (`ranker update --no-crawl --shard I/N --results-out shard-I.jsonl` on N machines
or CI jobs, each on a copy of the same store) writes its results to a JSON Lines file of
EvalResult records. Those jobs load untrusted weights, so what they send back is untrusted too:

- `ranker plan --shards N --out plan.json` runs BEFORE the shards, on the store they will get,
  and writes which model (at which sha, of which architecture) each shard may evaluate: the
  queue of `ranker.pipeline.pending`, split by `ranker.pipeline.in_shard` exactly as each
  shard's `ranker update --shard I/N` splits it (with `--max-models M`, a shard's first M).
- `ranker merge --plan plan.json shard-0.jsonl ...` takes from `shard-<I>.jsonl` only results
  for models the plan gave shard I, at the planned sha and protocol, of a known architecture,
  each line within the store's limits (`ranker.store.MAX_LINE` and `limits_problem`); it never
  replaces a settled result the store already holds unless the plan was made with `--force`,
  so one shard cannot overwrite another's result. A file that breaks any of these is refused
  whole (a tampered shard is not half-trusted), with a line naming the file, the line and the
  record; nothing of it is written, and the other files are merged. Without `--plan`, the
  limits and the architecture are checked but not the assignment.

Merged records are keyed by (model, revision, protocol version), with the precedence of
`Store.merge_results`: a new key is added, a stored key keeps the later `evaluated_at`. Only the
files of the buckets a merge changes are rewritten (sorted, each atomically); merging a file
twice changes nothing, byte for byte.

`--catalog FILE` and `--requests FILE` fold another copy's catalog and request queue in by key
(`Store.merge_catalog`, `Store.merge_requests`), for the nightly's merge job: it checks out the
current main, which may have gained a request during the night, and folds the night's crawl
into it instead of copying the crawl's files over it. Any refusal makes the command exit 1.

`--finetunes FILE ...` folds `ranker verify --results-out` unit files (the weekly matrix's
shards, `scripts/verify.sh`) into the store's finetuning results, with the same distrust: each
line checked as the store checks its own (`read_finetunes_lines`), of protocol `ft-1`, a task
of the suite, a known architecture, scored on the pinned commit of its task's data
(`check_units`); a file with a bad line is refused whole, naming the file and the line, and the
others are merged. Across the files one result a unit wins: a settled one over a transient
failure, then the later, then the greater canonical JSON (`finetune_precedence`), so the files'
order never matters; `Store.merge_finetunes` then never undoes a settled stored result.
`--pins FILE` takes the plan job's target-task pins first: written when the store has none,
kept when equal, refused when different (a moved pin is a protocol change).
"""

from __future__ import annotations

import json
import re
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ranker.errors import StoreError
from ranker.ft_protocol import FT_PROTOCOL_VERSION, TASKS
from ranker.records import (
    CatalogEntry,
    EvalResult,
    FinetuneResult,
    ModelRequest,
    is_valid_repo_id,
)
from ranker.repofiles import is_sha
from ranker.store import (
    MAX_LINE,
    MergeCounts,
    Store,
    atomic_write_text,
    finetune_precedence,
    read_finetunes_lines,
    read_other_records,
    read_results_lines,
    read_text_file,
)
from ranker.timestamps import utc_now

PLAN_VERSION = 1
MAX_SHARDS = 999  # as `scripts/nightly.sh` accepts (three digits)
MAX_PLAN_BYTES = 256 * 1024 * 1024  # a plan of a million models is ~100 MB
SHARD_FILE = re.compile(r"shard-(0|[1-9][0-9]{0,2})\.jsonl")


@dataclass(frozen=True)
class Assignment:
    """What the plan lets one shard return for one model."""

    shard: int
    architecture: str
    sha: str


@dataclass(frozen=True)
class Plan:
    """Which shard may evaluate which model (at which sha), made before the shards ran."""

    shards: int
    protocol_version: str
    force: bool
    models: dict[str, Assignment]
    max_models: int | None = None
    created_at: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "plan_version": PLAN_VERSION,
            "shards": self.shards,
            "protocol_version": self.protocol_version,
            "force": self.force,
            "max_models": self.max_models,
            "created_at": self.created_at,
            "models": {
                m: {"shard": a.shard, "architecture": a.architecture, "sha": a.sha}
                for m, a in sorted(self.models.items())
            },
        }


def make_plan(
    store: Store,
    shards: int,
    *,
    max_models: int | None = None,
    architectures: list[str] | None = None,
    force: bool = False,
) -> Plan:
    """The plan for `shards` shard runs of the store's current queue (see the module)."""
    from ranker.pipeline import pending
    from ranker.protocol import PROTOCOL_VERSION

    if not 1 <= shards <= MAX_SHARDS:
        raise StoreError(store.root, f"--shards: expected 1 to {MAX_SHARDS}, got {shards}")
    if max_models is not None and max_models < 0:
        raise StoreError(store.root, f"--max-models: expected 0 or more, got {max_models}")
    models: dict[str, Assignment] = {}
    for index in range(shards):
        queue = pending(
            store, PROTOCOL_VERSION, force=force, architectures=architectures,
            shard=(index, shards),
        )  # fmt: skip
        for entry in queue[:max_models] if max_models is not None else queue:
            models[entry.model_id] = Assignment(index, entry.architecture, entry.sha)
    return Plan(shards, PROTOCOL_VERSION, force, models, max_models, utc_now())


def write_plan(plan: Plan, path: Path) -> None:
    atomic_write_text(path, json.dumps(plan.to_dict(), indent=1, sort_keys=True) + "\n")


def read_plan(path: Path | str) -> Plan:
    """A plan file, every field checked; StoreError naming the file and the field."""
    path = Path(path)
    try:
        size = path.stat().st_size
    except OSError:
        size = 0  # read_text_file says why
    if size > MAX_PLAN_BYTES:
        raise StoreError(path, f"{size:,} bytes, more than a plan's {MAX_PLAN_BYTES:,}")
    text = read_text_file(path)
    try:
        data = json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise StoreError(path, f"not valid JSON: {exc}") from None

    def bad(name: str, why: str) -> StoreError:
        return StoreError(path, why, field=name)

    if not isinstance(data, dict):
        raise StoreError(path, "expected a JSON object")
    if data.get("plan_version") != PLAN_VERSION:
        raise bad("plan_version", f"expected {PLAN_VERSION}, got {data.get('plan_version')!r}")
    shards = data.get("shards")
    if type(shards) is not int or not 1 <= shards <= MAX_SHARDS:
        raise bad("shards", f"expected 1 to {MAX_SHARDS}, got {shards!r}")
    protocol = data.get("protocol_version")
    if not isinstance(protocol, str) or not 0 < len(protocol) <= 100:
        raise bad("protocol_version", f"expected a protocol version, got {protocol!r}")
    force = data.get("force")
    if type(force) is not bool:
        raise bad("force", f"expected true or false, got {force!r}")
    max_models = data.get("max_models")
    if max_models is not None and (type(max_models) is not int or max_models < 0):
        raise bad("max_models", f"expected a count or null, got {max_models!r}")
    raw = data.get("models")
    if not isinstance(raw, dict):
        raise bad("models", "expected an object of model id: assignment")
    models = {}
    for model, value in raw.items():
        where = f"models.{model}"
        if not is_valid_repo_id(model):
            raise bad("models", f"invalid hub repo id {model!r}")
        if not isinstance(value, dict) or set(value) != {"shard", "architecture", "sha"}:
            raise bad(where, "expected {shard, architecture, sha}")
        shard, arch, sha = value["shard"], value["architecture"], value["sha"]
        if type(shard) is not int or not 0 <= shard < shards:
            raise bad(where, f"shard {shard!r} is not one of 0 to {shards - 1}")
        if not is_valid_repo_id(arch):
            raise bad(where, f"invalid architecture id {arch!r}")
        if not is_sha(sha):
            raise bad(where, f"expected a 40-hex sha, got {sha!r}")
        models[model] = Assignment(shard, arch, sha)
    created = data.get("created_at")
    return Plan(
        shards, protocol, force, models, max_models, created if isinstance(created, str) else ""
    )


def shard_index(path: Path) -> int | None:
    """The shard index in a file name `shard-<I>.jsonl`; None for any other name."""
    match = SHARD_FILE.fullmatch(path.name)
    return int(match.group(1)) if match else None


def check_shard(
    path: Path,
    lines: list[tuple[int, EvalResult]],
    *,
    known: set[str],
    plan: Plan | None,
) -> None:
    """Refuse (StoreError, file:line, the record) a shard's record that its shard may not
    return: an unknown architecture; with a plan, a model not assigned to this shard (by the
    file's name), at another sha, under another protocol, or filed under another architecture.
    """
    index = shard_index(path)
    if plan is not None:
        if index is None:
            raise StoreError(path, "with --plan, a shard file must be named shard-<I>.jsonl")
        if index >= plan.shards:
            raise StoreError(path, f"shard {index} is not in the plan's {plan.shards} shards")
    for number, r in lines:
        who = f"model {r.model_id!r} at revision {r.revision!r}"

        def refuse(name: str, why: str, who: str = who, number: int = number) -> StoreError:
            return StoreError(path, f"{who}: {why}", line=number, field=name)

        if r.architecture not in known:
            raise refuse("architecture", f"unknown architecture {r.architecture!r}")
        if plan is None:
            continue
        assigned = plan.models.get(r.model_id)
        if assigned is None:
            raise refuse("model_id", "not in the plan (no shard was given this model)")
        if assigned.shard != index:
            raise refuse("model_id", f"the plan gave it to shard {assigned.shard}, not {index}")
        if r.revision != assigned.sha:
            raise refuse("revision", f"the plan gave revision {assigned.sha!r}")
        if r.protocol_version != plan.protocol_version:
            raise refuse("protocol_version", f"the plan is for {plan.protocol_version!r}")
        if r.architecture != assigned.architecture:
            raise refuse("architecture", f"the plan has it as {assigned.architecture!r}")


@dataclass
class FileMerge:
    """One file's outcome: its counts, or the error that refused it."""

    path: Path
    counts: MergeCounts | None = None
    error: StoreError | None = None
    kind: str = "results"  # "results", "catalog" or "requests"


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
            if f.counts is not None and f.kind == "results":
                out = out + f.counts
        return out

    def text(self) -> str:
        """What was merged, per file and in all (refusals are in `refused`)."""
        lines = [
            f"{f.path}{'' if f.kind == 'results' else f' ({f.kind})'}: {f.counts.text()}"
            for f in self.files
            if f.counts is not None
        ]
        results = [f for f in self.files if f.kind == "results"]
        merged = sum(1 for f in results if f.error is None)
        line = f"merged {merged} of {len(results)} files into {self.store}: "
        line += self.total.text()
        if self.refused:
            line += f"; refused {len(self.refused)} file(s) (nothing of them merged)"
        return "\n".join([*lines, line])


def merge_files(
    store: Store,
    files: Sequence[Path | str],
    *,
    plan: Plan | None = None,
    max_line: int = MAX_LINE,
) -> MergeReport:
    """Check every file (`read_results_lines`, `check_shard`), then merge the good ones in
    order (`Store.merge_results` each)."""
    store.check()
    known = {a.id for a in store.architectures()}
    checked: list[tuple[Path, list[EvalResult] | StoreError]] = []
    for name in files:
        path = Path(name)
        try:
            lines = read_results_lines(path, max_line=max_line)
            check_shard(path, lines, known=known, plan=plan)
            checked.append((path, [r for _, r in lines]))
        except StoreError as exc:
            checked.append((path, exc))
    report = MergeReport(store.results_dir)
    keep_settled = plan is not None and not plan.force
    for path, records in checked:
        if isinstance(records, StoreError):
            report.files.append(FileMerge(path, error=records))
        else:
            counts = store.merge_results(records, keep_settled=keep_settled)
            report.files.append(FileMerge(path, counts=counts))
    return report


def merge_other(store: Store, path: Path, kind: str, *, max_line: int = MAX_LINE) -> FileMerge:
    """Fold another copy's catalog (`kind` "catalog") or request queue ("requests") in."""
    try:
        if kind == "catalog":
            counts = store.merge_catalog(read_other_records(path, CatalogEntry, max_line=max_line))
        else:
            counts = store.merge_requests(read_other_records(path, ModelRequest, max_line=max_line))
    except StoreError as exc:
        return FileMerge(path, error=exc, kind=kind)
    return FileMerge(path, counts=counts, kind=kind)


# -- ranker verify's unit files (the weekly matrix's shards) -----------------------------------

MAX_PINS_BYTES = 64 * 1024  # three tasks' pins are ~400 bytes


def check_units(
    path: Path, lines: list[tuple[int, FinetuneResult]], *, known: set[str],
    pins: dict[str, dict[str, str]],
) -> None:  # fmt: skip
    """Refuse (StoreError, file:line) a unit's result the store must not take: another
    protocol, a task outside the suite, an unknown architecture, a score read from other data
    than the pinned commit of its task (with pins; an ok result must name its data)."""
    for number, r in lines:

        def refuse(name: str, why: str, number: int = number, r: FinetuneResult = r) -> StoreError:
            return StoreError(path, f"model {r.model_id!r}, task {r.task!r}, seed {r.seed}: "
                              f"{why}", line=number, field=name)  # fmt: skip

        if r.protocol_version != FT_PROTOCOL_VERSION:
            raise refuse("protocol_version", f"expected {FT_PROTOCOL_VERSION!r}")
        if r.task not in TASKS:
            raise refuse("task", f"not a task of {FT_PROTOCOL_VERSION} ({', '.join(TASKS)})")
        if r.architecture not in known:
            raise refuse("architecture", f"unknown architecture {r.architecture!r}")
        pin = pins.get(r.task, {}).get("revision")
        named = r.status == "ok" or r.data_revision is not None
        if pin is not None and named and r.data_revision != pin:
            raise refuse("data_revision", f"the task is pinned at {pin!r}")


def read_pins(path: Path | str) -> dict[str, dict[str, str]]:
    """The target tasks' pins of another copy (`ranker verify --pin-only` in the plan job),
    read as the store reads its own, each a task of the suite on the suite's repo."""
    path = Path(path)
    text = read_text_file(path, max_bytes=MAX_PINS_BYTES)
    if len(text.encode()) > MAX_PINS_BYTES:
        raise StoreError(path, f"more than {MAX_PINS_BYTES:,} bytes")
    with tempfile.TemporaryDirectory() as tmp:  # the store's own reader, on a copy
        copy = Store(tmp)
        atomic_write_text(copy.path(Store.TARGET_PINS), text)
        try:
            pins = copy.target_revisions()
        except StoreError as exc:
            raise StoreError(path, exc.reason, line=exc.line, field=exc.field) from None
    for task, pin in pins.items():
        if task not in TASKS or pin["repo"] != TASKS[task].repo:
            raise StoreError(path, f"task {task!r} on {pin['repo']!r} is not one of the suite's",
                             field="tasks")  # fmt: skip
    return pins


def take_pins(store: Store, path: Path | str) -> bool:
    """The plan's pins into the store: written when it has none, nothing when they are the
    same; a different pin is a StoreError (moving a pin changes the protocol's data)."""
    pins, have = read_pins(path), store.target_revisions()
    if have == pins:
        return False
    if have:
        moved = sorted(t for t in {*pins, *have} if pins.get(t) != have.get(t))
        raise StoreError(path, f"pins another commit than the store for {', '.join(moved)}; "
                         "moving a pin is a protocol change", field="tasks")  # fmt: skip
    store.write_target_revisions(pins)
    return True


@dataclass
class FinetuneMerge:
    """What `merge_finetune_files` did: the keyed merge's counts, the files taken and refused."""

    store: Path
    counts: MergeCounts
    merged: list[Path] = field(default_factory=list)
    refused: list[FileMerge] = field(default_factory=list)

    def text(self) -> str:
        total = len(self.merged) + len(self.refused)
        line = f"merged {len(self.merged)} of {total} unit files into {self.store}: "
        line += self.counts.text()
        if self.refused:
            line += f"; refused {len(self.refused)} file(s) (nothing of them merged)"
        return line


def merge_finetune_files(
    store: Store, files: Sequence[Path | str], *, max_line: int = MAX_LINE
) -> FinetuneMerge:
    """Check every unit file (`read_finetunes_lines`, `check_units` against the store's pins),
    fold the good ones by key (`finetune_precedence`), then `Store.merge_finetunes` once: a
    file with a bad line is refused whole, nothing of it written; the others are merged."""
    store.check()
    known, pins = {a.id for a in store.architectures()}, store.target_revisions()
    out = FinetuneMerge(store.path(Store.FINETUNES), MergeCounts())
    by_key: dict[tuple[str, str, str, str, int], FinetuneResult] = {}
    for name in files:
        path = Path(name)
        try:
            lines = read_finetunes_lines(path, max_line=max_line)
            check_units(path, lines, known=known, pins=pins)
        except StoreError as exc:
            out.refused.append(FileMerge(path, error=exc, kind="finetunes"))
            continue
        out.merged.append(path)
        for _, r in lines:
            have = by_key.get(r.key)
            if have is None or finetune_precedence(r) > finetune_precedence(have):
                by_key[r.key] = r
    if by_key:
        out.counts = store.merge_finetunes(by_key.values())
    return out
