"""Orchestration: one model (and its base) through data -> features -> probe -> `EvalResult`.

A failure is a record only when the model's own content (or the hub serving it) caused it:
a `ModelFailure` becomes an error record naming its typed reason, so a batch of models goes on
past a bad one. Everything else propagates: a `RunFailure` (no device, a missing package, a bad
token, the hub's quota) stops the run; `BaseUnavailable` (the finetune is fine, its base is not)
leaves the finetune queued; any other exception, `RankerError`s included (a probe that does not
converge on finite features), is a bug of ours, never stored against the model.
"""

from __future__ import annotations

import hashlib
import json
import platform
import sys
import time
import zipfile
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from ranker import __version__, bits, protocol
from ranker.errors import (
    FailureKind,
    InvalidRepoIdError,
    ModelFailure,
    RankerError,
    Reason,
    RunFailure,
)
from ranker.evaluate import fetch, loading, probe, transfer
from ranker.evaluate.data import ProbeData
from ranker.hub import Hub
from ranker.records import SCHEMA_VERSION, Architecture, EvalResult, is_valid_repo_id

DEFAULT_CACHE = Path.home() / ".cache" / "ranker"


@dataclass
class Options:
    """How to run (not what the protocol is): device, caches, caps, progress."""

    device: str = "auto"
    cache_dir: Path = DEFAULT_CACHE
    max_params: int = protocol.DEFAULT_MAX_PARAMS
    progress: bool = False
    hub_cache: Path | None = None
    hub: Hub | None = None  # the run's door to the hub (endpoint, token, retries, counters)
    # Commits already known for repos (the catalog's shas), so that a base model's revision
    # costs no info request per finetune.
    revisions: dict[str, str] = field(default_factory=dict)

    def door(self) -> Hub:
        if self.hub is None:
            self.hub = Hub()
        return self.hub


@dataclass
class _Timer:
    spent: dict[str, float] = field(default_factory=dict)

    @contextmanager
    def __call__(self, name: str) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            self.spent[name] = self.spent.get(name, 0.0) + time.perf_counter() - start


@dataclass(frozen=True)
class _Scored:
    model_id: str
    revision: str
    tokenizer: str
    correct: np.ndarray
    architecture: str | None = None
    base: str | None = None
    weight_format: str | None = None
    logme: float | None = None
    hscore: float | None = None


# Token ids per (tokenizer content, data fingerprint): shared by the models of a process run
# that share a tokenizer, least recently used first. Bounded: each entry is ~15 MiB at the
# protocol's sample sizes, and a night (or a Ray worker's life) meets hundreds of tokenizers.
MAX_TOKENIZERS = 8
_TOKENS: OrderedDict[tuple[str, str], Any] = OrderedDict()
# A base's per-pair correctness by its feature cache key (`feature_cache_key`): one fit per
# process. A plain dict: the Ray executor reads and fills it (a few KB per base).
_BASE_CORRECT: dict[str, np.ndarray] = {}


class BaseUnavailable(RankerError):
    """The base model (for the gain) could not be scored: no fault of the finetune's.

    Never stored against the finetune: the base's own failure is stored once, on the base (when
    it is evaluated as a model of its own), and its finetunes stay queued. `reason` is the base's
    typed reason."""

    def __init__(self, base: str, message: str, reason: Reason) -> None:
        self.base = base
        self.reason = Reason(reason)
        super().__init__(f"base model {base} cannot be scored: {message}")


def model_key(model: str) -> str:
    """The store id of a model argument: a hub id as given, or, for an explicit local path
    (`fetch.is_local`), the folder's cleaned name. A folder in the working directory named
    like a hub id is never taken for the hub repo."""
    path = Path(model).expanduser()
    if fetch.is_local(model):
        return loading._local_id(path)
    if not is_valid_repo_id(model):
        raise InvalidRepoIdError(model)
    return model


