"""One unit of `ft-1`: a model revision finetuned on one target task with one seed.

The model is fetched, checked and loaded exactly as the probe loads it (`fetch.resolve`,
`loading.inspect`, `features.load_body`: pinned commit through the door, size cap, safetensors
or the restricted unpickler, body weights verified, no remote code), then the whole encoder and
a new head are trained (`finetune_score`) with the protocol's fixed settings
(`ranker.ft_protocol`). A `Finetuner` is kept warm per process (the local executor's, or each
Ray worker's): a model's files stay while its units follow one another.

A failure is a record only when the model's own content (or the hub serving it) caused it:
a `ModelFailure` becomes an error `FinetuneResult` with its typed reason. A `RunFailure` stops
the run; anything else (the base's failure to lend its tokenizer included) propagates as a
bug of ours or the base's, never stored against the model.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from ranker import ft_protocol
from ranker.errors import FailureKind, ModelFailure, ModelRefused, Reason, RunFailure
from ranker.evaluate import features as F
from ranker.evaluate import fetch, loading, steps
from ranker.evaluate.evaluator import Options
from ranker.evaluate.fetch import Fetched
from ranker.evaluate.steps import Timer
from ranker.evaluate.targets import TaskData, pearson
from ranker.hub import Hub
from ranker.records import SCHEMA_VERSION, Architecture, FinetuneResult
from ranker.timestamps import utc_now

EVAL_BATCH = 64


@dataclass(frozen=True)
class Unit:
    """One unit of work: the key its result is stored by."""

    model_id: str
    sha: str
    architecture: str
    task: str
    seed: int
    is_base: bool = False

    @property
    def key(self) -> tuple[str, str, str, str, int]:
        return (self.model_id, self.sha, ft_protocol.FT_PROTOCOL_VERSION, self.task, self.seed)


def _encode(tokenizer: Any, texts: tuple[list[str], list[str]]) -> dict[str, list[list[int]]]:
    out = tokenizer(texts[0], texts[1], truncation="longest_first",
                    max_length=ft_protocol.MAX_LENGTH, padding=False)  # fmt: skip
    return {k: out[k] for k in ("input_ids", "token_type_ids") if k in out}


def _batch(enc: dict[str, list[list[int]]], index: Iterable[int], pad_id: int, use_types: bool,
           device: torch.device) -> dict[str, torch.Tensor]:  # fmt: skip
    rows = list(index)
    width = max(len(enc["input_ids"][i]) for i in rows)
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    types = torch.zeros((len(rows), width), dtype=torch.long)
    for r, i in enumerate(rows):
        seq = enc["input_ids"][i]
        ids[r, : len(seq)] = torch.tensor(seq)
        mask[r, : len(seq)] = 1
        if use_types:
            types[r, : len(seq)] = torch.tensor(enc["token_type_ids"][i])
    out = {"input_ids": ids.to(device), "attention_mask": mask.to(device)}
    if use_types:
        out["token_type_ids"] = types.to(device)
    return out


def _pool(body: Any, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    """[first token ‖ mean over the real tokens] of the last layer, as the probe pools."""
    states = body(**batch).last_hidden_state
    m = batch["attention_mask"].unsqueeze(-1).to(states.dtype)
    return torch.cat([states[:, 0], (states * m).sum(1) / m.sum(1).clamp(min=1)], dim=1)


def _optimizer(body: Any, head: torch.nn.Module, steps_total: int) -> tuple[Any, Any]:
    """AdamW (no decay on biases and norms), linear warm-up then linear decay to zero."""
    named = [*body.named_parameters(), *(("head." + n, p) for n, p in head.named_parameters())]
    plain = [p for n, p in named if "bias" in n or "norm" in n.lower()]
    decayed = [p for n, p in named if not ("bias" in n or "norm" in n.lower())]
    opt = torch.optim.AdamW(
        [{"params": decayed, "weight_decay": ft_protocol.WEIGHT_DECAY},
         {"params": plain, "weight_decay": 0.0}], lr=ft_protocol.LEARNING_RATE,
    )  # fmt: skip
    warmup = max(1, math.ceil(steps_total * ft_protocol.WARMUP_FRACTION))

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        return max(0.0, (steps_total - step) / max(1, steps_total - warmup))

    return opt, torch.optim.lr_scheduler.LambdaLR(opt, factor)


def finetune_score(
    body: Any, tokenizer: Any, data: TaskData, seed: int, device: torch.device
) -> tuple[float, dict[str, float]]:
    """Finetune `body` (in place) and a new head on `data.train`; (the metric on `data.eval`,
    seconds per phase). Deterministic for one seed on one machine: the seed sets the head's
    initialisation, dropout and the order of batches, nothing else."""
    task, timings = data.task, {}
    start = time.perf_counter()
    train, evals = _encode(tokenizer, data.train.pairs()), _encode(tokenizer, data.eval.pairs())
    pad_id = tokenizer.pad_token_id or 0
    use_types = "token_type_ids" in train and getattr(body.config, "type_vocab_size", 0) > 1
    timings["tokenise"] = time.perf_counter() - start
    hidden = body.config.d_model if hasattr(body.config, "d_model") else body.config.hidden_size
    torch.manual_seed(seed)
    order = torch.Generator().manual_seed(seed)
    head = torch.nn.Sequential(torch.nn.Dropout(ft_protocol.HEAD_DROPOUT),
                               torch.nn.Linear(2 * hidden, task.classes)).to(device)  # fmt: skip
    n, bs = len(data.train), ft_protocol.BATCH_SIZE
    steps_total = ft_protocol.EPOCHS * math.ceil(n / bs)
    opt, schedule = _optimizer(body, head, steps_total)
    labels = torch.from_numpy(data.train.labels)
    labels = labels.float() if task.kind == "regression" else labels.long()
    start = time.perf_counter()
    body.train()
    head.train()
    with F.numerics(device):
        for _ in range(ft_protocol.EPOCHS):
            perm = torch.randperm(n, generator=order).tolist()
            for at in range(0, n, bs):
                index = perm[at : at + bs]
                out = head(_pool(body, _batch(train, index, pad_id, use_types, device)))
                gold = labels[index].to(device)
                if task.kind == "regression":
                    loss = torch.nn.functional.mse_loss(out.squeeze(-1), gold)
                else:
                    loss = torch.nn.functional.cross_entropy(out, gold)
                if not torch.isfinite(loss):
                    raise ModelRefused(f"{task.name}: the training loss became {loss.item()} "
                                       "(the model's weights diverge under ft-1)",
                                       Reason.NON_FINITE)  # fmt: skip
                opt.zero_grad(set_to_none=True)
                loss.backward()
                params = [p for g in opt.param_groups for p in g["params"]]
                torch.nn.utils.clip_grad_norm_(params, ft_protocol.MAX_GRAD_NORM)
                opt.step()
                schedule.step()
    timings["train"] = time.perf_counter() - start
    start = time.perf_counter()
    out = _predict(body, head, evals, len(data.eval), pad_id, use_types, device)
    timings["eval"] = time.perf_counter() - start
    if task.kind == "regression":
        return pearson(out[:, 0], data.eval.labels.astype(np.float64)), timings
    return float((out.argmax(1) == data.eval.labels).mean()), timings


def _predict(body: Any, head: torch.nn.Module, enc: dict[str, list[list[int]]], n: int,
             pad_id: int, use_types: bool, device: torch.device) -> np.ndarray:  # fmt: skip
    """The head's outputs on the evaluation examples, in order (float64)."""
    body.eval()
    head.eval()
    preds = []
    with torch.inference_mode(), F.numerics(device):
        for at in range(0, n, EVAL_BATCH):
            index = range(at, min(at + EVAL_BATCH, n))
            preds.append(head(_pool(body, _batch(enc, index, pad_id, use_types, device))).cpu())
    return torch.cat(preds).double().numpy()


