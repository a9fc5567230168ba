#!/usr/bin/env bash
# The nightly job. With no stage, everything in one go, locally (tests/test_nightly.py runs it
# against a loopback hub): update the store within a time budget, build the site, and commit
# data/ when it changed. An update that fails midway still builds and commits what it finished.
#
# .github/workflows/nightly.yml runs it in stages, one job each, so that the jobs that load
# untrusted model weights hold no write token (README, "Run your own ranking"):
#   plan                 check RANKER_SHARDS and RANKER_MAX_MODELS; print shards=N,
#                        indexes=[0,...,N-1] and max_models=M (per shard) to $GITHUB_OUTPUT
#                        (stdout when unset)
#   crawl [ARGS]         ranker crawl, then pin the MNLI commit (data/probe.json) so that every
#                        shard reads the same one; the data files it changed, and its summary,
#                        in $RANKER_WORK/crawl/ (the workflow passes that folder on)
#   evaluate I/N [ARGS]  take the crawl's data files; ranker update --no-crawl --no-build
#                        --shard I/N: the shard's results in $RANKER_WORK/shards/shard-I.jsonl,
#                        its summary in shard-I.txt
#   merge                take the crawl's data files; ranker merge the RANKER_SHARDS shard
#                        files into data/, build the site, commit data/ when it changed
#   reply                post each $RANKER_WORK/replies/<issue>.md (the merge stage's replies
#                        to evaluation requests) on its issue with `gh issue comment`
# Evaluation requests (.github/workflows/request.yml, one issue at a time):
#   request              ranker request check the issue RANKER_ISSUE whose body is
#                        RANKER_ISSUE_BODY (read as data, never run): the reply in
#                        $RANKER_WORK/request/reply.md, an accepted request in request.json;
#                        queued=true|false and replied=true|false to $GITHUB_OUTPUT
#   queue                ranker request add that request.json to data/, commit (RANKER_PUSH=1:
#                        push; a refused push takes the new upstream and queues again)
# The stages read only those files of $RANKER_WORK, as data: never a script, never a link.
#
# Environment (all optional): RANKER_ARCHITECTURES (space-separated ids), RANKER_MAX_MODELS,
# RANKER_TIME_BUDGET_MINUTES (default 270), RANKER_FORCE=1, RANKER_SITE_URL, RANKER_COMMIT=1
# (commit data/), RANKER_PUSH=1 (push that commit), RANKER_PYTHON (default: python),
# RANKER_SHARDS (plan, merge; default 1), RANKER_WORK (the stages' files; default: nightly).
# Extra arguments go to `ranker update` (no stage, evaluate) or `ranker crawl` (crawl).
set -uo pipefail
cd "$(dirname "$0")/.."
py=${RANKER_PYTHON:-python}
work=${RANKER_WORK:-nightly}
summary=$(mktemp)
trap 'rm -f "$summary"' EXIT
status=0
MAX_SHARDS=256  # GitHub's limit on the jobs of one matrix
# The files of data/ a crawl stage changes (a rename moves results), and the results folder
# (data/results/<bucket>.jsonl), carried whole: a bucket a rename emptied is gone from it.
CRAWLED=(catalog.jsonl results.jsonl probe.json)
CRAWLED_DIRS=(results)

read -r -a archs <<<"${RANKER_ARCHITECTURES:-}"  # words, never globs
arch_args=()
for arch in "${archs[@]}"; do arch_args+=(--arch "$arch"); done

die() { echo "nightly: $*" >&2; exit 2; }

shard_count() {
  local n=${RANKER_SHARDS:-1}
  [[ $n =~ ^[1-9][0-9]{0,2}$ ]] && ((n <= MAX_SHARDS)) \
    || die "RANKER_SHARDS must be a whole number from 1 to $MAX_SHARDS, got '$n'"
  echo "$n"
}

# Commit data/ when it changed (RANKER_COMMIT=1), with the summary in $summary as the message.
commit_data() {
  # appends leave superseded lines behind; the committed store is sorted and has none
  "$py" -m ranker compact || status=1
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
}

# Printable text only, and not too much: for a commit message, from a file another job wrote.
text_of() { LC_ALL=C tr -cd '\11\12\40-\176' <"$1" | head -c 4000; echo; }

# The crawl stage's data files, where it left them, into data/ (the rest of data/ is git's).
take_crawl() {
  local name src
  for name in "${CRAWLED[@]}"; do
    src="$work/crawl/data/$name"
    [ -L "$src" ] && die "$src is a link; the crawl stage writes plain files"
    if [ -f "$src" ]; then cp -- "$src" "data/$name" || die "cannot copy $src"; fi
  done
  for name in "${CRAWLED_DIRS[@]}"; do
    src="$work/crawl/data/$name"
    [ -L "$src" ] && die "$src is a link; the crawl stage writes plain folders"
    [ -d "$src" ] || continue
    find "$src" -mindepth 1 \( -type l -o -type d \) -print -quit | grep -q . \
      && die "$src holds links or folders; the crawl stage writes plain files"
    rm -rf -- "data/$name" && cp -R -- "$src" "data/$name" || die "cannot copy $src"
  done
}

