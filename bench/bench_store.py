"""The results store at scale: appending one result and loading them all, at 100k results.

    .venv/bin/python bench/bench_store.py [--n 100000] [--appends 200] [--baseline-n 10000]

Builds a synthetic store of `--n` realistic results in a temp folder (every field a real ok
result fills, `correct` bits of 5,000 evaluation pairs as `ranker.bits.encode_correct`
writes them, timings and library versions; every 20th an error record), all of ONE
architecture (the worst case for file sizes), then measures, each against a baseline taken in
the same process on the same machine:

- append: ms per `Store.save_result` at n results (median of `--appends` new results), against
  the old `save_result`, which read, validated and rewrote the one results.jsonl per result:
  timed on a few calls on the old single file of the same n results;
- load: seconds for `Store.results()` (every line validated), against plain `json.loads` of
  every line of the same files (no validation, no records);
- files: the largest results file and the total, against the old single file.

Prints a markdown table for docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ranker.bits import encode_correct
from ranker.protocol import PROTOCOL_VERSION
from ranker.records import SCHEMA_VERSION, EvalResult
from ranker.store import (
    Store,
    atomic_write_text,
    check_storable,
    parse_jsonl,
    record_line,
    results_text,
)

OLD_FILE = "results.jsonl"  # the layout before buckets: one file, rewritten whole per result

N_EVAL = 5_000
ARCH = "FacebookAI/roberta-base"


def make_results(n: int, *, seed: int = 0, start: int = 0) -> list[EvalResult]:
    """`n` results as `ranker.evaluate.run` writes them: ok ones with every field, and an
    error record every 20th model."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(start, start + n):
        model = f"org{i % 997}/model-{i:06d}"
        common = dict(
            schema_version=SCHEMA_VERSION, model_id=model, architecture=ARCH,
            revision=f"{(i * 2654435761) % 16**40:040x}", protocol_version=PROTOCOL_VERSION,
            evaluated_at=f"2026-11-{1 + i % 27:02d}T{i % 24:02d}:{i % 60:02d}:00Z",
            n_train=5_000, n_eval=N_EVAL, seed=0,
            data_fingerprint="9f2c" * 16, data_revision="b" * 40,
        )  # fmt: skip
        if i % 20 == 19:
            out.append(EvalResult(**common, status="error", error="model.safetensors: HTTP 404",
                                  reason="missing-weights", failure="permanent",
                                  timings={"download": 0.412}))  # fmt: skip
            continue
        acc = float(rng.uniform(0.45, 0.8))
        correct = rng.random(N_EVAL) < acc
        acc = float(correct.mean())
        out.append(
            EvalResult(
                **common, status="ok", accuracy=acc, accuracy_low=acc - 0.0137,
                accuracy_high=acc + 0.0135, gain=acc - 0.55, gain_low=acc - 0.5612,
                gain_high=acc - 0.5391, tokenizer="RobertaTokenizerFast",
                weight_format="safetensors", correct=encode_correct(correct),
                logme=float(rng.normal(-0.3, 0.1)), hscore=float(rng.normal(2.1, 0.2)),
                precision="bf16", device="cuda (NVIDIA H100 80GB HBM3)",
                peak_memory_mb=float(round(rng.uniform(900, 2500), 1)),
                timings={"download": 3.271, "tokenise": 0.842, "load": 1.118,
                         "forward": 6.503, "fit": 0.931, "transfer": 0.12},
                versions={"ranker": "0.1.0", "python": "3.11.7", "torch": "2.13.0",
                          "transformers": "4.57.1", "numpy": "2.3.4", "scikit-learn": "1.7.2"},
            )
        )  # fmt: skip
    return out


def old_save_result(store: Store, result: EvalResult) -> None:
    """The save_result this replaces: check, read and validate the whole single file, rewrite."""
    path = store.path(OLD_FILE)
    check_storable(path, result)
    kept = [r for _, r in parse_jsonl(path, path.read_text(encoding="utf-8"), EvalResult)]
    kept = [r for r in kept if r.key != result.key]
    atomic_write_text(path, results_text([*kept, result]))


def timed(fn, *args) -> float:
    start = time.perf_counter()
    fn(*args)
    return time.perf_counter() - start


