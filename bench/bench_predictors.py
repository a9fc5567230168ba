"""Do LogME and H-score order a pool of models as the probe does? (all-MiniLM-L6-v2, SNLI)

The pool: all-MiniLM-L6-v2 (the base); a variant finetuned briefly on SNLI pairs with their
labels and one with shuffled labels (bench/choose_n.py's recipe: full finetuning, linear head on
mean pooling, batch 32, AdamW, seed 0); Gaussian-noised copies (to every body weight, noise of
standard deviation `scale` x that tensor's own standard deviation, seeded); and a randomly
initialised model of the same configuration. Variants are built once into --pool-dir.

Every member is scored by `ranker.evaluate.run.evaluate_model`, the evaluator itself (the
current protocol, gain over the base included), so the LogME and H-score printed are the values
a record stores. Kendall tau compares each estimator's order of the pool with the probe's.

    python bench/bench_predictors.py --base MINILM_DIR --pool-dir /tmp/ranker-pool \
        --train-file ../shared/data/snli/snli_train_100k.jsonl.gz \
        --train-size 2000 --eval-size 2000 --device cpu --out predictors.json

With --fit-timing N it instead times the probe's fit on the base's features of N training and N
evaluation pairs: protocol lp-1's (lbfgs, tol 1e-4) against the current one (ranker's own
float64 Newton solver to convergence, checked), interleaved, best of --rounds, with the
BLAS/OpenMP thread pools left at their default and limited to one thread.
"""

from __future__ import annotations

import argparse
import json
import platform
import shutil
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

# name: (input, label source, steps, learning rate), as in choose_n.VARIANTS
FINETUNED = {
    "nli-200": ("pair", "nli", 200, 3e-5),
    "shuffled-100": ("pair", "shuffled", 100, 3e-4),
}
NOISE_SCALES = (0.05, 0.1, 0.2, 0.4)
COPIED = ("config.json", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json",
          "vocab.txt")  # fmt: skip


def noised(base: Path, out: Path, scale: float, seed: int) -> None:
    """The base with N(0, (scale x std)^2) noise added to every floating-point weight tensor."""
    import torch
    from safetensors.torch import load_file, save_file

    gen = torch.Generator().manual_seed(seed)
    weights = load_file(base / "model.safetensors")
    for name, w in weights.items():
        if w.is_floating_point() and w.numel() > 1:
            noise = torch.randn(w.shape, generator=gen, dtype=torch.float32)
            weights[name] = (w.float() + scale * w.float().std() * noise).to(w.dtype)
    out.mkdir(parents=True, exist_ok=True)
    save_file(weights, out / "model.safetensors", metadata={"format": "pt"})
    _copy_small_files(base, out)


def random_init(base: Path, out: Path, seed: int) -> None:
    """A model of the base's configuration with freshly initialised weights."""
    import torch
    import transformers

    torch.manual_seed(seed)
    config = transformers.AutoConfig.from_pretrained(base)
    transformers.AutoModel.from_config(config).save_pretrained(out)
    _copy_small_files(base, out)


def _copy_small_files(base: Path, out: Path) -> None:
    for f in COPIED:
        if (base / f).is_file() and not (out / f).is_file():
            shutil.copy(base / f, out / f)


def build_pool(base: Path, pool: Path, train, device) -> dict[str, Path]:
    from choose_n import finetune

    from ranker.evaluate.data import stratified_sample

    members = {"base": base}
    ft_pairs = stratified_sample(train, min(20_000, len(train)), seed=999)  # as choose_n
    for name, spec in FINETUNED.items():
        out = pool / name
        if not (out / "model.safetensors").is_file():
            t = time.perf_counter()
            finetune(base, out, spec, ft_pairs, device)
            print(f"finetuned {name} in {time.perf_counter() - t:.0f}s", flush=True)
        members[name] = out
    for i, scale in enumerate(NOISE_SCALES):
        out = pool / f"noise-{scale:g}"
        if not (out / "model.safetensors").is_file():
            noised(base, out, scale, seed=100 + i)
        members[out.name] = out
    out = pool / "random-init"
    if not (out / "model.safetensors").is_file():
        random_init(base, out, seed=0)
    members[out.name] = out
    return members


