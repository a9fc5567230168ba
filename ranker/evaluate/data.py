"""Probe data: read MNLI-style pairs, draw the fixed samples, and fingerprint them.

Samples depend only on pair ids, labels and seeds (never on file order), so anyone with the same
data gets the same pairs; the fingerprint in each record proves which pairs were used.
"""

from __future__ import annotations

import fnmatch
import glob
import gzip
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ranker import protocol
from ranker.errors import HubFailure, StoreError
from ranker.hub import Hub

LABEL_IDS = {name: i for i, name in enumerate(protocol.LABELS)}


@dataclass(frozen=True)
class Pairs:
    """Sentence pairs with integer labels (0 entailment, 1 neutral, 2 contradiction)."""

    ids: tuple[str, ...]
    premises: tuple[str, ...]
    hypotheses: tuple[str, ...]
    labels: np.ndarray

    def __len__(self) -> int:
        return len(self.ids)

    def take(self, index: np.ndarray) -> Pairs:
        return Pairs(
            ids=tuple(self.ids[i] for i in index),
            premises=tuple(self.premises[i] for i in index),
            hypotheses=tuple(self.hypotheses[i] for i in index),
            labels=self.labels[index],
        )


@dataclass(frozen=True)
class ProbeData:
    """The sampled training and evaluation pairs of one protocol run."""

    source: str
    train: Pairs
    eval: Pairs
    seed: int
    revision: str | None = None  # the hub commit the data came from, or the files' hash

    @property
    def fingerprint(self) -> str:
        """sha256 over the sampled pairs (ids, labels, texts) of both splits, in order."""
        h = hashlib.sha256()
        for split, pairs in (("train", self.train), ("eval", self.eval)):
            h.update(split.encode())
            for i, p, q, y in zip(
                pairs.ids, pairs.premises, pairs.hypotheses, pairs.labels, strict=True
            ):
                h.update(json.dumps([i, int(y), p, q], ensure_ascii=False).encode())
        return "sha256:" + h.hexdigest()[:16]


def _check(pairs: Pairs, path: Path | str) -> Pairs:
    if len(pairs) == 0:
        raise StoreError(path, "no labelled pairs")
    classes = np.unique(pairs.labels)
    if len(classes) < 2:
        raise StoreError(path, f"only one class ({protocol.LABELS[int(classes[0])]}) in the file")
    return pairs


def read_jsonl(path: Path | str) -> Pairs:
    """Read MultiNLI-format JSON Lines (plain or .gz); pairs labelled '-' are skipped."""
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    ids: list[str] = []
    prem: list[str] = []
    hyp: list[str] = []
    labels: list[int] = []
    seen: set[str] = set()
    try:
        with opener(path, "rt", encoding="utf-8") as fh:
            for number, raw in enumerate(fh, start=1):
                if not raw.strip():
                    continue
                try:
                    row = json.loads(raw)
                except json.JSONDecodeError as exc:
                    raise StoreError(path, f"not valid JSON: {exc.msg}", line=number) from None
                if not isinstance(row, dict):
                    raise StoreError(path, "expected a JSON object", line=number)
                for key in ("sentence1", "sentence2", "gold_label"):
                    if not isinstance(row.get(key), str):
                        raise StoreError(path, "missing or not text", line=number, field=key)
                label = row["gold_label"]
                if label == "-":
                    continue
                if label not in LABEL_IDS:
                    raise StoreError(
                        path, f"unknown label {label!r}", line=number, field="gold_label"
                    )
                pair_id = str(row.get("pairID", row.get("promptID", f"line{number}")))
                if pair_id in seen:
                    raise StoreError(path, f"duplicate pairID {pair_id!r}", line=number)
                seen.add(pair_id)
                ids.append(pair_id)
                prem.append(row["sentence1"])
                hyp.append(row["sentence2"])
                labels.append(LABEL_IDS[label])
    except FileNotFoundError:
        raise StoreError(path, "file not found") from None
    except (OSError, EOFError, UnicodeDecodeError) as exc:
        raise StoreError(path, f"cannot read: {exc}") from None
    return _check(
        Pairs(tuple(ids), tuple(prem), tuple(hyp), np.asarray(labels, dtype=np.int64)), path
    )


def read_glue_parquet(paths: list[Path] | list[str], split: str) -> Pairs:
    """Read GLUE MNLI parquet shards (columns premise, hypothesis, label, idx); label -1 skipped."""
    import pandas as pd

    if not paths:
        raise StoreError(split, "no parquet files")
    frames = []
    for path in sorted(str(p) for p in paths):
        try:
            frame = pd.read_parquet(path, columns=["premise", "hypothesis", "label", "idx"])
        except Exception as exc:  # pyarrow raises many kinds
            raise StoreError(path, f"cannot read parquet: {exc}") from None
        frames.append(frame)
    df = pd.concat(frames, ignore_index=True)
    df = df[df["label"].isin([0, 1, 2])]
    pairs = Pairs(
        ids=tuple(f"{split}-{int(i)}" for i in df["idx"]),
        premises=tuple(str(s) for s in df["premise"]),
        hypotheses=tuple(str(s) for s in df["hypothesis"]),
        labels=df["label"].to_numpy(dtype=np.int64),
    )
    return _check(pairs, paths[0])


