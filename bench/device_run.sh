#!/bin/bash
# What ran on the device machine (NVIDIA H200) for docs/benchmarks.md, from a folder holding
# ranker/, bench/, snli/ (the shared SNLI files) and minilm/ (all-MiniLM-L6-v2's config and
# tokenizer files with its weights stored as float16: the device accepts at most 64 MiB).
cd "$(dirname "$0")"
export PYTHONUNBUFFERED=1 PYTHONPATH=$PWD
nvidia-smi --query-gpu=name,memory.total,clocks.max.sm --format=csv | tee "$OUT/gpu.txt"
python3 - <<'PY'
import shutil

from safetensors.torch import load_file, save_file

shutil.copytree("minilm", "/tmp/minilm", dirs_exist_ok=True)
w = load_file("minilm/model.safetensors")
save_file({k: v.float().contiguous() for k, v in w.items()}, "/tmp/minilm/model.safetensors",
          metadata={"format": "pt"})
PY
python3 bench/bench_features.py --model /tmp/minilm --data snli/snli_test.jsonl.gz --pairs 5000 \
    --device cuda --base-size --out "$OUT/bench_gpu.json"
python3 bench/bench_features.py --model /tmp/minilm --data snli/snli_test.jsonl.gz --pairs 9824 \
    --device cuda --base-size --skip-baselines --out "$OUT/bench_gpu_full.json"
python3 bench/choose_n.py --base /tmp/minilm --pool-dir /tmp/pool \
    --train-file snli/snli_train_100k.jsonl.gz --eval-file snli/snli_test.jsonl.gz \
    --device cuda --jobs 16 --out "$OUT/choose_n.json"
