#!/usr/bin/env bash
# Chaos runs of wordcount over seeds, with and without --shuffle-replicas 1:
# 1 core + 3 task workers, two task workers SIGKILLed at 30% and 60% of
# the fault-free time. Prints one line per run and a summary per setting.
#
#   bench/chaos.sh                 # 20 seeds, 256 MiB corpus
#   SEEDS=5 SIZE=64MiB bench/chaos.sh
set -euo pipefail
cd "$(dirname "$0")/.."
SEEDS=${SEEDS:-20} SIZE=${SIZE:-256MiB} SIGNAL=${SIGNAL:-KILL} AT=${AT:-30%,60%}
go build -o bin/ ./cmd/... ./examples/... ./bench/gencorpus
mkdir -p bench/out
corpus=bench/out/corpus-$SIZE-seed1-vocab1000000.txt
[ -f "$corpus" ] || bin/gencorpus --size "$SIZE" --seed 1 --vocab 1000000 --out "$corpus"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
echo "== $SEEDS seeds, $corpus, --signal $SIGNAL --at $AT, 1 core + 3 task workers, $(nproc) cores"
for replicas in 0 1; do
  : >"$work/r$replicas"
  for seed in $(seq "$SEEDS"); do
    out=$work/run-$replicas-$seed.txt
    set +e
    bin/sluice chaos --core 1 --task 3 --signal "$SIGNAL" --at "$AT" --seed "$seed" -- \
      bin/wordcount -v --shuffle-replicas "$replicas" --join {join} --min-workers 4 --output {output} "$corpus" >"$out" 2>"$work/err"
    code=$?
    set -e
    ratio=$(sed -n 's/^chaos: .*(\(.*\)x)$/\1/p' "$out")
    tasks=$(sed -n 's/^tasks recomputed: \(.*\)$/\1/p' "$out")
    same=$(sed -n 's/^outputs: \(.*\)$/\1/p' "$out")
    printf 'replicas=%s seed=%-3s exit=%s outputs=%s ratio=%s tasks_recomputed=%s\n' "$replicas" "$seed" "$code" "$same" "$ratio" "$tasks"
    echo "$code $ratio $tasks" >>"$work/r$replicas"
  done
done
echo "== summary"
median() { sort -g | awk '{a[NR]=$1} END{print a[int((NR+1)/2)]}'; }
for replicas in 0 1; do
  f=$work/r$replicas
  n=$(wc -l <"$f")
  ok=$(awk '$1 == 0' "$f" | wc -l)
  mr=$(awk '{print $2}' "$f" | median)
  xr=$(awk '{print $2}' "$f" | sort -g | tail -1)
  mt=$(awk '{print $3}' "$f" | median)
  at=$(awk '{t += $3} END{printf "%.1f", t/NR}' "$f")
  echo "replicas=$replicas identical $ok/$n  median time ratio ${mr}x  max ${xr}x  tasks recomputed median $mt, mean $at"
done
