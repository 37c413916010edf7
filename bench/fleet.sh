#!/usr/bin/env bash
# fleet.sh: what the many-writers protocol costs, against a baseline build,
# on one generated corpus, in the same run.
#
#   bench/fleet.sh --base REV [--mib 256] [--runs 5] [--workdir /tmp/silo-bench-fleet] [--keep]
#
# Run it from the repository root (needs go, python3, git; CORPUS_PY
# overrides ../shared/corpus.py). It builds silo from the working tree and
# from REV (a git worktree), and bench/s3srv (gofakes3 with request
# counters). For each build, alternating, --runs times: on a local
# repository, a first store, an unchanged re-store and a gc with nothing to
# collect (timed); on s3://bench/<build>-<run>, the same, counting the S3
# requests of each. It prints medians and the ratios this build / REV.
set -euo pipefail

MIB=256
RUNS=5
WORK=/tmp/silo-bench-fleet
KEEP=0
BASE=""

usage() {
  sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'
  exit "${1:-0}"
}

. "$(dirname "$0")/lib.sh"
parse_opts fleet.sh "--mib:MIB --runs:RUNS --workdir:WORK --base:BASE" "--keep:KEEP" "$@"
[[ -n $BASE ]] || { echo "fleet.sh: give --base REV (the build to compare with)" >&2; usage 2; }
CORPUS=${CORPUS_PY:-$(cd "$(dirname "$0")/../.." && pwd)/shared/corpus.py}
[[ -e $WORK && -n $(ls -A "$WORK" 2>/dev/null) && ! -e $WORK/.fleet ]] && { echo "fleet.sh: $WORK is not empty" >&2; exit 2; }
mkdir -p "$WORK" && touch "$WORK/.fleet"
cleanup() {
  [[ -n ${S3PID:-} ]] && kill "$S3PID" 2>/dev/null
  git worktree remove --force "$WORK/base-src" >/dev/null 2>&1 || true
  [[ $KEEP == 1 ]] || rm -rf "$WORK"
}
trap cleanup EXIT

go build -o "$WORK/new" ./cmd/silo
go build -o "$WORK/s3srv" ./bench/s3srv
git worktree add --detach "$WORK/base-src" "$BASE" >/dev/null 2>&1
(cd "$WORK/base-src" && go build -o "$WORK/base" ./cmd/silo)
[[ -d $WORK/corpus ]] || python3 "$CORPUS" make "$WORK/corpus" --mib "$MIB" --seed 1 >/dev/null
"$WORK/s3srv" -addr 127.0.0.1:0 -url-file "$WORK/s3url" bench >"$WORK/s3srv.log" 2>&1 &
S3PID=$!
for _ in $(seq 50); do [[ -s $WORK/s3url ]] && break; sleep 0.1; done
URL=$(cat "$WORK/s3url")

requests() { curl -s "$URL/_stats" | python3 -c 'import json,sys; print(json.load(sys.stdin)["requests"])'; }

# timed BIN REPO ARGS...: seconds of one silo command (its cache under $WORK)
timed() {
  local bin=$1 repo=$2
  shift 2
  local t0 t1
  t0=$(date +%s.%N)
  XDG_CACHE_HOME=$WORK/cache AWS_ENDPOINT_URL=$URL AWS_ACCESS_KEY_ID=b AWS_SECRET_ACCESS_KEY=b AWS_REGION=us-east-1 \
    "$WORK/$bin" --repo "$repo" "$@" >/dev/null 2>>"$WORK/errors.log"
  t1=$(date +%s.%N)
  python3 -c "print(f'{$t1-$t0:.3f}')"
}

: >"$WORK/rows"
for run in $(seq "$RUNS"); do
  for bin in base new; do
    local_repo=$WORK/repo-$bin-$run
    s3_repo=s3://bench/$bin-$run
    rm -rf "$local_repo" "$WORK/cache"
    echo "$bin local first $(timed "$bin" "$local_repo" store --project p "$WORK/corpus")" >>"$WORK/rows"
    echo "$bin local unchanged-store $(timed "$bin" "$local_repo" store --project p "$WORK/corpus")" >>"$WORK/rows"
    echo "$bin local gc $(timed "$bin" "$local_repo" gc)" >>"$WORK/rows"
    rm -rf "$local_repo"
    timed "$bin" "$s3_repo" init >/dev/null
    for step in first unchanged-store gc; do
      r0=$(requests)
      if [[ $step == gc ]]; then s=$(timed "$bin" "$s3_repo" gc); else s=$(timed "$bin" "$s3_repo" store --project p "$WORK/corpus"); fi
      echo "$bin s3 $step $s $(( $(requests) - r0 ))" >>"$WORK/rows"
    done
  done
done

python3 - "$WORK/rows" "$BASE" <<'PY'
import statistics, sys
rows = [l.split() for l in open(sys.argv[1])]
def med(bin, where, step, col):
    v = [float(r[col]) for r in rows if r[:3] == [bin, where, step]]
    return statistics.median(v) if v else float("nan")
print(f"{'step':34} {'base':>9} {'new':>9} {'new/base':>9}")
for where in ("local", "s3"):
    for step in ("first", "unchanged-store", "gc"):
        b, n = med("base", where, step, 3), med("new", where, step, 3)
        print(f"{where+' '+step+' (s, median)':34} {b:9.3f} {n:9.3f} {n/b:9.2f}")
        if where == "s3":
            b, n = med("base", where, step, 4), med("new", where, step, 4)
            print(f"{where+' '+step+' (requests)':34} {b:9.0f} {n:9.0f} {n/b:9.2f}")
print(f"base = {sys.argv[2]}; {len(rows)//12} runs")
PY
