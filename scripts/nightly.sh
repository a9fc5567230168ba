#!/usr/bin/env bash
# The nightly job, as .github/workflows/nightly.yml runs it (and tests/test_nightly.py runs it
# against a loopback hub): update the store within a time budget, build the site, and commit
# data/ when it changed. An update that fails midway still builds and commits what it finished.
#
# Environment (all optional): RANKER_ARCHITECTURES (space-separated ids), RANKER_MAX_MODELS,
# RANKER_TIME_BUDGET_MINUTES (default 270), RANKER_FORCE=1, RANKER_SITE_URL, RANKER_COMMIT=1
# (commit data/), RANKER_PUSH=1 (push that commit), RANKER_PYTHON (default: python).
# Extra arguments go to `ranker update` (e.g. --endpoint URL --train-size N).
set -uo pipefail
cd "$(dirname "$0")/.."
py=${RANKER_PYTHON:-python}
summary=$(mktemp)
trap 'rm -f "$summary"' EXIT

args=(update --out site --summary-file "$summary" --no-progress
      --time-budget "${RANKER_TIME_BUDGET_MINUTES:-270}m")
[ -n "${RANKER_MAX_MODELS:-}" ] && args+=(--max-models "$RANKER_MAX_MODELS")
for arch in ${RANKER_ARCHITECTURES:-}; do args+=(--arch "$arch"); done
[ "${RANKER_FORCE:-}" = 1 ] && args+=(--force)
[ -n "${RANKER_SITE_URL:-}" ] && args+=(--site-url "$RANKER_SITE_URL")

"$py" -m ranker "${args[@]}" "$@"
status=$?
if [ $status -ne 0 ]; then
  echo "nightly: ranker update exited $status; building and keeping what it finished" >&2
  "$py" -m ranker build --out site ${RANKER_SITE_URL:+--site-url "$RANKER_SITE_URL"} || status=1
fi

if [ "${RANKER_COMMIT:-}" = 1 ] && [ -n "$(git status --porcelain -- data)" ]; then
  [ -s "$summary" ] || echo "the update did not finish (exit $status); its partial results" >"$summary"
  git add -- data
  git -c user.name="github-actions[bot]" \
      -c user.email="41898282+github-actions[bot]@users.noreply.github.com" \
      commit -q -F - <<MSG || status=1
Nightly update $(date -u +%Y-%m-%d)

$(cat "$summary")
MSG
  if [ "${RANKER_PUSH:-}" = 1 ]; then git push -q || status=1; fi
fi
exit $status
