#!/usr/bin/env bash
# The weekly verification (issue 21, protocol ft-1): finetune the probe's leaders on the target
# suite. .github/workflows/verify.yml runs it in stages, one job each, so that the jobs that
# load untrusted weights hold no write token and no secret (the nightly's split, nightly.sh):
#   plan          check RANKER_SHARDS (default 20) and RANKER_MAX_UNITS; take data/ as the
#                 upstream branch has it now (RANKER_UPSTREAM), pin the target tasks' commits
#                 (ranker verify --pin-only: kept when main has them), list the units (ranker
#                 verify --dry-run); the pins and the listing in $RANKER_WORK/plan/; print
#                 shards=N, indexes=[0,...,N-1], max_units=M (per shard) and commit=SHA (the
#                 commit whose data/ every unit job checks out) to $GITHUB_OUTPUT (or stdout)
#   units I/N     (a checkout of the plan's commit) the plan's pins into data/ (ranker merge
#                 --pins: validated, a moved pin refused), then ranker verify --shard I/N on
#                 the CPU: the units' results in $RANKER_WORK/shards/shard-I.jsonl, the
#                 summary in shard-I.txt
#   merge         on the upstream branch's newest commit (fetched afresh): the plan's pins and
#                 the RANKER_SHARDS shard files into data/ by key (ranker merge --pins
#                 --finetunes), commit data/ when it changed; RANKER_PUSH=1: push, and a
#                 refused push fetches and merges again (at most RANKER_PUSH_TRIES times). The
#                 site is not built here: the next nightly builds and publishes it.
# The stages read only those files of $RANKER_WORK, as data: never a script, never a link.
#
# Environment (all optional): RANKER_ARCHITECTURES (space-separated ids), RANKER_TOP_K,
# RANKER_MAX_UNITS (the run's most units, shared out among the shards),
# RANKER_TIME_BUDGET_MINUTES (default 300), RANKER_SHARDS (default 20), RANKER_COMMIT=1,
# RANKER_PUSH=1, RANKER_UPSTREAM (REMOTE/BRANCH, e.g. origin/main), RANKER_PUSH_TRIES (default
# 5), RANKER_PYTHON (default: python), RANKER_WORK (default: nightly/verify).
# Extra arguments go to `ranker verify` (plan's --pin-only and units).
set -uo pipefail
cd "$(dirname "$0")/.."
py=${RANKER_PYTHON:-python}
work=${RANKER_WORK:-nightly/verify}
summary=$(mktemp)
trap 'rm -f "$summary"' EXIT
status=0
MAX_SHARDS=256  # GitHub's limit on the jobs of one matrix
PINS_FILE=data/verify.json  # where `ranker verify --pin-only` writes the pins (ranker.store)

