#!/usr/bin/env bash
# shuffle.sh: time the shuffle-heavy Sluice jobs of bench/shufsluice
# (GroupByKey, Join, Distinct) against the hand-written two-core programs of
# bench/shufbase, and Sluice on --local-cluster N against Sluice in local
# mode, on inputs from bench/genpairs.
#
#   bench/shuffle.sh [-- SHUFSLUICE-ARGS...]
#
# Environment: SIZE (size of each input, default 256MiB), SEED (1), RUNS
# (runs of each program, default 3), JOBS (default "groupbykey join
# distinct"), CLUSTER (executor processes for the cluster runs, default 2;
# 0 skips them). Arguments after "--" go to every Sluice run, e.g.
#   bench/shuffle.sh -- --memory 128MiB
#
# Inputs: a Zipf file (1 000 000 keys, s = 1.1, values in [0, 1000)) for
# groupbykey and distinct and as the left side of the join, and a uniform
# file (2^24 keys, values in [0, 10^6)) as the right side, so that a left
# line matches about one right line.
set -euo pipefail

SIZE=${SIZE:-256MiB}
SEED=${SEED:-1}
RUNS=${RUNS:-3}
JOBS=${JOBS:-groupbykey join distinct}
CLUSTER=${CLUSTER:-2}

die() { echo "shuffle.sh: $*" >&2; exit 1; }

sl_args=()
if (($#)); then
	[[ $1 == -- ]] || die "unexpected argument '$1'; usage: bench/shuffle.sh [-- SHUFSLUICE-ARGS...]"
	shift
	sl_args=("$@")
fi
[[ $RUNS =~ ^[1-9][0-9]*$ ]] || die "RUNS=$RUNS: want a positive number"
[[ $SIZE =~ ^[0-9]+([KMGT]iB|B)?$ ]] || die "SIZE=$SIZE: want a number with an optional KiB, MiB, GiB or TiB suffix"
[[ $SEED =~ ^[0-9]+$ ]] || die "SEED=$SEED: want a number"
[[ $CLUSTER =~ ^[0-9]+$ ]] || die "CLUSTER=$CLUSTER: want a number"
for j in $JOBS; do
	[[ $j =~ ^(groupbykey|join|distinct)$ ]] || die "JOBS: unknown job '$j'; want groupbykey, join or distinct"
done

cd "$(dirname "$0")/.."
mkdir -p bench/out bin
work=$(mktemp -d bench/out/shuffle.XXXXXX)
cleanup() { rm -rf "$work"; }
trap cleanup EXIT
trap 'exit 130' INT TERM

echo "== building"
rm -f bin/shufsluice bin/shufbase # never time a stale binary
go build -o bin/ ./bench/shufsluice ./bench/shufbase ./bench/genpairs

zipf=bench/out/pairs-zipf-$SIZE-seed$SEED-keys1000000-values1000.txt
uniform=bench/out/pairs-uniform-$SIZE-seed$SEED-keys16777216-values1000000.txt
gen() { # FILE GENPAIRS-ARGS...
	local f=$1
	shift
	if [[ -f $f ]]; then
		echo "== reusing $f"
	else
		echo "== generating $f"
		bin/genpairs --size "$SIZE" --seed "$SEED" "$@" --out "$f"
	fi
}
gen "$zipf" --dist zipf --keys 1000000 --values 1000
gen "$uniform" --dist uniform --keys 16777216 --values 1000000 --seed $((SEED + 1000))
cat "$zipf" "$uniform" >/dev/null # every program starts from the page cache
zipf_lines=$(wc -l <"$zipf")
uniform_lines=$(wc -l <"$uniform")
cores=$(nproc)

timer=/usr/bin/time
if [[ ! -x $timer ]]; then
	echo "note: $timer is missing, so peak RSS is not measured"
	timer=
fi

# run JOB NAME OUTDIR CMD... runs CMD, appending "ms rss_kib cpu_ms" to
# $work/JOB.NAME.times (cpu: user + system time of CMD and the children it
# waited for, such as --local-cluster's executors).
run() {
	local job=$1 name=$2 out=$3 t0 t1 rss=- cpu=-
	shift 3
	rm -rf "$out"
	t0=$(date +%s%N)
	if [[ -n $timer ]]; then
		"$timer" -v -o "$work/time.txt" "$@" >"$work/stdout.txt" 2>"$work/stderr.txt" || {
			tail -n 20 "$work/stderr.txt" >&2
			die "$job $name failed: $*"
		}
	else
		"$@" >"$work/stdout.txt" 2>"$work/stderr.txt" || {
			tail -n 20 "$work/stderr.txt" >&2
			die "$job $name failed: $*"
		}
	fi
	t1=$(date +%s%N)
	if [[ -n $timer ]]; then
		rss=$(awk -F': *' '/Maximum resident set size/ {print $2}' "$work/time.txt")
		cpu=$(awk -F': *' '/(User|System) time \(seconds\)/ {s += $2} END {printf "%d", s * 1000}' "$work/time.txt")
	fi
	local ms=$(((t1 - t0) / 1000000))
	echo "$ms $rss $cpu" >>"$work/$job.$name.times"
	awk -v j="$job" -v n="$name" -v ms="$ms" -v rss="$rss" -v cpu="$cpu" 'BEGIN {
		printf "%-10s %-12s %8.3f s", j, n, ms / 1000
		if (cpu != "-") printf "  cpu %8.3f s", cpu / 1000
		if (rss != "-") printf "  peak RSS %6.0f MiB", rss / 1024
		printf "\n"
	}'
	[[ -d $out ]] || die "$job $name wrote no output directory $out"
}

# sorted_output DIR prints the lines of all part files, sorted.
sorted_output() {
	local parts=("$1"/part-*)
	[[ -e ${parts[0]} ]] || die "no part-* files in $1"
	cat "${parts[@]}" | LC_ALL=C sort --parallel=2 -S 1G -T "$work"
}

# check JOB NAME DIR compares DIR's sorted output with the baseline's.
check() {
	sorted_output "$3" >"$work/$2.sorted"
	if ! cmp -s "$work/base.sorted" "$work/$2.sorted"; then
		echo "outputs differ (< handwritten only, > $2 only):" >&2
		LC_ALL=C comm -3 "$work/base.sorted" "$work/$2.sorted" | head -n 10 | sed 's/^\t/> /; /^[^>]/s/^/< /' >&2
		die "$1: $2 does not give the hand-written program's output"
	fi
	rm -f "$work/$2.sorted"
}

# median FILE prints the median time in ms, the largest peak RSS in KiB and
# the median cpu time in ms.
median() {
	awk '{ms[NR] = $1; cpu[NR] = $3; if ($2 != "-" && $2 > rss) rss = $2}
		function med(a, n,   i, j, t) {
			for (i = 2; i <= n; i++) for (j = i; j > 1 && a[j - 1] > a[j]; j--) {t = a[j]; a[j] = a[j - 1]; a[j - 1] = t}
			return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
		}
		END {c = cpu[1] == "-" ? "-" : med(cpu, NR); print med(ms, NR), (rss == "" ? "-" : rss), c}' "$1"
}

echo "== $RUNS runs each; $zipf ($zipf_lines lines), $uniform ($uniform_lines lines); $cores cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
for job in $JOBS; do
	case $job in
	groupbykey | distinct) inputs=("$zipf") records=$zipf_lines ;;
	join) inputs=("$zipf" "$uniform") records=$((zipf_lines + uniform_lines)) ;;
	esac
	echo "$records" >"$work/$job.records"
	for ((i = 1; i <= RUNS; i++)); do
		run "$job" handwritten "$work/base" bin/shufbase --job "$job" --output "$work/base" "${inputs[@]}"
		run "$job" sluice "$work/sluice" bin/shufsluice "${sl_args[@]}" --job "$job" --output "$work/sluice" "${inputs[@]}"
		if ((CLUSTER > 0)); then
			run "$job" cluster "$work/cluster" bin/shufsluice "${sl_args[@]}" --local-cluster "$CLUSTER" --job "$job" --output "$work/cluster" "${inputs[@]}"
		fi
		if ((i == 1)); then
			sorted_output "$work/base" >"$work/base.sorted"
			check "$job" sluice "$work/sluice"
			if ((CLUSTER > 0)); then
				check "$job" cluster "$work/cluster"
			fi
			echo "$job: outputs match: $(wc -l <"$work/base.sorted") lines"
			wc -l <"$work/base.sorted" >"$work/$job.outlines"
			rm -f "$work/base.sorted"
		fi
		rm -rf "$work/base" "$work/sluice" "$work/cluster"
	done
