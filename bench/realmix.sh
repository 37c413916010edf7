#!/usr/bin/env bash
# realmix.sh: build the real-mix bench corpus, a pinned tree of real files (about 1.5 GB, 50k files).
#
#   bench/realmix.sh --out DIR [--workdir /tmp/silo-realmix]
#
# Ingredients: a copy of the Go toolchain (GOROOT, pinned version), a web app's node_modules
# (npm ci --ignore-scripts from bench/realmix/package-lock.json), Debian packages (.deb files
# and their extracted shared libraries, bench/realmix/debian-packages.txt), Go module sources
# (bench/realmix/go-modules.txt) and gzip/zstd tarballs made from parts of those.
# Downloads are cached in the workdir, so a second run only rebuilds DIR. The manifest hash
# (paths, types, modes, sizes, link targets, SHA-256 of contents) is printed and kept in
# DIR/REALMIX.txt; two builds with the same hash hold the same tree. See bench/README.md.
set -euo pipefail

OUT=""
WORK=/tmp/silo-realmix
# The toolchain ingredient is a copy of $(go env GOROOT), which must be this version.
# REALMIX_ANY_GO=1 accepts another one (the corpus, and its manifest hash, then differ).
GO_PIN=go1.26.8

usage() {
  sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'
  exit "${1:-0}"
}

. "$(dirname "$0")/lib.sh"
parse_opts realmix.sh "--out:OUT --workdir:WORK" "" "$@"
[[ -n $OUT ]] || { echo "realmix.sh: --out DIR is required" >&2; usage 2; }

HERE=$(cd "$(dirname "$0")" && pwd -P)
PINS=$HERE/realmix
log() { printf '[realmix] %s\n' "$*" >&2; }
die() { printf '[realmix] FAIL: %s\n' "$*" >&2; exit 1; }
umask 022
export LC_ALL=C

for c in go npm node apt-get apt-cache dpkg-deb tar gzip zstd python3 sha256sum; do
  command -v "$c" >/dev/null 2>&1 || die "$c is needed (apt-get install the package that has it)"
done
for f in package.json package-lock.json debian-packages.txt go-modules.txt; do
  [[ -f $PINS/$f ]] || die "missing pin file $PINS/$f"
done

