"""Typed, frozen records: the one place where stored rows become Python values.

Every stage exchanges these records through `ranker.store`; nothing else parses the files.
Each JSON Lines record carries `schema_version`, so a later format change can be told apart
from corruption: the store keeps a line of a newer `schema_version` as it is (never rewritten),
and a record of this version keeps the fields it does not know (`Versioned`). Each record
checks itself (`problem`): the store calls it on every read and write.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import math
import re
import types
import typing
from dataclasses import dataclass, field
from typing import Any

from ranker.repofiles import is_sha

SCHEMA_VERSION = 1

# The 36 target datasets of the 2023 ranking, in the published column order.
LEGACY_TASKS: tuple[str, ...] = (
    "cola", "mrpc", "qqp", "stsb", "boolq", "cb", "copa", "multirc", "wic", "wsc",
    "ag_news", "isear", "yahoo_answers", "dbpedia", "20_newsgroup", "trec_fine", "trec_coarse",
    "poem_sentiment", "imdb", "rotten_tomatoes", "sst_5bins", "sst2", "amazon_reviews_multi",
    "financial_phrasebank", "tweet_ev_emoji", "tweet_ev_emotion", "tweet_ev_hate",
    "tweet_ev_irony", "tweet_ev_offensive", "tweet_ev_sentiment", "mnli", "qnli", "rte", "wnli",
    "esnli", "anli",
)  # fmt: skip

# Hub repo ids: "name" or "namespace/name", the rule of huggingface_hub's validate_repo_id
# (word characters, "-" and "."; starting and ending with a word character; no "--" or ".."),
# restricted to ASCII so an id is always safe in a path or a URL.
_REPO_PART = r"[A-Za-z0-9_](?:[A-Za-z0-9_.-]{0,94}[A-Za-z0-9_])?"
_REPO_ID = re.compile(rf"^(?:{_REPO_PART}/)?{_REPO_PART}$")


def is_valid_repo_id(repo_id: object) -> bool:
    """True for ids that are safe to put into a file path or a URL."""
    return (
        isinstance(repo_id, str)
        and _REPO_ID.fullmatch(repo_id) is not None
        and ".." not in repo_id
        and "--" not in repo_id
        and not repo_id.endswith(".git")
    )


CATALOG_STATUSES: tuple[str, ...] = ("ok", "excluded", "unclassified", "removed")
RESULT_STATUSES: tuple[str, ...] = ("ok", "error")
_RESULT_STATUS_SET = frozenset(RESULT_STATUSES)


def _repo_problem(name: str, value: str) -> tuple[str, str] | None:
    return None if is_valid_repo_id(value) else (name, f"invalid hub repo id {value!r}")


def _sha_problem(value: str) -> tuple[str, str] | None:
    return (
        None if is_sha(value) else ("sha", f"expected 40 lowercase hex characters, got {value!r}")
    )


def _choice_problem(name: str, value: str, choices: tuple[str, ...]) -> tuple[str, str] | None:
    return (
        None if value in choices else (name, f"expected one of {', '.join(choices)}, got {value!r}")
    )


class RecordError(ValueError):
    """A value that does not fit its record field; the store adds file and line."""

    def __init__(self, field_name: str, message: str) -> None:
        self.field = field_name
        self.reason = message
        super().__init__(f"field {field_name!r}: {message}")


def _coerce(name: str, value: Any, hint: Any) -> Any:
    """Check (and gently convert) one value against its type hint."""
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        inner = [a for a in args if a is not type(None)]
        return _coerce(name, value, inner[0])
    if value is None:
        raise RecordError(name, "is required")
    if hint is str:
        if not isinstance(value, str):
            raise RecordError(name, f"expected text, got {value!r}")
        return value
    if hint is bool:
        if not isinstance(value, bool):
            raise RecordError(name, f"expected true/false, got {value!r}")
        return value
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise RecordError(name, f"expected an integer, got {value!r}")
        return value
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise RecordError(name, f"expected a number, got {value!r}")
        if not math.isfinite(value):
            raise RecordError(name, f"expected a finite number, got {value!r}")
        return float(value)
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            raise RecordError(name, f"expected a list, got {value!r}")
        return tuple(_coerce(name, v, args[0]) for v in value)
    if origin is dict:
        if not isinstance(value, dict):
            raise RecordError(name, f"expected a mapping, got {value!r}")
        return {
            _coerce(name, k, args[0]): _coerce(f"{name}.{k}", v, args[1]) for k, v in value.items()
        }
    if hint is Any:
        return value
    raise TypeError(f"unsupported hint {hint!r} for {name}")  # a bug in a record definition


@functools.cache
def _hints(cls: type) -> dict[str, Any]:
    """A record class's resolved type hints: resolving them per row was most of a read's time."""
    return typing.get_type_hints(cls)


# The dataclass field where a record of a versioned schema keeps the fields it was read with
# that its type does not define (see `Versioned`).
EXTRA = "extra_fields"


class Record:
    """Mixin: build from a plain mapping with validation, and back.

    `from_dict` is the slow, exact path that names the field a value does not fit; the store
    decodes its JSON Lines files with msgspec (`ranker.store.codec`) and falls back to it.
    """

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> typing.Self:
        hints = _hints(cls)
        values = {}
        for f in _fields(cls):
            if f.name in data:
                values[f.name] = _coerce(f.name, data[f.name], hints[f.name])
            elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                raise RecordError(f.name, "is missing")
        if EXTRA in hints and len(values) < len(data):
            # fields this version does not know (a later version of the same schema added
            # them): kept with the record so that a rewrite writes them back (`to_dict`)
            values[EXTRA] = {k: v for k, v in data.items() if k not in values}
        return cls(**values)

    def to_dict(self) -> dict[str, Any]:
        out = {}
        for f in _fields(type(self)):
            value = getattr(self, f.name)
            out[f.name] = list(value) if isinstance(value, tuple) else value
        extra = getattr(self, EXTRA, None)
        if extra:
            out.update((k, v) for k, v in extra.items() if k not in out)
        return out

    def problem(self) -> tuple[str, str] | None:
        """(field, what is wrong) for a well-typed record that is still invalid; None if it
        is valid. The one place of a record's rules beyond its types."""
        return None


