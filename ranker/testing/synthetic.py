"""Synthetic evaluation results and catalog entries, for site tests and build benchmarks.

Results are of the current protocol and carry what a real one does: per-pair correctness bits
(`correct`), LogME, H-score and a data fingerprint, so the site's paired ranks run on them.
Per-pair correctness has a realistic correlated structure: every pair has a difficulty that all
models share, and each model adds its own noise, so two models tend to get the same pairs right.
"""

from __future__ import annotations

import base64
import hashlib
import zlib

import numpy as np
from scipy.special import ndtri

from ranker.protocol import PROTOCOL_VERSION
from ranker.records import SCHEMA_VERSION, CatalogEntry, EvalResult

LICENSES = ("apache-2.0", "mit", "cc-by-4.0")
SIZES = (60_000_000, 125_000_000, 350_000_000)
OLDER_PROTOCOL = "lp-0"  # every HISTORY_EVERY-th model also has a result of an older protocol
HISTORY_EVERY = 10
NLI_EVERY = 20  # every NLI_EVERY-th model is tagged as trained on MultiNLI
DATA_FINGERPRINT = hashlib.sha256(b"ranker synthetic MNLI sample").hexdigest()
BASE_ACCURACY = 0.55


def correctness(
    accuracy: np.ndarray, n_pairs: int, *, seed: int, model_noise: float = 1.0, block: int = 512
) -> np.ndarray:
    """(models, pairs) bool: pair j is right for model i when difficulty_j + noise_ij is below
    model i's threshold, which is set so its expected accuracy is `accuracy[i]`. Difficulties
    are shared (correlated models); `model_noise` is each model's own share."""
    rng = np.random.default_rng(seed)
    difficulty = rng.standard_normal(n_pairs).astype(np.float32)
    threshold = ndtri(np.clip(accuracy, 1e-6, 1 - 1e-6)) * np.sqrt(1 + model_noise**2)
    out = np.empty((len(accuracy), n_pairs), dtype=bool)
    for start in range(0, len(accuracy), block):
        stop = min(len(accuracy), start + block)
        noise = rng.standard_normal((stop - start, n_pairs), dtype=np.float32)
        out[start:stop] = difficulty[None, :] + model_noise * noise < threshold[start:stop, None]
    return out


def pack(correct: np.ndarray) -> str:
    """A record's `correct` field: base64 of np.packbits."""
    return base64.b64encode(np.packbits(correct).tobytes()).decode()


def synthetic_models(
    architecture: str, n: int, *, reuse: list[str] = (), n_eval: int = 5_000
) -> tuple[list[EvalResult], list[CatalogEntry]]:
    """`n` evaluated models of `architecture`: the ids in `reuse` first, then made-up ones
    (`synthetic/<architecture>-model-00000`, ...).

    True accuracies spread evenly over 45-75%; dates, downloads, likes, licenses and sizes vary
    deterministically with the index; the per-pair draws are seeded by the architecture.
    """
    # ids are unique across architectures (the store keys results by model, not architecture)
    name = architecture.split("/")[-1]
    ids = list(reuse[:n]) + [f"synthetic/{name}-model-{i:05d}" for i in range(n - len(reuse[:n]))]
    seed = zlib.crc32(architecture.encode())
    truth = np.array([0.45 + 0.3 * ((i * 7919) % n) / n for i in range(n)]) if n else np.zeros(0)
    bits = correctness(truth, n_eval, seed=seed)
    noise = np.random.default_rng(seed + 1).standard_normal((n, 2))
    results, catalog = [], []
    for i, model_id in enumerate(ids):
        acc = float(bits[i].mean())
        half = 1.96 * (acc * (1 - acc) / n_eval) ** 0.5
        day = f"2026-11-{1 + i % 20:02d}"
        sha = f"{i:040x}"
        results.append(
            EvalResult(
                schema_version=SCHEMA_VERSION, model_id=model_id, architecture=architecture,
                revision=sha, protocol_version=PROTOCOL_VERSION, status="ok",
                evaluated_at=f"{day}T03:00:00Z", accuracy=acc, accuracy_low=acc - half,
                accuracy_high=acc + half, gain=acc - BASE_ACCURACY,
                gain_low=acc - BASE_ACCURACY - half / 2, gain_high=acc - BASE_ACCURACY + half / 2,
                n_train=5_000, n_eval=n_eval, seed=0, data_fingerprint=DATA_FINGERPRINT,
                correct=pack(bits[i]), logme=round(-1.2 + 2 * acc + 0.05 * noise[i, 0], 4),
                hscore=round(0.5 + 3 * acc + 0.1 * noise[i, 1], 4), precision="fp32",
            )
        )  # fmt: skip
        if i % HISTORY_EVERY == 0:
            old = acc - 0.01
            results.append(
                EvalResult(
                    schema_version=SCHEMA_VERSION, model_id=model_id, architecture=architecture,
                    revision=sha, protocol_version=OLDER_PROTOCOL, status="ok",
                    evaluated_at="2026-10-01T03:00:00Z", accuracy=old, accuracy_low=old - 0.01,
                    accuracy_high=old + 0.01, gain=old - BASE_ACCURACY,
                )
            )  # fmt: skip
        catalog.append(
            CatalogEntry(
                schema_version=SCHEMA_VERSION, model_id=model_id, architecture=architecture,
                sha=sha, status="ok", downloads=(i * 37) % 10000, likes=i % 50,
                license=LICENSES[i % 3], params=SIZES[i % 3],
                tags=("dataset:multi_nli",) if i % NLI_EVERY == 7 else (),
            )
        )  # fmt: skip
    return results, catalog