class Finetuner:
    """Runs units under `ft-1`; see the module's docstring."""

    def __init__(
        self,
        tasks: dict[str, TaskData],
        options: Options | None = None,
        *,
        hub: Hub | None = None,
        architectures: Iterable[Architecture] = (),
    ) -> None:
        self.tasks = tasks
        self.options = options or Options()
        door = hub if hub is not None else self.options.hub
        self.hub = door if door is not None else Hub()
        self.architectures = {a.id: a for a in architectures}
        self._files: dict[tuple[str, str], Fetched] = {}  # the current model's and the bases'

    def run(self, unit: Unit) -> FinetuneResult:
        """The unit's result: a score, or the model's typed failure (see the module)."""
        timer = Timer()
        task = ft_protocol.TASKS[unit.task]
        data = self.tasks[unit.task]
        common: dict[str, Any] = dict(
            schema_version=SCHEMA_VERSION, model_id=unit.model_id, architecture=unit.architecture,
            revision=unit.sha, protocol_version=ft_protocol.FT_PROTOCOL_VERSION, task=unit.task,
            seed=unit.seed, evaluated_at=utc_now(), is_base=unit.is_base, metric=task.metric,
            n_train=len(data.train), n_eval=len(data.eval), data_revision=data.revision,
            data_fingerprint=data.fingerprint, settings=ft_protocol.settings(),
        )  # fmt: skip
        try:
            device = F.pick_device(self.options.device)
            with timer("download"):
                files = self._fetch(unit.model_id, unit.sha)
                ckpt = loading.inspect(
                    files.folder, unit.model_id, files.revision, self.options.max_params,
                    selection=files.selection,
                )  # fmt: skip
                arch = self.architectures.get(unit.architecture)
                if arch is not None:
                    loading.check_architecture(ckpt, arch)
                tok_folder, tok_name = files.folder, unit.model_id
                if not ckpt.has_tokenizer:
                    tok_folder, tok_name = self._borrowed(unit, ckpt)
            try:
                with timer("load"):
                    body = F.load_body(ckpt, device)
                    tokenizer = F.load_tokenizer(tok_folder)
                score, spent = finetune_score(body, tokenizer, data, unit.seed, device)
            except F.MEMORY_ERRORS:
                from ranker.evaluate.resources import out_of_memory

                raise out_of_memory(f"{unit.model_id}: finetuning on {unit.task}") from None
            del body
            timings = {**timer.rounded(), **{k: round(v, 3) for k, v in spent.items()}}
            return FinetuneResult(**common, status="ok", score=score, tokenizer=tok_name,
                                  weight_format=ckpt.weight_format, device=F.device_name(device),
                                  timings=timings,
                                  versions=steps.versions(F.library_versions()))  # fmt: skip
        except ModelFailure as exc:
            if exc.kind is FailureKind.RUN:
                raise RunFailure(str(exc), exc.reason) from None
            return FinetuneResult(**common, status="error", error=str(exc),
                                  reason=exc.reason.value, failure=exc.kind.value,
                                  timings=timer.rounded())  # fmt: skip

    def _fetch(self, model: str, sha: str | None) -> Fetched:
        """A model's files, kept while its units follow one another (bases for the run)."""
        key = (model, sha)
        if key not in self._files:
            bases = set(self.architectures)
            for other in [k for k in self._files if k[0] not in bases]:
                del self._files[other]
                if self.options.hub_cache is not None:
                    from ranker.executors import drop_download

                    drop_download(self.options.hub_cache, other[0])
            if not fetch.is_local(model):
                fetch.checked_repo_id(model)
            opts = self.options
            self._files[key] = fetch.resolve(model, sha, self.hub, opts.hub_cache, opts.max_params)
        return self._files[key]

    def _borrowed(self, unit: Unit, ckpt: loading.Checkpoint) -> tuple[Any, str]:
        """The base's tokenizer for a model that ships none; the base's failure is the base's."""
        arch = self.architectures.get(unit.architecture)
        if arch is None:
            raise ModelRefused(f"{ckpt.model_id}: ships no tokenizer and no base model is known "
                               "to borrow one from", Reason.TOKENIZER)  # fmt: skip
        try:
            files = self._fetch(arch.id, None)  # the base at its latest commit
        except ModelFailure as exc:
            raise steps.base_failure(arch.id, exc) from None
        return files.folder, arch.id
