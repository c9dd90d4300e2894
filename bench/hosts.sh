#!/usr/bin/env bash
# Wordcount and sortlines across four network-namespace hosts against the
# same on four loopback workers (TestHostsFigures): prints a line per job
# with both medians and their ratio. Needs root (namespaces, /dev/net/tun).
#
#   bench/hosts.sh                       # 64 MiB corpus, 3 runs each
#   SIZE=256MiB RUNS=5 bench/hosts.sh
set -euo pipefail
cd "$(dirname "$0")/.."
SIZE=${SIZE:-64MiB} RUNS=${RUNS:-3} SEED=${SEED:-1} VOCAB=${VOCAB:-1000000}
go build -o bin/ ./bench/gencorpus
mkdir -p bench/out
corpus=$PWD/bench/out/corpus-$SIZE-seed$SEED-vocab$VOCAB.txt
[ -f "$corpus" ] || bin/gencorpus --size "$SIZE" --seed "$SEED" --vocab "$VOCAB" --out "$corpus"
SLUICE_HOSTS_CORPUS=$corpus SLUICE_HOSTS_RUNS=$RUNS \
  go test ./examples/wordcount -run '^TestHostsFigures$' -count=1 -v -timeout 90m | grep -E '^(wordcount|sortlines):|^(ok|FAIL|---)'
