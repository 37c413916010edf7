#!/usr/bin/env bash
# firststore.sh: wall time and peak memory of a first store, this build
# against a baseline build, on one generated corpus, in the same run.
#
#   bench/firststore.sh --base REV [--mib 10240] [--runs 1] [--workdir /tmp/silo-bench-first] [--keep]
#
# Run it from the repository root (needs go, python3, git, /usr/bin/time;
# CORPUS_PY overrides ../shared/corpus.py). It builds silo from the working
# tree and from REV (a git worktree), makes the corpus once, then for each
# run and each build (alternating) stores the corpus into a fresh local
# repository under /usr/bin/time -v, and prints the medians of wall time
# and max RSS with the ratios this build / REV. The corpus needs --mib of
# disk, each repository about as much again (one at a time).
set -euo pipefail

MIB=10240
RUNS=1
WORK=/tmp/silo-bench-first
KEEP=0
BASE=""

usage() {
  sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'
  exit "${1:-0}"
}

. "$(dirname "$0")/lib.sh"
parse_opts firststore.sh "--mib:MIB --runs:RUNS --workdir:WORK --base:BASE" "--keep:KEEP" "$@"
[[ -n $BASE ]] || { echo "firststore.sh: give --base REV (the build to compare with)" >&2; usage 2; }
CORPUS=${CORPUS_PY:-$(cd "$(dirname "$0")/../.." && pwd)/shared/corpus.py}
[[ -e $WORK && -n $(ls -A "$WORK" 2>/dev/null) && ! -e $WORK/.first ]] && { echo "firststore.sh: $WORK is not empty" >&2; exit 2; }
mkdir -p "$WORK" && touch "$WORK/.first"
cleanup() {
  git worktree remove --force "$WORK/base-src" >/dev/null 2>&1 || true
  if [[ $KEEP == 1 ]]; then rm -rf "$WORK"/repo-*; else rm -rf "$WORK"; fi
}
trap cleanup EXIT

go build -o "$WORK/new" ./cmd/silo
git worktree add --detach "$WORK/base-src" "$BASE" >/dev/null 2>&1
(cd "$WORK/base-src" && go build -o "$WORK/base" ./cmd/silo)
[[ -d $WORK/corpus ]] || python3 "$CORPUS" make "$WORK/corpus" --mib "$MIB" --seed 1 >/dev/null

: >"$WORK/rows"
for run in $(seq "$RUNS"); do
  for bin in base new; do
    repo=$WORK/repo-$bin
    rm -rf "$repo" "$WORK/cache"
    sync
    XDG_CACHE_HOME=$WORK/cache /usr/bin/time -v -o "$WORK/time" "$WORK/$bin" --quiet --repo "$repo" store --project p "$WORK/corpus" >/dev/null 2>>"$WORK/errors.log"
    wall=$(awk -F': ' '/Elapsed \(wall clock\)/{n=split($2,a,":"); s=0; for(i=1;i<=n;i++) s=s*60+a[i]; print s}' "$WORK/time")
    rss=$(awk -F': ' '/Maximum resident set size/{print $2}' "$WORK/time")
    echo "$bin $wall $rss" >>"$WORK/rows"
    echo "run $run $bin: ${wall}s, max RSS $((rss / 1024)) MiB" >&2
    rm -rf "$repo"
  done
done

python3 - "$WORK/rows" "$BASE" "$MIB" <<'PY'
import statistics, sys
rows = [l.split() for l in open(sys.argv[1])]
def med(bin, col):
    return statistics.median(float(r[col]) for r in rows if r[0] == bin)
bw, nw = med("base", 1), med("new", 1)
br, nr = med("base", 2) / 1024, med("new", 2) / 1024
print(f"first store of a {sys.argv[3]} MiB corpus, medians of {len(rows)//2} run(s); base = {sys.argv[2]}")
print(f"{'':22} {'base':>9} {'new':>9} {'new/base':>9}")
print(f"{'wall time (s)':22} {bw:9.1f} {nw:9.1f} {nw/bw:9.2f}")
print(f"{'max RSS (MiB)':22} {br:9.0f} {nr:9.0f} {nr/br:9.2f}")
PY
