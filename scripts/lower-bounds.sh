#!/usr/bin/env bash
# Install the LOWEST version every range in pyproject.toml allows (uv's
# `--resolution lowest-direct`: each declared dependency at its lower bound, what they pull at
# its newest), into a temporary venv, and run the evaluator's tests there: a lower bound that
# does not work fails here instead of on a user's machine.
#   bash scripts/lower-bounds.sh [PYTEST ARGS]
# torch's lower bound (2.10) is PyTorch's CPU build, from RANKER_TORCH_INDEX (default: its CPU
# index). Where that index cannot be reached, RANKER_LOWER_TORCH=2.13.0 holds torch at a version
# the configured pip can install instead (the only range then not at its bound; say so).
set -euo pipefail
cd "$(dirname "$0")/.."
index=${RANKER_TORCH_INDEX-https://download.pytorch.org/whl/cpu}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

python3 -m venv "$tmp/tools"
"$tmp/tools/bin/pip" install -q "uv==0.*"
uv=("$tmp/tools/bin/uv")
"${uv[@]}" venv -q --python python3 "$tmp/venv"
py="$tmp/venv/bin/python"
if [ -n "${RANKER_LOWER_TORCH:-}" ]; then
  # torch as the configured pip serves it (e.g. a CPU build from local disk), then held there
  "$tmp/tools/bin/pip" --python "$py" install -q "torch==$RANKER_LOWER_TORCH" 2>/dev/null \
    || python3 -m pip --python "$py" install -q "torch==$RANKER_LOWER_TORCH"
  echo "torch==$RANKER_LOWER_TORCH" >"$tmp/hold.txt"
else
  : >"$tmp/hold.txt"
fi
"${uv[@]}" pip install -q --python "$py" --resolution lowest-direct \
  ${index:+--extra-index-url "$index" --index-strategy unsafe-best-match} \
  -c "$tmp/hold.txt" -e '.[eval,test]'
echo "scripts/lower-bounds.sh: installed" >&2
"${uv[@]}" pip list --python "$py" 2>/dev/null \
  | grep -Ei '^(torch|transformers|tokenizers|safetensors|huggingface.hub|httpx2|jinja2|orjson|pandas|plotly|scipy|tqdm|scikit-learn|pyarrow|sentencepiece|protobuf|numpy) ' >&2
"$py" -m pytest -q -p no:cacheprovider tests/test_evaluate.py tests/test_loading.py \
  tests/test_probe.py tests/test_transfer.py "$@"