done

echo "== summary (median of $RUNS; records are input lines; per core: divided by $cores cores; cpu: user + system, and records per cpu second; RSS: the largest process)"
printf '%-10s %-12s %12s %9s %16s %9s %15s %10s\n' job program records time "Mrecords/s/core" cpu "Mrecords/cpu-s" "peak RSS"
for job in $JOBS; do
	records=$(cat "$work/$job.records")
	names=(handwritten sluice)
	((CLUSTER > 0)) && names+=(cluster)
	for name in "${names[@]}"; do
		read -r ms rss cpu < <(median "$work/$job.$name.times")
		awk -v j="$job" -v n="$name" -v r="$records" -v ms="$ms" -v rss="$rss" -v c="$cores" -v cpu="$cpu" 'BEGIN {
			printf "%-10s %-12s %12d %7.2f s %16.2f", j, n, r, ms / 1000, r / (ms / 1000) / c / 1e6
			printf (cpu != "-" ? sprintf(" %7.2f s %15.2f", cpu / 1000, r / (cpu / 1000) / 1e6) : "         - %15s", "-")
			if (rss != "-") printf " %6.0f MiB", rss / 1024
			printf "\n"
		}'
	done
done
for job in $JOBS; do
	read -r bm _ bc < <(median "$work/$job.handwritten.times")
	read -r sm _ sc < <(median "$work/$job.sluice.times")
	awk -v j="$job" -v bm="$bm" -v sm="$sm" 'BEGIN {printf "%s: sluice_time/handwritten_time = %.2f\n", j, sm / bm}'
	[[ $bc == - ]] || awk -v j="$job" -v bc="$bc" -v sc="$sc" 'BEGIN {printf "%s: sluice_cpu/handwritten_cpu = %.2f\n", j, sc / bc}'
	if ((CLUSTER > 0)); then
		read -r cm _ cc < <(median "$work/$job.cluster.times")
		awk -v j="$job" -v n="$CLUSTER" -v cm="$cm" -v sm="$sm" 'BEGIN {printf "%s: cluster_time/local_time = %.2f (--local-cluster %d)\n", j, cm / sm, n}'
		[[ $cc == - ]] || awk -v j="$job" -v cc="$cc" -v sc="$sc" 'BEGIN {printf "%s: cluster_cpu/local_cpu = %.2f\n", j, cc / sc}'
	fi
done
