#!/usr/bin/env bash
# Regenerate the hashed lock files in requirements/ from pyproject.toml's ranges, with pip-tools
# (`pip-compile --generate-hashes`), installed into a temporary venv (never the project's):
#   requirements/base.txt  the package, no torch: the crawl, merge, check and queue jobs
#   requirements/eval.txt  + the `eval` extra, torch 2.13.0's CPU build: the evaluate jobs
#   requirements/test.txt  + `eval`, `test`, `ray`: CI (RANKER_LOCK in ci.yml)
# torch is held at requirements/torch.txt's version; its CPU wheel comes from PyTorch's CPU
# index, RANKER_TORCH_INDEX (set it empty where pip is already configured with a CPU build).
# The workflows install with `pip install --require-hashes --only-binary=:all: -r FILE`.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
index=${RANKER_TORCH_INDEX-https://download.pytorch.org/whl/cpu}

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
python3 -m venv "$tmp/tools"
"$tmp/tools/bin/pip" install -q "pip-tools==7.*"
# the metadata build reads only these: the lock never depends on the state of the checkout
mkdir -p "$tmp/src/requirements" "$tmp/src/ranker"
cp pyproject.toml README.md "$tmp/src/"
# the existing locks too: pip-compile keeps their pins unless a range no longer allows one
# (RANKER_LOCK_UPGRADE=1 drops them and resolves afresh)
cp requirements/*.txt "$tmp/src/requirements/"
[ "${RANKER_LOCK_UPGRADE:-0}" = 1 ] && rm -f "$tmp/src/requirements/"{base,eval,test}.txt
cp ranker/__init__.py "$tmp/src/ranker/"  # pyproject reads the version from it
cd "$tmp/src"
compile() {  # OUT [--extra X ...]
  local out=$1
  shift
  CUSTOM_COMPILE_COMMAND="bash scripts/lock.sh" "$tmp/tools/bin/pip-compile" -q \
    --generate-hashes --allow-unsafe --strip-extras --no-emit-index-url --no-emit-find-links \
    ${index:+--extra-index-url "$index"} --constraint requirements/torch.txt \
    --output-file "requirements/$out" "$@" pyproject.toml
  cp "requirements/$out" "$repo/requirements/$out"
}
compile base.txt
compile eval.txt --extra eval
compile test.txt --extra eval --extra test --extra ray
echo "scripts/lock.sh: requirements/{base,eval,test}.txt written"
