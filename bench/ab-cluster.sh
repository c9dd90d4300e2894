#!/usr/bin/env bash
# A/B of cluster mode between two builds: wordcount and sortlines on the
# benchmark corpus, each build on its own `sluice up --core 1 --task 2`
# cluster on loopback, runs alternating between the builds so that a busy
# moment of a shared machine hits both alike.
#
#   bench/ab-cluster.sh OLD_BIN_DIR NEW_BIN_DIR     # each holds sluice, wordcount, sortlines
#   SIZE=64MiB RUNS=7 bench/ab-cluster.sh ...
set -euo pipefail
cd "$(dirname "$0")/.."
old=$1 new=$2
SIZE=${SIZE:-256MiB} RUNS=${RUNS:-5} SEED=${SEED:-1} VOCAB=${VOCAB:-1000000}
go build -o bin/ ./bench/gencorpus
mkdir -p bench/out
corpus=bench/out/corpus-$SIZE-seed$SEED-vocab$VOCAB.txt
[ -f "$corpus" ] || bin/gencorpus --size "$SIZE" --seed "$SEED" --vocab "$VOCAB" --out "$corpus"
work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null && wait "$p" 2>/dev/null; done
  rm -rf "$work"
}
trap cleanup EXIT
declare -A join
for v in old new; do
  dir=${!v}
  "$dir/sluice" up --core 1 --task 2 --dir "$work/$v" >"$work/$v.up" 2>"$work/$v.err" &
  pids+=($!)
  for _ in $(seq 300); do [ -s "$work/$v.up" ] && break; sleep 0.1; done
  join[$v]=$(head -1 "$work/$v.up")
  [ -n "${join[$v]}" ] || { echo "sluice up ($v) did not start:"; cat "$work/$v.err"; exit 1; }
done
echo "== corpus $corpus; $(nproc) cores; old ${join[old]}, new ${join[new]}"
for i in $(seq "$RUNS"); do
  for job in wordcount sortlines; do
    for v in old new; do
      dir=${!v}
      rm -rf "$work/out"
      t0=$(date +%s%N)
      "$dir/$job" --join "${join[$v]}" --min-workers 3 --output "$work/out" "$corpus" >/dev/null
      t1=$(date +%s%N)
      echo "$job $v $(( (t1 - t0) / 1000000 ))" | tee -a "$work/times"
    done
  done
done
echo "== medians (ms)"
for job in wordcount sortlines; do
  o=$(awk -v j=$job '$1==j && $2=="old"{print $3}' "$work/times" | sort -n | awk '{a[NR]=$1} END{print a[int((NR+1)/2)]}')
  n=$(awk -v j=$job '$1==j && $2=="new"{print $3}' "$work/times" | sort -n | awk '{a[NR]=$1} END{print a[int((NR+1)/2)]}')
  printf '%-10s old %6d  new %6d  new/old %.3f\n' "$job" "$o" "$n" "$(echo "$n/$o" | bc -l)"
done
