#!/usr/bin/env bash
# wordcount.sh: time the Sluice wordcount (bin/wordcount) against the
# hand-written two-core baseline (bin/baseline) on a generated Zipf corpus.
#
#   bench/wordcount.sh [-- WORDCOUNT-ARGS...]
#
# Environment: SIZE (corpus size, default 256MiB), SEED (1), VOCAB (1000000),
# RUNS (runs of each program, default 3), WORDCOUNT (the program under test,
# default bin/wordcount). Arguments after "--" go to it, e.g.
#   bench/wordcount.sh -- --memory 256MiB --shuffle-codec s2
set -euo pipefail

SIZE=${SIZE:-256MiB}
SEED=${SEED:-1}
VOCAB=${VOCAB:-1000000}
RUNS=${RUNS:-3}
WORDCOUNT=${WORDCOUNT:-bin/wordcount}

die() { echo "wordcount.sh: $*" >&2; exit 1; }

wc_args=()
if (($#)); then
	[[ $1 == -- ]] || die "unexpected argument '$1'; usage: bench/wordcount.sh [-- WORDCOUNT-ARGS...]"
	shift
	wc_args=("$@")
fi
[[ $RUNS =~ ^[1-9][0-9]*$ ]] || die "RUNS=$RUNS: want a positive number"
[[ $SIZE =~ ^[0-9]+([KMGT]iB|B)?$ ]] || die "SIZE=$SIZE: want a number with an optional KiB, MiB, GiB or TiB suffix"
[[ $SEED =~ ^[0-9]+$ ]] || die "SEED=$SEED: want a number"
[[ $VOCAB =~ ^[0-9]+$ ]] || die "VOCAB=$VOCAB: want a number"

cd "$(dirname "$0")/.."
mkdir -p bench/out bin
work=$(mktemp -d bench/out/run.XXXXXX)
cleanup() { rm -rf "$work"; }
trap cleanup EXIT
trap 'exit 130' INT TERM

echo "== building"
if [[ $WORDCOUNT == bin/wordcount ]]; then
	rm -f bin/wordcount # never time a stale binary
fi
go build -o bin/ ./cmd/... ./examples/... ||
	die "building ./cmd/... ./examples/... failed; the wordcount under test (bin/wordcount) must build first"
[[ -x $WORDCOUNT ]] ||
	die "$WORDCOUNT was not built: no main package named wordcount under cmd/ or examples/ yet"
go build -o bin/baseline ./bench/baseline
go build -o bin/gencorpus ./bench/gencorpus

corpus=bench/out/corpus-$SIZE-seed$SEED-vocab$VOCAB.txt
if [[ -f $corpus ]]; then
	echo "== reusing $corpus"
else
	echo "== generating $corpus"
	bin/gencorpus --size "$SIZE" --seed "$SEED" --vocab "$VOCAB" --out "$corpus"
fi
bytes=$(stat -L -c %s "$corpus") # -L: the corpus may be a symlink to a shared copy
cat "$corpus" >/dev/null # both programs start from the page cache

timer=/usr/bin/time
if [[ ! -x $timer ]]; then
	echo "note: $timer is missing, so peak RSS is not measured"
	timer=
fi

# run NAME OUTDIR CMD... runs CMD, appending "ms rss_kib" to $work/NAME.times.
run() {
	local name=$1 out=$2 t0 t1 rss=-
	shift 2
	t0=$(date +%s%N)
	if [[ -n $timer ]]; then
		"$timer" -v -o "$work/time.txt" "$@" >"$work/stdout.txt" 2>"$work/stderr.txt" || {
			tail -n 20 "$work/stderr.txt" >&2
			die "$name failed: $*"
		}
	else
		"$@" >"$work/stdout.txt" 2>"$work/stderr.txt" || {
			tail -n 20 "$work/stderr.txt" >&2
			die "$name failed: $*"
		}
	fi
	t1=$(date +%s%N)
	if [[ -n $timer ]]; then
		rss=$(awk -F': *' '/Maximum resident set size/ {print $2}' "$work/time.txt")
	fi
	local ms=$(((t1 - t0) / 1000000))
	echo "$ms $rss" >>"$work/$name.times"
	awk -v n="$name" -v ms="$ms" -v b="$bytes" -v rss="$rss" 'BEGIN {
		printf "%-8s %8.3f s %8.1f MB/s", n, ms / 1000, b / 1e6 / (ms / 1000)
		if (rss != "-") printf "  peak RSS %6.0f MiB", rss / 1024
		printf "\n"
	}'
	[[ -d $out ]] || die "$name wrote no output directory $out"
}

# sorted_output DIR prints the word/count lines of all part files, sorted.
sorted_output() {
	local parts=("$1"/part-*)
	[[ -e ${parts[0]} ]] || die "no part-* files in $1"
	LC_ALL=C sort "${parts[@]}"
}

echo "== $RUNS runs each on $corpus ($bytes bytes), $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
for ((i = 1; i <= RUNS; i++)); do
	run baseline "$work/baseline-$i" bin/baseline --output "$work/baseline-$i" "$corpus"
	run sluice "$work/sluice-$i" "$WORDCOUNT" "${wc_args[@]}" --output "$work/sluice-$i" "$corpus"
	if ((i == 1)); then
		sorted_output "$work/baseline-1" >"$work/baseline.sorted"
		sorted_output "$work/sluice-1" >"$work/sluice.sorted"
		if ! cmp -s "$work/baseline.sorted" "$work/sluice.sorted"; then
			echo "outputs differ (< baseline only, > sluice only):" >&2
			LC_ALL=C comm -3 "$work/baseline.sorted" "$work/sluice.sorted" | head -n 10 | sed 's/^\t/> /; /^[^>]/s/^/< /' >&2
			die "$WORDCOUNT does not count like the baseline"
		fi
		echo "outputs match: $(wc -l <"$work/baseline.sorted") distinct words"
		rm -f "$work/baseline.sorted" "$work/sluice.sorted"
	fi
	rm -rf "$work/baseline-$i" "$work/sluice-$i"
done

# median FILE prints the median time in ms and the largest peak RSS in KiB.
median() {
	sort -n "$1" | awk '{ms[NR] = $1; if ($2 != "-" && $2 > rss) rss = $2}
		END {m = NR % 2 ? ms[(NR + 1) / 2] : (ms[NR / 2] + ms[NR / 2 + 1]) / 2; print m, (rss == "" ? "-" : rss)}'
}
read -r base_ms base_rss < <(median "$work/baseline.times")
read -r wc_ms wc_rss < <(median "$work/sluice.times")
echo "== summary (median of $RUNS; MB = 10^6 bytes)"
awk -v b="$bytes" -v bm="$base_ms" -v br="$base_rss" -v sm="$wc_ms" -v sr="$wc_rss" 'BEGIN {
	printf "baseline %8.1f MB/s", b / 1e6 / (bm / 1000)
	if (br != "-") printf "  peak RSS %6.0f MiB", br / 1024
	printf "\nsluice   %8.1f MB/s", b / 1e6 / (sm / 1000)
	if (sr != "-") printf "  peak RSS %6.0f MiB", sr / 1024
	printf "\nsluice_time/baseline_time = %.2f\n", sm / bm
}'
