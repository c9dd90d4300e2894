#!/usr/bin/env bash
# callgrind.sh: count the instructions of wordcount's map side (read lines,
# the user's FlatMap tokenizer, the map-side combine, the shuffle write) and
# of the hand-written baseline's counting core on the same corpus, under
# valgrind's callgrind, and print instructions per input byte and per word
# of each and their ratio. Counts hardly move with the machine's load, so a
# change in them is a change in the code: see "Instruction counts" in BENCHMARKS.md.
#
#   bench/callgrind.sh            # measure and print
#   bench/callgrind.sh --check    # also hold sluice to bench/callgrind.budget; exit 1 over it
#   bench/callgrind.sh --record   # measure and write bench/callgrind.budget
#
# Environment: SIZE (corpus size, default 16MiB), SEED (1), VOCAB (1000000),
# RUNS (runs of each program; default 2, or 1 with --check), BUDGET (the
# budget file, default bench/callgrind.budget), TOLERANCE (percent that
# --record writes into the budget, default 1). Under callgrind a program
# runs about 50 times slower, and with the garbage collector off (below)
# sluice's map side holds about 20 bytes of heap per input byte: keep SIZE
# small.
set -euo pipefail

SIZE=${SIZE:-16MiB}
SEED=${SEED:-1}
VOCAB=${VOCAB:-1000000}
BUDGET=${BUDGET:-bench/callgrind.budget}
TOLERANCE=${TOLERANCE:-1}

# The functions collection is toggled on: everything they run, callees
# included, is counted, and nothing else (driver, scheduler, reduce side,
# the baseline's splitting and output).
SLUICE_FN='github.com/sluicehq/sluice/rdd.(*graph).RunMap'
BASELINE_FN='main.countSpan'
# The cross-check: one more run of each collects everything, one file per
# thread, cut where these functions are entered (callgrind's --dump-before),
# which does not depend on its view of the call stack as --toggle-collect
# does. The pinned thread's instructions from the first map task's start to
# the first result task's start (the baseline's: from the first countSpan to
# the end) must be within the tolerance of the toggled count.
SLUICE_END_FN='github.com/sluicehq/sluice/rdd.(*graph).RunResult'

die() { echo "callgrind.sh: $*" >&2; exit 1; }

