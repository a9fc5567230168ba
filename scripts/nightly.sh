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
#   crawl [ARGS]         (RANKER_UPSTREAM set: data/ as the upstream branch has it now, so a
#                        second night from the same trigger commit sees the first night's
#                        results) ranker crawl, then pin the MNLI commit (ranker pin-mnli) so
#                        that every shard reads the same one, and ranker plan the RANKER_SHARDS
#                        shards (which shard may return which model); the data files the
#                        shards need, the plan and the summary in $RANKER_WORK/crawl/ (the
#                        workflow passes that folder on)
#   evaluate I/N [ARGS]  take the crawl's data files; ranker update --no-crawl --no-build
#                        --shard I/N: the shard's results in $RANKER_WORK/shards/shard-I.jsonl,
#                        its summary in shard-I.txt
#   merge                fold the night into data/ by key: the crawl's catalog (keyed merge)
#                        and results, and the RANKER_SHARDS shard files (ranker merge --plan:
#                        only the results the plan gave each shard), then
#                        the replies owed, build the site, commit data/ when it changed. With
#                        RANKER_UPSTREAM and RANKER_PUSH=1: on the upstream branch's newest
#                        commit, fetched afresh, pushed; a refused push fetches again and
#                        merges again (at most RANKER_PUSH_TRIES times), so a push to main
#                        during the night (a queued request) is kept, never overwritten
#   reply                post each $RANKER_WORK/replies/<issue>.md (the merge stage's replies
#                        to evaluation requests, only those of the commit that landed) on its
#                        issue with `gh issue comment`
# Evaluation requests (.github/workflows/request.yml, one issue at a time):
#   request              ranker request check the issue RANKER_ISSUE whose body is
#                        RANKER_ISSUE_BODY (read as data, never run): the reply in
#                        $RANKER_WORK/request/reply.md, an accepted request in request.json;
#                        queued=true|false and replied=true|false to $GITHUB_OUTPUT
#   queue                ranker request add that request.json to data/, commit (RANKER_PUSH=1:
#                        push to RANKER_UPSTREAM, default the branch's upstream; a refused push
#                        takes the new upstream and queues again)
# The stages read only those files of $RANKER_WORK, as data: never a script, never a link.
#
# Environment (all optional): RANKER_ARCHITECTURES (space-separated ids), RANKER_MAX_MODELS,
# RANKER_TIME_BUDGET_MINUTES (default 270), RANKER_FORCE=1, RANKER_SITE_URL, RANKER_COMMIT=1
# (commit data/), RANKER_PUSH=1 (push that commit), RANKER_PYTHON (default: python),
# RANKER_SHARDS (plan, crawl, merge; default 1), RANKER_WORK (the stages' files; default: nightly),
# RANKER_UPSTREAM (REMOTE/BRANCH, e.g. origin/main: the branch the night starts from and lands
# on), RANKER_PUSH_TRIES (default 5).
# Extra arguments go to `ranker update` (no stage, evaluate) or `ranker crawl` (crawl).
set -uo pipefail
cd "$(dirname "$0")/.."
py=${RANKER_PYTHON:-python}
work=${RANKER_WORK:-nightly}
summary=$(mktemp)
trap 'rm -f "$summary"' EXIT
status=0
MAX_SHARDS=256  # GitHub's limit on the jobs of one matrix
# What the shards need from the crawl stage (the catalog it wrote, the results it started from
# and moved by renames, the MNLI pin, the queued requests, where a listing that failed midway
# resumes) travels as a store folder, $work/crawl/data: `ranker handoff save` writes it,
# `ranker handoff take` (a shard) and `ranker handoff merge` (the merge) read it. The store
# alone knows which files those are; the results folder is carried whole (a bucket a rename
# emptied is gone from it).

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
# Returns 1 when only the push failed (the caller may fetch and merge again).
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
    if [ "${RANKER_PUSH:-}" = 1 ]; then push_upstream || return 1; fi
  fi
  return 0
}

# RANKER_UPSTREAM as REMOTE and BRANCH (empty when unset); dies on a malformed value.
upstream() {
  local up=${RANKER_UPSTREAM:-}
  [ -z "$up" ] && return 0
  [[ $up =~ ^([A-Za-z0-9_.-]+)/([A-Za-z0-9_./-]+)$ ]] && [[ $up != *..* ]] \
    || die "RANKER_UPSTREAM must be REMOTE/BRANCH (e.g. origin/main), got '$up'"
  echo "${BASH_REMATCH[1]} ${BASH_REMATCH[2]}"
}