def fit_timing(args) -> None:
    import warnings

    import numpy as np
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression
    from threadpoolctl import threadpool_limits

    from ranker import protocol
    from ranker.evaluate import features as F
    from ranker.evaluate import loading, probe
    from ranker.evaluate.data import load_probe_data

    n = args.fit_timing
    data = load_probe_data(args.train_file, n, n, args.seed, eval_file=args.eval_file)
    cached = args.cache_dir / f"fit-timing-{data.fingerprint[:16]}.npz"
    if cached.is_file():
        with np.load(cached) as npz:
            x = npz["x"]
    else:
        device = F.pick_device(args.device)
        tok = F.load_tokenizer(args.base)
        enc = F.tokenize(tok, data.train.premises + data.eval.premises,
                         data.train.hypotheses + data.eval.hypotheses)  # fmt: skip
        body = F.load_body(loading.inspect(args.base, "base", "r", 10**10), device)
        x = F.encode(body, enc, device, pad_id=tok.pad_token_id or 0)
        cached.parent.mkdir(parents=True, exist_ok=True)
        np.savez(cached, x=x)
    z_tr, z_ev = probe.standardise(x[:n], x[n:])
    y_tr, y_ev = data.train.labels, data.eval.labels
    c = protocol.C

    def lp1() -> tuple[np.ndarray, float, int]:
        clf = LogisticRegression(C=c, max_iter=2000, tol=1e-4)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            clf.fit(z_tr, y_tr)
        g = probe.objective_gradient(z_tr, y_tr, clf.coef_, clf.intercept_, c)
        return clf.predict(z_ev), float(np.abs(g).max()), int(clf.n_iter_[0])

    def lp2() -> tuple[np.ndarray, float, int]:
        fit = probe.fit_standardised(z_tr, y_tr, z_ev, seed=args.seed)
        return fit.predictions, fit.gradient, fit.iterations

    best: dict[tuple[str, str], float] = {}
    out: dict[str, tuple[np.ndarray, float, int]] = {}
    for _ in range(args.rounds):
        for threads in ("default", "1"):
            with threadpool_limits(limits=None if threads == "default" else 1):
                for name, fn in (("lp-1", lp1), ("lp-2", lp2)):
                    t = time.perf_counter()
                    out[name] = fn()
                    spent = time.perf_counter() - t
                    best[(name, threads)] = min(best.get((name, threads), spent), spent)
    print(f"fit of {n} x {z_tr.shape[1]} features, {n} evaluation pairs, best of {args.rounds}:")
    for name in ("lp-1", "lp-2"):
        pred, grad, iters = out[name]
        print(f"  {name}: {best[(name, 'default')]:.2f} s (default threads), "
              f"{best[(name, '1')]:.2f} s (1 thread); {iters} iterations, largest gradient "
              f"{grad:.1e}, accuracy {np.mean(pred == y_ev):.4f}")  # fmt: skip
    agree = np.mean(out["lp-1"][0] == out["lp-2"][0])
    print(f"  predictions of lp-1's fit equal to the converged fit's: {agree:.4%}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--base", type=Path, required=True, help="all-MiniLM-L6-v2's folder")
    ap.add_argument("--pool-dir", type=Path, default=Path("/tmp/ranker-pool"))
    ap.add_argument("--train-file", type=Path, required=True)
    ap.add_argument("--eval-file", type=Path)
    ap.add_argument("--train-size", type=int, default=2000)
    ap.add_argument("--eval-size", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--cache-dir", type=Path, default=Path("/tmp/ranker-bench-cache"))
    ap.add_argument("--out", type=Path, default=Path("predictors.json"))
    ap.add_argument("--fit-timing", type=int, metavar="N", help="time the fit instead (N pairs)")
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    if args.fit_timing:
        fit_timing(args)
        return
    import numpy as np
    from scipy.stats import kendalltau

    from ranker import protocol
    from ranker.bits import decode_correct
    from ranker.evaluate import features as F
    from ranker.evaluate import probe, transfer
    from ranker.evaluate.data import load_probe_data, read_jsonl
    from ranker.evaluate.run import Evaluator, Options, evaluate_model

    t0 = time.perf_counter()
    device = F.pick_device(args.device)
    members = build_pool(args.base, args.pool_dir, read_jsonl(args.train_file), device)
    t_pool = time.perf_counter() - t0
    data = load_probe_data(
        args.train_file, args.train_size, args.eval_size, args.seed, eval_file=args.eval_file
    )
    options = Options(device=args.device, cache_dir=args.cache_dir)
    # The evaluator's standardisation, watched: its first call in an evaluation is the model's
    # own (raw and standardised training features), for the diagnostics below.
    seen: list[tuple[np.ndarray, np.ndarray]] = []
    standardise = probe.standardise

    def watched(x_train, *others):
        out = standardise(x_train, *others)
        seen.append((np.asarray(x_train), out[0]))
        return out

    probe.standardise = watched
    y = data.train.labels
    rows = []
    bits = {}
    evaluator = Evaluator(data, options)  # one for every member: the base is scored once
    t1 = time.perf_counter()
    for name, folder in members.items():
        t = time.perf_counter()
        seen.clear()
        r = evaluate_model(str(folder), data, base=str(args.base), model_id=name,
                           evaluator=evaluator)  # fmt: skip
        if r.status != "ok":
            raise SystemExit(f"{name}: {r.error}")
        bits[name] = decode_correct(r.correct, r.n_eval)
        raw, z = seen[0]
        assert abs(transfer.logme(raw, y) - r.logme) < 1e-12  # the record's features
        assert abs(transfer.hscore(z, y) - r.hscore) < 1e-12
        parts = transfer.logme_classes(raw, y)
        eig = np.linalg.eigvalsh(z.T @ z / len(z))
        diagnostics = {
            "logme_standardised": transfer.logme(z, y),
            "hscore_raw": transfer.hscore(raw, y),
            "logme_gamma": [p.gamma for p in parts],
            "effective_rank": float(eig.sum() ** 2 / (eig**2).sum()),
        }
        rows.append(
            {
                "model": name,
                "accuracy": r.accuracy,
                "accuracy_low": r.accuracy_low,
                "accuracy_high": r.accuracy_high,
                "gain": r.gain,
                "gain_low": r.gain_low,
                "gain_high": r.gain_high,
                "logme": r.logme,
                "hscore": r.hscore,
                "timings": r.timings,
                **diagnostics,
            }
        )
        print(f"{name}: acc {r.accuracy:.4f} logme {r.logme} hscore {r.hscore:.4f} "
              f"({time.perf_counter() - t:.0f}s)", flush=True)  # fmt: skip
    t_eval = time.perf_counter() - t1
    acc = np.array([row["accuracy"] for row in rows])
    taus = {}
    for est in ("logme", "hscore"):
        values = np.array([row[est] for row in rows], dtype=float)
        taus[est] = float(kendalltau(values, acc).statistic)
    std = [row["logme_standardised"] for row in rows]
    taus["logme_standardised"] = float(kendalltau(std, acc).statistic)
    # Pairs an estimator orders against the probe, and whether the probe separates them: the
    # paired bootstrap interval of their accuracy difference on the same evaluation pairs.
    discordant = []
    for est in ("logme", "hscore", "logme_standardised"):
        for i, a in enumerate(rows):
            for b in rows[i + 1 :]:
                if a[est] is None or b[est] is None:
                    continue
                if (a["accuracy"] - b["accuracy"]) * (a[est] - b[est]) < 0:
                    hi, lo = (a, b) if a["accuracy"] > b["accuracy"] else (b, a)
                    diff, low, high = probe.paired_bootstrap_gain(
                        bits[hi["model"]], bits[lo["model"]]
                    )
                    discordant.append({"estimator": est, "probe_higher": hi["model"],
                                       "probe_lower": lo["model"], "difference": diff,
                                       "low": low, "high": high})  # fmt: skip
    result = {
        "date": datetime.now(UTC).strftime("%Y-%m-%d"),
        "machine": f"{platform.machine()}, {F.device_name(device)}",
        "protocol": protocol.PROTOCOL_VERSION,
        "n_train": args.train_size,
        "n_eval": args.eval_size,
        "logme_floor": transfer.noise_only_logme(y),
        "rows": rows,
        "kendall_tau_vs_probe": taus,
        "discordant_pairs": discordant,
        "seconds": {"pool": round(t_pool, 1), "evaluations": round(t_eval, 1)},
    }
    args.out.write_text(json.dumps(result, indent=1))
    print(markdown(result))


def markdown(r: dict) -> str:
    lines = [
        "| model | probe accuracy [95% CI] | gain over base [paired 95% CI] | LogME | H-score "
        "| LogME - floor | LogME's gamma (mean) | effective rank | LogME, standardised |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    floor = r["logme_floor"]
    for row in r["rows"]:
        gain = (
            f"{row['gain']:+.4f} [{row['gain_low']:+.4f}, {row['gain_high']:+.4f}]"
            if row["model"] != "base"
            else "0"
        )
        logme = "—" if row["logme"] is None else f"{row['logme']:.4f}"
        above = "—" if row["logme"] is None else f"{row['logme'] - floor:.4f}"
        lines.append(
            f"| {row['model']} | {row['accuracy']:.4f} [{row['accuracy_low']:.4f}, "
            f"{row['accuracy_high']:.4f}] | {gain} | {logme} | {row['hscore']:.4f} | {above} "
            f"| {sum(row['logme_gamma']) / len(row['logme_gamma']):.1f} "
            f"| {row['effective_rank']:.1f} | {row['logme_standardised']:.4f} |"
        )
    taus = r["kendall_tau_vs_probe"]
    lines.append(
        f"\nKendall tau vs the probe's order: LogME {taus['logme']:.3f}, "
        f"H-score {taus['hscore']:.3f} (LogME of standardised features "
        f"{taus['logme_standardised']:.3f}); "
        f"LogME floor (features carrying nothing) {floor:.4f}; seconds: {r['seconds']}"
    )
    lines.append("\nPairs ordered against the probe (probe's accuracy difference, paired 95% CI):")
    for d in r["discordant_pairs"]:
        lines.append(
            f"- {d['estimator']}: {d['probe_lower']} above {d['probe_higher']}; probe "
            f"{d['probe_higher']} - {d['probe_lower']} = {d['difference']:+.4f} "
            f"[{d['low']:+.4f}, {d['high']:+.4f}]"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    main()
