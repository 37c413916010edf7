#!/usr/bin/env bash
# gc.sh: garbage collection on a repository of 5 projects x 10 versions.
#
#   bench/gc.sh [--gib 10] [--workdir /tmp/silo-bench-gc] [--keep] [--read-data]
#
# Builds a repository holding about GIB GiB in 50 versions of 5 projects
# (corpus.py make, then corpus.py edit between versions; the projects share
# a fifth of their files), hard-deletes 2 projects and runs `silo gc` under
# /usr/bin/time -v. Prints the gc's time and peak RSS, and the bytes it freed
# next to the bytes unique to the deleted projects (bench/gcstat, measured
# before the delete). Run it from the repository root.
set -euo pipefail

GIB=10
WORK=/tmp/silo-bench-gc
KEEP=0
READ_DATA=0
PROJECTS=5
VERSIONS=10

usage() {
  sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//'
  exit "${1:-0}"
}

. "$(dirname "$0")/lib.sh"
parse_opts gc.sh "--gib:GIB --workdir:WORK" "--keep:KEEP --read-data:READ_DATA" "$@"
[[ $GIB =~ ^[0-9]+([.][0-9]+)?$ ]] && awk "BEGIN{exit !($GIB > 0)}" || { echo "gc.sh: --gib must be a positive number" >&2; exit 2; }

ROOT=$(git rev-parse --show-toplevel 2>/dev/null) || { echo "gc.sh: run it from inside the silo checkout" >&2; exit 2; }
cd "$ROOT"
CORPUS_PY=${CORPUS_PY:-$ROOT/../shared/corpus.py}
[[ -f $CORPUS_PY ]] || { echo "gc.sh: corpus generator not found at $CORPUS_PY (set CORPUS_PY)" >&2; exit 2; }
[[ -x /usr/bin/time ]] || { echo "gc.sh: /usr/bin/time is needed (apt-get install time)" >&2; exit 2; }
if [[ -e $WORK && -n $(ls -A "$WORK" 2>/dev/null) && ! -f $WORK/.silo-bench-gc ]]; then
  echo "gc.sh: $WORK is not empty and was not made by gc.sh; choose another --workdir" >&2
  exit 2
fi
mkdir -p "$WORK"
touch "$WORK/.silo-bench-gc"
cleanup() { if ((KEEP == 0)); then rm -rf "$WORK"; fi; }
trap cleanup EXIT

log() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

SILO=$WORK/silo
GCSTAT=$WORK/gcstat
go build -o "$SILO" ./cmd/silo
go build -o "$GCSTAT" ./bench/gcstat
REPO=$WORK/repo
SRC=$WORK/src
LOGS=$WORK/logs
rm -rf "$REPO" "$SRC" "$LOGS"
mkdir -p "$SRC" "$LOGS"
export XDG_CACHE_HOME=$WORK/xdg-cache

# sizes: each project is PROJ_MIB, of which a fifth is shared by all
PROJ_MIB=$(awk "BEGIN{printf \"%d\", $GIB * 1024 / $PROJECTS}")
SHARED_MIB=$((PROJ_MIB / 5))
OWN_MIB=$((PROJ_MIB - SHARED_MIB))
((SHARED_MIB >= 1 && OWN_MIB >= 1)) || { echo "gc.sh: --gib too small" >&2; exit 2; }

log "corpus: $PROJECTS projects of ${PROJ_MIB} MiB (${SHARED_MIB} MiB shared by all), $VERSIONS versions each"
python3 "$CORPUS_PY" make "$WORK/shared" --mib "$SHARED_MIB" --seed 100
for p in $(seq 1 $PROJECTS); do
  python3 "$CORPUS_PY" make "$SRC/p$p/own" --mib "$OWN_MIB" --seed "$p"
  cp -a "$WORK/shared" "$SRC/p$p/vendor"
done

silo() { "$SILO" --repo "$REPO" "$@"; }
silo init >"$LOGS/init.out"
t_store=$(date +%s.%N)
for v in $(seq 1 $VERSIONS); do
  for p in $(seq 1 $PROJECTS); do
    if ((v > 1)); then
      python3 "$CORPUS_PY" edit "$SRC/p$p/own" --seed $((p * 1000 + v))
    fi
    silo --quiet store --project "p$p" "$SRC/p$p" >>"$LOGS/store.out" 2>>"$LOGS/store.err"
  done
  log "version $v of $VERSIONS stored"
