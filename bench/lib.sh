# lib.sh: shared by the bench scripts (source it; they define usage()).
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