def download_mnli(hub: Hub, revision: str, cache_dir: Path | None = None) -> tuple[Pairs, Pairs]:
    """MNLI train and matched validation from the hub's GLUE repo at a pinned commit (parquet,
    no `datasets`), through the hub door: listed hashes checked, transient failures retried."""
    wanted = (protocol.MNLI_TRAIN_PATTERN, protocol.MNLI_EVAL_PATTERN)
    try:
        files = hub.files(protocol.MNLI_REPO, revision, repo_type="dataset")
        chosen = [f for f in files if any(fnmatch.fnmatch(f.path, p) for p in wanted)]
        if not chosen:
            raise StoreError(protocol.MNLI_REPO, f"no MNLI parquet files at {revision}")
        root = hub.download(protocol.MNLI_REPO, revision, chosen, cache_dir, repo_type="dataset")
    except HubFailure as exc:
        raise StoreError(protocol.MNLI_REPO, f"cannot download MNLI: {exc}") from None
    train = glob.glob(str(Path(root) / protocol.MNLI_TRAIN_PATTERN))
    dev = glob.glob(str(Path(root) / protocol.MNLI_EVAL_PATTERN))
    return read_glue_parquet(train, "train"), read_glue_parquet(dev, "validation_matched")


def _order(pairs: Pairs, index: np.ndarray) -> np.ndarray:
    """Indices sorted by pair id, so a sample does not depend on the file's order."""
    ids = np.asarray(pairs.ids, dtype=object)[index]
    return index[np.argsort(ids, kind="stable")]


def stratified_sample(pairs: Pairs, n: int, seed: int) -> Pairs:
    """A seeded sample of n pairs keeping each class's share (largest remainder rounding)."""
    if n <= 0:
        raise StoreError("probe data", f"sample size must be positive, got {n}")
    if n > len(pairs):
        raise StoreError("probe data", f"asked for {n} pairs, the data has {len(pairs)}")
    rng = np.random.default_rng(seed)
    classes, counts = np.unique(pairs.labels, return_counts=True)
    exact = counts / counts.sum() * n
    quota = np.floor(exact).astype(int)
    for i in np.argsort(-(exact - quota), kind="stable")[: n - quota.sum()]:
        quota[i] += 1
    chosen = []
    for cls, q in zip(classes, quota, strict=True):
        members = _order(pairs, np.flatnonzero(pairs.labels == cls))
        chosen.append(rng.permutation(members)[:q])
    index = np.concatenate(chosen)
    return pairs.take(rng.permutation(_order(pairs, index)))


def fixed_sample(pairs: Pairs, n: int) -> Pairs:
    """The evaluation sample: n pairs, stratified, with the protocol's own seed (all if n >= size).

    Its seed is not the run's seed: every run and every model is scored on the same pairs.
    """
    if n >= len(pairs):
        return pairs.take(_order(pairs, np.arange(len(pairs))))
    return stratified_sample(pairs, n, protocol.EVAL_SAMPLE_SEED)


def load_probe_data(
    probe_file: Path | str | None,
    train_size: int,
    eval_size: int,
    seed: int,
    eval_file: Path | str | None = None,
    cache_dir: Path | None = None,
    hub: Hub | None = None,
    mnli_revision: str | None = None,
) -> ProbeData:
    """The probe's pairs: MNLI from the hub by default, else `probe_file` (+ its test file).

    MNLI is read at `mnli_revision` (the store's pin, see `pinned_mnli_revision`), so every
    run of a protocol reads the same commit; the record keeps it as `data_revision`.

    For a JSONL training file `x_train*.jsonl[.gz]`, the evaluation file defaults to the
    sibling `x_test*.jsonl[.gz]` (or `*_dev*`); pass `eval_file` to choose another.
    """
    if probe_file is None:
        hub = hub or Hub()
        revision = mnli_revision or hub.ref(protocol.MNLI_REPO, "dataset").sha
        train, dev = download_mnli(hub, revision, cache_dir)
        source = protocol.MNLI_REPO + ":mnli"
    else:
        probe_file = Path(probe_file)
        train = read_jsonl(probe_file)
        eval_path = Path(eval_file) if eval_file is not None else _sibling_eval(probe_file)
        dev = read_jsonl(eval_path)
        source = f"{probe_file.name}+{eval_path.name}"
        revision = "sha256:" + _files_hash(probe_file, eval_path)
    return ProbeData(
        source=source,
        train=stratified_sample(train, train_size, seed),
        eval=fixed_sample(dev, eval_size),
        seed=seed,
        revision=revision,
    )


def _files_hash(*paths: Path) -> str:
    h = hashlib.sha256()
    for path in paths:
        with path.open("rb") as fh:
            for chunk in iter(lambda fh=fh: fh.read(1 << 22), b""):
                h.update(chunk)
    return h.hexdigest()[:16]


def _sibling_eval(path: Path) -> Path:
    for word in ("test", "dev", "validation_matched", "validation"):
        for candidate in sorted(path.parent.glob(f"{path.name.split('_train')[0]}_{word}*.jsonl*")):
            return candidate
    raise StoreError(path, "no evaluation file beside it (…_test.jsonl[.gz]); pass --eval-data")
