#!/usr/bin/env bash
# backup.sh: incremental backup against a plain copy of the repository.
#
#   bench/backup.sh [--gib 1] [--workdir /tmp/silo-bench-backup] [--keep]
#
# Stores 3 projects of about GIB GiB together (corpus.py make), then times:
# the first `silo backup` to an empty destination next to `cp -a` of the
# repository directory (the copy floor; both followed by sync, since silo
# fsyncs what it writes), a second backup after `corpus.py edit` of one
# project next to the bytes that edit added, and `silo backup restore` of
# all projects into a directory. Run it from the repository root.
set -euo pipefail

GIB=1
WORK=/tmp/silo-bench-backup
KEEP=0
PROJECTS=3

usage() {
  sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//'
  exit "${1:-0}"
}

. "$(dirname "$0")/lib.sh"
parse_opts backup.sh "--gib:GIB --workdir:WORK" "--keep:KEEP" "$@"
[[ $GIB =~ ^[0-9]+([.][0-9]+)?$ ]] && awk "BEGIN{exit !($GIB > 0)}" || { echo "backup.sh: --gib must be a positive number" >&2; exit 2; }

ROOT=$(git rev-parse --show-toplevel 2>/dev/null) || { echo "backup.sh: run it from inside the silo checkout" >&2; exit 2; }
cd "$ROOT"
CORPUS_PY=${CORPUS_PY:-$ROOT/../shared/corpus.py}
[[ -f $CORPUS_PY ]] || { echo "backup.sh: corpus generator not found at $CORPUS_PY (set CORPUS_PY)" >&2; exit 2; }
[[ -x /usr/bin/time ]] || { echo "backup.sh: /usr/bin/time is needed (apt-get install time)" >&2; exit 2; }
if [[ -e $WORK && -n $(ls -A "$WORK" 2>/dev/null) && ! -f $WORK/.silo-bench-backup ]]; then
  echo "backup.sh: $WORK is not empty and was not made by backup.sh; choose another --workdir" >&2
  exit 2
fi
mkdir -p "$WORK"
touch "$WORK/.silo-bench-backup"
cleanup() { if ((KEEP == 0)); then rm -rf "$WORK"; fi; }
trap cleanup EXIT

log() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
now() { date +%s.%N; }
since() { awk "BEGIN{printf \"%.2f\", $(now) - $1}"; }

SILO=$WORK/silo
go build -o "$SILO" ./cmd/silo
REPO=$WORK/repo
SRC=$WORK/src
DEST=$WORK/backup
LOGS=$WORK/logs
rm -rf "$REPO" "$SRC" "$DEST" "$LOGS" "$WORK/cp-copy" "$WORK/restored"
mkdir -p "$SRC" "$LOGS"
export XDG_CACHE_HOME=$WORK/xdg-cache
silo() { "$SILO" --repo "$REPO" "$@"; }
jget() { python3 -c "import json,sys; d=json.load(open(sys.argv[1])); print(d$2)" "$1"; }
# timed CMD...: runs under /usr/bin/time -v into $LOGS/$NAME.*, sets WALL and RSS_KB
timed() {
  local name=$1; shift
  sync
  local t0; t0=$(now)
  /usr/bin/time -v -o "$LOGS/$name.time" "$@" >"$LOGS/$name.out" 2>"$LOGS/$name.err"
  sync
  WALL=$(since "$t0")
  RSS_KB=$(awk -F': ' '/Maximum resident set size/{print $2}' "$LOGS/$name.time")
}

PROJ_MIB=$(awk "BEGIN{printf \"%d\", $GIB * 1024 / $PROJECTS}")
log "corpus: $PROJECTS projects of $PROJ_MIB MiB"
for p in $(seq 1 $PROJECTS); do
  python3 "$CORPUS_PY" make "$SRC/p$p" --mib "$PROJ_MIB" --seed "$p"
done
silo init >/dev/null
for p in $(seq 1 $PROJECTS); do
  silo --quiet store --project "p$p" "$SRC/p$p" >/dev/null
