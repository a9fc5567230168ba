"""Feature-extraction speed: ours vs a plain transformers loop vs sentence-transformers.

All in one process on the same pairs, features checked equal within tolerance, and our useful
GFLOP/s set against a dense matmul measured in the same process (fp32 on CPU, bf16 on GPU).

    python bench/bench_features.py --model MINILM_DIR --data ../shared/data/snli/snli_test.jsonl.gz
    python bench/bench_features.py ... --device cuda --base-size   # + a random BERT-base's pairs/s
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ranker.evaluate import features as F
from ranker.evaluate import loading
from ranker.evaluate.data import fixed_sample, read_jsonl


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def encoder_flops(config, lengths: np.ndarray) -> float:
    """Useful (unpadded) forward FLOPs of a BERT-style encoder over sequences of these lengths."""
    h, ff, layers = config.hidden_size, config.intermediate_size, config.num_hidden_layers
    per_token = 2 * (4 * h * h + 2 * h * ff)
    attn = 4 * h * (lengths.astype(np.float64) ** 2)
    return float(layers * (per_token * lengths.sum() + attn.sum()))


def matmul_rate(device: torch.device) -> float:
    """Dense matmul GFLOP/s: bf16 8192^3 on GPU, fp32 2048^3 on CPU."""
    n, dtype, reps = (
        (8192, torch.bfloat16, 20) if device.type == "cuda" else (2048, torch.float32, 5)
    )
    a = torch.randn(n, n, device=device, dtype=dtype)
    b = torch.randn(n, n, device=device, dtype=dtype)
    for _ in range(3):
        a @ b
    sync(device)
    t = time.perf_counter()
    for _ in range(reps):
        a @ b
    sync(device)
    return 2 * n**3 * reps / (time.perf_counter() - t) / 1e9


def ours(folder: Path, prem, hyp, device, body):
    """Our path: tokenise once, then length-bucketed batches (tokenising is timed too)."""
    tok = F.load_tokenizer(folder)
    sync(device)
    t0 = time.perf_counter()
    enc = F.tokenize(tok, prem, hyp)
    t1 = time.perf_counter()
    x = F.encode(body, enc, device)
    sync(device)
    t2 = time.perf_counter()
    return x, t1 - t0, t2 - t1, enc.lengths


def plain_loader(folder: Path, device):
    from transformers import AutoModel, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(folder))
    return tok, AutoModel.from_pretrained(str(folder)).to(device).eval()


def plain(loaded, prem, hyp, device):
    """The naive loop: pad to 128, batch 32, fp32, file order, default attention."""
    tok, model = loaded
    out = []
    sync(device)
    t = time.perf_counter()
    with torch.no_grad():
        for i in range(0, len(prem), 32):
            b = tok(prem[i : i + 32], hyp[i : i + 32], padding="max_length", truncation=True,
                    max_length=128, return_tensors="pt").to(device)  # fmt: skip
            s = model(**b).last_hidden_state
            m = b["attention_mask"].unsqueeze(-1).float()
            out.append(torch.cat([s[:, 0], (s * m).sum(1) / m.sum(1)], 1).cpu())
    sync(device)
    return torch.cat(out).numpy(), time.perf_counter() - t


def st_loader(folder: Path, device):
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(folder), device=str(device))
    model.max_seq_length = 128
    return model


def st_encode(model, prem, hyp, device):
    pairs = list(zip(prem, hyp, strict=True))
    sync(device)
    t = time.perf_counter()
    x = model.encode(pairs, batch_size=32, convert_to_numpy=True)
    sync(device)
    return x, time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", type=Path, required=True)
    ap.add_argument("--data", type=Path, required=True)
    ap.add_argument("--pairs", type=int, default=5000)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--base-size", action="store_true", help="also a random BERT-base (pairs/s)")
    ap.add_argument("--skip-baselines", action="store_true")
    ap.add_argument("--rounds", type=int, default=3, help="interleaved timing rounds; best kept")
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    device = F.pick_device(args.device)
    pairs = fixed_sample(read_jsonl(args.data), args.pairs)
    prem, hyp = list(pairs.premises), list(pairs.hypotheses)
    r: dict = {"device": F.device_name(device), "pairs": len(prem), "torch": torch.__version__}
    body = F.load_body(loading.inspect(args.model, args.model.name, "r", 10**10), device)
    loaded = None if args.skip_baselines else (plain_loader(args.model, device), None)
    if loaded:
        loaded = (loaded[0], st_loader(args.model, device))
    # Warm-up, then rounds that interleave the methods: on a shared machine the load changes
    # from minute to minute, so each method's best round is compared with the others' best.
    ours(args.model, prem[:256], hyp[:256], device, body)
    if loaded:
        st_encode(loaded[1], prem[:256], hyp[:256], device)
    times: dict[str, list[float]] = {"matmul": [], "tokenise": [], "forward": []}
    for _ in range(args.rounds):
        times["matmul"].append(matmul_rate(device))
        x, t_tok, t_fwd, lengths = ours(args.model, prem, hyp, device, body)
        times["tokenise"].append(t_tok)
        times["forward"].append(t_fwd)
        if loaded:
            xp, t_plain = plain(loaded[0], prem, hyp, device)
            xs, t_st = st_encode(loaded[1], prem, hyp, device)
            times.setdefault("plain", []).append(t_plain)
            times.setdefault("st", []).append(t_st)
    r["rounds"] = times
    r["matmul_gflops"] = max(times["matmul"])
    t_tok, t_fwd = min(times["tokenise"]), min(times["forward"])
    flops = encoder_flops(body.config, lengths)
    r["ours"] = {
        "tokenise_s": t_tok,
        "forward_s": t_fwd,
        "pairs_per_s": len(prem) / (t_tok + t_fwd),
    }
    r["ours"]["gflops"] = flops / t_fwd / 1e9
    r["ours"]["share_of_matmul"] = r["ours"]["gflops"] / r["matmul_gflops"]
    h = x.shape[1] // 2
    if loaded:
        t_plain, t_st = min(times["plain"]), min(times["st"])
        r["plain"] = {"seconds": t_plain, "pairs_per_s": len(prem) / t_plain}
        r["speedup_vs_plain"] = t_plain / (t_tok + t_fwd)
        r["max_abs_diff_vs_plain"] = float(np.abs(xp - x).max())
        r["st"] = {"seconds": t_st, "pairs_per_s": len(prem) / t_st}
        r["speedup_vs_st"] = t_st / (t_tok + t_fwd)
        mean = x[:, h:] / np.linalg.norm(x[:, h:], axis=1, keepdims=True)
        r["min_cosine_vs_st"] = float((mean * xs).sum(1).min())
    if args.base_size:
        from transformers import AutoModel, BertConfig

        torch.manual_seed(0)
        big = AutoModel.from_config(BertConfig(), attn_implementation="sdpa").to(device).eval()
        ours(args.model, prem[:256], hyp[:256], device, big)
        _, tt, tf, lens = ours(args.model, prem, hyp, device, big)
        g = encoder_flops(big.config, lens) / tf / 1e9
        r["bert_base"] = {
            "pairs_per_s": len(prem) / (tt + tf),
            "forward_pairs_per_s": len(prem) / tf,
            "gflops": g,
            "share_of_matmul": g / r["matmul_gflops"],
        }
    text = json.dumps(r, indent=1)
    print(text)
    if args.out:
        args.out.write_text(text)


if __name__ == "__main__":
    main()
