# lib.sh: shared by the bench scripts (source it; they define usage()).
#
# The benchmarks store trees of any size: the storage guide's default
# max_project_size (10 GB) is lifted unless the caller set one.
export STORAGE_MAX_PROJECT_SIZE=${STORAGE_MAX_PROJECT_SIZE:-0}
#
# parse_opts NAME 'VALUE_SPECS' 'FLAG_SPECS' ARG...
#   VALUE_SPECS like "--gib:GIB --workdir:WORK": "--gib V" or "--gib=V" sets GIB.
#   FLAG_SPECS like "--keep:KEEP --no-verify:VERIFY=0": sets KEEP=1, VERIFY=0.
#   -h/--help calls "usage 0"; anything else is refused with "usage 2".
parse_opts() {
  local name=$1 values=$2 flags=$3 arg val var spec set
  shift 3
  while (($#)); do
    arg=$1 val="" var=""
    if [[ $arg == --*=* ]]; then val=${arg#*=}; arg=${arg%%=*}; fi
    [[ $arg == -h || $arg == --help ]] && usage 0
    for spec in $values; do [[ ${spec%%:*} == "$arg" ]] && var=${spec#*:}; done
    if [[ -n $var ]]; then
      if [[ -z $val ]]; then
        (($# >= 2)) || { echo "$name: $arg needs a value" >&2; exit 2; }
        val=$2
        shift
      fi
      printf -v "$var" '%s' "$val"
    else
      for spec in $flags; do [[ ${spec%%:*} == "$arg" ]] && var=${spec#*:}; done
      [[ -n $var ]] || { echo "$name: unknown argument: $1" >&2; usage 2; }
      set=1
      if [[ $var == *=* ]]; then set=${var#*=}; var=${var%%=*}; fi
      printf -v "$var" '%s' "$set"
    fi
    shift
  done
}

# manifest DIR [--dir-mtimes]: one sorted line per entry under DIR: path,
# type, mode, size, link target, sha256, mtime in ns ("-" for directories
# unless --dir-mtimes).
manifest() {
  python3 - "$@" <<'PY'
import hashlib, os, stat, sys
root, dir_mtimes = sys.argv[1], "--dir-mtimes" in sys.argv[2:]
rows = []
for d, dirs, files in os.walk(root):
    for name in dirs + files:
        p = os.path.join(d, name); st = os.lstat(p); rel = os.path.relpath(p, root)
        kind, size, link, h = "?", str(st.st_size), "", "-"
        if stat.S_ISDIR(st.st_mode): kind, size = "d", "-"
        elif stat.S_ISLNK(st.st_mode): kind, link = "l", os.readlink(p)
        elif stat.S_ISREG(st.st_mode):
            kind = "f"; hh = hashlib.sha256()
            with open(p, "rb") as f:
                for b in iter(lambda: f.read(1 << 20), b""): hh.update(b)
            h = hh.hexdigest()
        mt = st.st_mtime_ns if kind != "d" or dir_mtimes else "-"
        rows.append(f"{rel}\t{kind}\t{stat.S_IMODE(st.st_mode):o}\t{size}\t{link}\t{h}\t{mt}")
print("\n".join(sorted(rows)))
PY
}