done
silo --json stats >"$LOGS/stats1.json"
repo_bytes=$(du -sb "$REPO" | cut -f1)

log "cp -a of the repository"
timed cp cp -a "$REPO" "$WORK/cp-copy"
cp_wall=$WALL
rm -rf "$WORK/cp-copy"

log "first backup"
timed backup1 "$SILO" --repo "$REPO" --json --quiet backup --to "$DEST"
b1_wall=$WALL b1_rss=$RSS_KB
b1_bytes=$(python3 -c "import json,sys; print(json.loads(open(sys.argv[1]).read().strip().splitlines()[-1])['result']['bytes_copied'])" "$LOGS/backup1.out")

log "edit p1 and store it"
python3 "$CORPUS_PY" edit "$SRC/p1" --seed 5
stored_before=$(jget "$LOGS/stats1.json" "['stored_bytes']")
silo --json --quiet store --project p1 "$SRC/p1" >"$LOGS/store2.out"
added=$(python3 -c "import json,sys; print(json.loads(open(sys.argv[1]).read().strip().splitlines()[-1])['result']['stats']['bytes_added'])" "$LOGS/store2.out")
silo --json stats >"$LOGS/stats2.json"
stored_after=$(jget "$LOGS/stats2.json" "['stored_bytes']")
changed=$((stored_after - stored_before))

log "second backup"
timed backup2 "$SILO" --repo "$REPO" --json --quiet backup --to "$DEST"
b2_wall=$WALL b2_rss=$RSS_KB
b2_bytes=$(python3 -c "import json,sys; print(json.loads(open(sys.argv[1]).read().strip().splitlines()[-1])['result']['bytes_copied'])" "$LOGS/backup2.out")

log "backup verify --read-data"
timed verify "$SILO" --quiet backup verify --read-data --from "$DEST" latest
v_wall=$WALL

log "restore of all projects"
timed restore "$SILO" --quiet backup restore --from "$DEST" --dest "$WORK/restored" latest
r_wall=$WALL r_rss=$RSS_KB
restored_bytes=$(du -sb "$WORK/restored" | cut -f1)
if diff -rq --no-dereference "$SRC" "$WORK/restored" >"$LOGS/diff.out" 2>&1; then same=identical; else same="DIFFERENT (see $LOGS/diff.out)"; fi

mib() { awk "BEGIN{printf \"%.1f MiB\", $1 / 1048576}"; }
rate() { awk "BEGIN{printf \"%.0f MB/s\", $1 / $2 / 1e6}"; }
{
  echo "silo backup benchmark ($(git rev-parse --short HEAD), $(nproc) cores)"
  echo "repository:      $PROJECTS projects, $(mib "$repo_bytes") on disk ($(mib "$stored_before") of packs)"
  echo "cp -a + sync:    ${cp_wall}s ($(rate "$repo_bytes" "$cp_wall"))"
  echo "first backup:    ${b1_wall}s ($(rate "$b1_bytes" "$b1_wall")), copied $(mib "$b1_bytes"), peak RSS $(mib $((b1_rss * 1024)))"
  awk "BEGIN{printf \"  vs cp -a:      %.2fx the copy floor (target <= 1.3x)\n\", $b1_wall / $cp_wall}"
  echo "edit of p1:      the store added $(mib "$added") (packs grew by $(mib "$changed"))"
  echo "second backup:   ${b2_wall}s, copied $(mib "$b2_bytes"), peak RSS $(mib $((b2_rss * 1024)))"
  awk "BEGIN{printf \"  vs changed:    copied / added to the packs = %.3f\n\", $b2_bytes / $changed}"
  echo "verify:          ${v_wall}s (--read-data, latest)"
  echo "restore all:     ${r_wall}s for $(mib "$restored_bytes") ($(rate "$restored_bytes" "$r_wall")), peak RSS $(mib $((r_rss * 1024))); tree $same"
} | tee "$WORK/results.txt"
