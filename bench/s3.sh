#!/usr/bin/env bash
# s3.sh: silo with the repository on a loopback S3 server against the local
# filesystem, on one generated corpus, in the same run.
#
#   bench/s3.sh [--mib 1024] [--workdir /tmp/silo-bench-s3] [--keep]
#
# Run it from the repository root (needs go, python3; CORPUS_PY overrides
# ../shared/corpus.py). It builds silo and bench/s3srv (gofakes3 in memory
# with request and byte counters, on 127.0.0.1), makes the corpus with
# `corpus.py make --mib N --seed 1`, then for each repository (a local
# directory, then s3://bench/repo): init, store (timed), restore into an
# empty directory (timed, verified against the corpus), re-store unchanged.
# For S3 it also counts requests per GiB stored and, after deleting the
# index cache, the bytes `silo snapshots` downloads to rebuild it. The
# report goes to stdout and WORKDIR/results.txt; logs to WORKDIR/logs.
# The server runs on the same cores as silo, so S3 times include its CPU.
set -euo pipefail

MIB=1024
WORK=/tmp/silo-bench-s3
KEEP=0

usage() {
  sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'
  exit "${1:-0}"
}

. "$(dirname "$0")/lib.sh"
parse_opts s3.sh "--mib:MIB --workdir:WORK" "--keep:KEEP" "$@"
[[ $MIB =~ ^[1-9][0-9]*$ ]] || { echo "s3.sh: --mib must be a positive integer" >&2; exit 2; }

ROOT=$(git rev-parse --show-toplevel 2>/dev/null) || { echo "s3.sh: run it from inside the silo checkout" >&2; exit 2; }
cd "$ROOT"
CORPUS_PY=${CORPUS_PY:-$ROOT/../shared/corpus.py}
[[ -f $CORPUS_PY ]] || { echo "s3.sh: corpus generator not found at $CORPUS_PY (set CORPUS_PY)" >&2; exit 2; }
command -v python3 >/dev/null || { echo "s3.sh: needs python3" >&2; exit 2; }

log() { printf '[s3] %s\n' "$*" >&2; }
die() { printf '[s3] FAIL: %s\n' "$*" >&2; exit 1; }

# ---------------------------------------------------------------- workdir
case $WORK in /|/tmp|/root|/home|/work|"$ROOT"|"$HOME") die "refusing to use $WORK as the workdir" ;; esac
mkdir -p "$WORK"
WORK=$(cd "$WORK" && pwd -P)
if [[ -n $(ls -A "$WORK") && ! -e $WORK/.silo-bench-s3 ]]; then
  die "$WORK is not empty and was not made by s3.sh; pick another --workdir"
fi
find "$WORK" -mindepth 1 -maxdepth 1 ! -name .silo-bench-s3 -exec rm -rf {} +
touch "$WORK/.silo-bench-s3"
LOGS=$WORK/logs
RUNDIR=$WORK/run        # empty working directory: no config/storage.yaml leaks in
CORPUS=$WORK/corpus
mkdir -p "$LOGS" "$RUNDIR"

