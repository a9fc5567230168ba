"""The finetuning protocol's target tasks in miniature, for the loopback hub: tiny synthetic
stsb, boolq and wic in the layouts of the hub's parquet conversions (`nyu-mll/glue`,
`aps/super_glue`, as `ranker.ft_protocol.SUITE` reads them), and tiny models that do or do not
help with them.

Not real language: every task asks one question of its two texts, whether they agree on their
key words (stsb: how many of two, scaled to 0-5; boolq: "yes" when the passage names the
question's key; wic: the same key in both sentences). Agreement is a pairwise feature: a linear
head on a random encoder's pooled bag of words cannot read it, an encoder trained to compare the
two texts can. So `helpful_model` (the tiny base trained, all weights, on larger samples of the
same signal) starts finetuning above the base, and `noised_model` (its weights plus enough noise
to wipe that out) does not. Words come from the tiny BERT tokenizer's vocabulary
(`ranker.testing.models`), whole tokens each.
"""

from __future__ import annotations

import io
import json
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

KEYS = ("fine", "long", "movie", "model")  # what the two texts agree (or not) on
FILLERS = ("the", "it", "was", "too", "over", "are", "by", "and", "to", "this", "they")
GLUE, SUPER_GLUE = "nyu-mll/glue", "aps/super_glue"  # as in ft_protocol.SUITE
TRAIN_ROWS, EVAL_ROWS = 200, 100  # under ft_protocol's caps: every row is used


def _filler(rng: np.random.Generator, n: int) -> list[str]:
    return [str(w) for w in rng.choice(FILLERS, size=n)]


def _sentence(rng: np.random.Generator, keys: list[str], length: int = 6) -> str:
    """Filler words with `keys` at random places."""
    words = _filler(rng, length)
    for key in keys:
        words.insert(int(rng.integers(0, len(words) + 1)), key)
    return " ".join(words)


def _other_key(rng: np.random.Generator, key: str) -> str:
    return str(rng.choice([k for k in KEYS if k != key]))


def _stsb_row(rng: np.random.Generator, i: int) -> dict[str, Any]:
    first = [str(k) for k in rng.choice(KEYS, size=2, replace=False)]
    shared = i % 3  # 0, 1 or 2 keys in common, in turn
    rest = [k for k in KEYS if k not in first]
    second = first[:shared] + [str(k) for k in rng.choice(rest, size=2 - shared, replace=False)]
    label = 2.5 * shared + float(rng.uniform(-0.2, 0.2))
    return {"sentence1": _sentence(rng, first), "sentence2": _sentence(rng, second),
            "label": float(np.clip(label, 0.0, 5.0)), "idx": i}  # fmt: skip


def _boolq_row(rng: np.random.Generator, i: int) -> dict[str, Any]:
    key = str(rng.choice(KEYS))
    label = i % 2
    named = key if label else _other_key(rng, key)
    question = "is " + _sentence(rng, [key], 3) + " ?"
    return {"question": question, "passage": _sentence(rng, [named], 8), "label": label, "idx": i}


def _wic_row(rng: np.random.Generator, i: int) -> dict[str, Any]:
    word = str(rng.choice(FILLERS))
    key = str(rng.choice(KEYS))
    label = i % 2
    other = key if label else _other_key(rng, key)
    row: dict[str, Any] = {"word": word}
    for n, k in ((1, key), (2, other)):
        before, after = " ".join(_filler(rng, 2)), " ".join(_filler(rng, 2))
        sentence = f"{before} {word} {after} {k}"
        start = len(before) + 1
        row[f"sentence{n}"] = sentence
        row[f"start{n}"], row[f"end{n}"] = start, start + len(word)
    return {**row, "label": label, "idx": i}


ROWS = {"stsb": _stsb_row, "boolq": _boolq_row, "wic": _wic_row}
COLUMNS = {
    "stsb": ["sentence1", "sentence2", "label", "idx"],
    "boolq": ["question", "passage", "label", "idx"],
    "wic": ["word", "sentence1", "sentence2", "start1", "start2", "end1", "end2", "label", "idx"],
}


def task_frame(task: str, n: int, seed: int) -> pd.DataFrame:
    """`n` rows of `task` with the real dataset's columns and dtypes (labels int64, stsb's
    float32 as in GLUE's conversion)."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame([ROWS[task](rng, i) for i in range(n)])[COLUMNS[task]]
    for column in ("idx", "start1", "start2", "end1", "end2"):
        if column in frame:
            frame[column] = frame[column].astype("int32")
    frame["label"] = frame["label"].astype("float32" if task == "stsb" else "int64")
    return frame


def _parquet(frame: pd.DataFrame) -> bytes:
    buf = io.BytesIO()
    frame.to_parquet(buf, index=False)
    return buf.getvalue()


def target_repos(train: int = TRAIN_ROWS, dev: int = EVAL_ROWS) -> dict[str, dict[str, bytes]]:
    """The files of the suite's dataset repos (repo id -> files), each split one parquet shard
    named as the hub's conversions name them; a README as the real repos have."""
    repos: dict[str, dict[str, bytes]] = {GLUE: {}, SUPER_GLUE: {}}
    for n, (task, repo) in enumerate((("stsb", GLUE), ("boolq", SUPER_GLUE), ("wic", SUPER_GLUE))):
        repos[repo][f"{task}/train-00000-of-00001.parquet"] = _parquet(
            task_frame(task, train, 100 + n)
        )
        repos[repo][f"{task}/validation-00000-of-00001.parquet"] = _parquet(
            task_frame(task, dev, 200 + n)
        )
    for repo, files in repos.items():
        files["README.md"] = f"---\npretty_name: {repo} (synthetic)\n---\n".encode()
    return repos