@functools.cache
def _fields(cls: type) -> tuple[dataclasses.Field[Any], ...]:
    """A record type's own fields: those it stores, without the unknown ones (`EXTRA`)."""
    return tuple(f for f in dataclasses.fields(cls) if f.name != EXTRA)


@dataclass(frozen=True)
class Versioned(Record):
    """A record of a JSON Lines file that carries `schema_version`.

    Why unknown fields are kept: a record written by a later version of the same schema
    (same `schema_version`, a field added) must come back unchanged when this version
    rewrites its file (`ranker compact`, a merge), and through a `dataclasses.replace`;
    dropping the fields would silently downgrade it. They are not compared, so records that
    differ only there are equal (a merge sees one result). Records of a newer
    `schema_version` are not built at all: the store keeps their lines byte for byte.
    """

    extra_fields: dict[str, Any] = field(
        default_factory=dict, compare=False, repr=False, kw_only=True
    )


@dataclass(frozen=True)
class Architecture(Record):
    """A tracked architecture: its pretrained base and what identifies its finetunes."""

    id: str  # the base model's canonical hub id, e.g. "roberta-base"
    slug: str  # file-name-safe id used for pages and downloads
    title: str
    model_type: str
    hidden_size: int
    num_layers: int
    vocab_size: int
    intermediate_size: int  # tells t5-base (3072) from google/t5-v1_1-base (2048)
    aliases: tuple[str, ...] = ()  # other hub spellings, e.g. "FacebookAI/roberta-base"

    @property
    def hub_ids(self) -> tuple[str, ...]:
        return (self.id, *self.aliases)

    @property
    def dims(self) -> tuple[Any, ...]:
        return (self.model_type, self.hidden_size, self.num_layers, self.vocab_size,
                self.intermediate_size)  # fmt: skip

    def problem(self) -> tuple[str, str] | None:
        for name, hub_id in (("id", self.id), *(("aliases", a) for a in self.aliases)):
            if not is_valid_repo_id(hub_id):
                return name, f"invalid hub repo id {hub_id!r}"
        if not is_valid_repo_id(self.slug) or "/" in self.slug:
            return "slug", f"slug {self.slug!r} is not file-name safe"
        return None

    def matches(self, config: dict[str, Any]) -> bool:
        """The one rule for "does this config.json belong to the architecture": same model_type
        and the same four dimensions (the hub's listings never carry them; read config.json)."""
        return config_dims(config) == self.dims


# config.json keys for (hidden size, layers, vocabulary, feed-forward width): T5's, else BERT's.
_DIM_KEYS: dict[str, tuple[str, str, str, str]] = {
    "t5": ("d_model", "num_layers", "vocab_size", "d_ff"),
    "mt5": ("d_model", "num_layers", "vocab_size", "d_ff"),
}
_DEFAULT_DIM_KEYS = ("hidden_size", "num_hidden_layers", "vocab_size", "intermediate_size")
DIM_NAMES = ("model_type", "hidden", "layers", "vocab", "feed-forward")


def config_dims(config: dict[str, Any]) -> tuple[Any, ...]:
    """(model_type, hidden, layers, vocab, feed-forward) of a config.json, None where absent."""
    keys = _DIM_KEYS.get(str(config.get("model_type")), _DEFAULT_DIM_KEYS)
    return (config.get("model_type"), *(config.get(k) for k in keys))