SRV_PID=""
DIFFERS=0
cleanup() {
  local rc=$?
  [[ -n $SRV_PID ]] && kill "$SRV_PID" 2>/dev/null && wait "$SRV_PID" 2>/dev/null || true
  if ((KEEP == 0)) && [[ -e $WORK/.silo-bench-s3 ]]; then
    ((DIFFERS > 0)) || rm -f "$LOGS"/*.manifest
    find "$WORK" -mindepth 1 -maxdepth 1 ! -name results.txt ! -name logs ! -name .silo-bench-s3 -exec rm -rf {} + 2>/dev/null || true
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---------------------------------------------------------------- build
SILO=$WORK/silo
S3SRV=$WORK/s3srv
log "building silo and bench/s3srv"
go build -o "$SILO" ./cmd/silo >"$LOGS/build.log" 2>&1 || { tail -20 "$LOGS/build.log" >&2; die "go build ./cmd/silo failed"; }
go build -o "$S3SRV" ./bench/s3srv >>"$LOGS/build.log" 2>&1 || { tail -20 "$LOGS/build.log" >&2; die "go build ./bench/s3srv failed"; }
REV=$(git rev-parse --short HEAD 2>/dev/null || echo "no-commit")
[[ -n $(git status --porcelain 2>/dev/null | head -1) ]] && REV="$REV+dirty"

# ---------------------------------------------------------------- corpus
log "making the corpus: corpus.py make --mib $MIB --seed 1"
python3 "$CORPUS_PY" make "$CORPUS" --mib "$MIB" --seed 1 >"$LOGS/corpus.log" 2>&1 \
  || { tail -5 "$LOGS/corpus.log" >&2; die "corpus generation failed"; }
CORPUS_BYTES=$(find "$CORPUS" -type f -printf '%s\n' | awk '{s+=$1} END {printf "%d\n", s}')
CORPUS_FILES=$(find "$CORPUS" -type f | wc -l)

# ---------------------------------------------------------------- server
log "starting the loopback S3 server"
"$S3SRV" -url-file "$WORK/s3.url" bench >"$LOGS/s3srv.log" 2>&1 &
SRV_PID=$!
for _ in $(seq 1 100); do [[ -s $WORK/s3.url ]] && break; sleep 0.1; done
[[ -s $WORK/s3.url ]] || die "s3srv did not start: $(tail -3 "$LOGS/s3srv.log")"
URL=$(head -1 "$WORK/s3.url")

# silo sees only what this script sets
while IFS= read -r v; do unset "$v"; done < <(compgen -e | grep -E '^(STORAGE_|AWS_)' || true)
export AWS_ENDPOINT_URL=$URL AWS_ACCESS_KEY_ID=bench AWS_SECRET_ACCESS_KEY=bench-secret AWS_REGION=us-east-1
export XDG_CACHE_HOME=$WORK/cache
S3_REPO=s3://bench/repo
LOCAL_REPO=$WORK/repo-local

stats() { # stats NAME: save the server's counters as $LOGS/stats-NAME.json
  python3 - "$URL/_stats" >"$LOGS/stats-$1.json" <<'PY'
import sys, urllib.request
print(urllib.request.urlopen(sys.argv[1]).read().decode())
PY
}

TIME_V=0
[[ -x /usr/bin/time ]] && TIME_V=1
# timed NAME ARGS...: runs silo ARGS in $RUNDIR; sets WALL (s) and RSS (MiB)
timed() {
  local name=$1 t0 t1; shift
  sync
  t0=$(date +%s%N)
  if ((TIME_V)); then
    (cd "$RUNDIR" && /usr/bin/time -v -o "$LOGS/$name.time" "$SILO" "$@") >"$LOGS/$name.out" 2>"$LOGS/$name.err" \
      || { tail -20 "$LOGS/$name.err" >&2; die "silo $* failed"; }
    RSS=$(awk -F': ' '/Maximum resident set size/ {printf "%d", $2 / 1024}' "$LOGS/$name.time")
  else
    (cd "$RUNDIR" && "$SILO" "$@") >"$LOGS/$name.out" 2>"$LOGS/$name.err" || { tail -20 "$LOGS/$name.err" >&2; die "silo $* failed"; }
    RSS=-1
  fi
  t1=$(date +%s%N)
  WALL=$(python3 -c "print('%.3f' % (($t1 - $t0) / 1e9))")
  printf '%s\t%s\t%s\n' "$name" "$WALL" "$RSS" >>"$LOGS/times.tsv"
  log "$(printf '%-18s %8.2f s  rss %s MiB' "$name" "$WALL" "$RSS")"
}

untimed() { (cd "$RUNDIR" && "$SILO" "$@") >"$LOGS/untimed.out" 2>&1 || { tail -20 "$LOGS/untimed.out" >&2; die "silo $* failed"; }; }

verify() { # verify NAME DIR: compare a restore with the corpus
  manifest "$2" --dir-mtimes >"$LOGS/$1.manifest"
  if diff -q "$LOGS/corpus.manifest" "$LOGS/$1.manifest" >/dev/null; then
    VERIFY[$1]="identical (content, modes, mtimes, links)"
  else
    DIFFERS=$((DIFFERS + 1))
    VERIFY[$1]="DIFFERS: $(diff "$LOGS/corpus.manifest" "$LOGS/$1.manifest" | grep -c '^>') entries"
    diff "$LOGS/corpus.manifest" "$LOGS/$1.manifest" | head -6 >&2 || true
  fi
  rm -rf "$2"
}
declare -A VERIFY

log "corpus manifest and a warm-up read pass"
manifest "$CORPUS" --dir-mtimes >"$LOGS/corpus.manifest"
find "$CORPUS" -type f -print0 | xargs -0 -r cat >/dev/null

# ---------------------------------------------------------------- local
untimed --repo "$LOCAL_REPO" init
timed local-store --repo "$LOCAL_REPO" store --project bench "$CORPUS"
timed local-restore --repo "$LOCAL_REPO" restore bench "$WORK/out-local"
verify local-restore "$WORK/out-local"
timed local-store2 --repo "$LOCAL_REPO" store --project bench "$CORPUS"
LOCAL_BYTES=$(du -sb "$LOCAL_REPO/packs" | cut -f1)

# ---------------------------------------------------------------- S3
untimed --repo "$S3_REPO" init
stats s3-0
timed s3-store --repo "$S3_REPO" store --project bench "$CORPUS"
stats s3-1
timed s3-restore --repo "$S3_REPO" restore bench "$WORK/out-s3"
stats s3-2
verify s3-restore "$WORK/out-s3"
timed s3-store2 --repo "$S3_REPO" store --project bench "$CORPUS"
stats s3-3
# the index cache is lost: the next command rebuilds it from the pack tables
rm -rf "$XDG_CACHE_HOME/silo"
timed s3-rebuild --repo "$S3_REPO" snapshots
stats s3-4
grep -q . "$LOGS/s3-rebuild.out" || die "silo snapshots after the cache loss printed nothing"
timed s3-check --repo "$S3_REPO" check
stats s3-5

# ---------------------------------------------------------------- report
python3 - "$LOGS" "$MIB" "$CORPUS_FILES" "$CORPUS_BYTES" "$LOCAL_BYTES" "$REV" \
  "${VERIFY[local-restore]}" "${VERIFY[s3-restore]}" <<'PY' | tee "$WORK/results.txt"
import json, os, platform, subprocess, sys
logs, mib, files, cbytes, local_bytes, rev, v_local, v_s3 = sys.argv[1:]
cbytes, local_bytes = int(cbytes), int(local_bytes)
times = {}
for line in open(os.path.join(logs, "times.tsv")):
    n, w, r = line.split("\t")
    times[n] = (float(w), int(r))
st = {i: json.load(open(os.path.join(logs, f"stats-s3-{i}.json"))) for i in range(6)}
def delta(a, b):
    d = {k: st[b][k] - st[a][k] for k in ("requests", "bytes_in", "bytes_out", "get_bytes")}
    kinds = {k: st[b]["by_kind"].get(k, 0) - st[a]["by_kind"].get(k, 0) for k in set(st[a]["by_kind"]) | set(st[b]["by_kind"])}
    d["by_kind"] = {k: v for k, v in sorted(kinds.items(), key=lambda kv: -kv[1]) if v}
    return d
def kinds(d): return ", ".join(f"{k} {v}" for k, v in d["by_kind"].items())
MiB, GiB = 1 << 20, 1 << 30
gv = subprocess.run(["go", "version"], capture_output=True, text=True).stdout.split()[2]
print(f"silo: repository on a loopback S3 server (bench/s3srv: gofakes3 in memory, same machine) vs the local filesystem")
print(f"corpus: corpus.py make --mib {mib} --seed 1: {int(files)} files, {cbytes / MiB:.1f} MiB; checkout {rev}, {gv}, {os.cpu_count()} CPUs")
print()
print(f"{'step':<26}{'local':>12}{'s3':>12}{'s3/local':>10}   peak RSS local / s3")
rows = [("store (first version)", "store"), ("restore (to empty dir)", "restore"), ("re-store unchanged", "store2")]
for label, k in rows:
    (lw, lr), (sw, sr) = times["local-" + k], times["s3-" + k]
    print(f"{label:<26}{lw:>10.2f} s{sw:>10.2f} s{sw / lw:>9.2f}x   {lr} / {sr} MiB")
for label, k in rows[:2]:
    (lw, _), (sw, _) = times["local-" + k], times["s3-" + k]
    print(f"{label + ' MiB/s':<26}{cbytes / MiB / lw:>12.1f}{cbytes / MiB / sw:>12.1f}")
print()
print(f"restore check: local {v_local}; s3 {v_s3}")
stored = st[1]["stored_bytes"]
print(f"repository size: local packs {local_bytes / MiB:.1f} MiB; bucket {stored / MiB:.1f} MiB in {st[1]['objects']} objects")
print()
s = delta(0, 1)
print(f"S3 store:   {s['requests']} requests = {s['requests'] / (cbytes / GiB):.0f} per GiB of corpus stored"
      f" ({s['requests'] / max(stored / GiB, 1e-9):.0f} per GiB uploaded); {s['bytes_in'] / MiB:.1f} MiB sent")
print(f"            by kind: {kinds(s)}")
r = delta(1, 2)
print(f"S3 restore: {r['requests']} requests; {r['get_bytes'] / MiB:.1f} MiB downloaded"
      f" ({r['get_bytes'] / max(stored, 1):.2f}x the bucket); by kind: {kinds(r)}")
u = delta(2, 3)
print(f"S3 re-store unchanged: {u['requests']} requests; by kind: {kinds(u)}")
b = delta(3, 4)
packs = st[4]["objects"] - 1  # config.json
print(f"index cache rebuild (cache dir deleted, `silo snapshots`): {times['s3-rebuild'][0]:.2f} s, {b['requests']} requests,"
      f" {b['get_bytes']} bytes downloaded = {b['get_bytes'] / MiB:.2f} MiB = {100 * b['get_bytes'] / max(stored, 1):.2f}% of the bucket"
      f" (~{b['get_bytes'] / max(packs, 1) / 1024:.1f} KiB per object); by kind: {kinds(b)}")
c = delta(4, 5)
print(f"`silo check` (no --read-data) on S3 afterwards: {times['s3-check'][0]:.2f} s, {c['requests']} requests, {c['get_bytes'] / MiB:.2f} MiB downloaded")
PY
case "${VERIFY[local-restore]} ${VERIFY[s3-restore]}" in *DIFFERS*) die "a restore differs from the corpus" ;; esac
