#!/usr/bin/env bash
# python_client.sh: the Python client (clients/python) against `silo store
# --remote`, in one run on one generated corpus: a first store and an
# unchanged re-store each, medians of RUNS, into fresh repositories behind
# `silo serve` on 127.0.0.1, with the bytes each sent (silo_upload_bytes_total).
# "python" streams tar; "python+bin" is the client with SILO_BIN (it runs
# `silo store --remote`); "--remote" is the CLI alone.
#
#   bench/python_client.sh [--mib 1024] [--runs 3] [--workdir DIR] [--keep]
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
usage() { sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//'; exit "${1:-0}"; }
MIB=1024 RUNS=3 WORK="" KEEP=""
parse_opts python_client.sh "--mib:MIB --runs:RUNS --workdir:WORK" "--keep:KEEP" "$@"
WORK=${WORK:-$(mktemp -d /tmp/silo-pyclient.XXXXXX)}
[[ -n $KEEP ]] || trap 'kill ${SERVER:-} 2>/dev/null; rm -rf "$WORK"' EXIT
go build -o "$WORK/silo" ./cmd/silo
python3 ../shared/corpus.py make "$WORK/corpus" --mib "$MIB" --seed 11 >/dev/null
export STORAGE_API_TOKEN=bench-token PYTHONPATH=$PWD/clients/python/src
serve() { # serve REPO: starts silo serve on a fresh repository, sets URL
  rm -rf "$1"; STORAGE_BASE_PATH=$1 "$WORK/silo" init >/dev/null
  local port; port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  STORAGE_BASE_PATH=$1 "$WORK/silo" serve --addr 127.0.0.1:$port >"$WORK/serve.log" 2>&1 & SERVER=$!
  URL=http://127.0.0.1:$port
  for _ in $(seq 1 100); do curl -s -o /dev/null "$URL/healthz" && return; sleep 0.1; done
  echo "silo serve did not start" >&2; exit 1
}
secs() { local t0 t1; t0=$(date +%s.%N); "$@" >/dev/null; t1=$(date +%s.%N); echo "$t1 - $t0" | bc; }
py_store() { SILO_URL=$URL python3 -c 'import asyncio,sys; from silo_client import StorageManager
asyncio.run(StorageManager().store_project(project_path=sys.argv[1], metadata={"name": "bench"}))' "$WORK/corpus"; }
pybin_store() { SILO_BIN=$WORK/silo py_store; }
cli_store() { "$WORK/silo" store --remote "$URL" --project bench "$WORK/corpus"; }
sent() { curl -s -H "Authorization: Bearer $STORAGE_API_TOKEN" "$URL/metrics" | awk '/^silo_upload_bytes_total/ {s+=$2} END {printf "%.0f", s}'; }
declare -A T B
TOOLS="py pybin cli"
for run in $(seq 1 "$RUNS"); do
  for tool in $TOOLS; do
    serve "$WORK/repo-$tool"
    b0=$(sent); T[$tool-first-$run]=$(secs ${tool}_store); b1=$(sent)
    T[$tool-again-$run]=$(secs ${tool}_store); b2=$(sent)
    B[$tool-first]=$((b1 - b0)); B[$tool-again]=$((b2 - b1))
    kill $SERVER; wait $SERVER 2>/dev/null || true
  done
done
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
printf '%-20s %16s %16s %16s  (medians of %d; bytes sent)\n' "corpus ${MIB} MiB" "python (tar)" "python+bin" "--remote (Go)" "$RUNS"
for step in first again; do
  line=$(printf '%-20s' "$([[ $step == first ]] && echo 'first store' || echo 'unchanged re-store')")
  for tool in $TOOLS; do
    m=$(median $(for r in $(seq 1 "$RUNS"); do echo "${T[$tool-$step-$r]}"; done))
    line+=$(printf ' %7.2fs %6.0fMB' "$m" "$(echo "${B[$tool-$step]} / 1000000" | bc -l)")
  done
  echo "$line"
done