# ---------------------------------------------------------------- directories
refuse() { case $1 in /|/tmp|/root|/home|/work|/usr|/var|"$HOME") die "refusing to use $1 as $2" ;; esac; }
refuse "$OUT" --out
refuse "$WORK" --workdir
mkdir -p "$WORK" "$OUT"
WORK=$(cd "$WORK" && pwd -P)
OUT=$(cd "$OUT" && pwd -P)
case $OUT/ in "$WORK"/*) die "--out ($OUT) must not be inside --workdir ($WORK)" ;; esac
case $WORK/ in "$OUT"/*) die "--workdir ($WORK) must not be inside --out ($OUT)" ;; esac
if [[ -n $(ls -A "$WORK") && ! -e $WORK/.silo-realmix ]]; then
  die "$WORK is not empty and was not made by realmix.sh; pick another --workdir"
fi
touch "$WORK/.silo-realmix"
if [[ -n $(ls -A "$OUT") && ! -f $OUT/REALMIX.txt ]]; then
  die "$OUT is not empty and was not made by realmix.sh; pick another --out"
fi
LOGS=$WORK/logs
mkdir -p "$LOGS" "$WORK/debs" "$WORK/npm-cache" "$WORK/gomod"

T_START=$(date +%s%N)
secs_since() { python3 -c "print('%.1f' % (($(date +%s%N) - $1) / 1e9))"; }
INGREDIENTS=()
declare -A WHAT SECS

# pin_lines FILE: the pin file without comments and blank lines
pin_lines() { grep -v -e '^[[:space:]]*#' -e '^[[:space:]]*$' "$1"; }

# ---------------------------------------------------------------- downloads (cached)
log "checking the pinned downloads (cache: $WORK)"
T0=$(date +%s%N)
# Debian packages: apt-get download NAME=VERSION, checked against the pinned SHA-256.
APT_UPDATED=0
DEBS=()
deb_file() { # deb_file NAME VERSION: the cached .deb (apt names it NAME_VERSION_ARCH.deb, ':' as %3a)
  local f
  for f in "$WORK/debs/$1_${2//:/%3a}"_*.deb; do [[ -f $f ]] && { echo "$f"; return 0; }; done
  return 1
}
while read -r name version sum; do
  [[ -n $sum ]] || die "debian-packages.txt: '$name $version' has no SHA-256"
  if ! f=$(deb_file "$name" "$version"); then
    log "apt-get download $name=$version"
    if ! (cd "$WORK/debs" && apt-get download -q "$name=$version") >>"$LOGS/apt.log" 2>&1; then
      if ((APT_UPDATED == 0)); then
        APT_UPDATED=1
        log "apt-get download failed; running apt-get update once and trying again"
        apt-get update -qq >>"$LOGS/apt.log" 2>&1 || true
      fi
      if ! (cd "$WORK/debs" && apt-get download -q "$name=$version") >>"$LOGS/apt.log" 2>&1; then
        tail -3 "$LOGS/apt.log" >&2
        echo "apt-cache madison $name:" >&2
        apt-cache madison "$name" >&2 || true
        die "cannot download the Debian package $name=$version; if the mirror no longer has that version, pin one it has in $PINS/debian-packages.txt"
      fi
    fi
    f=$(deb_file "$name" "$version") || die "apt-get download $name=$version left no ${name}_*.deb in $WORK/debs"
  fi
  got=$(sha256sum "$f" | cut -d' ' -f1)
  if [[ $got != "$sum" ]]; then
    rm -f "$f"
    die "$(basename "$f") has SHA-256 $got, pinned $sum (removed it from the cache)"
  fi
  DEBS+=("$f")
done < <(pin_lines "$PINS/debian-packages.txt")

# Go modules: go mod download into a module cache of our own, checked against the pinned sum.
export GOMODCACHE=$WORK/gomod GOFLAGS=-modcacherw
MOD_DIRS=() MOD_NAMES=()
while read -r mod version sum; do
  [[ -n $sum ]] || die "go-modules.txt: '$mod $version' has no h1: sum"
  js=$LOGS/gomod-$(basename "$mod")@$version.json
  if ! (cd "$WORK" && go mod download -json "$mod@$version") >"$js" 2>"$LOGS/gomod.err"; then
    cat "$js" "$LOGS/gomod.err" >&2 || true
    die "cannot download the Go module $mod@$version through the module proxy (GOPROXY=$(go env GOPROXY))"
  fi
  read -r dir got < <(python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(d["Dir"], d["Sum"])' "$js")
  [[ $got == "$sum" ]] || die "$mod@$version has sum $got, pinned $sum"
  MOD_DIRS+=("$dir") MOD_NAMES+=("$(basename "$mod")@$version")
done < <(pin_lines "$PINS/go-modules.txt")

# The Go toolchain: the local GOROOT, pinned by version.
GOROOT_DIR=$(go env GOROOT)
GO_VERSION=$(head -1 "$GOROOT_DIR/VERSION" 2>/dev/null || go env GOVERSION)
if [[ $GO_VERSION != "$GO_PIN" ]]; then
  [[ ${REALMIX_ANY_GO:-0} == 1 ]] || die "$GOROOT_DIR holds $GO_VERSION, the corpus pins $GO_PIN (set REALMIX_ANY_GO=1 to use it anyway; the manifest hash will differ)"
  log "WARNING: using $GO_VERSION from $GOROOT_DIR instead of the pinned $GO_PIN"
fi
log "downloads ready in $(secs_since "$T0") s: ${#DEBS[@]} .deb files, ${#MOD_DIRS[@]} Go modules, toolchain $GO_VERSION"

# ---------------------------------------------------------------- build DIR
# DIR/REALMIX.txt marks DIR as ours from the start, so a failed build can be redone.
find "$OUT" -mindepth 1 -maxdepth 1 -exec rm -rf {} +
echo "realmix.sh: build in progress or failed; run it again" >"$OUT/REALMIX.txt"

# ingredient NAME DESCRIPTION: after an ingredient is built into DIR/NAME
ingredient() { INGREDIENTS+=("$1"); WHAT[$1]=$2; SECS[$1]=$(secs_since "$T0"); log "  $1 done in ${SECS[$1]} s: $2"; }

# 1. the Go toolchain
T0=$(date +%s%N)
log "go: copy of $GOROOT_DIR ($GO_VERSION)"
cp -a "$GOROOT_DIR" "$OUT/go"
ingredient go "Go toolchain $GO_VERSION (copy of GOROOT $GOROOT_DIR)"

# 2. a web app's node_modules
T0=$(date +%s%N)
log "webapp: npm ci --ignore-scripts (cache $WORK/npm-cache)"
mkdir -p "$OUT/webapp"
cp "$PINS/package.json" "$PINS/package-lock.json" "$OUT/webapp/"
if ! (cd "$OUT/webapp" && npm ci --ignore-scripts --no-audit --no-fund --prefer-offline \
        --cache "$WORK/npm-cache" --loglevel warn) >"$LOGS/npm.log" 2>&1; then
  tail -15 "$LOGS/npm.log" >&2
  die "npm ci failed (log $LOGS/npm.log); the npm registry must be reachable on the first run"
fi
NPKG=$(python3 -c 'import json,sys; print(sum(1 for k in json.load(open(sys.argv[1]))["packages"] if k))' "$OUT/webapp/node_modules/.package-lock.json")
ingredient webapp "node_modules of $NPKG packages (npm $(npm --version), node $(node --version), lock sha256 $(sha256sum "$PINS/package-lock.json" | cut -c1-12))"

# 3. Debian packages: the .deb files and what they install
T0=$(date +%s%N)
log "debian: ${#DEBS[@]} .deb files, extracted with dpkg-deb -x"
mkdir -p "$OUT/debian/debs" "$OUT/debian/root"
for f in "${DEBS[@]}"; do
  cp "$f" "$OUT/debian/debs/"
  dpkg-deb -x "$f" "$OUT/debian/root"
done
ingredient debian "${#DEBS[@]} bookworm packages: .deb files and dpkg-deb -x of each"

# 4. Go module sources (read-only in the module cache; a checkout is writable)
T0=$(date +%s%N)
mkdir -p "$OUT/gosrc"
for i in "${!MOD_DIRS[@]}"; do
  log "gosrc: ${MOD_NAMES[$i]}"
  cp -r "${MOD_DIRS[$i]}" "$OUT/gosrc/${MOD_NAMES[$i]}"
done
chmod -R u+w "$OUT/gosrc"
ingredient gosrc "${MOD_NAMES[*]}"

# 5. tarballs of parts of the above, byte for byte reproducible: sorted names, fixed
#    mtimes and owners, gzip without a name or time stamp, single-threaded zstd.
T0=$(date +%s%N)
mkdir -p "$OUT/tarballs"
# tarball FILE COMPRESSOR... -- DIR PATH...: tar PATH... (relative to DIR) through COMPRESSOR
tarball() {
  local file=$1 comp=()
  shift
  while [[ $1 != -- ]]; do comp+=("$1"); shift; done
  shift
  local dir=$1
  shift
  log "tarballs: $file"
  tar -C "$dir" --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner --format=gnu \
    -cf - "$@" | "${comp[@]}" >"$OUT/tarballs/$file"
}
NEXT_VERSION=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["version"])' "$OUT/webapp/node_modules/next/package.json")
tarball "$GO_VERSION-src.tar.gz" gzip -n -6 -- "$OUT/go" src
tarball "${MOD_NAMES[0]}.tar.gz" gzip -n -9 -- "$OUT/gosrc" "${MOD_NAMES[0]}"
tarball "next-$NEXT_VERSION-node_modules.tar.zst" zstd -q -T1 -3 -- "$OUT/webapp" node_modules/next node_modules/@next
tarball "debian-usr-lib.tar.zst" zstd -q -T1 -12 -- "$OUT/debian/root" usr/lib
ingredient tarballs "tar.gz (gzip $(gzip --version | head -1 | awk '{print $2}')) and tar.zst (zstd $(zstd --version | grep -o 'v[0-9.]*' | head -1)) by GNU tar $(tar --version | head -1 | awk '{print $4}')"

# ---------------------------------------------------------------- manifest and summary
T0=$(date +%s%N)
log "manifest: hashing every file"
# Every entry but REALMIX.txt: path, type, mode, size, link target, SHA-256 (no mtimes).
manifest "$OUT" | cut -f1-6 | grep -v $'^REALMIX\\.txt\t' >"$WORK/manifest.tsv"
HASH=$(sha256sum "$WORK/manifest.tsv" | cut -d' ' -f1)
echo "$HASH" >"$WORK/manifest.sha256"
log "manifest done in $(secs_since "$T0") s"

count() { # count DIR: files symlinks dirs bytes (bytes of regular files)
  find "$1" -printf '%y %s\n' | awk '$1=="f"{f++; b+=$2} $1=="l"{l++} $1=="d"{d++} END {printf "%d %d %d %d\n", f, l, d, b}'
}
{
  echo "real-mix corpus built by bench/realmix.sh"
  echo "manifest sha256 $HASH  (paths, types, modes, sizes, link targets, contents; no mtimes; REALMIX.txt left out)"
  echo ""
  printf '%-9s %7s %6s %6s %14s %9s  %s\n' ingredient files links dirs bytes MB "what"
  tf=0 tl=0 td=0 tb=0
  for n in "${INGREDIENTS[@]}"; do
    read -r f l d b < <(count "$OUT/$n")
    tf=$((tf + f)) tl=$((tl + l)) td=$((td + d)) tb=$((tb + b))
    printf '%-9s %7d %6d %6d %14d %9.1f  %s\n' "$n" "$f" "$l" "$d" "$b" "$(awk "BEGIN{print $b/1e6}")" "${WHAT[$n]}"
  done
  printf '%-9s %7d %6d %6d %14d %9.1f\n' total "$tf" "$tl" "$td" "$tb" "$(awk "BEGIN{print $tb/1e6}")"
  echo ""
  echo "tarballs:"
  (cd "$OUT/tarballs" && for f in *; do printf '  %-40s %12d\n' "$f" "$(stat -c %s "$f")"; done)
  echo "pins: bench/realmix/ (package-lock.json, debian-packages.txt, go-modules.txt), Go $GO_PIN"
} >"$WORK/summary.txt"
cp "$WORK/summary.txt" "$OUT/REALMIX.txt"
cat "$WORK/summary.txt"
echo ""
echo "built $OUT in $(secs_since "$T_START") s (per ingredient: $(for n in "${INGREDIENTS[@]}"; do printf '%s %ss, ' "$n" "${SECS[$n]}"; done | sed 's/, $//'))"
echo "manifest: $WORK/manifest.tsv (sha256 in $WORK/manifest.sha256); compare two builds with diff"