# The upstream branch's newest commit, fetched now, into FETCH_HEAD.
fetch_upstream() {
  local remote branch
  read -r remote branch <<<"$(upstream)"
  [ -n "$remote" ] || return 0
  git fetch -q "$remote" "refs/heads/$branch" || { echo "nightly: cannot fetch $remote $branch" >&2; return 1; }
}

push_upstream() {
  local remote branch
  read -r remote branch <<<"$(upstream)"
  if [ -n "$remote" ]; then git push -q "$remote" "HEAD:refs/heads/$branch"; else git push -q; fi
}

# Printable text only, and not too much: for a commit message, from a file another job wrote.
text_of() { LC_ALL=C tr -cd '\11\12\40-\176' <"$1" | head -c 4000; echo; }

# The crawl stage's files, where it left them, into the store (the rest of it is git's); a
# link, or a folder where plain files belong, stops the stage.
take_crawl() {
  "$py" -m ranker handoff take "$work/crawl/data" || exit 2
}

# The replies owed to evaluation requests whose model now has a result, into $work/replies/
# (marked replied in data/, so committed with the night: made again on every merge try, so the
# replies are those of the commit that lands).
request_replies() {
  rm -rf "$work/replies"
  "$py" -m ranker request replies --if-queued --out-dir "$work/replies" \
    ${RANKER_SITE_URL:+--site-url "$RANKER_SITE_URL"} | tee -a "$summary" || status=1
}

# Their count to $GITHUB_OUTPUT (once, for what landed).
replies_output() {
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
  commit_data || status=1
  replies_output
}

