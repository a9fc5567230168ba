"""Evaluation as one object: a model (and its base) through fetch -> checks -> features ->
probe -> `EvalResult`.

An `Evaluator` holds what every model of a run shares: the probe data, how to run (`Options`),
the door to the hub (passed in), the commits already known for the bases, and two bounded
caches (token ids per tokenizer, each base's per-pair correctness). A process keeps one warm for
a whole run: the local executor, and each Ray worker for its life.

A failure is a record only when the model's own content (or the hub serving it) caused it:
a `ModelFailure` becomes an error record naming its typed reason, so a batch of models goes on
past a bad one. Everything else propagates: a `RunFailure` (no device, a missing package, a bad
token, the hub's quota) stops the run; `BaseUnavailable` (the finetune is fine, its base is not)
leaves the finetune queued; any other exception, `RankerError`s included (a probe that does not
converge on finite features), is a bug of ours, never stored against the model.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ranker import bits, protocol
from ranker.cachedir import default_cache_dir
from ranker.errors import (
    FailureKind,
    InvalidRepoIdError,
    ModelFailure,
    ModelRefused,
    Reason,
    RunFailure,
)
from ranker.evaluate import fetch, loading, probe, steps
from ranker.evaluate.caches import (
    MAX_BASES,
    MAX_TOKENIZERS,
    Bounded,
    feature_cache_key,
    features_path,
    read_features,
    write_features,
)
from ranker.evaluate.data import ProbeData
from ranker.evaluate.fetch import Fetched
from ranker.evaluate.steps import Timer
from ranker.hub import Hub
from ranker.records import SCHEMA_VERSION, Architecture, EvalResult
from ranker.timestamps import utc_now


@dataclass
class Options:
    """How to run (not what the protocol is): device, caches, caps, progress."""

    device: str = "auto"
    cache_dir: Path = field(default_factory=default_cache_dir)
    max_params: int = protocol.DEFAULT_MAX_PARAMS
    progress: bool = False
    hub_cache: Path | None = None
    # The run's door to the hub (endpoint, token, retries, counters), made by the caller and
    # passed in; an evaluator given none opens a default `Hub()` of its own.
    hub: Hub | None = None


@dataclass(frozen=True)
class Scored:
    """A model's per-pair correctness and what the record says about how it was scored."""

    model_id: str
    revision: str
    tokenizer: str
    correct: np.ndarray
    architecture: str | None = None
    base: str | None = None
    weight_format: str | None = None
    logme: float | None = None
    hscore: float | None = None
    base_files: Fetched | None = None  # the base's files, when its tokenizer was borrowed


@dataclass(frozen=True)
class Request:
    """One model to evaluate: the argument (hub id or local path) and what is known of it."""

    model: str
    key: str  # its store id
    checked: bool  # whether `model` was validated as a hub id already (by `model_key`)
    revision: str | None = None
    architecture: Architecture | None = None
    architectures: tuple[Architecture, ...] = ()
    base: str | None = None


