"""What an evaluator keeps between models: where its caches live, and the bounded caches.

- Where the cache folder is: `ranker.cachedir` (one rule for the door and the evaluator).
- `Bounded`: a least-recently-used mapping of at most `size` entries. An evaluator keeps two:
  token ids per tokenizer (~15 MiB each at the protocol's sample sizes) and each base's per-pair
  correctness (a few KB), so a night or a Ray worker's life that meets hundreds of tokenizers
  holds a fixed amount.
- The base's features on disk (`feature_cache_key`, `read_features`, `write_features`): computed
  once per base, restored from elsewhere (the Actions cache), so checked on every read.
"""

from __future__ import annotations

import hashlib
import json
import sys
import zipfile
from collections import OrderedDict
from collections.abc import Iterator
from pathlib import Path
from typing import Generic, TypeVar

import numpy as np

from ranker import protocol

K = TypeVar("K")
V = TypeVar("V")

MAX_TOKENIZERS = 8  # token ids kept for this many tokenizers, most recently used
MAX_BASES = 64  # base probes kept (a run tracks a handful of architectures)


class Bounded(Generic[K, V]):
    """A mapping that keeps its `size` most recently used entries (reads count as use)."""

    def __init__(self, size: int) -> None:
        if size < 1:
            raise ValueError(f"size must be at least 1, got {size}")
        self.size = size
        self._items: OrderedDict[K, V] = OrderedDict()

    def __len__(self) -> int:
        return len(self._items)

    def __contains__(self, key: object) -> bool:
        return key in self._items

    def __iter__(self) -> Iterator[K]:
        return iter(list(self._items))

    def __getitem__(self, key: K) -> V:
        self._items.move_to_end(key)
        return self._items[key]

    def get(self, key: K) -> V | None:
        return self[key] if key in self._items else None

    def __setitem__(self, key: K, value: V) -> None:
        self._items[key] = value
        self._items.move_to_end(key)
        while len(self._items) > self.size:
            self._items.popitem(last=False)

    def setdefault(self, key: K, value: V) -> V:
        if key not in self._items:
            self[key] = value
        return self[key]


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


def features_path(cache_dir: Path, digest: str) -> Path:
    """Where the features of `digest` (`feature_cache_key`) are kept."""
    return cache_dir / "features" / f"{digest}.npz"


def write_features(path: Path, feats: tuple[np.ndarray, np.ndarray]) -> None:
    """Keep a base's (train, eval) features, whole or not at all (temp file + rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.npz")
    np.savez(tmp, train=feats[0], eval=feats[1])
    tmp.replace(path)


def read_features(path: Path, n_train: int, n_eval: int) -> tuple[np.ndarray, np.ndarray] | None:
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