def add_targets(
    hub: Any, train: int = TRAIN_ROWS, dev: int = EVAL_ROWS, glue: dict[str, bytes] | None = None
) -> dict[str, str]:
    """Serve the suite's dataset repos from `hub` (a FakeHub); `glue`: more files of
    `nyu-mll/glue` (MNLI's, `ranker.testing.nli.glue_mnli_files()`) to serve beside stsb.
    Returns repo id -> its commit."""
    out = {}
    for repo, files in target_repos(train, dev).items():
        extra = glue if repo == GLUE and glue else {}
        out[repo] = hub.add_dataset(repo, {**extra, **files}).sha
    return out


def pretraining_pairs(n: int, seed: int) -> tuple[list[tuple[str, str]], np.ndarray]:
    """`n` text pairs over the three tasks as `ft_protocol` pairs their fields, with the shared
    signal as a label: 1 when the two texts agree on a key (stsb: on both), else 0."""
    pairs, labels = [], []
    for task, rows in (
        (t, task_frame(t, n // 3 + 1, seed + k)) for k, t in enumerate(("stsb", "boolq", "wic"))
    ):
        for row in rows.itertuples(index=False):
            if task == "stsb":
                pairs.append((row.sentence1, row.sentence2))
                labels.append(int(row.label > 3.75))
            elif task == "boolq":
                pairs.append((row.question, row.passage))
                labels.append(int(row.label))
            else:
                pairs.append((f"{row.word}: {row.sentence1}", row.sentence2))
                labels.append(int(row.label))
    return pairs[:n], np.array(labels[:n])


def _load(files: dict[str, bytes]) -> tuple[Any, Any]:
    """Our own tiny model's encoder and tokenizer (built here, so trusted; never a hub repo)."""
    from transformers import AutoModel, AutoTokenizer
    from transformers.utils import logging as hf_logging

    level = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()  # no load report of the masked-LM head left behind
    try:
        with tempfile.TemporaryDirectory() as tmp:
            for name, data in files.items():
                (Path(tmp) / name).write_bytes(data)
            return AutoModel.from_pretrained(tmp), AutoTokenizer.from_pretrained(tmp)
    finally:
        hf_logging.set_verbosity(level)


def _save(model: Any, base: dict[str, bytes]) -> dict[str, bytes]:
    """The encoder as safetensors with the base's tokenizer files."""
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    with tempfile.TemporaryDirectory() as tmp:
        model.save_pretrained(tmp, safe_serialization=True)
        own = {p.name: p.read_bytes() for p in Path(tmp).iterdir()}
    keep = {k: v for k, v in base.items() if not k.endswith((".safetensors", ".bin"))}
    return {**keep, **own}


def helpful_model(
    base: dict[str, bytes], *, n: int = 1500, steps: int = 300, seed: int = 0
) -> dict[str, bytes]:
    """The base trained (all weights, with a throwaway head on the first-token state and the
    mean, as ft-1 pools) to tell whether two texts agree: an encoder whose features the suite's
    finetuning can use. `base`: the tiny base's files (`tiny_model("bert")`)."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny matrices: one thread is 20x faster on a busy machine
    try:
        return _train_helpful(base, n, steps, seed)
    finally:
        torch.set_num_threads(threads)


def _train_helpful(base: dict[str, bytes], n: int, steps: int, seed: int) -> dict[str, bytes]:
    import torch

    torch.manual_seed(seed)
    model, tokenizer = _load(base)
    pairs, labels = pretraining_pairs(n, seed=1000 + seed)
    batch = tokenizer([a for a, _ in pairs], [b for _, b in pairs], padding=True,
                      truncation=True, max_length=64, return_tensors="pt")  # fmt: skip
    y = torch.tensor(labels)
    head = torch.nn.Linear(2 * model.config.hidden_size, 2)
    params = list(model.parameters()) + list(head.parameters())
    optimizer = torch.optim.AdamW(params, lr=3e-3)
    model.train()
    rng = np.random.default_rng(seed)
    for _ in range(steps):
        pick = torch.as_tensor(rng.choice(len(pairs), size=64, replace=False))
        loss = torch.nn.functional.cross_entropy(head(_pooled(model, batch, pick)), y[pick])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    model.eval()
    return _save(model, base)


def _pooled(model: Any, batch: Any, pick: Any) -> Any:
    """First-token state and masked mean of the last layer, concatenated (as ft-1 pools)."""
    mask = batch["attention_mask"][pick]
    out = model(**{k: v[pick] for k, v in batch.items()}).last_hidden_state
    mean = (out * mask[..., None]).sum(1) / mask.sum(1, keepdim=True)
    return __import__("torch").cat([out[:, 0], mean], dim=1)


def noised_model(files: dict[str, bytes], *, scale: float = 1.0, seed: int = 0) -> dict[str, bytes]:
    """The same model with Gaussian noise added to every weight (`scale` times each tensor's
    own standard deviation, LayerNorms included): the help it had is gone, the files' shapes
    and config are the same."""
    import torch
    from safetensors.torch import load, save

    generator = torch.Generator().manual_seed(seed)
    state = load(files["model.safetensors"])
    noised = {}
    for name, tensor in sorted(state.items()):
        if not tensor.is_floating_point():
            noised[name] = tensor
            continue
        spread = float(tensor.float().std()) if tensor.numel() > 1 else 0.0
        spread = spread or 0.02
        noise = torch.randn(tensor.shape, generator=generator) * spread * scale
        noised[name] = (tensor + noise).contiguous()
    return {**files, "model.safetensors": save(noised, metadata={"format": "pt"})}


def describe(files: dict[str, bytes]) -> dict[str, Any]:
    """config.json of a model's files (for checks in tests)."""
    return json.loads(files["config.json"])


HELPFUL, NOISED, PLAIN = "helper/bert-helpful", "helper/bert-noised", "org/bert-plain"
# probe accuracy of each model of `verify_world` (the base's too): the helpful and the noised
# model lead the probe's table, the plain finetune trails it (out of a top 2)
PROBE_ACCURACY = {HELPFUL: 0.80, NOISED: 0.75, "base": 0.55, PLAIN: 0.45}


def verify_models(base: dict[str, bytes], plain: dict[str, bytes]) -> dict[str, dict[str, bytes]]:
    """The models of `verify_world`, by id (the base's under "base"): ~5 s of training."""
    helpful = helpful_model(base)
    return {"base": base, HELPFUL: helpful, NOISED: noised_model(helpful, scale=10.0),
            PLAIN: plain}  # fmt: skip


def verify_world(hub: Any, models: dict[str, dict[str, bytes]], base_id: str) -> dict[str, str]:
    """Register `verify_models`' models (lineage tags to `base_id`) and serve the suite's data.
    Returns model id -> its commit."""
    from ranker.testing.models import register

    shas = {}
    for model_id, files in models.items():
        repo_id = base_id if model_id == "base" else model_id
        lineage = {} if model_id == "base" else {"base_id": base_id}
        shas[repo_id] = register(hub, repo_id, files, model_type="bert", **lineage).sha
    add_targets(hub)
    return shas


def probe_records(
    shas: dict[str, str], architecture: str, n_eval: int = 2_000
) -> tuple[list[Any], list[Any]]:
    """The catalog entries and probe results (current protocol, with correctness bits) that
    put `verify_world`'s models in `PROBE_ACCURACY`'s order, at the hub's commits."""
    from ranker.protocol import PROTOCOL_VERSION
    from ranker.records import SCHEMA_VERSION, CatalogEntry, EvalResult
    from ranker.testing.synthetic import DATA_FINGERPRINT, correctness, pack

    ids = list(shas)
    truth = np.array([PROBE_ACCURACY.get(m, PROBE_ACCURACY["base"]) for m in ids])
    bits = correctness(truth, n_eval, seed=21)
    base_acc = float(bits[ids.index(architecture)].mean()) if architecture in ids else 0.5
    results, catalog = [], []
    for i, model_id in enumerate(ids):
        acc = float(bits[i].mean())
        half = 1.96 * (acc * (1 - acc) / n_eval) ** 0.5
        results.append(EvalResult(
            schema_version=SCHEMA_VERSION, model_id=model_id, architecture=architecture,
            revision=shas[model_id], protocol_version=PROTOCOL_VERSION, status="ok",
            evaluated_at="2026-11-20T03:00:00Z", accuracy=acc, accuracy_low=acc - half,
            accuracy_high=acc + half, gain=acc - base_acc, gain_low=acc - base_acc - half,
            gain_high=acc - base_acc + half, n_train=2_000, n_eval=n_eval, seed=0,
            data_fingerprint=DATA_FINGERPRINT, correct=pack(bits[i]), precision="fp32",
            weight_format="safetensors",
        ))  # fmt: skip
        catalog.append(CatalogEntry(
            schema_version=SCHEMA_VERSION, model_id=model_id, architecture=architecture,
            sha=shas[model_id], status="ok", license="apache-2.0", params=60_000,
            found_by="config" if model_id == architecture else "lineage",
            last_modified="2026-11-01T00:00:00.000Z",
        ))  # fmt: skip
    return results, catalog
