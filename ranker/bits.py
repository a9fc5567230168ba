"""Per-pair correctness as text: the `EvalResult.correct` codec (numpy and the standard library).

The field holds, for every pair of the evaluation sample in the sample's order, 1 where the probe
was right: `np.packbits` (most significant bit first, the last byte padded with zero bits),
base64-encoded. The site build decodes it to test any two models on the same pairs, so this
module must stay importable without torch or scikit-learn.
"""

from __future__ import annotations

import base64
import binascii

import numpy as np


def encode_correct(correct: np.ndarray) -> str:
    """The record text of a one-dimensional boolean array (1/0 and True/False alike)."""
    arr = np.asarray(correct)
    if arr.ndim != 1:
        raise ValueError(f"expected one value a pair, got shape {arr.shape}")
    if arr.dtype != bool:
        if not np.isin(arr, (0, 1)).all():
            raise ValueError("correctness values must be 0/1 or booleans")
        arr = arr.astype(bool)
    return base64.b64encode(np.packbits(arr).tobytes()).decode("ascii")


def decode_correct(text: str, n: int) -> np.ndarray:
    """Exactly `n` booleans from a record's text; ValueError unless it encodes exactly `n`
    (the byte count must be ceil(n / 8) and the padding bits zero)."""
    if n < 0:
        raise ValueError(f"negative pair count {n}")
    try:
        raw = base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError) as exc:
        raise ValueError(f"correctness is not base64: {exc}") from None
    if len(raw) != (n + 7) // 8:
        raise ValueError(f"correctness has {len(raw)} bytes; {n} pairs need {(n + 7) // 8}")
    bits = np.unpackbits(np.frombuffer(raw, dtype=np.uint8))
    if bits[n:].any():
        raise ValueError(f"correctness has bits set beyond its {n} pairs")
    return bits[:n].astype(bool)
