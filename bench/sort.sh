#!/usr/bin/env bash
# sort.sh: time a Sluice sort (bin/sort, the mapreduce TotalOrder sort, or
# bin/sortlines, rdd.SortByKey) against GNU sort on a generated corpus, and
# check that the outputs are byte-identical.
#
#   bench/sort.sh [-- SORT-ARGS...]
#
# Environment: SORTER (sort or sortlines, default sort), SIZE (corpus size,
# default 256MiB), SEED (1), VOCAB (1000000), RUNS (runs of each program,
# default 3), GNU_SORT_ARGS (default "--parallel=2 -S 256M"; LC_ALL=C is
# always set). Arguments after "--" go to the Sluice program, e.g.
#   bench/sort.sh -- --memory 64MiB
#   SORTER=sortlines RUNS=5 bench/sort.sh
#
# Both keep a "\r" before "\n" as part of its line, as GNU sort does, so
# their output is compared with GNU sort's own, byte for byte.
set -euo pipefail

SORTER=${SORTER:-sort}
SIZE=${SIZE:-256MiB}
SEED=${SEED:-1}
VOCAB=${VOCAB:-1000000}
RUNS=${RUNS:-3}
GNU_SORT_ARGS=${GNU_SORT_ARGS:---parallel=2 -S 256M}

die() { echo "sort.sh: $*" >&2; exit 1; }

sort_args=()
if (($#)); then
	[[ $1 == -- ]] || die "unexpected argument '$1'; usage: bench/sort.sh [-- SORT-ARGS...]"
	shift
	sort_args=("$@")
fi
[[ $SORTER == sort || $SORTER == sortlines ]] || die "SORTER=$SORTER: want sort or sortlines"
[[ $RUNS =~ ^[1-9][0-9]*$ ]] || die "RUNS=$RUNS: want a positive number"
[[ $SIZE =~ ^[0-9]+([KMGT]iB|B)?$ ]] || die "SIZE=$SIZE: want a number with an optional KiB, MiB, GiB or TiB suffix"
[[ $SEED =~ ^[0-9]+$ ]] || die "SEED=$SEED: want a number"
[[ $VOCAB =~ ^[0-9]+$ ]] || die "VOCAB=$VOCAB: want a number"
read -r -a gnu_args <<<"$GNU_SORT_ARGS"

cd "$(dirname "$0")/.."
mkdir -p bench/out bin
work=$(mktemp -d bench/out/sort.XXXXXX)
cleanup() { rm -rf "$work"; }
trap cleanup EXIT
trap 'exit 130' INT TERM

echo "== building"
prog=bin/$SORTER
rm -f "$prog" # never time a stale binary
go build -o bin/ "./examples/$SORTER" || die "building ./examples/$SORTER failed"
go build -o bin/gencorpus ./bench/gencorpus

corpus=bench/out/corpus-$SIZE-seed$SEED-vocab$VOCAB.txt
if [[ -f $corpus ]]; then
	echo "== reusing $corpus"
else
	echo "== generating $corpus"
	bin/gencorpus --size "$SIZE" --seed "$SEED" --vocab "$VOCAB" --out "$corpus"
fi
bytes=$(stat -L -c %s "$corpus")
cat "$corpus" >/dev/null # both programs start from the page cache

timer=/usr/bin/time
if [[ ! -x $timer ]]; then
	echo "note: $timer is missing, so peak RSS is not measured"
	timer=
fi

# run NAME CMD... runs CMD, appending "ms rss_kib" to $work/NAME.times.
run() {
	local name=$1 t0 t1 rss=-
	shift
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
		printf "%-9s %8.3f s %8.1f MB/s", n, ms / 1000, b / 1e6 / (ms / 1000)
		if (rss != "-") printf "  peak RSS %6.0f MiB", rss / 1024
		printf "\n"
	}'
}

# check_output compares the concatenated part files of $work/sluice with
# the reference.
check_output() {
	local parts=("$work"/sluice/part-*) ref=$work/gnu.txt
	[[ -e ${parts[0]} ]] || die "no part-* files in $work/sluice"
	[[ -f $work/sluice/_SUCCESS ]] || die "$work/sluice has no _SUCCESS"
	if ! cat "${parts[@]}" | cmp -s - "$ref"; then
		cat "${parts[@]}" | cmp - "$ref" | head -n 1 >&2 || true
		die "$prog's output differs from GNU sort's"
	fi
	echo "outputs match: $(wc -l <"$ref") lines, byte for byte"
}

echo "== $RUNS runs each of $prog ${sort_args[*]} and LC_ALL=C sort ${gnu_args[*]} on $corpus ($bytes bytes), $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
for ((i = 1; i <= RUNS; i++)); do
	rm -f "$work/gnu.txt"
	run gnu_sort env LC_ALL=C sort "${gnu_args[@]}" -o "$work/gnu.txt" "$corpus"
	rm -rf "$work/sluice"
	run sluice "$prog" "${sort_args[@]}" --output "$work/sluice" "$corpus"
	if ((i == 1)); then
		check_output
	fi
done
echo "== load after the runs $(cut -d' ' -f1-3 /proc/loadavg)"

# median FILE prints the median time in ms and the largest peak RSS in KiB.
median() {
	sort -n "$1" | awk '{ms[NR] = $1; if ($2 != "-" && $2 > rss) rss = $2}
		END {m = NR % 2 ? ms[(NR + 1) / 2] : (ms[NR / 2] + ms[NR / 2 + 1]) / 2; print m, (rss == "" ? "-" : rss)}'
}
read -r gnu_ms gnu_rss < <(median "$work/gnu_sort.times")
read -r sl_ms sl_rss < <(median "$work/sluice.times")
echo "== summary (median of $RUNS; MB = 10^6 bytes)"
awk -v b="$bytes" -v gm="$gnu_ms" -v gr="$gnu_rss" -v sm="$sl_ms" -v sr="$sl_rss" -v p="$prog" 'BEGIN {
	printf "gnu_sort %8.3f s %8.1f MB/s", gm / 1000, b / 1e6 / (gm / 1000)
	if (gr != "-") printf "  peak RSS %6.0f MiB", gr / 1024
	printf "\n%-8s %8.3f s %8.1f MB/s", p, sm / 1000, b / 1e6 / (sm / 1000)
	if (sr != "-") printf "  peak RSS %6.0f MiB", sr / 1024
	printf "\nsluice_time/gnu_sort_time = %.2f\n", sm / gm
}'
