#!/usr/bin/env bash
# encryption.sh: the cost of encryption at rest: first store and full
# restore of one generated corpus into a plain and an encrypted local
# repository, in the same run, alternating, medians of --runs.
#
#   bench/encryption.sh [--mib 1024] [--runs 3] [--workdir /tmp/silo-bench-enc] [--keep]
#
# Run it from the repository root (needs go, python3; CORPUS_PY overrides
# ../shared/corpus.py). Each run makes a new repository of each kind
# (`silo init`, `silo init --encrypt` with STORAGE_PASSWORD), stores the
# corpus (timed), restores it into an empty directory (timed, the first
# run's restore compared with the corpus), and measures the repository's
# bytes (packs, config and keys; an encrypted repository's index.db lives
# in the cache directory and is counted too). Peak RSS and user CPU come
# from /usr/bin/time -v (user CPU: encryption's cost, without the
# kernel's file work, which dominates a restore and varies most). The report goes to stdout and WORKDIR/results.txt.
set -euo pipefail

MIB=1024
RUNS=3
WORK=/tmp/silo-bench-enc
KEEP=0

usage() {
  sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'
  exit "${1:-0}"
}

. "$(dirname "$0")/lib.sh"
parse_opts encryption.sh "--mib:MIB --runs:RUNS --workdir:WORK" "--keep:KEEP" "$@"
[[ $MIB =~ ^[1-9][0-9]*$ && $RUNS =~ ^[1-9][0-9]*$ ]] || { echo "encryption.sh: --mib and --runs must be positive integers" >&2; exit 2; }

ROOT=$(git rev-parse --show-toplevel 2>/dev/null) || { echo "encryption.sh: run it from inside the silo checkout" >&2; exit 2; }
cd "$ROOT"
CORPUS_PY=${CORPUS_PY:-$ROOT/../shared/corpus.py}
[[ -f $CORPUS_PY ]] || { echo "encryption.sh: corpus generator not found at $CORPUS_PY (set CORPUS_PY)" >&2; exit 2; }

log() { printf '[enc] %s\n' "$*" >&2; }
die() { printf '[enc] FAIL: %s\n' "$*" >&2; exit 1; }

case $WORK in /|/tmp|/root|/home|/work|"$ROOT"|"$HOME") die "refusing to use $WORK as the workdir" ;; esac
mkdir -p "$WORK"
WORK=$(cd "$WORK" && pwd -P)
if [[ -n $(ls -A "$WORK") && ! -e $WORK/.silo-bench-enc ]]; then
  die "$WORK is not empty and was not made by encryption.sh; pick another --workdir"
