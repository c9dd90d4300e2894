#!/usr/bin/env bash
# Cluster mode against local mode on one machine: wordcount and sortlines
# (a SortByKey of every line, shuffle-heavy) on the benchmark corpus, with
# `sluice up --core 1 --task 2` on loopback.
#
#   bench/cluster.sh                  # 256 MiB corpus, 3 runs each
#   SIZE=1GiB RUNS=2 bench/cluster.sh
set -euo pipefail
cd "$(dirname "$0")/.."
SIZE=${SIZE:-256MiB} RUNS=${RUNS:-3} SEED=${SEED:-1} VOCAB=${VOCAB:-1000000}
go build -o bin/ ./cmd/... ./examples/... ./bench/gencorpus
mkdir -p bench/out
corpus=bench/out/corpus-$SIZE-seed$SEED-vocab$VOCAB.txt
[ -f "$corpus" ] || bin/gencorpus --size "$SIZE" --seed "$SEED" --vocab "$VOCAB" --out "$corpus"
bytes=$(stat -L -c %s "$corpus") # -L: the corpus may be a symlink to a shared copy
work=$(mktemp -d)
upout=$work/up.out
cleanup() {
  [ -n "${uppid:-}" ] && kill "$uppid" 2>/dev/null && wait "$uppid" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT
bin/sluice up --core 1 --task 2 --dir "$work/cluster" >"$upout" 2>"$work/up.err" &
uppid=$!
for _ in $(seq 300); do [ -s "$upout" ] && break; sleep 0.1; done
join=$(head -1 "$upout")
[ -n "$join" ] || { echo "sluice up did not start:"; cat "$work/up.err"; exit 1; }
echo "== cluster at $join; corpus $corpus ($bytes bytes); $(nproc) cores"

run() { # name, command...
  local name=$1; shift
  rm -rf "$work/out"
  local t0 t1
  t0=$(date +%s%N)
  "$@" --output "$work/out" "$corpus" >/dev/null
  t1=$(date +%s%N)
  local ms=$(( (t1 - t0) / 1000000 ))
  printf '%-22s %8.3f s %8.1f MB/s\n' "$name" "$(echo "$ms/1000" | bc -l)" "$(echo "$bytes/1000/$ms" | bc -l)"
  echo "$name $ms" >>"$work/times"
}
for i in $(seq "$RUNS"); do
  run wordcount-local bin/wordcount
  run wordcount-cluster bin/wordcount --join "$join" --min-workers 3
  run wordcount-replicas bin/wordcount --join "$join" --min-workers 3 --shuffle-replicas 1
  run sortlines-local bin/sortlines
  run sortlines-cluster bin/sortlines --join "$join" --min-workers 3
  run sortlines-replicas bin/sortlines --join "$join" --min-workers 3 --shuffle-replicas 1
done
echo "== medians"
for p in wordcount sortlines; do
  l=$(awk -v n="$p-local" '$1==n{print $2}' "$work/times" | sort -n | awk '{a[NR]=$1} END{print a[int((NR+1)/2)]}')
  c=$(awk -v n="$p-cluster" '$1==n{print $2}' "$work/times" | sort -n | awk '{a[NR]=$1} END{print a[int((NR+1)/2)]}')
  r=$(awk -v n="$p-replicas" '$1==n{print $2}' "$work/times" | sort -n | awk '{a[NR]=$1} END{print a[int((NR+1)/2)]}')
  printf '%-10s local %6.2f s  cluster %6.2f s  cluster/local %.2f  with --shuffle-replicas 1 %6.2f s (%.2fx the cluster)\n' "$p" "$(echo "$l/1000" | bc -l)" "$(echo "$c/1000" | bc -l)" "$(echo "$c/$l" | bc -l)" "$(echo "$r/1000" | bc -l)" "$(echo "$r/$c" | bc -l)"
done
