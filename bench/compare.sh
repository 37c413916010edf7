#!/usr/bin/env bash
# compare.sh: silo, restic, borg and kopia side by side on one corpus.
#
#   bench/compare.sh [--mib 1024 | --corpus DIR] [--runs 3] [--workdir /tmp/silo-bench]
#                    [--tools silo,restic,borg,kopia] [--keep] [--no-verify]
#
# The corpus is generated with corpus.py (--mib), or is a copy of an existing
# tree (--corpus, e.g. one made by bench/realmix.sh). Run it from the repository
# root. See bench/README.md for what it measures and how to read the output.
set -euo pipefail

MIB=""
CORPUS_DIR=""
RUNS=3
WORK=/tmp/silo-bench
TOOLS=silo,restic,borg,kopia
KEEP=0
VERIFY=1
# kopia is built from source at this version (go install -tags nohtmlui, no web UI).
KOPIA_VERSION=v0.22.3

usage() {
  sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//'
  exit "${1:-0}"
}

. "$(dirname "$0")/lib.sh"
parse_opts compare.sh "--mib:MIB --corpus:CORPUS_DIR --runs:RUNS --workdir:WORK --tools:TOOLS" "--keep:KEEP --no-verify:VERIFY=0" "$@"

if [[ -n $CORPUS_DIR ]]; then
  [[ -z $MIB ]] || { echo "compare.sh: --mib and --corpus exclude each other" >&2; exit 2; }
  [[ -d $CORPUS_DIR ]] || { echo "compare.sh: --corpus $CORPUS_DIR is not a directory" >&2; exit 2; }
  CORPUS_DIR=$(cd "$CORPUS_DIR" && pwd -P)
  MIB=0
else
  MIB=${MIB:-1024}
  [[ $MIB =~ ^[1-9][0-9]*$ ]] || { echo "compare.sh: --mib must be a positive integer" >&2; exit 2; }
fi
[[ $RUNS =~ ^[1-9][0-9]*$ ]] || { echo "compare.sh: --runs must be a positive integer" >&2; exit 2; }
IFS=, read -r -a TOOL_LIST <<<"$TOOLS"
((${#TOOL_LIST[@]} > 0)) || { echo "compare.sh: --tools is empty" >&2; exit 2; }
for t in "${TOOL_LIST[@]}"; do
  case $t in silo|restic|borg|kopia) ;; *) echo "compare.sh: unknown tool '$t' (silo, restic, borg, kopia)" >&2; exit 2 ;; esac
done
has_tool() { [[ ",$TOOLS," == *",$1,"* ]]; }

ROOT=$(git rev-parse --show-toplevel 2>/dev/null) || { echo "compare.sh: run it from inside the silo checkout" >&2; exit 2; }
cd "$ROOT"
CORPUS_PY=${CORPUS_PY:-$ROOT/../shared/corpus.py}
[[ -f $CORPUS_PY ]] || { echo "compare.sh: corpus generator not found at $CORPUS_PY (set CORPUS_PY)" >&2; exit 2; }

log() { printf '[compare] %s\n' "$*" >&2; }
die() { printf '[compare] FAIL: %s\n' "$*" >&2; exit 1; }

# ---------------------------------------------------------------- workdir
case $WORK in /|/tmp|/root|/home|/work|"$ROOT"|"$HOME") die "refusing to use $WORK as the workdir" ;; esac
mkdir -p "$WORK"
WORK=$(cd "$WORK" && pwd -P)
if [[ -n $(ls -A "$WORK") && ! -e $WORK/.silo-bench ]]; then
  die "$WORK is not empty and was not made by compare.sh; pick another --workdir"