mode=
case ${1:-} in
'') ;;
--check | --record) mode=${1#--} ;;
*) die "unexpected argument '$1'; usage: bench/callgrind.sh [--check | --record]" ;;
esac
(($# <= 1)) || die "one argument at most; usage: bench/callgrind.sh [--check | --record]"
RUNS=${RUNS:-$([[ $mode == check ]] && echo 1 || echo 2)}
[[ $RUNS =~ ^[1-9][0-9]*$ ]] || die "RUNS=$RUNS: want a positive number"
[[ $SIZE =~ ^[0-9]+([KMGT]iB|B)?$ ]] || die "SIZE=$SIZE: want a number with an optional KiB, MiB, GiB or TiB suffix"
[[ $SEED =~ ^[0-9]+$ ]] || die "SEED=$SEED: want a number"
[[ $VOCAB =~ ^[0-9]+$ ]] || die "VOCAB=$VOCAB: want a number"
command -v valgrind >/dev/null || die "valgrind is not installed (apt-get install valgrind)"

cd "$(dirname "$0")/.."
mkdir -p bench/out bin
work=$(mktemp -d bench/out/callgrind.XXXXXX)
cleanup() { rm -rf "$work"; }
trap cleanup EXIT
trap 'exit 130' INT TERM

echo "== building"
rm -f bin/maploop bin/cgreport # never measure a stale binary
go build -o bin/ ./bench/maploop ./bench/baseline ./bench/gencorpus ./bench/cgreport
# A renamed function would make callgrind count nothing; say which.
syms=$(go tool nm bin/maploop)
grep -qF " T $SLUICE_FN" <<<"$syms" ||
	die "bin/maploop has no function $SLUICE_FN: it was renamed; update SLUICE_FN in $0 to the function that runs one map task"
syms=$(go tool nm bin/baseline)
grep -qF " T $BASELINE_FN" <<<"$syms" ||
	die "bin/baseline has no function $BASELINE_FN: update BASELINE_FN in $0"

corpus=bench/out/corpus-$SIZE-seed$SEED-vocab$VOCAB.txt
if [[ -f $corpus ]]; then
	echo "== reusing $corpus"
else
	echo "== generating $corpus"
	bin/gencorpus --size "$SIZE" --seed "$SEED" --vocab "$VOCAB" --out "$corpus"
fi
bytes=$(stat -L -c %s "$corpus") # -L: the corpus may be a symlink to a shared copy

# One thread runs Go code, nothing preempts it asynchronously and no garbage
# collection runs (GOGC=off; GOMEMLIMIT=off also keeps the driver from
# setting its soft limit from --memory, which would start collections): the collector's work and its write barriers depend on
# timing, and would make the counts vary from run to run.
# grind NAME OUT VALGRIND-OPTION... -- COMMAND...
grind() {
	local name=$1 out=$2 opts=()
	shift 2
	while [[ $1 != -- ]]; do
		opts+=("$1")
		shift
	done
	shift
	GOGC=off GOMEMLIMIT=off GOMAXPROCS=1 GODEBUG=asyncpreemptoff=1 \
		valgrind --tool=callgrind "${opts[@]}" --callgrind-out-file="$out" "$@" \
		>"$work/stdout.txt" 2>"$work/stderr.txt" || {
		tail -n 20 "$work/stderr.txt" >&2
		die "$name failed under callgrind: $*"
	}
}

# sorted_output DIR prints the word/count lines of all part files, sorted.
sorted_output() {
	local parts=("$1"/part-*)
	[[ -e ${parts[0]} ]] || die "no part-* files in $1"
	LC_ALL=C sort "${parts[@]}"
}

echo "== runs of each: $RUNS, on $corpus ($bytes bytes), $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
sluice_outs= baseline_outs=
for ((i = 1; i <= RUNS; i++)); do
	t0=$(date +%s)
	grind sluice "$work/sluice-$i.out" "--toggle-collect=$SLUICE_FN" -- \
		bin/maploop --parallelism 1 --local-dir "$work/local" --output "$work/sluice-$i" "$corpus"
	t1=$(date +%s)
	grind baseline "$work/baseline-$i.out" "--toggle-collect=$BASELINE_FN" -- \
		bin/baseline --workers 1 --lock-threads --output "$work/baseline-$i" "$corpus"
	t2=$(date +%s)
	echo "run $i: sluice $((t1 - t0)) s, baseline $((t2 - t1)) s under callgrind"
	if ((i == 1)); then
		sorted_output "$work/baseline-1" >"$work/baseline.sorted"
		sorted_output "$work/sluice-1" >"$work/sluice.sorted"
		cmp -s "$work/baseline.sorted" "$work/sluice.sorted" ||
			die "bin/maploop does not count like the baseline (compare with bench/wordcount.sh)"
		words=$(awk -F'\t' '{n += $2} END {print n}' "$work/baseline.sorted")
		echo "outputs match: $(wc -l <"$work/baseline.sorted") distinct words, $words words"
		rm -f "$work/baseline.sorted" "$work/sluice.sorted"
	fi
	rm -rf "$work/sluice-$i" "$work/baseline-$i" "$work/local"
	sluice_outs+=${sluice_outs:+,}$work/sluice-$i.out
	baseline_outs+=${baseline_outs:+,}$work/baseline-$i.out
done

t0=$(date +%s)
mkdir "$work/window"
grind sluice "$work/window/sluice.out" --separate-threads=yes "--dump-before=$SLUICE_FN" "--dump-before=$SLUICE_END_FN" -- \
	bin/maploop --parallelism 1 --local-dir "$work/local" --output "$work/sluice-window" "$corpus"
t1=$(date +%s)
grind baseline "$work/window/baseline.out" --separate-threads=yes "--dump-before=$BASELINE_FN" -- \
	bin/baseline --workers 1 --lock-threads --output "$work/baseline-window" "$corpus"
t2=$(date +%s)
echo "cross-check runs: sluice $((t1 - t0)) s, baseline $((t2 - t1)) s under callgrind"
rm -rf "$work/sluice-window" "$work/baseline-window" "$work/local"
# parts FILE-PREFIX lists the non-empty part files of one run, comma-separated.
parts() { find "$work/window" -name "$1*" -size +0 | sort | paste -sd,; }

echo "== instructions (callgrind Ir; median of $RUNS; words are the records into the map-side combine)"
args=(--bytes "$bytes" --words "$words" --sluice "$sluice_outs" --baseline "$baseline_outs"
	--sluice-window "$(parts sluice.out)" --sluice-window-start "$SLUICE_FN" --sluice-window-end "$SLUICE_END_FN"
	--baseline-window "$(parts baseline.out)" --baseline-window-start "$BASELINE_FN")
env="$(go env GOVERSION) $(valgrind --version) $(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo)"
case $mode in
check) args+=(--env "$env" --check "$BUDGET") ;;
record) args+=(--env "$env" --corpus "$SIZE seed $SEED vocab $VOCAB" --tolerance "$TOLERANCE" --record "$BUDGET") ;;
esac
status=0
bin/cgreport "${args[@]}" || status=$?
# Keep the profiles for a look at where the instructions went.
rm -rf bench/out/callgrind.last
mkdir bench/out/callgrind.last
mv "$work"/*.out bench/out/callgrind.last/
echo "profiles: callgrind_annotate --inclusive=yes bench/out/callgrind.last/sluice-1.out"
exit "$status"