def evaluate_model(
    model: str,
    data: ProbeData,
    *,
    revision: str | None = None,
    architecture: Architecture | None = None,
    base: str | None = None,
    model_id: str | None = None,
    architectures: list[Architecture] | None = None,
    options: Options | None = None,
) -> EvalResult:
    """Score one model; a failure of the model or the hub gives an error record with its
    typed reason. Any other exception is a bug of ours and propagates: it must not be stored
    as the model's fault.

    The base (for the gain) is `base`, else the architecture's id; the architecture is the one
    given, else the tracked one (of `architectures`) whose dimensions the model's config has.
    """
    options = options or Options()
    timer = _Timer()
    key = model_id or model_key(model)
    arch_name = architecture.id if architecture else _base_name(base)
    common: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "model_id": key,
        "architecture": arch_name,
        "revision": revision or "unknown",
        "protocol_version": protocol.PROTOCOL_VERSION,
        "evaluated_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "n_train": len(data.train),
        "n_eval": len(data.eval),
        "seed": data.seed,
        "data_fingerprint": data.fingerprint,
        "data_revision": data.revision,
    }
    try:
        from ranker.evaluate import features as F

        device = F.pick_device(options.device)
        F.reset_peak(device)
        scored = _score(
            model, revision, key, architecture, architectures, base, data, device, options, timer
        )
        common["revision"] = scored.revision
        common["architecture"] = scored.architecture or common["architecture"]
        base = scored.base
        acc, low, high = probe.bootstrap_accuracy(scored.correct)
        gain = gain_low = gain_high = None
        if base is not None:
            base_scored = _score_base(base, data, device, options, timer, scored)
            gain, gain_low, gain_high = probe.paired_bootstrap_gain(
                scored.correct, base_scored.correct
            )
        return EvalResult(
            **common,
            status="ok",
            accuracy=acc,
            accuracy_low=low,
            accuracy_high=high,
            gain=gain,
            gain_low=gain_low,
            gain_high=gain_high,
            tokenizer=scored.tokenizer,
            weight_format=scored.weight_format,
            correct=bits.encode_correct(scored.correct > 0.5),
            logme=scored.logme,
            hscore=scored.hscore,
            precision=F.precision_for(device),
            device=F.device_name(device),
            peak_memory_mb=round(F.peak_memory_mb(device), 1),
            timings={k: round(v, 3) for k, v in timer.spent.items()},
            versions=_versions(F.library_versions()),
        )
    except ModelFailure as exc:  # the model's content, the hub serving it, or its size
        if exc.kind is FailureKind.RUN:  # never the model's: the run stops
            raise RunFailure(str(exc), exc.reason) from None
        return EvalResult(**common, status="error", error=str(exc), reason=exc.reason.value,
                          failure=exc.kind.value, timings=_round(timer))  # fmt: skip


def _base_name(base: str | None) -> str:
    """What an untracked model's record names as its architecture: its base, if valid."""
    try:
        return model_key(base) if base else "unknown"
    except InvalidRepoIdError:
        return "unknown"  # the base's own check reports it


def _round(timer: _Timer) -> dict[str, float]:
    return {k: round(v, 3) for k, v in timer.spent.items()}


def _versions(libs: dict[str, str]) -> dict[str, str]:
    return {"ranker": __version__, "python": platform.python_version(), **libs}


def _score(
    model: str,
    revision: str | None,
    key: str,
    architecture: Architecture | None,
    architectures: list[Architecture] | None,
    base: str | None,
    data: ProbeData,
    device: Any,
    options: Options,
    timer: _Timer,
) -> _Scored:
    with timer("download"):
        folder, _, rev = _fetch(model, revision, options)
        ckpt = loading.inspect(folder, key, rev, options.max_params)
        if architecture is None and architectures:
            architecture = loading.match_architecture(ckpt.config, architectures)
        if architecture is not None:
            loading.check_architecture(ckpt, architecture)
            base = base or architecture.id
        tok_folder, tok_name = folder, key
        if not ckpt.has_tokenizer:
            if base is None:
                raise loading.ModelRefused(
                    f"{key}: ships no tokenizer and no base model is known to borrow one from",
                    Reason.TOKENIZER,
                )
            try:  # the base's tokenizer: its failure is the base's, not this model's
                tok_folder, _, _ = _fetch(base, None, options)
            except ModelFailure as exc:
                raise _base_failure(base, exc) from None
            tok_name = model_key(base)
    feats = _features(ckpt, tok_folder, data, device, options, timer)
    correct, z_train = _probe(feats, data, timer, device)
    logme, hscore = _transfer(feats[0], z_train, data.train.labels, timer)
    arch = architecture.id if architecture else None
    return _Scored(key, rev, tok_name, correct, arch, base, ckpt.weight_format, logme, hscore)