class Evaluator:
    """Scores models under the protocol; see the module's docstring."""

    def __init__(
        self,
        data: ProbeData,
        options: Options | None = None,
        *,
        hub: Hub | None = None,
        base_revisions: Mapping[str, str] | None = None,
    ) -> None:
        """`base_revisions`: the commits already known for base models (the catalog's shas),
        so that a base's revision costs no info request per finetune."""
        self.data = data
        self.options = options or Options()
        door = hub if hub is not None else self.options.hub
        self.hub = door if door is not None else Hub()
        self.base_revisions = dict(base_revisions or {})
        # token ids and pad id per (tokenizer content, data fingerprint)
        self.tokens: Bounded[tuple[str, str], tuple[Any, int]] = Bounded(MAX_TOKENIZERS)
        # a base's per-pair correctness by its feature cache key: one fit per process
        self.base_probes: Bounded[str, np.ndarray] = Bounded(MAX_BASES)

    def evaluate(
        self,
        model: str,
        *,
        revision: str | None = None,
        architecture: Architecture | None = None,
        base: str | None = None,
        model_id: str | None = None,
        architectures: list[Architecture] | None = None,
    ) -> EvalResult:
        """Score one model; a failure of the model or the hub gives an error record with its
        typed reason. Any other exception is a bug of ours and propagates: it must not be
        stored as the model's fault.

        The base (for the gain) is `base`, else the architecture's id; the architecture is the
        one given, else the tracked one (of `architectures`) whose dimensions the model's
        config has."""
        timer = Timer()
        key = model_id or fetch.model_key(model)
        request = Request(model, key, model_id is None, revision, architecture,
                          tuple(architectures or ()), base)  # fmt: skip
        common = self._common(request)
        try:
            from ranker.evaluate import features as F

            device = F.pick_device(self.options.device)
            F.reset_peak(device)
            scored = self.score(request, device, timer)
            common["revision"] = scored.revision
            common["architecture"] = scored.architecture or common["architecture"]
            return self._record(common, scored, device, timer)
        except ModelFailure as exc:  # the model's content, the hub serving it, or its size
            if exc.kind is FailureKind.RUN:  # never the model's: the run stops
                raise RunFailure(str(exc), exc.reason) from None
            return EvalResult(**common, status="error", error=str(exc), reason=exc.reason.value,
                              failure=exc.kind.value, timings=timer.rounded())  # fmt: skip

    def _common(self, request: Request) -> dict[str, Any]:
        """The fields every record of this request has, scored or not."""
        arch = request.architecture
        return {
            "schema_version": SCHEMA_VERSION,
            "model_id": request.key,
            "architecture": arch.id if arch else _base_name(request.base),
            "revision": request.revision or "unknown",
            "protocol_version": protocol.PROTOCOL_VERSION,
            "evaluated_at": utc_now(),
            "n_train": len(self.data.train),
            "n_eval": len(self.data.eval),
            "seed": self.data.seed,
            "data_fingerprint": self.data.fingerprint,
            "data_revision": self.data.revision,
        }

    def _record(
        self, common: dict[str, Any], scored: Scored, device: Any, timer: Timer
    ) -> EvalResult:
        """The scored model's record, with its gain over its base when it has one."""
        from ranker.evaluate import features as F

        acc, low, high = probe.bootstrap_accuracy(scored.correct)
        gain = gain_low = gain_high = None
        if scored.base is not None:
            base_scored = self.score_base(scored, device, timer)
            gain, gain_low, gain_high = probe.paired_bootstrap_gain(
                scored.correct, base_scored.correct
            )
        return EvalResult(
            **common, status="ok", accuracy=acc, accuracy_low=low, accuracy_high=high,
            gain=gain, gain_low=gain_low, gain_high=gain_high, tokenizer=scored.tokenizer,
            weight_format=scored.weight_format, correct=bits.encode_correct(scored.correct > 0.5),
            logme=scored.logme, hscore=scored.hscore, precision=F.precision_for(device),
            device=F.device_name(device), peak_memory_mb=round(F.peak_memory_mb(device), 1),
            timings=timer.rounded(), versions=steps.versions(F.library_versions()),
        )  # fmt: skip

    def score(self, request: Request, device: Any, timer: Timer) -> Scored:
        """The model's per-pair correctness (no gain yet), after every check of its files."""
        architecture, base = request.architecture, request.base
        with timer("download"):
            files = self.fetch(request.model, request.revision, checked=request.checked)
            ckpt = self.inspect(files, request.key)
            if architecture is None and request.architectures:
                architecture = loading.match_architecture(ckpt.config, list(request.architectures))
            if architecture is not None:
                loading.check_architecture(ckpt, architecture)
                base = base or architecture.id
            base_files = None if ckpt.has_tokenizer else self._borrowed_tokenizer(ckpt, base)
        tok_folder, tok_name = files.folder, request.key
        if base_files is not None:
            tok_folder, tok_name = base_files.folder, base_files.model_id
        feats = self.features(ckpt, tok_folder, device, timer)
        correct, z_train = steps.fit(feats, self.data, timer, device)
        logme, hscore = steps.estimate_transfer(feats[0], z_train, self.data.train.labels, timer)
        arch = architecture.id if architecture else None
        return Scored(request.key, files.revision, tok_name, correct, arch, base,
                      ckpt.weight_format, logme, hscore, base_files)  # fmt: skip

    def _borrowed_tokenizer(self, ckpt: loading.Checkpoint, base: str | None) -> Fetched:
        """The base's files, for a model that ships no tokenizer: their failure is the base's."""
        if base is None:
            raise ModelRefused(
                f"{ckpt.model_id}: ships no tokenizer and no base model is known to borrow one "
                "from",
                Reason.TOKENIZER,
            )
        try:
            files = self.fetch(base, None)
            self.token_ids(files.folder)  # the base's tokenizer loads here, cached for features
        except ModelFailure as exc:
            raise steps.base_failure(base, exc) from None
        return files

    def fetch(self, model: str, revision: str | None, *, checked: bool = False) -> Fetched:
        """A model's files: a local folder, or a hub repo's through the door (at `revision`,
        else the base's known commit, else its latest). `checked`: the id is valid already."""
        if fetch.is_local(model):
            return fetch.resolve(model, revision, self.hub, None, self.options.max_params)
        if not checked:
            fetch.checked_repo_id(model)
        revision = revision or self.base_revisions.get(model)
        opts = self.options
        return fetch.resolve(model, revision, self.hub, opts.hub_cache, opts.max_params)

    def inspect(self, files: Fetched, key: str) -> loading.Checkpoint:
        """The checks of `loading.inspect` on fetched files (their selection made once)."""
        return loading.inspect(
            files.folder, key, files.revision, self.options.max_params, selection=files.selection
        )

    def features(
        self, ckpt: loading.Checkpoint, tok_folder: Path, device: Any, timer: Timer
    ) -> tuple[np.ndarray, np.ndarray]:
        """The (train, eval) features of a checked model; non-finite ones are the model's."""
        from ranker.evaluate import features as F

        with timer("tokenise"):
            encoded, pad_id = self.token_ids(tok_folder)
        try:
            with timer("load"):
                body = F.load_body(ckpt, device)
            with timer("forward"):
                x = F.encode(body, encoded, device, pad_id=pad_id, progress=self.options.progress)
            del body
        except F.MEMORY_ERRORS:
            from ranker.evaluate.resources import out_of_memory

            raise out_of_memory(f"{ckpt.model_id}: loading and running the model") from None
        if not np.isfinite(x).all():  # finite inputs, float32 weights: the weights made them
            raise ModelRefused(
                f"{ckpt.model_id}: the model's weights give non-finite features (NaN or infinity)",
                Reason.NON_FINITE,
            )
        n_train = len(self.data.train)
        return x[:n_train], x[n_train:]

    def token_ids(self, tok_folder: Path) -> tuple[Any, int]:
        """The probe pairs' token ids under the tokenizer in `tok_folder`, and its pad id; made
        once per tokenizer and kept for the `MAX_TOKENIZERS` most recently used."""
        from ranker.evaluate import features as F

        data = self.data
        tkey = (F.tokenizer_key(tok_folder), data.fingerprint)
        kept = self.tokens.get(tkey)
        if kept is not None:
            return kept
        tokenizer = F.load_tokenizer(tok_folder)
        pairs = (
            data.train.premises + data.eval.premises,
            data.train.hypotheses + data.eval.hypotheses,
        )
        self.tokens[tkey] = (F.tokenize(tokenizer, *pairs), tokenizer.pad_token_id or 0)
        return self.tokens[tkey]

    def score_base(self, model: Scored, device: Any, timer: Timer) -> Scored:
        """The base under the same protocol; its features are cached on disk, computed once.

        A base that fails for a typed reason raises `BaseUnavailable`: the finetune is not at
        fault. A `RunFailure` and our bugs propagate as they are."""
        assert model.base is not None
        try:
            return self._score_base(model.base, device, timer, model)
        except ModelFailure as exc:
            raise steps.base_failure(model.base, exc) from None

    def _score_base(self, base: str, device: Any, timer: Timer, model: Scored) -> Scored:
        from ranker.evaluate import features as F

        with timer("download"):
            files = model.base_files or self.fetch(base, None)
            key, rev = files.model_id, files.revision
            if (key, rev) == (model.model_id, model.revision):
                return model
            ckpt = self.inspect(files, key)
        digest = feature_cache_key(key, rev, self.data.fingerprint, F.precision_for(device),
                                   device.type, F.tokenizer_key(files.folder))  # fmt: skip
        kept = self.base_probes.get(digest)
        if kept is not None:  # the base's probe, fitted once per process
            return Scored(key, rev, key, kept)
        path = features_path(self.options.cache_dir, digest)
        feats = read_features(path, len(self.data.train), len(self.data.eval))
        if feats is None:
            feats = self.features(ckpt, files.folder, device, timer)
            write_features(path, feats)
        correct, _ = steps.fit(feats, self.data, timer, device)
        self.base_probes[digest] = correct
        return Scored(key, rev, key, correct)


def _base_name(base: str | None) -> str:
    """What an untracked model's record names as its architecture: its base, if valid."""
    try:
        return fetch.model_key(base) if base else "unknown"
    except InvalidRepoIdError:
        return "unknown"  # the base's own check reports it