done
t_store=$(awk "BEGIN{printf \"%.1f\", $(date +%s.%N) - $t_store}")

silo --json stats >"$LOGS/stats-before.json"
jget() { python3 -c "import json,sys; d=json.load(open(sys.argv[1])); print(d$2)" "$1"; }
stored_before=$(jget "$LOGS/stats-before.json" "['stored_bytes']")
logical=$(jget "$LOGS/stats-before.json" "['logical_bytes']")
versions=$(jget "$LOGS/stats-before.json" "['versions']")
blobs=$(jget "$LOGS/stats-before.json" "['blobs']")
packs_before=$(jget "$LOGS/stats-before.json" "['packs']")
du_before=$(du -sb "$REPO/packs" | cut -f1)

log "bytes unique to p1 and p2"
"$GCSTAT" -repo "$REPO" p1 p2 >"$LOGS/unique.json"
unique=$(jget "$LOGS/unique.json" "['unique_bytes']")
shared=$(jget "$LOGS/unique.json" "['shared_bytes']")

silo delete --hard p1 >/dev/null
silo delete --hard p2 >/dev/null

log "gc"
sync
/usr/bin/time -v -o "$LOGS/gc.time" "$SILO" --repo "$REPO" --json gc >"$LOGS/gc.json" 2>"$LOGS/gc.err"
wall=$(awk -F': ' '/Elapsed \(wall clock\)/{n=split($2,a,":"); s=0; for(i=1;i<=n;i++) s=s*60+a[i]; printf "%.2f", s}' "$LOGS/gc.time")
cpu=$(awk -F': ' '/User time/{u=$2} /System time/{s=$2} END{printf "%.2f", u+s}' "$LOGS/gc.time")
rss_kb=$(awk -F': ' '/Maximum resident set size/{print $2}' "$LOGS/gc.time")
freed_reported=$(jget "$LOGS/gc.json" "['result']['freed_bytes']")
packs_deleted=$(jget "$LOGS/gc.json" "['result']['packs_deleted']")
packs_repacked=$(jget "$LOGS/gc.json" "['result']['packs_repacked']")
packs_written=$(jget "$LOGS/gc.json" "['result']['packs_written']")
mark_per_blob=$(jget "$LOGS/gc.json" "['plan']['mark_bytes_per_blob']")
mark_bytes=$(jget "$LOGS/gc.json" "['plan']['mark_set_bytes']")
mark_s=$(jget "$LOGS/gc.json" "['plan']['mark_seconds']")

silo --json stats >"$LOGS/stats-after.json"
stored_after=$(jget "$LOGS/stats-after.json" "['stored_bytes']")
du_after=$(du -sb "$REPO/packs" | cut -f1)
freed=$((du_before - du_after))

check_args=(check)
((READ_DATA)) && check_args+=(--read-data)
if silo "${check_args[@]}" >"$LOGS/check.out" 2>&1; then check=ok; else check="FAILED (see $LOGS/check.out)"; fi

gib() { awk "BEGIN{printf \"%.2f GiB\", $1 / 1073741824}"; }
mib() { awk "BEGIN{printf \"%.1f MiB\", $1 / 1048576}"; }
{
  echo "silo gc benchmark ($(git rev-parse --short HEAD), $(nproc) cores)"
  echo "repository:   $versions versions of $PROJECTS projects, $(gib "$logical") logical, $(gib "$stored_before") stored in $packs_before packs, $blobs blobs (stores took ${t_store}s)"
  echo "deleted:      p1 p2 (hard); unique to them $(gib "$unique") stored ($unique bytes), shared with the others $(mib "$shared")"
  echo "gc:           ${wall}s wall, ${cpu}s CPU, peak RSS $(mib $((rss_kb * 1024))); mark ${mark_s}s, mark set $(mib "$mark_bytes") (${mark_per_blob} bytes per blob)"
  echo "packs:        $packs_deleted deleted, $packs_repacked repacked into $packs_written"
  echo "freed:        $freed bytes on disk (du of packs/), gc reports $freed_reported, index says $((stored_before - stored_after))"
  awk "BEGIN{printf \"vs unique:    freed / unique = %.4f, difference %+d bytes (pack headers and tables, rewritten packs)\n\", $freed / $unique, $freed - $unique}"
  echo "check:        $check"
} | tee "$WORK/results.txt"
