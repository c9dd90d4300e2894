#!/usr/bin/env bash
# The event log's cost on the wordcount benchmark: bin/wordcount on the
# corpus of bench/wordcount.sh, alternately without and with --event-log,
# RUNS times each; prints each run and the ratio of the medians.
# Usage: RUNS=5 CORPUS=bench/out/corpus-256MiB-seed1-vocab1000000.txt bench/eventlog.sh
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-5}
CORPUS=${CORPUS:-bench/out/corpus-256MiB-seed1-vocab1000000.txt}
[ -f "$CORPUS" ] || { echo "no corpus $CORPUS: run bench/wordcount.sh once" >&2; exit 2; }
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
go build -o "$out/wordcount" ./examples/wordcount
cat "$CORPUS" >/dev/null
without=() with=()
for i in $(seq "$RUNS"); do
  for mode in without with; do
    args=(--output "$out/o-$mode-$i")
    [ "$mode" = with ] && args+=(--event-log "$out/logs")
    s=$(date +%s.%N); "$out/wordcount" "${args[@]}" "$CORPUS"; e=$(date +%s.%N)
    t=$(echo "$e - $s" | bc); echo "$mode $t"
    if [ "$mode" = with ]; then with+=("$t"); else without+=("$t"); fi
    rm -rf "$out/o-$mode-$i"
  done
done
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
mw=$(median "${without[@]}"); mi=$(median "${with[@]}")
echo "median without $mw s, with --event-log $mi s, ratio $(echo "scale=3; $mi / $mw" | bc)"
du -sh "$out/logs" | sed 's/^/logs: /'