read -r -a archs <<<"${RANKER_ARCHITECTURES:-}"  # words, never globs
select_args=()
[ ${#archs[@]} -gt 0 ] && select_args+=(--architectures "${archs[@]}")

die() { echo "verify: $*" >&2; exit 2; }

shard_count() {
  local n=${RANKER_SHARDS:-20}
  [[ $n =~ ^[1-9][0-9]{0,2}$ ]] && ((n <= MAX_SHARDS)) \
    || die "RANKER_SHARDS must be a whole number from 1 to $MAX_SHARDS, got '$n'"
  echo "$n"
}

# RANKER_MAX_UNITS shared out among $1 shards, rounded up; empty: no cap.
per_shard() {
  local n=$1 max=${RANKER_MAX_UNITS:-}
  [ -z "$max" ] && return 0
  [[ $max =~ ^[0-9]{1,9}$ ]] || die "RANKER_MAX_UNITS must be a whole number, got '$max'"
  echo $(((10#$max + n - 1) / n))
}

top_k() {
  local k=${RANKER_TOP_K:-}
  [ -z "$k" ] && return 0
  [[ $k =~ ^[1-9][0-9]{0,3}$ ]] || die "RANKER_TOP_K must be a whole number from 1, got '$k'"
  echo "$k"
}

budget_minutes() {
  local m=${RANKER_TIME_BUDGET_MINUTES:-300}
  [[ $m =~ ^[1-9][0-9]{0,3}$ ]] || die "RANKER_TIME_BUDGET_MINUTES must be whole minutes, got '$m'"
  echo "$m"
}

# RANKER_UPSTREAM as REMOTE and BRANCH (empty when unset); dies on a malformed value.
upstream() {
  local up=${RANKER_UPSTREAM:-}
  [ -z "$up" ] && return 0
  [[ $up =~ ^([A-Za-z0-9_.-]+)/([A-Za-z0-9_./-]+)$ ]] && [[ $up != *..* ]] \
    || die "RANKER_UPSTREAM must be REMOTE/BRANCH (e.g. origin/main), got '$up'"
  echo "${BASH_REMATCH[1]} ${BASH_REMATCH[2]}"
}

fetch_upstream() {
  local remote branch
  read -r remote branch <<<"$(upstream)"
  [ -n "$remote" ] || return 0
  git fetch -q "$remote" "refs/heads/$branch" || { echo "verify: cannot fetch $remote $branch" >&2; return 1; }
}

push_upstream() {
  local remote branch
  read -r remote branch <<<"$(upstream)"
  if [ -n "$remote" ]; then git push -q "$remote" "HEAD:refs/heads/$branch"; else git push -q; fi
}

# Printable text only, and not too much: for a commit message, from a file another job wrote.
text_of() { LC_ALL=C tr -cd '\11\12\40-\176' <"$1" | head -c 4000; echo; }

# A plain file another job wrote (not a link), or die.
plain_file() { [ -f "$1" ] && [ ! -L "$1" ] || die "$1: missing or a link; $2"; }

stage_plan() {
  local n per commit k
  n=$(shard_count) || exit 2
  per=$(per_shard "$n") || exit 2
  k=$(top_k) || exit 2
  rm -rf "$work/plan" && mkdir -p "$work/plan" || die "cannot make $work/plan"
  commit=$(git rev-parse HEAD) || die "not a git checkout"
  if [ -n "$(upstream)" ]; then  # main as it is now: its pins, its ranks, its finetunes
    fetch_upstream && commit=$(git rev-parse FETCH_HEAD) \
      && git restore -q --source="$commit" --worktree -- data \
      || die "cannot take data/ from ${RANKER_UPSTREAM}"
  fi
  "$py" -m ranker verify --pin-only "$@" || die "ranker verify --pin-only failed"
  plain_file "$PINS_FILE" "ranker verify --pin-only writes the pins there"
  cp -- "$PINS_FILE" "$work/plan/pins.json" || die "cannot copy the pins"
  local list=(verify --dry-run --no-progress "${select_args[@]}")
  [ -n "$k" ] && list+=(--top-k "$k")
  "$py" -m ranker "${list[@]}" >"$work/plan/plan.txt" 2>&1 || status=1
  tail -n 40 "$work/plan/plan.txt"
  if [ -n "${GITHUB_OUTPUT:-}" ]; then exec >>"$GITHUB_OUTPUT"; fi
  printf 'shards=%s\nindexes=[%s]\nmax_units=%s\ncommit=%s\n' \
    "$n" "$(seq -s, 0 $((n - 1)))" "$per" "$commit"
}

stage_units() {
  local shard=${1:-} k minutes index
  [[ $shard =~ ^([0-9]{1,3})/([1-9][0-9]{0,2})$ ]] \
    && ((10#${BASH_REMATCH[1]} < 10#${BASH_REMATCH[2]})) \
    || die "units: expected a shard I/N with 0 <= I < N, got '$shard'"
  index=$((10#${BASH_REMATCH[1]}))
  shift
  k=$(top_k) || exit 2
  minutes=$(budget_minutes) || exit 2
  [ -z "${RANKER_MAX_UNITS:-}" ] || (per_shard 1 >/dev/null) || exit 2
  local out="$work/shards/shard-$index"
  plain_file "$work/plan/pins.json" "the plan stage writes the pins"
  "$py" -m ranker merge --pins "$work/plan/pins.json" || die "the plan's pins were refused"
  mkdir -p "$work/shards"  # a shard file already there is kept: a rerun resumes from it
  # --no-token: a job that loads untrusted weights sends no token, even one left in the
  # environment; public models need none, and each runner has its own per-IP quota
  local args=(verify --shard "$shard" --results-out "$out.jsonl" --summary-file "$out.txt"
              --device cpu --no-progress --no-token --time-budget "${minutes}m"
              "${select_args[@]}")
  [ -n "$k" ] && args+=(--top-k "$k")
  [ -n "${RANKER_MAX_UNITS:-}" ] && args+=(--max-units "$RANKER_MAX_UNITS")
  "$py" -m ranker "${args[@]}" "$@"
  status=$?
  # a shard that had nothing to do has no results, which is not a missing shard
  [ "$status" -eq 0 ] && [ ! -e "$out.jsonl" ] && : >"$out.jsonl"
}

# Commit data/ when it changed (RANKER_COMMIT=1), $summary as the message; returns 1 when
# only the push failed (the caller fetches and merges again).
commit_data() {
  if [ "${RANKER_COMMIT:-}" = 1 ] && [ -n "$(git status --porcelain -- data)" ]; then
    git add -- data
    git -c user.name="github-actions[bot]" \
        -c user.email="41898282+github-actions[bot]@users.noreply.github.com" \
        commit -q -F - <<MSG || status=1
Weekly verification $(date -u +%Y-%m-%d)

$(cat "$summary")
MSG
    if [ "${RANKER_PUSH:-}" = 1 ]; then push_upstream || return 1; fi
  fi
  return 0
}

stage_merge() {
  local n i files=() missing=() tries=${RANKER_PUSH_TRIES:-5} try head
  n=$(shard_count) || exit 2
  [[ $tries =~ ^[1-9][0-9]?$ ]] || die "RANKER_PUSH_TRIES must be a whole number from 1 to 99"
  plain_file "$work/plan/pins.json" "the plan stage writes the pins the units used"
  for ((i = 0; i < n; i++)); do
    local shard="$work/shards/shard-$i"
    [ -L "$shard.jsonl" ] && die "$shard.jsonl is a link; a unit job writes a plain file"
    if [ -f "$shard.jsonl" ]; then files+=("$shard.jsonl"); else missing+=("$i"); fi
  done
  [ -n "$(upstream)" ] && [ "${RANKER_PUSH:-}" = 1 ] || tries=1
  head=$(git rev-parse HEAD)
  for ((try = 1; try <= tries; try++)); do
    : >"$summary"
    status=0
    if [ -n "$(upstream)" ]; then  # the newest main, whatever was pushed meanwhile
      fetch_upstream || { status=1; continue; }
      git reset -q --hard FETCH_HEAD || die "cannot move to the upstream's commit"
    fi
    merge_summary "$n" "${missing[@]}"
    local args=(merge --pins "$work/plan/pins.json")
    [ ${#files[@]} -gt 0 ] && args+=(--finetunes "${files[@]}")
    "$py" -m ranker "${args[@]}" | tee -a "$summary"
    case ${PIPESTATUS[0]} in 0) ;; 1) status=1 ;; *) die "ranker merge refused the plan's pins" ;; esac
    commit_data && break
    echo "verify: merge: push refused (try $try of $tries); merging again on the new upstream" >&2
    status=1
  done
  if ((try > tries)); then
    echo "verify: merge: the week did not land after $tries tries; its shards are kept" >&2
    git reset -q --hard "$head"
  fi
}

# The week's summary: the plan's listing, each shard's, the shards that are missing.
merge_summary() {
  local n=$1 i
  shift
  [ -f "$work/plan/plan.txt" ] && [ ! -L "$work/plan/plan.txt" ] \
    && text_of "$work/plan/plan.txt" >>"$summary"
  for ((i = 0; i < n; i++)); do
    local shard="$work/shards/shard-$i"
    if [ -f "$shard.txt" ] && [ ! -L "$shard.txt" ]; then
      { echo "shard $i/$n:"; text_of "$shard.txt"; } >>"$summary"
    fi
  done
  if [ $# -gt 0 ]; then
    echo "shards without results (their jobs failed; their units run next week):" \
         "$*" | tee -a "$summary" >&2
  fi
}

upstream >/dev/null || exit 2  # a malformed RANKER_UPSTREAM stops every stage, up front

case "${1:-}" in
  plan) shift; stage_plan "$@" ;;
  units) shift; stage_units "$@" ;;
  merge) shift; stage_merge "$@" ;;
  *) die "usage: scripts/verify.sh plan [ARGS] | units I/N [ARGS] | merge" ;;
esac
exit $status