# RANKER_MAX_MODELS (the run's most models) shared out among $1 shards, rounded up; empty: no cap.
per_shard() {
  local n=$1 max=${RANKER_MAX_MODELS:-}
  [ -z "$max" ] && return 0
  [[ $max =~ ^[0-9]{1,9}$ ]] || die "RANKER_MAX_MODELS must be a whole number, got '$max'"
  echo $(((10#$max + n - 1) / n))
}

stage_plan() {
  local n per indexes
  n=$(shard_count) || exit 2
  per=$(per_shard "$n") || exit 2
  indexes=$(seq -s, 0 $((n - 1)))
  if [ -n "${GITHUB_OUTPUT:-}" ]; then exec >>"$GITHUB_OUTPUT"; fi
  printf 'shards=%s\nindexes=[%s]\nmax_models=%s\n' "$n" "$indexes" "$per"
}

stage_crawl() {
  local endpoint=${HF_ENDPOINT:-} prev="" n per
  n=$(shard_count) || exit 2
  per=$(per_shard "$n") || exit 2
  for arg in "$@"; do  # the pin asks the hub that the crawl asked
    [ "$prev" = --endpoint ] && endpoint=$arg
    [[ $arg == --endpoint=* ]] && endpoint=${arg#--endpoint=}
    prev=$arg
  done
  rm -rf "$work/crawl" && mkdir -p "$work/crawl/data" || die "cannot make $work/crawl"
  if [ -n "$(upstream)" ]; then  # the data as it is now, not as the trigger commit had it
    fetch_upstream && git restore -q --source=FETCH_HEAD --worktree -- data \
      || die "cannot take data/ from ${RANKER_UPSTREAM}"
  fi
  "$py" -m ranker crawl "${arch_args[@]}" "$@" | tee "$work/crawl/crawl.txt"
  status=${PIPESTATUS[0]}
  # the pin every shard reads (each would otherwise pin its own, and none would be kept)
  HF_ENDPOINT=$endpoint "$py" -m ranker pin-mnli || status=1
  "$py" -m ranker compact >/dev/null || status=1  # one line a key: the merge reads them as one
  # which shard may return which model: the merge takes nothing else from a shard's file
  local plan=(plan --shards "$n" --out "$work/crawl/plan.json" "${arch_args[@]}")
  [ -n "$per" ] && plan+=(--max-models "$per")
  [ "${RANKER_FORCE:-}" = 1 ] && plan+=(--force)
  "$py" -m ranker "${plan[@]}" | tee -a "$work/crawl/crawl.txt"
  [ "${PIPESTATUS[0]}" = 0 ] || status=1
  "$py" -m ranker handoff save "$work/crawl/data" || status=1
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
  # --no-token: a job that loads untrusted weights sends no token, even one left in the
  # environment; public models need none, and each runner has its own per-IP quota
  local args=(update --no-crawl --no-build --no-progress --no-token --shard "$shard"
              --results-out "$out.jsonl" --summary-file "$out.txt"
              --time-budget "${RANKER_TIME_BUDGET_MINUTES:-270}m" "${arch_args[@]}")
  [ -n "${RANKER_MAX_MODELS:-}" ] && args+=(--max-models "$RANKER_MAX_MODELS")
  [ "${RANKER_FORCE:-}" = 1 ] && args+=(--force)

  "$py" -m ranker "${args[@]}" "$@"
  status=$?
  # a shard that had nothing to do has no results, which is not a missing shard
  [ $status -eq 0 ] && [ ! -e "$out.jsonl" ] && : >"$out.jsonl"
}

# The crawl's files into the store by key (never copied over whole: data/ may be a newer main):
# its catalog's merge into the summary; a link where a plain file belongs stops the stage.
merge_crawl() {
  "$py" -m ranker handoff merge "$work/crawl/data" | tee -a "$summary"
  case ${PIPESTATUS[0]} in 0) ;; 2) exit 2 ;; *) status=1 ;; esac
}

stage_merge() {
  local n i files=() missing=() tries=${RANKER_PUSH_TRIES:-5} try head
  n=$(shard_count) || exit 2
  [[ $tries =~ ^[1-9][0-9]?$ ]] || die "RANKER_PUSH_TRIES must be a whole number from 1 to 99"
  upstream >/dev/null || exit 2
  for ((i = 0; i < n; i++)); do
    local shard="$work/shards/shard-$i"
    [ -L "$shard.jsonl" ] && die "$shard.jsonl is a link; a shard writes a plain file"
    if [ -f "$shard.jsonl" ]; then files+=("$shard.jsonl"); else missing+=("$i"); fi
  done
  [ -n "$(upstream)" ] && [ "${RANKER_PUSH:-}" = 1 ] || tries=1
  local plan="$work/crawl/plan.json"
  if [ ${#files[@]} -gt 0 ] && { [ ! -f "$plan" ] || [ -L "$plan" ]; }; then
    die "$plan: missing or a link; the crawl stage writes the plan the shards are checked against"
  fi
  head=$(git rev-parse HEAD)
  for ((try = 1; try <= tries; try++)); do
    : >"$summary"
    status=0
    if [ -n "$(upstream)" ]; then  # the newest main, whatever was pushed during the night
      fetch_upstream || { status=1; continue; }
      git reset -q --hard FETCH_HEAD || die "cannot move to the upstream's commit"
    fi
    merge_summary "$n" "${missing[@]}"
    merge_crawl
    if [ ${#files[@]} -gt 0 ]; then  # untrusted files: only what the plan gave each shard
      "$py" -m ranker merge --plan "$plan" "${files[@]}" | tee -a "$summary"
      [ "${PIPESTATUS[0]}" = 0 ] || status=1
    fi
    request_replies
    commit_data && break
    echo "nightly: merge: push refused (try $try of $tries); merging again on the new upstream" >&2
    rm -rf "$work/replies"  # none of them landed
    status=1
  done
  if ((try > tries)); then
    echo "nightly: merge: the night did not land after $tries tries; its shards are kept" >&2
    git reset -q --hard "$head"
  fi
  build_site
  replies_output
}

# The night's summary: the crawl's, each shard's, the shards that are missing.
merge_summary() {
  local n=$1 i
  shift
  [ -f "$work/crawl/crawl.txt" ] && [ ! -L "$work/crawl/crawl.txt" ] \
    && text_of "$work/crawl/crawl.txt" >>"$summary"
  for ((i = 0; i < n; i++)); do
    local shard="$work/shards/shard-$i"
    if [ -f "$shard.txt" ] && [ ! -L "$shard.txt" ]; then
      { echo "shard $i/$n:"; text_of "$shard.txt"; } >>"$summary"
    fi
  done
  if [ $# -gt 0 ]; then
    echo "shards without results (their jobs failed; the queue keeps their models):" \
         "$*" | tee -a "$summary" >&2
  fi
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
    push_upstream && return 0
    echo "nightly: queue: push refused (try $try); queueing again on the new upstream" >&2
    if [ -n "$(upstream)" ]; then
      { fetch_upstream && git reset -q --hard FETCH_HEAD; } || { status=1; return; }
    else
      { git fetch -q && git reset -q --hard '@{upstream}'; } || { status=1; return; }
    fi
  done
  status=1
}

upstream >/dev/null || exit 2  # a malformed RANKER_UPSTREAM stops every stage, up front

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
