"""Target data of `ft-1`: each suite task's parquet files from the hub, at a pinned commit,
sampled once with the protocol's own seeds.

Through the one door (`Hub.files` / `Hub.download`: listed hashes checked, transient failures
retried), as MNLI is read (`data.download_mnli`). Samples depend only on example ids, labels
and seeds, never on file order, so every machine finetunes every model on the same examples;
the fingerprint in each result proves which.
"""

from __future__ import annotations

import fnmatch
import glob
import hashlib
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ranker import ft_protocol
from ranker.errors import HubFailure, StoreError
from ranker.ft_protocol import TargetTask
from ranker.hub import Hub


@dataclass(frozen=True)
class Examples:
    """One sampled split of one task: ids, the task's text fields per example, labels."""

    ids: tuple[str, ...]
    texts: tuple[tuple[str, ...], ...]
    labels: np.ndarray  # int64 (classification) or float64 (regression)

    def __len__(self) -> int:
        return len(self.ids)

    def take(self, index: np.ndarray) -> Examples:
        return Examples(tuple(self.ids[i] for i in index), tuple(self.texts[i] for i in index),
                        self.labels[index])  # fmt: skip

    def pairs(self) -> tuple[list[str], list[str]]:
        """The model's input pair per example: every field but the last joined by ": " (wic:
        "<word>: <sentence1>"), and the last field."""
        return [": ".join(t[:-1]) for t in self.texts], [t[-1] for t in self.texts]


@dataclass(frozen=True)
class TaskData:
    """A task's sampled training and evaluation examples, and the commit they came from."""

    task: TargetTask
    train: Examples
    eval: Examples
    revision: str

    @property
    def fingerprint(self) -> str:
        """sha256 over the sampled examples (ids, labels, texts) of both splits, in order."""
        h = hashlib.sha256()
        for split in (self.train, self.eval):
            for i, texts, label in zip(split.ids, split.texts, split.labels.tolist(), strict=True):
                h.update(repr((i, label, texts)).encode("utf-8"))
            h.update(b"\x00")
        return h.hexdigest()


def read_split(task: TargetTask, paths: list[str], split: str) -> Examples:
    """A split's examples from parquet files, every column and label checked."""
    import pandas as pd

    if not paths:
        raise StoreError(task.repo, f"{task.name}: no {split} parquet files")
    frames = [pd.read_parquet(p) for p in sorted(paths)]
    df = pd.concat(frames, ignore_index=True)
    for column in (*task.text_fields, task.label_field, "idx"):
        if column not in df.columns:
            raise StoreError(paths[0], f"{task.name}: no column {column!r}", field=column)
    labels = df[task.label_field].to_numpy()
    if task.kind == "classification":
        keep = labels >= 0  # GLUE's and SuperGLUE's test splits hold -1
        labels = labels[keep].astype(np.int64)
        df = df[keep]
        if len(labels) and (labels.max() >= task.classes):
            raise StoreError(paths[0], f"{task.name}: a label outside 0..{task.classes - 1}",
                             field=task.label_field)  # fmt: skip
    else:
        labels = labels.astype(np.float64)
        if not np.isfinite(labels).all():
            raise StoreError(paths[0], f"{task.name}: a label that is not a finite number",
                             field=task.label_field)  # fmt: skip
    texts = tuple(zip(*(tuple(str(v) for v in df[c]) for c in task.text_fields), strict=True))
    ids = tuple(f"{split}-{int(i)}" for i in df["idx"])
    if len(set(ids)) != len(ids):
        raise StoreError(paths[0], f"{task.name}: an example id appears twice", field="idx")
    return Examples(ids, texts, labels)


def sample(examples: Examples, cap: int, seed: int, *, stratified: bool) -> Examples:
    """At most `cap` examples, drawn with `seed` from the examples sorted by id (stratified by
    class for classification, largest-remainder quotas); all of them, sorted, when fewer."""
    order = np.argsort(np.asarray(examples.ids, dtype=object), kind="stable")
    if len(examples) <= cap:
        return examples.take(order)
    rng = np.random.default_rng(seed)
    if not stratified:
        return examples.take(order[np.sort(rng.permutation(len(order))[:cap])])
    labels = examples.labels[order]
    classes, counts = np.unique(labels, return_counts=True)
    exact = counts / counts.sum() * cap
    quota = np.floor(exact).astype(int)
    for i in np.argsort(-(exact - quota), kind="stable")[: cap - quota.sum()]:
        quota[i] += 1
    chosen = [rng.permutation(np.flatnonzero(labels == c))[:q]
              for c, q in zip(classes, quota, strict=True)]  # fmt: skip
    return examples.take(order[np.sort(np.concatenate(chosen))])


def load_task(hub: Hub, task: TargetTask, revision: str, cache_dir: Path | None = None) -> TaskData:
    """A task's sampled splits from its hub dataset repo at `revision`."""
    wanted = (task.train_pattern, task.eval_pattern)
    try:
        files = hub.files(task.repo, revision, repo_type="dataset")
        chosen = [f for f in files if any(fnmatch.fnmatch(f.path, p) for p in wanted)]
        if not chosen:
            raise StoreError(task.repo, f"{task.name}: no file matches {' or '.join(wanted)} "
                             f"at {revision}")  # fmt: skip
        root = hub.download(task.repo, revision, chosen, cache_dir, repo_type="dataset")
    except HubFailure as exc:
        raise StoreError(task.repo, f"cannot download {task.name}: {exc}") from None
    stratified = task.kind == "classification"
    train = read_split(task, glob.glob(str(Path(root) / task.train_pattern)), "train")
    dev = read_split(task, glob.glob(str(Path(root) / task.eval_pattern)), "validation")
    return TaskData(
        task,
        sample(train, ft_protocol.TRAIN_CAP, ft_protocol.TRAIN_SAMPLE_SEED, stratified=stratified),
        sample(dev, ft_protocol.EVAL_CAP, ft_protocol.EVAL_SAMPLE_SEED, stratified=stratified),
        revision,
    )


def load_suite(
    hub: Hub, pins: dict[str, dict[str, str]], cache_dir: Path | None = None
) -> dict[str, TaskData]:
    """Every suite task at its pinned commit (`Store.target_revisions()`)."""
    out = {}
    for task in ft_protocol.SUITE:
        pin = pins.get(task.name)
        if pin is None or pin.get("repo") != task.repo:
            raise StoreError("the target pins", f"no pin for task {task.name!r} of {task.repo}")
        out[task.name] = load_task(hub, task, pin["revision"], cache_dir)
    return out


def resolve_pins(hub: Hub) -> dict[str, dict[str, str]]:
    """The suite's repos' current commits (one request a repo), to pin once."""
    shas: dict[str, str] = {}
    for task in ft_protocol.SUITE:
        if task.repo not in shas:
            try:
                shas[task.repo] = hub.ref(task.repo, "dataset").sha
            except HubFailure as exc:
                raise StoreError(task.repo, f"cannot resolve the dataset's commit: {exc}") from None
    return {t.name: {"repo": t.repo, "revision": shas[t.repo]} for t in ft_protocol.SUITE}


def pearson(predicted: np.ndarray, gold: np.ndarray) -> float:
    """Pearson's r; 0.0 when either side is constant (no linear association to measure)."""
    p, g = predicted - predicted.mean(), gold - gold.mean()
    denom = math.sqrt(float((p * p).sum()) * float((g * g).sum()))
    return float((p * g).sum() / denom) if denom > 0 else 0.0