fi
find "$WORK" -mindepth 1 -maxdepth 1 ! -name .silo-bench-enc -exec rm -rf {} +
touch "$WORK/.silo-bench-enc"
LOGS=$WORK/logs RUNDIR=$WORK/run CORPUS=$WORK/corpus
mkdir -p "$LOGS" "$RUNDIR"
cleanup() {
  local rc=$?
  if ((KEEP == 0)) && [[ -e $WORK/.silo-bench-enc ]]; then
    find "$WORK" -mindepth 1 -maxdepth 1 ! -name results.txt ! -name logs ! -name .silo-bench-enc -exec rm -rf {} + 2>/dev/null || true
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

SILO=$WORK/silo
log "building silo"
go build -o "$SILO" ./cmd/silo >"$LOGS/build.log" 2>&1 || { tail -20 "$LOGS/build.log" >&2; die "go build failed"; }
REV=$(git rev-parse --short HEAD 2>/dev/null || echo "no-commit")
[[ -n $(git status --porcelain 2>/dev/null | head -1) ]] && REV="$REV+dirty"

log "making the corpus: corpus.py make --mib $MIB --seed 1"
python3 "$CORPUS_PY" make "$CORPUS" --mib "$MIB" --seed 1 >"$LOGS/corpus.log" 2>&1 || { tail -5 "$LOGS/corpus.log" >&2; die "corpus generation failed"; }
CORPUS_BYTES=$(find "$CORPUS" -type f -printf '%s\n' | awk '{s+=$1} END {printf "%d\n", s}')
manifest "$CORPUS" >"$LOGS/corpus.manifest"
find "$CORPUS" -type f -print0 | xargs -0 -r cat >/dev/null

while IFS= read -r v; do unset "$v"; done < <(compgen -e | grep -E '^STORAGE_' || true)
export STORAGE_MAX_PROJECT_SIZE=0 XDG_CACHE_HOME=$WORK/cache STORAGE_PASSWORD=bench-password

TIME_V=0
[[ -x /usr/bin/time ]] && TIME_V=1
timed() { # timed NAME ARGS...: sets WALL, RSS; appends to times.tsv
  local name=$1 t0 t1; shift
  sync
  t0=$(date +%s%N)
  if ((TIME_V)); then
    (cd "$RUNDIR" && /usr/bin/time -v -o "$LOGS/$name.time" "$SILO" "$@") >"$LOGS/$name.out" 2>"$LOGS/$name.err" || { tail -20 "$LOGS/$name.err" >&2; die "silo $* failed"; }
    RSS=$(awk -F': ' '/Maximum resident set size/ {printf "%d", $2 / 1024}' "$LOGS/$name.time")
    CPU=$(awk -F': ' '/User time/ {u=$2} END {printf "%.2f", u}' "$LOGS/$name.time")
  else
    (cd "$RUNDIR" && "$SILO" "$@") >"$LOGS/$name.out" 2>"$LOGS/$name.err" || { tail -20 "$LOGS/$name.err" >&2; die "silo $* failed"; }
    RSS=-1 CPU=-1
  fi
  t1=$(date +%s%N)
  WALL=$(python3 -c "print('%.3f' % (($t1 - $t0) / 1e9))")
  printf '%s\t%s\t%s\t%s\n' "$name" "$WALL" "$RSS" "$CPU" >>"$LOGS/times.tsv"
  log "$(printf '%-22s %8.2f s  user cpu %6s s  rss %s MiB' "$name" "$WALL" "$CPU" "$RSS")"
}

VERIFY=""
for run in $(seq 1 "$RUNS"); do
  for kind in plain encrypted; do
    repo=$WORK/repo-$kind
    rm -rf "$repo" "$WORK/cache" "$WORK/out"
    if [[ $kind == encrypted ]]; then "$SILO" --repo "$repo" init --encrypt >/dev/null; else "$SILO" --repo "$repo" init >/dev/null; fi
    timed "$kind-store-$run" --repo "$repo" store --project bench "$CORPUS"
    timed "$kind-restore-$run" --repo "$repo" restore bench "$WORK/out"
    bytes=$(du -sb "$repo" | cut -f1)
    [[ $kind == encrypted ]] && bytes=$((bytes + $(du -sb "$WORK/cache" | cut -f1)))
    printf '%s-bytes-%s\t%s\n' "$kind" "$run" "$bytes" >>"$LOGS/bytes.tsv"
    if ((run == 1)); then
      manifest "$WORK/out" >"$LOGS/$kind.manifest"
      if diff -q "$LOGS/corpus.manifest" "$LOGS/$kind.manifest" >/dev/null; then VERIFY="$VERIFY $kind:identical"; else VERIFY="$VERIFY $kind:DIFFERS"; fi
    fi
  done
done

python3 - "$LOGS" "$MIB" "$CORPUS_BYTES" "$REV" "$RUNS" "$VERIFY" <<'PY' | tee "$WORK/results.txt"
import os, statistics, subprocess, sys
logs, mib, cbytes, rev, runs, verify = sys.argv[1:]
cbytes, runs = int(cbytes), int(runs)
t = {}
for line in open(os.path.join(logs, "times.tsv")):
    n, w, r, c = line.rstrip("\n").split("\t")
    t[n] = (float(w), int(r), float(c))
b = dict(l.rstrip("\n").split("\t") for l in open(os.path.join(logs, "bytes.tsv")))
med = lambda xs: statistics.median(xs)
gv = subprocess.run(["go", "version"], capture_output=True, text=True).stdout.split()[2]
print(f"silo: encryption at rest, plain vs encrypted local repository, medians of {runs} alternating runs")
print(f"corpus: corpus.py make --mib {mib} --seed 1 ({cbytes / (1 << 20):.0f} MiB); checkout {rev}, {gv}, {os.cpu_count()} CPUs; restores:{verify}")
print()
print(f"{'step':<14}{'plain':>10}{'encrypted':>12}{'enc/plain':>11}   {'user cpu plain / enc':>18}   {'peak RSS plain / enc':>22}   all runs plain | encrypted")
for step in ("store", "restore"):
    p = [t[f"plain-{step}-{i}"] for i in range(1, runs + 1)]
    e = [t[f"encrypted-{step}-{i}"] for i in range(1, runs + 1)]
    pw, ew = med(x[0] for x in p), med(x[0] for x in e)
    pc, ec = med(x[2] for x in p), med(x[2] for x in e)
    pr, er = med(x[1] for x in p), med(x[1] for x in e)
    print(f"{step:<14}{pw:>8.2f} s{ew:>10.2f} s{ew / pw:>10.2f}x   {pc:>7.2f} / {ec:.2f} s   {pr:>10} / {er} MiB   "
          + " ".join(f"{x[0]:.2f}" for x in p) + " | " + " ".join(f"{x[0]:.2f}" for x in e))
pb = med(int(b[f"plain-bytes-{i}"]) for i in range(1, runs + 1))
eb = med(int(b[f"encrypted-bytes-{i}"]) for i in range(1, runs + 1))
print(f"{'bytes':<14}{pb / 1e6:>7.1f} MB{eb / 1e6:>9.1f} MB{eb / pb:>10.3f}x   (repository; the encrypted one with its index in the cache dir)")
PY