# The replies owed to evaluation requests whose model now has a result, into $work/replies/
# (marked replied in data/, so committed with the night); their count to $GITHUB_OUTPUT.
request_replies() {
  [ -f data/requests.jsonl ] || return 0
  rm -rf "$work/replies"
  "$py" -m ranker request replies --out-dir "$work/replies" \
    ${RANKER_SITE_URL:+--site-url "$RANKER_SITE_URL"} | tee -a "$summary" || status=1
  local count=0
  [ -d "$work/replies" ] && count=$(find "$work/replies" -name '*.md' -type f | wc -l)
  if [ -n "${GITHUB_OUTPUT:-}" ]; then echo "replies=$count" >>"$GITHUB_OUTPUT"; fi
}

build_site() {
  "$py" -m ranker build --out site ${RANKER_SITE_URL:+--site-url "$RANKER_SITE_URL"} || status=1
}

stage_all() {
  local args=(update --out site --summary-file "$summary" --no-progress
              --time-budget "${RANKER_TIME_BUDGET_MINUTES:-270}m" "${arch_args[@]}")
  [ -n "${RANKER_MAX_MODELS:-}" ] && args+=(--max-models "$RANKER_MAX_MODELS")
  [ "${RANKER_FORCE:-}" = 1 ] && args+=(--force)
  [ -n "${RANKER_SITE_URL:-}" ] && args+=(--site-url "$RANKER_SITE_URL")

  "$py" -m ranker "${args[@]}" "$@"
  status=$?
  if [ $status -ne 0 ]; then
    echo "nightly: ranker update exited $status; building and keeping what it finished" >&2
    build_site
  fi
  request_replies
  commit_data
}