fi
if [[ -n $CORPUS_DIR ]]; then
  case $CORPUS_DIR/ in "$WORK"/*) die "--corpus $CORPUS_DIR is inside the workdir, which is emptied; put it elsewhere" ;; esac
  case $WORK/ in "$CORPUS_DIR"/*) die "the workdir $WORK is inside --corpus $CORPUS_DIR; pick another --workdir" ;; esac
fi
# Start clean, but only inside a directory this script made. tools/ (the kopia
# build) is kept across runs.
find "$WORK" -mindepth 1 -maxdepth 1 ! -name .silo-bench ! -name tools -exec rm -rf {} +
touch "$WORK/.silo-bench"

CORPUS=$WORK/corpus      # pristine generated tree, never given to a tool
[[ -n $CORPUS_DIR ]] && CORPUS=$CORPUS_DIR   # or the given one, only read
DATA=$WORK/data          # the one path every tool reads, every run
LOGS=$WORK/logs
RAW=$WORK/raw.tsv
mkdir -p "$LOGS"
: >"$RAW"

VERIFY_FAILS=0
cleanup() {
  local rc=$?
  if ((KEEP == 0)) && [[ -e $WORK/.silo-bench ]]; then
    # Tree manifests are large; keep them only when a restore differed.
    ((VERIFY_FAILS > 0)) || rm -f "$LOGS"/*.manifest
    # Keep only the results and the (small) logs.
    find "$WORK" -mindepth 1 -maxdepth 1 ! -name results.json ! -name results.txt \
      ! -name logs ! -name tools ! -name .silo-bench -exec rm -rf {} + 2>/dev/null || true
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---------------------------------------------------------------- packages
APT_UPDATED=0
need_pkg() { # need_pkg COMMAND PACKAGE
  if [[ -x $1 ]] || command -v "$1" >/dev/null 2>&1; then return 0; fi
  log "installing $2 with apt-get"
  if ! DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$2" >"$LOGS/apt-$2.log" 2>&1; then
    if ((APT_UPDATED == 0)); then
      APT_UPDATED=1
      apt-get update -qq >>"$LOGS/apt-$2.log" 2>&1 || true
    fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$2" >>"$LOGS/apt-$2.log" 2>&1 \
      || { tail -5 "$LOGS/apt-$2.log" >&2; die "could not install $2"; }
  fi
}
need_pkg /usr/bin/time time
need_pkg python3 python3
has_tool restic && need_pkg restic restic
has_tool borg && need_pkg borg borgbackup

# ---------------------------------------------------------------- tools
SILO=$WORK/silo
SILO_REPO_FLAG=1
VERSIONS=$WORK/versions.tsv
: >"$VERSIONS"
if has_tool silo; then
  log "building silo: go build -o $SILO ./cmd/silo"
  go build -o "$SILO" ./cmd/silo >"$LOGS/build.log" 2>&1 || { tail -20 "$LOGS/build.log" >&2; die "go build ./cmd/silo failed"; }
  help=$("$SILO" --help 2>&1 || true)
  grep -q -- '--repo' <<<"$help" || SILO_REPO_FLAG=0
  rev=$(git rev-parse --short HEAD 2>/dev/null || echo "no-commit")
  [[ -n $(git status --porcelain 2>/dev/null | head -1) ]] && rev="$rev+dirty"
  sv=silo
  if "$SILO" --version >"$LOGS/silo-version.txt" 2>&1; then sv=$(head -1 "$LOGS/silo-version.txt"); fi
  printf 'silo\t%s\n' "$sv (checkout $rev, built with $(go version | awk '{print $3}'))" >>"$VERSIONS"
fi
has_tool restic && printf 'restic\t%s\n' "$(restic version | head -1)" >>"$VERSIONS"
has_tool borg && printf 'borg\t%s\n' "$(borg --version | head -1)" >>"$VERSIONS"

# kopia: built once per version into $WORK/tools (kept across runs) with
# `go install -tags nohtmlui`. go install PKG@VERSION also asks the module proxy
# for kopia's version list (to look for a deprecation notice); where the proxy
# refuses that list, the same version is built from a throwaway module that
# requires it, which selects the same dependency versions (those of kopia's go.mod).
KOPIA=$WORK/tools/kopia-$KOPIA_VERSION
build_kopia() {
  local gobin=$WORK/tools/gobin mod=$WORK/tools/kopia-mod blog=$LOGS/build-kopia.log
  mkdir -p "$WORK/tools"
  rm -rf "$gobin" "$mod"
  log "building kopia $KOPIA_VERSION: go install -tags nohtmlui github.com/kopia/kopia@$KOPIA_VERSION (a few minutes, once)"
  if GOBIN=$gobin go install -tags nohtmlui "github.com/kopia/kopia@$KOPIA_VERSION" >"$blog" 2>&1; then
    mv "$gobin/kopia" "$KOPIA"
  else
    tail -3 "$blog" >&2
    log "go install failed; building the same version from a throwaway module instead"
    mkdir -p "$mod"
    if ! (cd "$mod" && go mod init kopia-bench-build && \
          go mod edit "-require=github.com/kopia/kopia@$KOPIA_VERSION" && \
          go mod edit -tool=github.com/kopia/kopia && go mod tidy && \
          go build -tags nohtmlui -o "$KOPIA.tmp" github.com/kopia/kopia) >>"$blog" 2>&1; then
      tail -20 "$blog" >&2
      die "could not build kopia $KOPIA_VERSION (log $blog)"
    fi
    mv "$KOPIA.tmp" "$KOPIA"
  fi
  rm -rf "$gobin" "$mod"
}
if has_tool kopia; then
  [[ -x $KOPIA ]] || build_kopia
  printf 'kopia\t%s\n' "kopia $("$KOPIA" --version 2>/dev/null | awk '{print $1}') (built with -tags nohtmlui, $(go version | awk '{print $3}'))" >>"$VERSIONS"
fi

export RESTIC_PASSWORD=bench
export RESTIC_CACHE_DIR=$WORK/cache/restic
export BORG_BASE_DIR=$WORK/cache/borg
export BORG_UNKNOWN_UNENCRYPTED_REPO_ACCESS_IS_OK=yes
export BORG_RELOCATED_REPO_ACCESS_IS_OK=yes
export BORG_CHECK_I_KNOW_WHAT_I_AM_DOING=NO
export KOPIA_PASSWORD=bench
export KOPIA_CONFIG_PATH=$WORK/cache/kopia/repository.config
export KOPIA_CACHE_DIRECTORY=$WORK/cache/kopia/cache
export KOPIA_LOG_DIR=$WORK/cache/kopia-logs   # kopia's own logs; not counted as its cache
export KOPIA_CHECK_FOR_UPDATES=false

repo_of() { echo "$WORK/repo-$1"; }

# silo_base: the silo command line up to the subcommand
silo_base() {
  local repo; repo=$(repo_of silo)
  SILO_CMD=(env "STORAGE_BASE_PATH=$repo" "XDG_CACHE_HOME=$WORK/cache/silo" "$SILO")
  ((SILO_REPO_FLAG)) && SILO_CMD+=(--repo "$repo")
  return 0
}

# cmd_for TOOL STEP [DEST]: sets CMD (array) for one step of one tool
cmd_for() {
  local tool=$1 step=$2 dest=${3:-} repo; repo=$(repo_of "$1")
  silo_base
  case $tool:$step in
    silo:init)      CMD=("${SILO_CMD[@]}" init) ;;
    silo:store*)    CMD=("${SILO_CMD[@]}" store --project bench "$DATA") ;;
    silo:restore)   CMD=("${SILO_CMD[@]}" restore bench "$dest") ;;
    restic:init)    CMD=(restic -r "$repo" init --repository-version 2) ;;
    restic:store*)  CMD=(restic -r "$repo" backup --compression auto "$DATA") ;;
    restic:restore) CMD=(restic -r "$repo" restore latest --target "$dest") ;;
    borg:init)      CMD=(borg init --encryption none "$repo") ;;
    borg:store1)    CMD=(borg create --compression zstd,3 "$repo::bench-1" "$DATA") ;;
    borg:store2)    CMD=(borg create --compression zstd,3 "$repo::bench-2" "$DATA") ;;
    borg:store3)    CMD=(borg create --compression zstd,3 "$repo::bench-3" "$DATA") ;;
    borg:restore)   CMD=(env -C "$dest" borg extract "$repo::bench-3") ;;
    kopia:init)     CMD=("$KOPIA" repository create filesystem --path "$repo") ;;
    kopia:policy)   CMD=("$KOPIA" policy set --global --compression=zstd) ;;
    kopia:store*)   CMD=("$KOPIA" snapshot create --no-progress "$DATA") ;;
    kopia:restore)  kopia_latest; CMD=("$KOPIA" snapshot restore --no-progress "$KOPIA_ID" "$dest") ;;
    *) die "internal: no command for $tool:$step" ;;
  esac
}

# kopia_latest: sets KOPIA_ID to kopia's newest snapshot of DATA (looked up before the clock starts)
kopia_latest() {
  KOPIA_ID=$("$KOPIA" snapshot list --json "$DATA" 2>"$LOGS/r$RUN-kopia-list.err" \
    | python3 -c 'import json, sys; print(json.load(sys.stdin)[-1]["id"])' 2>>"$LOGS/r$RUN-kopia-list.err") \
    || { tail -5 "$LOGS/r$RUN-kopia-list.err" >&2; die "kopia snapshot list found no snapshot of $DATA (run $RUN)"; }
}

fail_tool() { # fail_tool TOOL STEP LOGBASE
  echo "---- $1 $2 failed; last lines of its stderr ($3.err):" >&2
  tail -n 25 "$3.err" >&2 || true
  echo "---- last lines of its stdout ($3.out):" >&2
  tail -n 5 "$3.out" >&2 || true
  die "$1 $2 failed (run $RUN)"
}

# untimed TOOL STEP
untimed() {
  local base=$LOGS/r$RUN-$1-$2
  cmd_for "$1" "$2"
  "${CMD[@]}" >"$base.out" 2>"$base.err" || fail_tool "$1" "$2" "$base"
}

# timed TOOL STEP [DEST]: runs one step under /usr/bin/time -v; sets WALL CPU RSS_KIB
timed() {
  local tool=$1 step=$2 dest=${3:-} base=$LOGS/r$RUN-$1-$2 t0 t1
  cmd_for "$tool" "$step" "$dest"
  sync
  t0=$(date +%s%N)
  if ! /usr/bin/time -v -o "$base.time" "${CMD[@]}" >"$base.out" 2>"$base.err"; then
    fail_tool "$tool" "$step" "$base"
  fi
  t1=$(date +%s%N)
  WALL=$(python3 -c "print('%.3f' % (($t1 - $t0) / 1e9))")
  CPU=$(awk -F': ' '/User time \(seconds\)/ {u=$2} /System time \(seconds\)/ {s=$2} END {printf "%.2f", u+s}' "$base.time")
  RSS_KIB=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$base.time")
}

du_b() { du -sb "$1" 2>/dev/null | cut -f1; }

record() { # record TOOL STEP (uses WALL CPU RSS_KIB), repo bytes measured now unless restore
  local repo_bytes=-1 cache_bytes=-1
  if [[ $2 != restore ]]; then
    repo_bytes=$(du_b "$(repo_of "$1")")
    cache_bytes=$(du_b "$WORK/cache/$1" || echo 0)
    cache_bytes=${cache_bytes:-0}
  fi
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$RUN" "$1" "$2" "$WALL" "$CPU" "$RSS_KIB" "$repo_bytes" "$cache_bytes" >>"$RAW"
  log "run $RUN  $(printf '%-6s %-8s' "$1" "$2")  wall ${WALL}s  cpu ${CPU}s  rss $((RSS_KIB / 1024)) MiB$([[ $repo_bytes != -1 ]] && echo "  repo $repo_bytes B")"
}

# floor NAME CMD...: times a floor the issue measures silo against (find over
# the tree, cp -a of it, the sync after a restore) into $FLOORS
FLOORS=$WORK/floors.tsv
floor() {
  local name=$1 t0 t1; shift
  t0=$(date +%s%N)
  "$@" >/dev/null 2>&1 || die "floor $name failed: $*"
  t1=$(date +%s%N)
  printf '%s\t%s\t%s\n' "$RUN" "$name" "$(python3 -c "print('%.3f' % (($t1 - $t0) / 1e9))")" >>"$FLOORS"
}

warm() { # one read pass so every tool sees the tree in the page cache
  find "$1" -type f -print0 | xargs -0 -r cat >/dev/null
}

tree_bytes() { find "$1" -type f -printf '%s\n' | awk '{s+=$1} END {printf "%d\n", s}'; }

# restored_root TOOL DEST: where the tree landed inside DEST
restored_root() {
  local dest=$2
  if [[ -d $dest$DATA ]]; then echo "$dest$DATA"; return; fi           # restic, borg: full path
  if [[ $(ls -A "$dest" | wc -l) == 1 && -d $dest/data && ! -e $DATA/data ]]; then echo "$dest/data"; return; fi
  echo "$dest"                                                           # silo, kopia: top level into DEST
}

verify_restore() { # verify_restore TOOL DEST REF_MANIFEST
  local root man=$LOGS/r$RUN-$1-restore.manifest
  root=$(restored_root "$1" "$2")
  manifest "$root" >"$man"
  if ! diff -q <(cut -f1-6 "$3") <(cut -f1-6 "$man") >/dev/null; then
    VERIFY_FAILS=$((VERIFY_FAILS + 1))
    printf 'run %s\t%s\tDIFFERS\n' "$RUN" "$1" >>"$WORK/verify.tsv"
    log "run $RUN  $1 restore DIFFERS from the source tree (root $root); first differences:"
    diff <(cut -f1-6 "$3") <(cut -f1-6 "$man") | head -8 >&2 || true
  elif ! diff -q "$3" "$man" >/dev/null; then
    local n; n=$(diff <(cut -f1,7 "$3") <(cut -f1,7 "$man") | grep -c '^>' || true)
    printf 'run %s\t%s\tcontent ok, %s mtimes differ\n' "$RUN" "$1" "$n" >>"$WORK/verify.tsv"
  else
    printf 'run %s\t%s\tidentical\n' "$RUN" "$1" >>"$WORK/verify.tsv"
  fi
}

LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)

# ---------------------------------------------------------------- corpus
CORPUS_HASH=""
if [[ -n $CORPUS_DIR ]]; then
  log "using the corpus at $CORPUS (copied, never changed)"
  # A tree from bench/realmix.sh names its manifest hash in REALMIX.txt.
  [[ -f $CORPUS/REALMIX.txt ]] && CORPUS_HASH=$(awk '/^manifest sha256 / {print $3; exit}' "$CORPUS/REALMIX.txt")
else
  log "making the corpus: $CORPUS_PY make --mib $MIB --seed 1"
  python3 "$CORPUS_PY" make "$CORPUS" --mib "$MIB" --seed 1 >"$LOGS/corpus.log" 2>&1 \
    || { tail -5 "$LOGS/corpus.log" >&2; die "corpus generation failed"; }
fi
CORPUS_BYTES=$(tree_bytes "$CORPUS")
CORPUS_FILES=$(find "$CORPUS" -type f | wc -l)
: >"$WORK/verify.tsv"
: >"$WORK/floors.tsv"
EDITED_BYTES=0

# ---------------------------------------------------------------- runs
for ((RUN = 1; RUN <= RUNS; RUN++)); do
  # the tools take turns going first: on some disks a write right after a
  # large deletion (the last run's trees) is several times slower, and
  # the first tool of a step would always pay for it
  ORDER=()
  for ((i = 0; i < ${#TOOL_LIST[@]}; i++)); do
    ORDER+=("${TOOL_LIST[(i + RUN - 1) % ${#TOOL_LIST[@]}]}")
  done
  log "run $RUN/$RUNS (order: ${ORDER[*]}): fresh copy of the corpus at $DATA (cp -a), warm-up read pass"
  rm -rf "$DATA" "$WORK/restore" "$WORK/cache"
  for t in "${TOOL_LIST[@]}"; do rm -rf "$(repo_of "$t")"; done
  mkdir -p "$WORK/cache/restic" "$WORK/cache/borg" "$WORK/cache/silo" "$WORK/cache/kopia"
  cp -a "$CORPUS" "$DATA"
  sync
  warm "$DATA"

  # 1. first store into an empty repository (init is not timed)
  for t in "${ORDER[@]}"; do
    untimed "$t" init
    if [[ $t == kopia ]]; then untimed kopia policy; fi
    timed "$t" store1; record "$t" store1
  done
  # 2. unchanged re-store of the same directory, beside its floor: one stat
  #    of every entry (find prints size, mtime and inode)
  sync
  floor find find "$DATA" -printf '%s %T@ %i\n'
  for t in "${ORDER[@]}"; do
    timed "$t" store2; record "$t" store2
  done
  # 3. re-store after an edit applied in place (unchanged files keep their inodes)
  python3 "$CORPUS_PY" edit "$DATA" --seed 5 >"$LOGS/r$RUN-edit.log" 2>&1 \
    || { tail -5 "$LOGS/r$RUN-edit.log" >&2; die "corpus edit failed"; }
  sync
  warm "$DATA"
  EDITED_BYTES=$(tree_bytes "$DATA")
  for t in "${ORDER[@]}"; do
    timed "$t" store3; record "$t" store3
  done
  # 4. full restore of the newest version into an empty directory; the
  #    restored trees stay until every restore and the floor of the run
  #    are done, so that none of them follows the deletion of another
  ((VERIFY)) && manifest "$DATA" >"$LOGS/r$RUN-source.manifest"
  rm -rf "$WORK/restore"; mkdir -p "$WORK/restore"; sync
  for t in "${ORDER[@]}"; do
    dest=$WORK/restore/$t
    mkdir -p "$dest"
    timed "$t" restore "$dest"; record "$t" restore
    floor "sync-after-$t" sync
    ((VERIFY)) && verify_restore "$t" "$dest" "$LOGS/r$RUN-source.manifest"
  done
  # the restore's floor: cp -a of the same tree, then sync
  floor cp-a-sync sh -c 'cp -a "$1" "$2" && sync' sh "$DATA" "$WORK/restore/cp"
  rm -rf "$WORK/restore"
done

# ---------------------------------------------------------------- report
python3 - "$RAW" "$VERSIONS" "$WORK/verify.tsv" "$WORK/results.json" "$WORK/results.txt" \
  "$MIB" "$RUNS" "$CORPUS_BYTES" "$CORPUS_FILES" "$EDITED_BYTES" "$TOOLS" "$DATA" "$VERIFY" \
  "$LOAD_START" "$(cut -d' ' -f1-3 /proc/loadavg)" "$CORPUS_DIR" "$CORPUS_HASH" "$FLOORS" <<'PY'
import json, statistics, sys, datetime, os, platform
(raw, versions_f, verify_f, json_out, txt_out, mib, runs, corpus_bytes, corpus_files,
 edited_bytes, tools, data, verify, load_start, load_end, corpus_dir, corpus_hash, floors_f) = sys.argv[1:]
mib, runs, corpus_bytes, corpus_files, edited_bytes = map(int, (mib, runs, corpus_bytes, corpus_files, edited_bytes))
tools = tools.split(",")
steps = [("store1", "first store"), ("store2", "unchanged re-store"),
         ("store3", "edited re-store"), ("restore", "restore newest")]
step_bytes = {"store1": corpus_bytes, "store2": corpus_bytes, "store3": edited_bytes, "restore": edited_bytes}

meas = {}
for line in open(raw):
    run, tool, step, wall, cpu, rss, repo, cache = line.rstrip("\n").split("\t")
    meas.setdefault((tool, step), []).append(dict(run=int(run), wall_s=float(wall), cpu_s=float(cpu),
        max_rss_kib=int(rss), repo_bytes=int(repo) if int(repo) >= 0 else None,
        cache_bytes=int(cache) if int(cache) >= 0 else None))
versions = dict(l.rstrip("\n").split("\t", 1) for l in open(versions_f) if l.strip())
verify_rows = [l.rstrip("\n").split("\t") for l in open(verify_f) if l.strip()]

rows = []
for step, label in steps:
    for tool in tools:
        m = meas[(tool, step)]
        wall = statistics.median(x["wall_s"] for x in m)
        cpu = statistics.median(x["cpu_s"] for x in m)
        rss = max(x["max_rss_kib"] for x in m) / 1024
        repos = [x["repo_bytes"] for x in m if x["repo_bytes"] is not None]
        caches = [x["cache_bytes"] for x in m if x["cache_bytes"] is not None]
        rows.append(dict(step=step, label=label, tool=tool, input_bytes=step_bytes[step],
            median_wall_s=round(wall, 3), mb_per_s=round(step_bytes[step] / 1e6 / wall, 1) if wall > 0 else None,
            median_cpu_s=round(cpu, 2), max_rss_mib=round(rss, 1),
            repo_bytes=int(statistics.median(repos)) if repos else None,
            cache_bytes=int(statistics.median(caches)) if caches else None,
            runs=m))
byk = {(r["tool"], r["step"]): r for r in rows}

ratios = []
if "silo" in tools:
    for peer in [t for t in tools if t != "silo"]:
        for step, label in steps:
            s, p = byk[("silo", step)], byk[(peer, step)]
            div = lambda a, b: round(a / b, 2) if a is not None and b else None
            ratios.append(dict(pair=f"silo/{peer}", step=step, label=label,
                speedup=div(p["median_wall_s"], s["median_wall_s"]),
                cpu_ratio=div(s["median_cpu_s"], p["median_cpu_s"]),
                rss_ratio=div(s["max_rss_mib"], p["max_rss_mib"]),
                repo_ratio=div(s["repo_bytes"], p["repo_bytes"])))

def f(v, fmt):
    return "-" if v is None else format(v, fmt)

if corpus_dir:
    corpus_name = f"corpus {corpus_dir}" + (f" (realmix manifest sha256 {corpus_hash[:16]})" if corpus_hash else "")
else:
    corpus_name = f"{mib} MiB generated corpus (seed 1)"
out = []
out.append(f"{' vs '.join(tools)}: {corpus_name}, {runs} run(s), median per step")
out.append(f"  corpus      {corpus_bytes} bytes in {corpus_files} files; edited tree (edit --seed 5) {edited_bytes} bytes")
out.append(f"  data path   {data} (same path for every tool and run; fresh cp -a of the corpus each run)")
out.append("  page cache  NOT dropped; one warm-up read pass (find | cat) over the tree before the stores and")
out.append("              again after the edit, so every tool sees a warm cache; sync before every timed step")
out.append("  order       the tools take turns going first (run r starts with the r-th); restored trees are")
out.append("              deleted only after every restore of the run")
for t in tools:
    out.append(f"  {t:<11} {versions.get(t, '?')}")
out.append(f"  machine     {os.cpu_count()} CPUs, {platform.machine()}, {datetime.datetime.now(datetime.timezone.utc).strftime('%Y-%m-%d %H:%M UTC')}")
out.append(f"  load avg    {load_start} at start, {load_end} at end (other work on the machine skews timings)")
out.append("  MB/s = bytes of the whole tree at that step / median wall (MB = 10^6 B); edited re-store and")
out.append(f"  restore use the edited tree's {edited_bytes} bytes; RSS = max over runs; repo = du -sb, median of runs")
out.append("")
hdr = f"{'step':<20} {'tool':<7} {'wall s':>9} {'MB/s':>8} {'CPU s':>8} {'RSS MiB':>8} {'repo bytes':>13}"
out.append(hdr); out.append("-" * len(hdr))
for step, label in steps:
    for tool in tools:
        r = byk[(tool, step)]
        out.append(f"{label:<20} {tool:<7} {r['median_wall_s']:>9.3f} {f(r['mb_per_s'], '.1f'):>8} "
                   f"{r['median_cpu_s']:>8.2f} {r['max_rss_mib']:>8.1f} {f(r['repo_bytes'], 'd'):>13}")
if ratios:
    out.append("")
    hdr2 = f"{'ratio':<12} {'step':<20} {'speed-up':>9} {'CPU':>7} {'RSS':>7} {'repo':>7}"
    out.append("ratios: speed-up = peer wall / silo wall (>1: silo faster);")
    out.append("        CPU, RSS, repo = silo / peer (<1: silo uses less)")
    out.append(hdr2)
    out.append("-" * len(hdr2))
    for q in ratios:
        out.append(f"{q['pair']:<12} {q['label']:<20} {f(q['speedup'], '.2f') + 'x':>9} {f(q['cpu_ratio'], '.2f'):>7} "
                   f"{f(q['rss_ratio'], '.2f'):>7} {f(q['repo_ratio'], '.2f'):>7}")
floors, floor_runs = {}, {}
for l in open(floors_f):
    if l.strip():
        run, name, wall = l.rstrip("\n").split("\t")
        floors.setdefault(name, []).append(float(wall))
        floor_runs[(int(run), name)] = float(wall)
floor_med = {k: round(statistics.median(v), 3) for k, v in floors.items()}
if floor_med:
    out.append("")
    out.append("floors (medians): find over the tree %s s; cp -a of the edited tree + sync %s s" %
               (f(floor_med.get("find"), ".3f"), f(floor_med.get("cp-a-sync"), ".3f")))
    if "silo" in tools and "find" in floor_med:
        out.append("  silo unchanged re-store / find          %sx" % f(round(byk[("silo", "store2")]["median_wall_s"] / floor_med["find"], 2), ".2f"))
    if "silo" in tools and "cp-a-sync" in floor_med and "sync-after-silo" in floor_med:
        # restore and the sync after it, added up run by run
        rs = round(statistics.median(x["wall_s"] + floor_runs[(x["run"], "sync-after-silo")]
                                     for x in meas[("silo", "restore")]), 3)
        out.append("  silo restore + sync %.3f s / cp -a + sync  %sx" % (rs, f(round(rs / floor_med["cp-a-sync"], 2), ".2f")))
out.append("")
if verify == "1":
    bad = [v for v in verify_rows if v[2] == "DIFFERS"]
    notes = sorted({f"{v[1]}: {v[2]}" for v in verify_rows if v[2] not in ("identical", "DIFFERS")})
    out.append("restore check: " + ("every restore identical to the source tree (content, modes, file mtimes)" if not bad and not notes
               else "; ".join([f"{v[1]} run {v[0].split()[-1]} DIFFERS" for v in bad] + notes)))
else:
    out.append("restore check: skipped (--no-verify)")
text = "\n".join(out)
print(text)
open(txt_out, "w").write(text + "\n")
corpus = (dict(kind="directory", source=corpus_dir, realmix_manifest_sha256=corpus_hash or None)
          if corpus_dir else dict(kind="generated", mib=mib, seed=1))
corpus.update(bytes=corpus_bytes, files=corpus_files, edit_seed=5, edited_bytes=edited_bytes, path=data)
json.dump(dict(corpus=corpus,
               runs=runs, tools=tools, versions=versions, loadavg=dict(start=load_start, end=load_end),
               method=dict(page_cache="not dropped; one warm-up read pass before the stores and after the edit",
                           sync_before_each_step=True, mb="10^6 bytes", wall="median of runs",
                           cpu="user+sys, median of runs", rss="max over runs",
                           repo_bytes="du -sb of the repository, median of runs"),
               rows=rows, ratios=ratios, verify=verify_rows, floors=floors),
          open(json_out, "w"), indent=2)
PY

log "results: $WORK/results.txt and $WORK/results.json$( ((KEEP)) || echo ' (the rest of the workdir is removed)')"
if ((VERIFY_FAILS > 0)); then
  die "$VERIFY_FAILS restore(s) differ from the source tree (see restore check above)"
fi