def describe_dims(dims: tuple[Any, ...]) -> str:
    """Dimensions in words, for a catalog entry's `detail` and error messages."""
    return ", ".join(f"{n} {v}" for n, v in zip(DIM_NAMES, dims, strict=True))


@dataclass(frozen=True)
class LegacyModel(Record):
    """One model of the published 2023 ranking (IBM model-recycling), defects flagged."""

    model_id: str
    architecture: str
    params: int | None
    tokenizer: str
    model_type: str
    last_modified: str
    mnli_lp: float | None  # None where the published value was 0 (a failed probe)
    scores: dict[str, float | None]  # the 36 tasks; None where missing
    avg: float | None  # mean of the 36 tasks; None unless all 36 are present
    gain: float | None  # avg minus the baseline's 20-seed mean avg
    flags: tuple[str, ...] = ()  # defects and roles: see ranker.store.legacy_import
    shifted_from: str | None = None  # first task of a suspected column shift

    @property
    def is_pretrained(self) -> bool:
        return "pretrained" in self.flags


@dataclass(frozen=True)
class LegacyBaseline(Record):
    """The pretrained model finetuned on one task with several seeds (`metric` 'avg' = all 36)."""

    architecture: str
    metric: str
    mean: float
    std: float
    n_seeds: int


@dataclass(frozen=True)
class CatalogEntry(Versioned):
    """A hub model the crawler found for an architecture, at one revision."""

    schema_version: int
    model_id: str
    architecture: str
    sha: str
    status: str  # "ok", "excluded", "unclassified" (config not read yet) or "removed"
    reason: str | None = None  # why excluded or unclassified: see ranker.crawl.classify.REASONS
    last_modified: str | None = None
    downloads: int | None = None
    likes: int | None = None
    license: str | None = None
    library: str | None = None
    pipeline_tag: str | None = None
    params: int | None = None
    first_seen: str | None = None
    last_seen: str | None = None
    found_by: str | None = None  # "lineage" (base_model tag), "config" or "legacy" (2023 data)
    tags: tuple[str, ...] = ()
    detail: str | None = None  # what the classification saw, in words (e.g. the config's dims)
    renamed_to: str | None = None  # set with status "removed" when the repo moved to a new id

    @property
    def key(self) -> str:
        return self.model_id

    def problem(self) -> tuple[str, str] | None:
        problem = (
            _repo_problem("model_id", self.model_id)
            or _sha_problem(self.sha)
            or _choice_problem("status", self.status, CATALOG_STATUSES)
        )
        if problem is None and self.renamed_to is not None:
            problem = _repo_problem("renamed_to", self.renamed_to)
            if problem is None and self.status != "removed":
                return "renamed_to", f"set on a model with status {self.status!r}, not removed"
        return problem


@dataclass(frozen=True)
class EvalResult(Versioned):
    """One evaluation of one model revision under one protocol version: a score or an error."""

    schema_version: int
    model_id: str
    architecture: str
    revision: str
    protocol_version: str
    status: str  # "ok" or "error"
    evaluated_at: str
    error: str | None = None
    reason: str | None = None  # for errors: a ranker.errors.Reason value
    # for errors: a ranker.errors.FailureKind value: "transient" or "resource" (re-queued),
    # "permanent" (waits for the next commit)
    failure: str | None = None
    resource_nights: int | None = None  # resource failures in a row at this key, this one counted
    accuracy: float | None = None
    accuracy_low: float | None = None
    accuracy_high: float | None = None
    gain: float | None = None
    gain_low: float | None = None
    gain_high: float | None = None
    n_train: int | None = None
    n_eval: int | None = None
    seed: int | None = None
    data_fingerprint: str | None = None
    tokenizer: str | None = None
    weight_format: str | None = None  # "safetensors" or "pickle" (read with weights_only)
    # Per evaluation pair, in the evaluation sample's order: 1 where the probe was right;
    # np.packbits, base64. What lets the site test any two models on the same pairs (paired).
    correct: str | None = None
    logme: float | None = None  # LogME of the features on the training pairs (per sample)
    hscore: float | None = None  # H-score of the features on the training pairs
    precision: str | None = None  # the forward pass's float format, e.g. "fp32"
    data_revision: str | None = None  # the probe data's pinned revision (hub sha) or file hash
    device: str | None = None
    peak_memory_mb: float | None = None
    timings: dict[str, float] = field(default_factory=dict)
    versions: dict[str, str] = field(default_factory=dict)

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.model_id, self.revision, self.protocol_version)

    @property
    def settled(self) -> bool:
        """Whether this result ends the work on its key: a score, or a failure the model's own
        content caused (permanent). A transient, resource or untyped failure is tried again."""
        return self.status == "ok" or self.failure == "permanent"

    def problem(self) -> tuple[str, str] | None:
        return _repo_problem("model_id", self.model_id) or _choice_problem(
            "status", self.status, RESULT_STATUSES
        )

    @staticmethod
    def all_valid(results: list[EvalResult]) -> bool:
        """Whether `problem` finds nothing in any of `results`, in bulk (a 100k load): the
        statuses as a set, the ids as one text, by `is_valid_repo_id`'s rules."""
        if not {r.status for r in results} <= _RESULT_STATUS_SET:
            return False
        ids = [r.model_id for r in results]
        if not all(map(_REPO_ID.fullmatch, ids)):  # so no id holds a newline
            return False
        joined = "\n".join(ids) + "\n"
        return ".." not in joined and "--" not in joined and ".git\n" not in joined