def timed_both(fn) -> tuple[float, float]:
    """(wall, CPU) seconds of one call: on a shared machine the CPU time is what the call
    costs, the wall time what it took while other processes had the cores too."""
    wall, cpu = time.perf_counter(), time.process_time()
    kept = fn()  # kept until timed: freeing what it made is not part of the call
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    del kept
    return wall, cpu


def loadavg() -> str:
    try:
        return Path("/proc/loadavg").read_text().split()[0]
    except OSError:
        return "?"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--appends", type=int, default=200)
    parser.add_argument("--old-appends", type=int, default=3)
    args = parser.parse_args()

    t0 = time.perf_counter()
    results = make_results(args.n)
    made = time.perf_counter() - t0
    print(f"made {len(results)} results in {made:.1f} s", file=sys.stderr)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        store = Store(root / "data")
        t0 = time.perf_counter()
        store.write_results(results)  # checks every record, writes the buckets
        wrote = time.perf_counter() - t0
        files = sorted(store.results_dir.glob("*.jsonl"))
        sizes = [f.stat().st_size for f in files]
        print(f"wrote {len(files)} files in {wrote:.1f} s", file=sys.stderr)

        # load: validated records vs plain json.loads of every line (best of 3 each)
        def plain() -> list[dict]:
            out = []
            for f in files:
                for line in f.read_text(encoding="utf-8").split("\n"):
                    if line:
                        out.append(json.loads(line))
            return out

        load_before = loadavg()
        plain_s, plain_cpu = min(timed_both(plain) for _ in range(3))
        load_s, load_cpu = min(timed_both(store.results) for _ in range(3))
        assert len(store.results()) == len(results)

        # append: median of new results appended at n
        extra = make_results(args.appends, seed=1, start=args.n)
        times = [timed(store.save_result, r) * 1000 for r in extra]
        append_ms = statistics.median(times)
        assert len(store.results()) == len(results) + len(extra)

        # baseline: the old layout, one file of the same n results, old save_result
        old = Store(root / "old")
        old.root.mkdir()
        atomic_write_text(old.path(OLD_FILE), results_text(results))
        old_size = old.path(OLD_FILE).stat().st_size
        old_extra = make_results(args.old_appends, seed=2, start=2 * args.n)
        old_ms = statistics.median(timed(old_save_result, old, r) * 1000 for r in old_extra)

    line = len(record_line(results[0]).encode())
    mb = 1024 * 1024
    print(f"\nn = {args.n:,} results of one architecture ({line:,} bytes an ok record), "
          f"{platform.python_implementation()} {platform.python_version()}, "
          f"{os.cpu_count()} CPUs, load average {load_before} when loading\n")  # fmt: skip
    print("| measure | store | baseline | ratio |")
    print("|---|---:|---:|---:|")
    print(
        f"| append one result at {args.n:,} (median of {args.appends}; baseline: old "
        f"full-rewrite `save_result`, median of {args.old_appends}) | {append_ms:.2f} ms "
        f"(max {max(times):.1f}) | {old_ms:,.0f} ms | {old_ms / append_ms:,.0f}x faster |"
    )
    print(
        f"| load {args.n:,} results, every line validated (baseline: `json.loads` of every "
        f"line into a list, no validation; best of 3) | {load_s:.2f} s ({load_cpu:.2f} s CPU) | "
        f"{plain_s:.2f} s ({plain_cpu:.2f} s CPU) | {load_s / plain_s:.2f}x the baseline "
        f"({load_cpu / plain_cpu:.2f}x in CPU) |"
    )
    print(
        f"| largest results file ({len(files)} files; baseline: the old single file) | "
        f"{max(sizes) / mb:.2f} MB | {old_size / mb:.1f} MB | "
        f"{old_size / max(sizes):.0f}x smaller |"
    )
    print(
        f"| all results files | {sum(sizes) / mb:.1f} MB | {old_size / mb:.1f} MB | "
        f"{sum(sizes) / old_size:.2f}x |"
    )
    print(f"\n(making the results: {made:.1f} s; writing them with `write_results`: {wrote:.1f} s)")


if __name__ == "__main__":
    main()
