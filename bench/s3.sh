#!/usr/bin/env bash
# s3.sh: time wordcount and sortlines in local mode reading and writing
# local disk against the same through an S3 server (versitygw on
# 127.0.0.1, its posix backend on the same disk), on a generated corpus.
#
#   bench/s3.sh
#
# Environment: SIZE (corpus size, default 256MiB), SEED (1), VOCAB
# (1000000), RUNS (runs of each, default 3). The server is built from the
# tools module (go -C tools tool -n versitygw), started on a free port and
# killed by its PID at exit.
set -euo pipefail

SIZE=${SIZE:-256MiB}
SEED=${SEED:-1}
VOCAB=${VOCAB:-1000000}
RUNS=${RUNS:-3}

die() { echo "s3.sh: $*" >&2; exit 1; }
[[ $RUNS =~ ^[1-9][0-9]*$ ]] || die "RUNS=$RUNS: want a positive number"

cd "$(dirname "$0")/.."
mkdir -p bench/out bin
work=$(mktemp -d "$PWD/bench/out/s3.XXXXXX")
server=
cleanup() {
	if [[ -n $server ]]; then kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; fi
	rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

echo "== building"
go build -o bin/ ./examples/wordcount ./examples/sortlines ./bench/gencorpus
vgw=$(go -C tools tool -n versitygw) || die "cannot build versitygw from tools/go.mod"

corpus=bench/out/corpus-$SIZE-seed$SEED-vocab$VOCAB.txt
if [[ ! -f $corpus ]]; then
	echo "== generating $corpus"
	bin/gencorpus --size "$SIZE" --seed "$SEED" --vocab "$VOCAB" --out "$corpus"
fi
bytes=$(stat -L -c %s "$corpus") # -L: the corpus may be a symlink to a shared copy

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
mkdir -p "$work/s3/data/bench/in" "$work/s3/meta"
# The posix backend serves a file in a bucket's directory as an object.
cp "$corpus" "$work/s3/data/bench/in/corpus.txt"
"$vgw" --access bench --secret bench-secret-key --port "127.0.0.1:$port" --quiet \
	posix --sidecar "$work/s3/meta" "$work/s3/data" >"$work/vgw.log" 2>&1 &
server=$!
for _ in $(seq 100); do
	if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then break; fi
	sleep 0.1
done
export AWS_ENDPOINT_URL=http://127.0.0.1:$port AWS_ACCESS_KEY_ID=bench AWS_SECRET_ACCESS_KEY=bench-secret-key AWS_REGION=us-east-1

cat "$corpus" "$work/s3/data/bench/in/corpus.txt" >/dev/null # both from the page cache
echo "== $RUNS runs each on $corpus ($bytes bytes), $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
# run NAME CMD... times CMD and appends ms to $work/NAME.times.
run() {
	local name=$1 t0 t1
	shift
	t0=$(date +%s%N)
	"$@" >"$work/out.txt" 2>"$work/err.txt" || { tail -n 20 "$work/err.txt" >&2; die "$name failed: $*"; }
	t1=$(date +%s%N)
	echo $(((t1 - t0) / 1000000)) >>"$work/$name.times"
	printf "%-18s %8.3f s %8.1f MB/s\n" "$name" "$(((t1 - t0) / 1000000))e-3" "$(echo "$bytes $(((t1 - t0) / 1000000))" | awk '{print $1 / 1e6 / ($2 / 1000)}')"
}
for ((i = 1; i <= RUNS; i++)); do
	run wordcount-disk bin/wordcount --output "$work/wc-$i" "$corpus"
	run wordcount-s3 bin/wordcount --output "s3://bench/wc-$i" s3://bench/in/
	run sortlines-disk bin/sortlines --output "$work/sort-$i" "$corpus"
	run sortlines-s3 bin/sortlines --output "s3://bench/sort-$i" s3://bench/in/
	if ((i == 1)); then
		cmp <(LC_ALL=C sort "$work"/wc-1/part-*) <(LC_ALL=C sort "$work"/s3/data/bench/wc-1/part-*) ||
			die "wordcount through S3 counts differently"
		cmp <(cat "$work"/sort-1/part-*) <(cat "$work"/s3/data/bench/sort-1/part-*) ||
			die "sortlines through S3 sorts differently"
		echo "outputs match"
	fi
	rm -rf "$work/wc-$i" "$work/sort-$i" "$work/s3/data/bench/wc-$i" "$work/s3/data/bench/sort-$i"
done
echo "== medians of $RUNS"
for n in wordcount-disk wordcount-s3 sortlines-disk sortlines-s3; do
	sort -n "$work/$n.times" | awk -v n="$n" -v b="$bytes" '{ms[NR] = $1} END {m = ms[int((NR + 1) / 2)]; printf "%-18s %8.3f s %8.1f MB/s\n", n, m / 1000, b / 1e6 / (m / 1000)}'
done