REQUEST_STATUSES: tuple[str, ...] = ("queued", "replied")
_OUTCOME = re.compile(r"[a-z0-9-]{1,40}")


@dataclass(frozen=True)
class ModelRequest(Versioned):
    """An accepted request (a GitHub issue) to evaluate one model; see `ranker.requests`."""

    schema_version: int
    issue: int  # the GitHub issue number that asked
    model_id: str
    architecture: str
    sha: str  # the model's commit when it was requested
    status: str  # "queued" (waiting for a result) or "replied" (answered on the issue)
    requested_at: str
    replied_at: str | None = None
    outcome: str | None = None  # once replied: "ok", or the failure or exclusion reason

    @property
    def key(self) -> tuple[int, str]:
        return (self.issue, self.model_id)

    def problem(self) -> tuple[str, str] | None:
        if not 0 < self.issue < 10**9:
            return "issue", f"expected an issue number, got {self.issue!r}"
        problem = (
            _repo_problem("model_id", self.model_id)
            or _sha_problem(self.sha)
            or _choice_problem("status", self.status, REQUEST_STATUSES)
        )
        if problem is not None:
            return problem
        for name in ("requested_at", "replied_at"):
            value = getattr(self, name)
            if value is None:
                continue
            try:
                dt.datetime.fromisoformat(value)
            except ValueError:
                return name, f"not an ISO 8601 time: {value!r}"
        if self.outcome is not None and _OUTCOME.fullmatch(self.outcome) is None:
            return "outcome", f"expected a reason word, got {self.outcome!r}"
        return None


_STORED_FAILURES = ("transient", "permanent", "resource")  # FailureKind values but "run"


@dataclass(frozen=True)
class FinetuneResult(Versioned):
    """One `ranker verify` unit (protocol `ft-1`): a model revision on one target task with one
    seed. A score, or a failure typed as `EvalResult`'s (never a run's fault: `problem`)."""

    schema_version: int
    model_id: str
    architecture: str
    revision: str
    protocol_version: str  # "ft-1"
    task: str  # a `ranker.ft_protocol.TASKS` name
    seed: int
    status: str  # "ok" or "error"
    evaluated_at: str
    is_base: bool = False  # the architecture's pretrained base (the yardstick of the gains)
    metric: str | None = None  # "accuracy" or "pearson"
    score: float | None = None  # the metric on the task's evaluation sample
    error: str | None = None
    reason: str | None = None  # for errors: a ranker.errors.Reason value
    failure: str | None = None  # for errors: a ranker.errors.FailureKind value
    n_train: int | None = None
    n_eval: int | None = None
    data_revision: str | None = None  # the task repo's pinned commit
    data_fingerprint: str | None = None  # sha256 over the sampled examples of both splits
    tokenizer: str | None = None
    weight_format: str | None = None
    device: str | None = None
    settings: dict[str, Any] = field(default_factory=dict)  # `ft_protocol.settings()`
    timings: dict[str, float] = field(default_factory=dict)
    versions: dict[str, str] = field(default_factory=dict)

    @property
    def key(self) -> tuple[str, str, str, str, int]:
        return (self.model_id, self.revision, self.protocol_version, self.task, self.seed)

    settled = EvalResult.settled  # a score, or a failure of the model's own content

    def problem(self) -> tuple[str, str] | None:
        problem = _repo_problem("model_id", self.model_id)
        problem = problem or _choice_problem("status", self.status, RESULT_STATUSES)
        if problem is not None:
            return problem
        if not 0 <= self.seed < 2**31:
            return "seed", f"expected a seed from 0 to 2**31 - 1, got {self.seed!r}"
        if re.fullmatch(r"[a-z0-9_]{1,40}", self.task) is None:
            return "task", f"expected a task name, got {self.task!r}"
        if self.status == "ok" and self.score is None:
            return "score", "an ok result needs a score"
        if self.status == "error" and self.failure not in _STORED_FAILURES:  # a run's fault never
            return "failure", f"expected one of {', '.join(_STORED_FAILURES)}, got {self.failure!r}"
        return None