def _fetch(model: str, revision: str | None, options: Options) -> tuple[Path, str, str]:
    if fetch.is_local(model):
        return fetch.resolve(model, revision, None, None, options.max_params)  # type: ignore[arg-type]
    revision = revision or options.revisions.get(model)
    return fetch.resolve(model, revision, options.door(), options.hub_cache, options.max_params)


def _features(ckpt, tok_folder: Path, data: ProbeData, device, options: Options, timer) -> tuple:
    from ranker.evaluate import features as F

    with timer("tokenise"):
        encoded, pad_id = _token_ids(tok_folder, data)
    try:
        with timer("load"):
            body = F.load_body(ckpt, device)
        with timer("forward"):
            x = F.encode(body, encoded, device, pad_id=pad_id, progress=options.progress)
        del body
    except F.MEMORY_ERRORS:
        from ranker.evaluate.resources import out_of_memory

        raise out_of_memory(f"{ckpt.model_id}: loading and running the model") from None
    if not np.isfinite(x).all():  # finite inputs, float32 weights: the weights made them
        raise loading.ModelRefused(
            f"{ckpt.model_id}: the model's weights give non-finite features (NaN or infinity)",
            Reason.NON_FINITE,
        )
    return x[: len(data.train)], x[len(data.train) :]


def _token_ids(tok_folder: Path, data: ProbeData) -> tuple[Any, int]:
    """The probe pairs' token ids under the tokenizer in `tok_folder`, and its pad id; made
    once per tokenizer and kept for the `MAX_TOKENIZERS` most recently used."""
    from ranker.evaluate import features as F

    tkey = (F.tokenizer_key(tok_folder), data.fingerprint)
    if tkey in _TOKENS:
        _TOKENS.move_to_end(tkey)
        return _TOKENS[tkey]
    tokenizer = F.load_tokenizer(tok_folder)
    pairs = (
        data.train.premises + data.eval.premises,
        data.train.hypotheses + data.eval.hypotheses,
    )
    _TOKENS[tkey] = (F.tokenize(tokenizer, *pairs), tokenizer.pad_token_id or 0)
    while len(_TOKENS) > MAX_TOKENIZERS:
        _TOKENS.popitem(last=False)
    return _TOKENS[tkey]


def _probe(
    feats: tuple[np.ndarray, np.ndarray], data: ProbeData, timer: _Timer, device=None
) -> tuple[np.ndarray, np.ndarray]:
    """Per-pair correctness on the evaluation pairs, and the standardised training features.

    The fit runs on `device`, where the features were computed (default: the CPU). A fit that
    does not converge raises `probe.ProbeNotConverged`: the features are finite (`_features`
    refuses a model whose are not), so the solver failed on a problem it should solve; ours to
    fix, never a score and never the model's record (it propagates, counted as a bug)."""
    with timer("fit"):
        z_train, z_eval = probe.standardise(feats[0], feats[1])
        fit = probe.fit_standardised(
            z_train, data.train.labels, z_eval, seed=data.seed, device=device
        )
    return fit.correct(data.eval.labels), z_train


def _transfer(
    x_train: np.ndarray, z_train: np.ndarray, labels: np.ndarray, timer: _Timer
) -> tuple[float | None, float | None]:
    """LogME of the training features as the encoder gives them (as published: LogME has no
    intercept, and standardising, which centres them, left every weak model of the MiniLM pool
    at LogME's floor), H-score of the standardised ones (the same value, better conditioned).
    An estimator that cannot be computed is left empty: the probe's score does not need it."""
    with timer("transfer"):
        try:
            logme = transfer.logme(x_train, labels)
        except transfer.TransferError:
            logme = None
        hscore = transfer.hscore(z_train, labels)
    return logme, hscore


