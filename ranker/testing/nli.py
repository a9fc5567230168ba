"""A small synthetic MNLI in GLUE's parquet layout, for the loopback hub to serve.

Not real language: templated pairs whose label follows from the words (a negation contradicts,
a copy entails, an unrelated sentence is neutral), so a probe has something to learn.
"""

from __future__ import annotations

import io

import numpy as np
import pandas as pd

SUBJECTS = ("the cat", "a man", "the children", "my sister", "the old dog", "a pilot", "the band")
VERBS = ("sleeps", "runs", "sings", "eats", "reads", "waits", "laughs", "swims")
PLACES = ("at home", "in the park", "on the boat", "at school", "by the river", "in town")


def nli_frame(n: int, seed: int, prefix: str) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        s, v, p = (rng.choice(x) for x in (SUBJECTS, VERBS, PLACES))
        premise = f"{s} {v} {p}."
        label = i % 3
        if label == 0:
            hypothesis = f"{s} {v}."
        elif label == 1:
            hypothesis = f"{rng.choice(SUBJECTS)} {rng.choice(VERBS)} {rng.choice(PLACES)}."
        else:
            hypothesis = f"{s} never {v}."
        rows.append({"premise": premise, "hypothesis": hypothesis, "label": label,
                     "idx": i, "id": f"{prefix}{i}"})  # fmt: skip
    return pd.DataFrame(rows)[["premise", "hypothesis", "label", "idx"]]


def glue_mnli_files(train: int = 3000, dev: int = 1000) -> dict[str, bytes]:
    """The files of a `nyu-mll/glue` dataset repo holding only MNLI train and matched dev."""

    def parquet(frame: pd.DataFrame) -> bytes:
        buf = io.BytesIO()
        frame.to_parquet(buf, index=False)
        return buf.getvalue()

    return {
        "mnli/train-00000-of-00001.parquet": parquet(nli_frame(train, 1, "t")),
        "mnli/validation_matched-00000-of-00001.parquet": parquet(nli_frame(dev, 2, "d")),
    }