stage_plan() {
  local n max=${RANKER_MAX_MODELS:-} per="" indexes
  n=$(shard_count) || exit 2
  if [ -n "$max" ]; then
    [[ $max =~ ^[0-9]{1,9}$ ]] || die "RANKER_MAX_MODELS must be a whole number, got '$max'"
    per=$(((10#$max + n - 1) / n))  # the run's most models, shared out (rounded up)
  fi
  indexes=$(seq -s, 0 $((n - 1)))
  if [ -n "${GITHUB_OUTPUT:-}" ]; then exec >>"$GITHUB_OUTPUT"; fi
  printf 'shards=%s\nindexes=[%s]\nmax_models=%s\n' "$n" "$indexes" "$per"
}

stage_crawl() {
  local endpoint=${HF_ENDPOINT:-} prev=""
  for arg in "$@"; do  # the pin asks the hub that the crawl asked
    [ "$prev" = --endpoint ] && endpoint=$arg
    [[ $arg == --endpoint=* ]] && endpoint=${arg#--endpoint=}
    prev=$arg
  done
  rm -rf "$work/crawl" && mkdir -p "$work/crawl/data" || die "cannot make $work/crawl"
  "$py" -m ranker crawl "${arch_args[@]}" "$@" | tee "$work/crawl/crawl.txt"
  status=${PIPESTATUS[0]}
  # the pin every shard reads (each would otherwise pin its own, and none would be kept)
  HF_ENDPOINT=$endpoint "$py" - <<'PY' || status=1
import sys

from ranker.errors import RankerError
from ranker.hub import Hub
from ranker.store import Store
from ranker.update_cli import pinned_mnli_revision

try:
    pinned_mnli_revision(Store("data"), Hub())
except RankerError as exc:
    sys.exit(f"nightly: {exc}")
PY
  local name
  for name in "${CRAWLED[@]}"; do
    [ -f "data/$name" ] && { cp -- "data/$name" "$work/crawl/data/$name" || status=1; }
  done
  for name in "${CRAWLED_DIRS[@]}"; do
    [ -d "data/$name" ] && { cp -R -- "data/$name" "$work/crawl/data/$name" || status=1; }
  done
}

stage_evaluate() {
  local shard=${1:-}
  [[ $shard =~ ^([0-9]{1,3})/([1-9][0-9]{0,2})$ ]] \
    && ((10#${BASH_REMATCH[1]} < 10#${BASH_REMATCH[2]})) \
    || die "evaluate: expected a shard I/N with 0 <= I < N, got '$shard'"
  shift
  local out="$work/shards/shard-$((10#${BASH_REMATCH[1]}))"
  take_crawl
  mkdir -p "$work/shards"  # a shard file already there is kept: a rerun resumes from it
  local args=(update --no-crawl --no-build --no-progress --shard "$shard"
              --results-out "$out.jsonl" --summary-file "$out.txt"
              --time-budget "${RANKER_TIME_BUDGET_MINUTES:-270}m" "${arch_args[@]}")
  [ -n "${RANKER_MAX_MODELS:-}" ] && args+=(--max-models "$RANKER_MAX_MODELS")
  [ "${RANKER_FORCE:-}" = 1 ] && args+=(--force)

  "$py" -m ranker "${args[@]}" "$@"
  status=$?
  # a shard that had nothing to do has no results, which is not a missing shard
  [ $status -eq 0 ] && [ ! -e "$out.jsonl" ] && : >"$out.jsonl"
}

stage_merge() {
  local n i files=() missing=()
  n=$(shard_count) || exit 2
  take_crawl
  [ -f "$work/crawl/crawl.txt" ] && [ ! -L "$work/crawl/crawl.txt" ] \
    && text_of "$work/crawl/crawl.txt" >>"$summary"
  for ((i = 0; i < n; i++)); do
    local shard="$work/shards/shard-$i"
    [ -L "$shard.jsonl" ] && die "$shard.jsonl is a link; a shard writes a plain file"
    if [ -f "$shard.jsonl" ]; then files+=("$shard.jsonl"); else missing+=("$i"); fi
    if [ -f "$shard.txt" ] && [ ! -L "$shard.txt" ]; then
      { echo "shard $i/$n:"; text_of "$shard.txt"; } >>"$summary"
    fi
  done
  if [ ${#missing[@]} -gt 0 ]; then
    echo "shards without results (their jobs failed; the queue keeps their models):" \
         "${missing[*]}" | tee -a "$summary" >&2
  fi
  if [ ${#files[@]} -gt 0 ]; then
    "$py" -m ranker merge "${files[@]}" | tee -a "$summary"
    status=${PIPESTATUS[0]}
  fi
  request_replies
  build_site
  commit_data
}

stage_reply() {
  local dir="$work/replies" file name
  [ -d "$dir" ] && [ ! -L "$dir" ] || { echo "nightly: no replies to post"; return 0; }
  for file in "$dir"/*.md; do
    [ -e "$file" ] || continue
    name=${file##*/}
    if [[ ! $name =~ ^[1-9][0-9]{0,8}\.md$ ]] || [ -L "$file" ] || [ ! -f "$file" ]; then
      echo "nightly: reply: skipped a file that is not <issue>.md" >&2
      status=1
      continue
    fi
    gh issue comment "${name%.md}" --body-file "$file" || status=1
  done
}

stage_request() {
  local dir="$work/request" issue=${RANKER_ISSUE:-} queued=false replied=false
  [[ $issue =~ ^[1-9][0-9]{0,8}$ ]] || die "request: RANKER_ISSUE must be an issue number"
  rm -rf "$dir" && mkdir -p "$dir" || die "cannot make $dir"
  printf '%s\n' "${RANKER_ISSUE_BODY:-}" >"$dir/body.md"  # data for the parser, never run
  "$py" -m ranker request check --issue "$issue" --body-file "$dir/body.md" \
    --reply-file "$dir/reply.md" --export "$dir/request.json" \
    ${RANKER_SITE_URL:+--site-url "$RANKER_SITE_URL"} "$@"
  status=$?
  rm -f "$dir/body.md"
  [ -f "$dir/request.json" ] && queued=true
  [ -s "$dir/reply.md" ] && replied=true
  local out=${GITHUB_OUTPUT:-/dev/stdout}
  printf 'queued=%s\nreplied=%s\n' "$queued" "$replied" >>"$out"
}

stage_queue() {
  local file="$work/request/request.json" try
  [ -f "$file" ] && [ ! -L "$file" ] || die "queue: $file: expected the check job's plain file"
  for try in 1 2 3; do
    "$py" -m ranker request add "$@" "$file" >"$summary" || { status=1; return; }
    cat "$summary"
    [ -n "$(git status --porcelain -- data)" ] || return 0
    git add -- data
    git -c user.name="github-actions[bot]" \
        -c user.email="41898282+github-actions[bot]@users.noreply.github.com" \
        commit -q -m "Queue an evaluation request" -m "$(text_of "$summary")" \
      || { status=1; return; }
    [ "${RANKER_PUSH:-}" = 1 ] || return 0
    git push -q && return 0
    echo "nightly: queue: push refused (try $try); queueing again on the new upstream" >&2
    { git fetch -q && git reset -q --hard '@{upstream}'; } || { status=1; return; }
  done
  status=1
}

case "${1:-}" in
  plan) shift; stage_plan "$@" ;;
  crawl) shift; stage_crawl "$@" ;;
  evaluate) shift; stage_evaluate "$@" ;;
  merge) shift; stage_merge "$@" ;;
  reply) shift; stage_reply "$@" ;;
  request) shift; stage_request "$@" ;;
  queue) shift; stage_queue "$@" ;;
  *) stage_all "$@" ;;
esac
exit $status