def feature_cache_key(
    model_id: str,
    revision: str,
    data_fingerprint: str,
    precision: str,
    device_type: str,
    tokenizer: str,
) -> str:
    """The key of a model's cached features: everything that can change them.

    The model (id, revision), the pairs (data fingerprint), how they are tokenised (the
    tokenizer's content key, `protocol.MAX_LENGTH`) and pooled (`protocol.POOLING`), the forward
    pass's precision and device type, and the protocol version for whatever else it fixes.
    """
    parts = [model_id, revision, data_fingerprint, protocol.PROTOCOL_VERSION, precision,
             device_type, protocol.MAX_LENGTH, protocol.POOLING, tokenizer]  # fmt: skip
    return hashlib.sha256(json.dumps(parts).encode()).hexdigest()[:24]


def _score_base(
    base: str, data: ProbeData, device, options: Options, timer: _Timer, model: _Scored
) -> _Scored:
    """The base under the same protocol; its features are cached on disk, computed once.

    A base that fails for a typed reason raises `BaseUnavailable`: the finetune is not at
    fault. A `RunFailure` and our bugs propagate as they are."""
    try:
        return _score_base_unchecked(base, data, device, options, timer, model)
    except ModelFailure as exc:
        raise _base_failure(base, exc) from None


def _base_failure(base: str, exc: ModelFailure) -> RunFailure | BaseUnavailable:
    """What the base's failure is to a finetune: the run's fault stays the run's; anything
    else is the base's (`BaseUnavailable`), never the finetune's."""
    if exc.kind is FailureKind.RUN:
        return RunFailure(str(exc), exc.reason)
    return BaseUnavailable(base, str(exc), exc.reason)


def _score_base_unchecked(
    base: str, data: ProbeData, device, options: Options, timer: _Timer, model: _Scored
) -> _Scored:
    with timer("download"):
        folder, key, rev = _fetch(base, None, options)
        if (key, rev) == (model.model_id, model.revision):
            return model
        ckpt = loading.inspect(folder, key, rev, options.max_params)
    from ranker.evaluate import features as F

    digest = feature_cache_key(
        key, rev, data.fingerprint, F.precision_for(device), device.type, F.tokenizer_key(folder)
    )
    if digest in _BASE_CORRECT:  # the base's probe, fitted once per process
        return _Scored(key, rev, key, _BASE_CORRECT[digest])
    path = options.cache_dir / "features" / f"{digest}.npz"
    feats = _cached_features(path, len(data.train), len(data.eval))
    if feats is None:
        feats = _features(ckpt, folder, data, device, options, timer)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp.npz")
        np.savez(tmp, train=feats[0], eval=feats[1])
        tmp.replace(path)
    correct, _ = _probe(feats, data, timer, device)
    _BASE_CORRECT[digest] = correct
    return _Scored(key, rev, key, correct)


def _cached_features(path: Path, n_train: int, n_eval: int) -> tuple[np.ndarray, np.ndarray] | None:
    """A base's cached features, or None when there are none or they are damaged.

    The cache is restored from elsewhere (the Actions cache) and may be torn or stale: a file
    that does not read, or whose arrays do not have the sample's rows, one width, float32 and
    finite values, is deleted (with a warning) and the features are computed again, never
    reported as a bug night after night."""
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as npz:
            train, ev = npz["train"], npz["eval"]
        ok = (
            train.ndim == ev.ndim == 2
            and train.shape[0] == n_train
            and ev.shape[0] == n_eval
            and train.shape[1] == ev.shape[1]
            and train.dtype == ev.dtype == np.float32
            and bool(np.isfinite(train).all() and np.isfinite(ev).all())
        )
        problem = None if ok else "arrays of the wrong shape, type or values"
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as exc:
        problem = f"{type(exc).__name__}: {exc}"
    if problem is None:
        return train, ev
    print(f"ranker: discarding a damaged feature cache {path.name} ({problem}); recomputing",
          file=sys.stderr)  # fmt: skip
    path.unlink(missing_ok=True)
    return None
