"""Choose the default N by measurement: rank a pool of real models at several N and seeds.

The pool is all-MiniLM-L6-v2 and variants of it finetuned briefly here on different tasks
(NLI pairs, hypothesis-only, a premise-length task, shuffled labels). The default N is the
smallest whose ranking (mean accuracy over seeds) agrees with the largest N's at Kendall tau
>= 0.9. Variants are cached in --pool-dir (outside the repo).

    python bench/choose_n.py --base MINILM_DIR --pool-dir /tmp/ranker-pool \
        --train-file ../shared/data/snli/snli_train_100k.jsonl.gz --out choose_n.json
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ranker.evaluate import features as F
from ranker.evaluate import loading, probe
from ranker.evaluate.data import (
    Pairs,
    fixed_sample,
    read_jsonl,
    stratified_sample,
)

# name: (input, label source, steps, learning rate)
VARIANTS = {
    "nli-100": ("pair", "nli", 100, 2e-5),
    "nli-400": ("pair", "nli", 400, 3e-5),
    "hyp-only": ("hypothesis", "nli", 300, 3e-5),
    "length": ("premise", "length", 300, 3e-5),
    "shuffled": ("pair", "shuffled", 300, 3e-5),
    "shuffled-hot": ("pair", "shuffled", 300, 3e-4),
}
TOKENIZER_FILES = (
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "vocab.txt",
)


def finetune(base: Path, out: Path, spec: tuple, pairs: Pairs, device, seed: int = 0) -> None:
    """Brief full finetuning with a linear head on mean pooling; saves the body only."""
    import torch

    kind, labels_from, steps, lr = spec
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    tok = F.load_tokenizer(base)
    ckpt = loading.inspect(base, "base", "r", 10**10)
    body = F.load_body(ckpt, device).train()
    labels = pairs.labels.copy()
    if labels_from == "shuffled":
        labels = rng.permutation(labels)
    elif labels_from == "length":
        n = np.array([len(p.split()) for p in pairs.premises])
        labels = np.digitize(n, np.quantile(n, [1 / 3, 2 / 3]))
    head = torch.nn.Linear(body.config.hidden_size, 3).to(device)
    opt = torch.optim.AdamW([*body.parameters(), *head.parameters()], lr=lr, weight_decay=0.01)
    batch = 32
    for step in range(steps):
        idx = rng.integers(0, len(pairs), batch)
        first = [pairs.premises[i] if kind != "hypothesis" else pairs.hypotheses[i] for i in idx]
        second = [pairs.hypotheses[i] for i in idx] if kind == "pair" else None
        enc = tok(first, second, truncation=True, max_length=128, padding=True, return_tensors="pt")
        enc = {k: v.to(device) for k, v in enc.items()}
        states = body(**enc).last_hidden_state
        m = enc["attention_mask"].unsqueeze(-1).float()
        logits = head((states * m).sum(1) / m.sum(1))
        loss = torch.nn.functional.cross_entropy(
            logits, torch.as_tensor(labels[idx], device=device)
        )
        opt.zero_grad()
        loss.backward()
        opt.step()
        if step % 100 == 0:
            print(f"  {out.name} step {step} loss {loss.item():.3f}", flush=True)
    body.eval().to("cpu").save_pretrained(out)
    for f in TOKENIZER_FILES:
        if (base / f).is_file():
            shutil.copy(base / f, out / f)


def build_pool(base: Path, pool: Path, train: Pairs, device) -> dict[str, Path]:
    models = {"base": base}
    ft = stratified_sample(train, min(20_000, len(train)), seed=999)
    for name, spec in VARIANTS.items():
        out = pool / name
        if not (out / "model.safetensors").is_file():
            t = time.perf_counter()
            finetune(base, out, spec, ft, device)
            print(f"finetuned {name} in {time.perf_counter() - t:.0f}s", flush=True)
        models[name] = out
    return models


def features_by_id(folder: Path, pairs: Pairs, device) -> dict[str, np.ndarray]:
    tok = F.load_tokenizer(folder)
    enc = F.tokenize(tok, pairs.premises, pairs.hypotheses)
    body = F.load_body(loading.inspect(folder, folder.name, "r", 10**10), device)
    x = F.encode(body, enc, device, pad_id=tok.pad_token_id or 0)
    return x


def fit_job(name, n, seed, x_train, y_train, x_eval, y_eval) -> tuple[str, int, int, float]:
    """One protocol fit (module level, array arguments: joblib memory-maps them)."""
    fit = probe.fit_probe(x_train, y_train, x_eval, seed=seed)
    return name, n, seed, float(fit.correct(y_eval).mean())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--base", type=Path, required=True)
    ap.add_argument("--pool-dir", type=Path, default=Path("/tmp/ranker-pool"))
    ap.add_argument("--train-file", type=Path, required=True)
    ap.add_argument("--eval-file", type=Path)
    ap.add_argument("--sizes", default="1000,2000,5000,10000,20000,50000")
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--eval-size", type=int, default=5000)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--jobs", type=int, default=1)
    ap.add_argument("--steps-scale", type=float, default=1.0, help="scale finetuning steps")
    ap.add_argument("--variants", help="comma-separated subset of the pool's variants")
    ap.add_argument("--pool-only", action="store_true", help="build the pool, then stop")
    ap.add_argument("--out", type=Path, default=Path("choose_n.json"))
    args = ap.parse_args()
    from joblib import Parallel, delayed
    from scipy.stats import kendalltau

    sizes = [int(s) for s in args.sizes.split(",")]
    seeds = [int(s) for s in args.seeds.split(",")]
    device = F.pick_device(args.device)
    train = read_jsonl(args.train_file)
    eval_file = args.eval_file or args.train_file.with_name("snli_test.jsonl.gz")
    dev = fixed_sample(read_jsonl(eval_file), args.eval_size)
    t0 = time.perf_counter()
    for name, (kind, labels, steps, lr) in VARIANTS.items():
        VARIANTS[name] = (kind, labels, max(1, round(steps * args.steps_scale)), lr)
    if args.variants:
        keep = args.variants.split(",")
        for name in [v for v in VARIANTS if v not in keep]:
            del VARIANTS[name]
    models = build_pool(args.base, args.pool_dir, train, device)
    if args.pool_only:
        print("\n".join(f"{k}: {v}" for k, v in models.items()))
        return
    t_pool = time.perf_counter() - t0

    samples = {(n, s): stratified_sample(train, n, s) for n in sizes for s in seeds}
    needed = sorted({i for p in samples.values() for i in p.ids})
    row = {pid: k for k, pid in enumerate(train.ids)}
    union = train.take(np.array([row[i] for i in needed]))
    at = {pid: k for k, pid in enumerate(union.ids)}
    both = Pairs(
        union.ids + dev.ids,
        union.premises + dev.premises,
        union.hypotheses + dev.hypotheses,
        np.concatenate([union.labels, dev.labels]),
    )
    feats: dict[str, np.ndarray] = {}
    t1 = time.perf_counter()
    for name, folder in models.items():
        t = time.perf_counter()
        feats[name] = features_by_id(folder, both, device)
        print(f"features {name}: {len(both)} pairs in {time.perf_counter() - t:.0f}s", flush=True)
    t_feat = time.perf_counter() - t1

    t2 = time.perf_counter()
    x_eval = {m: feats[m][len(union) :] for m in models}
    rows = {k: np.array([at[i] for i in p.ids]) for k, p in samples.items()}
    tasks = [(m, n, s) for m in models for n in sizes for s in seeds]
    out = Parallel(n_jobs=args.jobs, verbose=5)(
        delayed(fit_job)(
            m, n, s, feats[m][rows[(n, s)]], samples[(n, s)].labels, x_eval[m], dev.labels
        )
        for m, n, s in tasks
    )
    t_fit = time.perf_counter() - t2
    acc = {(m, n, s): a for m, n, s, a in out}
    names = list(models)
    mean = {n: [np.mean([acc[(m, n, s)] for s in seeds]) for m in names] for n in sizes}
    top = sizes[-1]
    taus = {n: float(kendalltau(mean[n], mean[top]).statistic) for n in sizes}
    seed_taus = {
        n: float(
            np.mean(
                [kendalltau([acc[(m, n, s)] for m in names], mean[top]).statistic for s in seeds]
            )
        )
        for n in sizes
    }
    chosen = next(n for n in sizes if taus[n] >= 0.9)
    result = {
        "models": names,
        "sizes": sizes,
        "seeds": seeds,
        "eval_size": args.eval_size,
        "device": F.device_name(device),
        "accuracy": {f"{m}|{n}|{s}": a for (m, n, s), a in acc.items()},
        "mean": {str(n): dict(zip(names, map(float, mean[n]), strict=True)) for n in sizes},
        "kendall_tau_vs_largest": {str(n): taus[n] for n in sizes},
        "mean_single_seed_tau": {str(n): seed_taus[n] for n in sizes},
        "chosen_n": chosen,
        "seconds": {"pool": t_pool, "features": t_feat, "fits": t_fit},
    }
    args.out.write_text(json.dumps(result, indent=1))
    print(markdown(result))


def markdown(r: dict) -> str:
    sizes = r["sizes"]
    lines = ["| model | " + " | ".join(f"N={n}" for n in sizes) + " |"]
    lines.append("|---|" + "---|" * len(sizes))
    for m in r["models"]:
        cells = []
        for n in sizes:
            vals = [r["accuracy"][f"{m}|{n}|{s}"] for s in r["seeds"]]
            cells.append(f"{np.mean(vals):.4f} ± {np.std(vals):.4f}")
        lines.append(f"| {m} | " + " | ".join(cells) + " |")
    taus = r["kendall_tau_vs_largest"]
    lines.append(
        "| Kendall tau (mean ranking) vs largest N | "
        + " | ".join(f"{taus[str(n)]:.3f}" for n in sizes)
        + " |"
    )
    st = r["mean_single_seed_tau"]
    lines.append(
        "| mean tau of one seed's ranking | "
        + " | ".join(f"{st[str(n)]:.3f}" for n in sizes)
        + " |"
    )
    lines.append(f"\nchosen N = {r['chosen_n']}; seconds: {r['seconds']}")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
