#!/usr/bin/env bash
# peakrss.sh CMD [ARG...]: run a command and report its peak memory, split
# into anonymous memory (heap, stacks) and file-backed pages (silo's index.db
# is memory-mapped by bbolt; those pages are page cache the kernel can drop),
# sampled every 100 ms from /proc, next to /usr/bin/time's max RSS.
set -euo pipefail
[[ $# -gt 0 ]] || { echo "usage: $0 CMD [ARG...]" >&2; exit 2; }
tmp=$(mktemp)
/usr/bin/time -f "%M" -o "$tmp" "$@" &
tpid=$!
sleep 0.05
pid=$(pgrep -P "$tpid" | head -1 || true)
anon=0 file=0
while kill -0 "$tpid" 2>/dev/null; do
  if [[ -n $pid && -r /proc/$pid/status ]]; then
    read -r a f < <(awk '/^RssAnon:/{a=$2} /^RssFile:/{f=$2} END{print a+0, f+0}' "/proc/$pid/status" 2>/dev/null || echo "0 0")
    (( a > anon )) && anon=$a
    (( f > file )) && file=$f
  fi
  sleep 0.1
done
wait "$tpid"; rc=$?
printf 'peak: max RSS %d MiB (time -v); anonymous %d MiB; file-backed %d MiB\n' \
  $(( $(cat "$tmp") / 1024 )) $(( anon / 1024 )) $(( file / 1024 )) >&2
rm -f "$tmp"
exit $rc
