package rdd_test

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"iter"
	"maps"
	"math"
	"math/rand/v2"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/sluicehq/sluice/internal/block"
	"github.com/sluicehq/sluice/internal/task"
	"github.com/sluicehq/sluice/rdd"
)

// IntArgs is the argument of the Funcs of the action tests.
type IntArgs struct {
	Data  []int
	Parts int
	Out   int // after a shuffle: its reduce partitions
}

var (
	intsF = rdd.Func(func(a IntArgs) *rdd.RDD[int] { return rdd.Parallelize(a.Data, rdd.Partitions(a.Parts)) })
	// shuffledF reads a shuffle in its result stage: a tree action's task
	// reads the shuffle partitions of every partition it combines.
	shuffledF = rdd.Func(func(a IntArgs) *rdd.RDD[int] {
		keyed := rdd.Map(rdd.Parallelize(a.Data, rdd.Partitions(a.Parts)), func(x int) rdd.Pair[int, int] { return rdd.KV(x, x) })
		return rdd.Values(rdd.PartitionBy(keyed, a.Out))
	})
	pairsF = rdd.Func(func(a IntArgs) *rdd.RDD[rdd.Pair[int, int]] {
		return rdd.Map(rdd.Parallelize(a.Data, rdd.Partitions(a.Parts)), func(x int) rdd.Pair[int, int] { return rdd.KV(x%7, x) })
	})
	float64sF = rdd.Func(func(xs []float64) *rdd.RDD[float64] { return rdd.Parallelize(xs, rdd.Partitions(3)) })
)

// records counts the records that reach the driver in jobs' results: a
// Runner that wraps another's, as a test's eyes on the wire. It does not
// say that it runs tasks in process, so actions treat it as a cluster
// and ship their functions by reference even in local mode.
type records struct {
	run rdd.Runner

	mu      sync.Mutex
	frames  int   // frames in all results
	maxPart int   // the most frames in one partition's result
	jobs    int   // jobs run
	parts   []int // partitions computed, over all jobs
}

func (c *records) RunJob(ctx context.Context, job *task.Job) error {
	inner := job.Result
	j := *job
	j.Result = func(p int, data []byte) error {
		n := 0
		for b := data; len(b) > 0; n++ {
			_, rest, err := block.NextFrame(b)
			if err != nil {
				n = -1 << 30 // not framed records: fail any count check
				break
			}
			b = rest
		}
		c.mu.Lock()
		c.frames += n
		c.maxPart = max(c.maxPart, n)
		c.parts = append(c.parts, p)
		c.mu.Unlock()
		return inner(p, data)
	}
	c.mu.Lock()
	c.jobs++
	c.mu.Unlock()
	return c.run.RunJob(ctx, &j)
}

func (c *records) reset() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.frames, c.maxPart, c.jobs, c.parts = 0, 0, 0, nil
}

// inProc is a Runner that says it runs tasks in process, so actions hand
// it their function values directly.
type inProc struct{ rdd.Runner }

func (inProc) InProcess() bool { return true }

func add(a, b int) int { return a + b }

func byLastDigit(a, b int) int { return cmp.Compare(abs(a)%10, abs(b)%10) }

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}

func randomInts(rng *rand.Rand) IntArgs {
	n := rng.IntN(60)
	if rng.IntN(4) == 0 {
		n = 0
	}
	a := IntArgs{Parts: 1 + rng.IntN(12), Out: 1 + rng.IntN(5)}
	for range n {
		a.Data = append(a.Data, rng.IntN(200)-100)
	}
	return a
}

// TestActionsAgainstNaive holds every action against its naive in-memory
// version on random inputs and partition counts (empty RDDs, empty
// partitions, more partitions than elements), through a runner that
// takes function values (in process) and one that ships references.
func TestActionsAgainstNaive(t *testing.T) {
	s := newSession(t)
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(12, 1))
	runners := map[string]rdd.Runner{"in-process": inProc{s}, "by reference": &records{run: s}}
	for i := range 40 {
		a := randomInts(rng)
		for name, run := range runners {
			t.Run(fmt.Sprintf("%d/%s/n=%d/parts=%d", i, name, len(a.Data), a.Parts), func(t *testing.T) {
				checkActions(t, ctx, run, a)
			})
		}
	}
}

func checkActions(t *testing.T, ctx context.Context, run rdd.Runner, a IntArgs) {
	t.Helper()
	data := a.Data
	empty := len(data) == 0
	naiveSum := 0
	for _, x := range data {
		naiveSum += x
	}
	for _, f := range []*rdd.FuncOf[IntArgs, int]{intsF, shuffledF} {
		r := f.Invoke(a)
		order, err := rdd.Collect(ctx, run, r) // the partition order the others see
		if err != nil {
			t.Fatal(err)
		}
		parts := r.NumPartitions()

		k := 0
		capturing := func(x, y int) int { return x + y + k }
		for name, red := range map[string]func(rdd.Runner, *rdd.RDD[int], func(int, int) int) (int, error){
			"Reduce": func(run rdd.Runner, r *rdd.RDD[int], f func(int, int) int) (int, error) {
				return rdd.Reduce(ctx, run, r, f)
			},
			"TreeReduce 2": func(run rdd.Runner, r *rdd.RDD[int], f func(int, int) int) (int, error) {
				return rdd.TreeReduce(ctx, run, r, f, 2)
			},
			"TreeReduce 3": func(run rdd.Runner, r *rdd.RDD[int], f func(int, int) int) (int, error) {
				return rdd.TreeReduce(ctx, run, r, f, 3)
			},
		} {
			for fname, f := range map[string]func(int, int) int{"static": add, "capturing": capturing} {
				got, err := red(run, r, f)
				if empty {
					if !errors.Is(err, rdd.ErrEmpty) {
						t.Errorf("%s (%s) of nothing: %v, %v; want ErrEmpty", name, fname, got, err)
					}
				} else if err != nil || got != naiveSum {
					t.Errorf("%s (%s) = %d, %v; want %d", name, fname, got, err, naiveSum)
				}
			}
		}

		// Fold's zero counts once per partition and once more, as in Spark.
		if got, err := rdd.Fold(ctx, run, r, 1, add); err != nil || got != naiveSum+parts+1 {
			t.Errorf("Fold from 1 = %d, %v; want %d", got, err, naiveSum+parts+1)
		}
		// Aggregate into a slice: the zero (nil) must be copied, and the
		// partitions combined in order.
		appendInt := func(acc []int, x int) []int { return append(acc, x) }
		concat := func(x, y []int) []int { return append(x, y...) }
		for _, depth := range []int{1, 2, 3} {
			got, err := rdd.TreeAggregate(ctx, run, r, []int{}, appendInt, concat, depth)
			if err != nil || !slices.Equal(got, order) {
				t.Errorf("TreeAggregate depth %d into a slice = %v, %v; want %v", depth, got, err, order)
			}
		}
		type acc struct{ N, Sum int }
		got, err := rdd.Aggregate(ctx, run, r, acc{},
			func(a acc, x int) acc { return acc{a.N + 1, a.Sum + x} },
			func(a, b acc) acc { return acc{a.N + b.N, a.Sum + b.Sum} })
		if err != nil || got != (acc{len(data), naiveSum}) {
			t.Errorf("Aggregate = %+v, %v; want %+v", got, err, acc{len(data), naiveSum})
		}

		for _, k := range []int{-1, 0, 1, 3, len(data) + 2} {
			want := slices.Clone(order)
			slices.SortStableFunc(want, byLastDigit)
			want = want[:max(0, min(k, len(want)))]
			checkList(t, fmt.Sprintf("TakeOrderedFunc %d", k), want)(rdd.TakeOrderedFunc(ctx, run, r, k, byLastDigit))
			want = slices.Clone(order)
			slices.SortStableFunc(want, func(a, b int) int { return byLastDigit(b, a) })
			want = want[:max(0, min(k, len(want)))]
			checkList(t, fmt.Sprintf("TopFunc %d", k), want)(rdd.TopFunc(ctx, run, r, k, byLastDigit))
			want = slices.Sorted(slices.Values(data))
			want = want[:max(0, min(k, len(want)))]
			checkList(t, fmt.Sprintf("TakeOrdered %d", k), want)(rdd.TakeOrdered(ctx, run, r, k))
			want = slices.Sorted(slices.Values(data))
			slices.Reverse(want)
			want = want[:max(0, min(k, len(want)))]
			checkList(t, fmt.Sprintf("Top %d", k), want)(rdd.Top(ctx, run, r, k))
		}
		// A capturing compare (applied in the driver on a cluster) gives
		// the same answer.
		by := 10
		capCmp := func(a, b int) int { return cmp.Compare(abs(a)%by, abs(b)%by) }
		want := slices.Clone(order)
		slices.SortStableFunc(want, byLastDigit)
		checkList(t, "TakeOrderedFunc capturing", want[:min(3, len(want))])(rdd.TakeOrderedFunc(ctx, run, r, 3, capCmp))

		if empty {
			for name, f := range map[string]func() (int, error){
				"Min":     func() (int, error) { return rdd.Min(ctx, run, r) },
				"Max":     func() (int, error) { return rdd.Max(ctx, run, r) },
				"MinFunc": func() (int, error) { return rdd.MinFunc(ctx, run, r, byLastDigit) },
				"MaxFunc": func() (int, error) { return rdd.MaxFunc(ctx, run, r, byLastDigit) },
			} {
				if _, err := f(); !errors.Is(err, rdd.ErrEmpty) {
					t.Errorf("%s of nothing: %v, want ErrEmpty", name, err)
				}
			}
			if _, err := rdd.Mean(ctx, run, r); !errors.Is(err, rdd.ErrEmpty) {
				t.Errorf("Mean of nothing: %v, want ErrEmpty", err)
			}
		} else {
			checkOne(t, "Min", slices.Min(data))(rdd.Min(ctx, run, r))
			checkOne(t, "Max", slices.Max(data))(rdd.Max(ctx, run, r))
			stable := slices.Clone(order)
			slices.SortStableFunc(stable, byLastDigit)
			checkOne(t, "MinFunc", stable[0])(rdd.MinFunc(ctx, run, r, byLastDigit))
			slices.SortStableFunc(stable, func(a, b int) int { return byLastDigit(b, a) })
			checkOne(t, "MaxFunc", stable[0])(rdd.MaxFunc(ctx, run, r, byLastDigit))
		}

		checkOne(t, "Sum", naiveSum)(rdd.Sum(ctx, run, r))
		st, err := rdd.Stats(ctx, run, r)
		if err != nil {
			t.Fatal(err)
		}
		checkStats(t, st, data)
		if !empty {
			m, err := rdd.Mean(ctx, run, r)
			if err != nil || !close(m, float64(naiveSum)/float64(len(data))) {
				t.Errorf("Mean = %g, %v; want %g", m, err, float64(naiveSum)/float64(len(data)))
			}
		}

		buckets := []float64{-100, -50, -10.5, 0, 1, 99}
		counts, err := rdd.Histogram(ctx, run, r, buckets)
		if err != nil || !slices.Equal(counts, naiveHistogram(buckets, data)) {
			t.Errorf("Histogram = %v, %v; want %v", counts, err, naiveHistogram(buckets, data))
		}
		b, counts, err := rdd.HistogramEven(ctx, run, r, 7)
		if empty {
			if !errors.Is(err, rdd.ErrHistogram) {
				t.Errorf("HistogramEven of nothing: %v, want ErrHistogram", err)
			}
		} else if err != nil || len(b) != 8 && !(len(b) == 2 && b[0] == b[1]) || !slices.Equal(counts, naiveHistogram(b, data)) {
			t.Errorf("HistogramEven = %v %v, %v; want %v", b, counts, err, naiveHistogram(b, data))
		} else if sum := sumOf(counts); sum != int64(len(data)) {
			t.Errorf("HistogramEven counted %d of %d elements", sum, len(data))
		}

		wantCounts := map[int]int64{}
		for _, x := range data {
			wantCounts[x]++
		}
		cv, err := rdd.CountByValue(ctx, run, r)
		if err != nil || !maps.Equal(cv, wantCounts) {
			t.Errorf("CountByValue = %v, %v; want %v", cv, err, wantCounts)
		}

		distinct, err := rdd.CountApproxDistinct(ctx, run, r, 0.05)
		if n := len(wantCounts); err != nil || math.Abs(float64(distinct-int64(n))) > 0.1*float64(n)+1 {
			t.Errorf("CountApproxDistinct = %d, %v; want about %d", distinct, err, n)
		}

		var it []int
		for x, err := range rdd.ToLocalIterator(ctx, run, r) {
			if err != nil {
				t.Fatal(err)
			}
			it = append(it, x)
		}
		if !slices.Equal(it, order) {
			t.Errorf("ToLocalIterator = %v, want %v", it, order)
		}
	}

	pairs := pairsF.Invoke(a)
	want := map[int]int{}
	byKey := map[int][]int{}
	for _, x := range data {
		want[x%7] = x
		byKey[x%7] = append(byKey[x%7], x)
	}
	m, err := rdd.CollectAsMap(ctx, run, pairs)
	if err != nil || !maps.Equal(m, want) {
		t.Errorf("CollectAsMap = %v, %v; want %v", m, err, want)
	}
	for _, key := range []int{0, 3, -6, 100} {
		vs, err := rdd.Lookup(ctx, run, pairs, key)
		if err != nil || !slices.Equal(vs, byKey[key]) {
			t.Errorf("Lookup(%d) = %v, %v; want %v", key, vs, err, byKey[key])
		}
	}
}

func checkList[T comparable](t *testing.T, what string, want []T) func([]T, error) {
	t.Helper()
	return func(got []T, err error) {
		t.Helper()
		if err != nil || !slices.Equal(got, want) {
			t.Errorf("%s = %v, %v; want %v", what, got, err, want)
		}
	}
}

func checkOne[T comparable](t *testing.T, what string, want T) func(T, error) {
	t.Helper()
	return func(got T, err error) {
		t.Helper()
		if err != nil || got != want {
			t.Errorf("%s = %v, %v; want %v", what, got, err, want)
		}
	}
}

func close(a, b float64) bool {
	return math.Abs(a-b) <= 1e-9*max(1, math.Abs(a), math.Abs(b))
}

func checkStats(t *testing.T, st rdd.StatCounter, data []int) {
	t.Helper()
	if st.Count != int64(len(data)) {
		t.Errorf("Stats count %d, want %d", st.Count, len(data))
	}
	if len(data) == 0 {
		if !math.IsNaN(st.Mean) || !math.IsInf(st.Min, 1) || !math.IsInf(st.Max, -1) || st.Sum() != 0 || !math.IsNaN(st.Variance()) {
			t.Errorf("Stats of nothing = %v", st)
		}
		return
	}
	n := float64(len(data))
	mean := 0.0
	for _, x := range data {
		mean += float64(x)
	}
	mean /= n
	ss := 0.0
	for _, x := range data {
		ss += (float64(x) - mean) * (float64(x) - mean)
	}
	if !close(st.Mean, mean) || !close(st.Variance(), ss/n) || !close(st.Stdev(), math.Sqrt(ss/n)) ||
		st.Min != float64(slices.Min(data)) || st.Max != float64(slices.Max(data)) || !close(st.Sum(), mean*n) {
		t.Errorf("Stats = %v (variance %g), want mean %g, variance %g", st, st.Variance(), mean, ss/n)
	}
	if len(data) > 1 && !close(st.SampleVariance(), ss/(n-1)) {
		t.Errorf("SampleVariance = %g, want %g", st.SampleVariance(), ss/(n-1))
	}
}

// naiveHistogram counts data in buckets as Spark documents: [b[i], b[i+1]),
// the last closed.
func naiveHistogram(b []float64, data []int) []int64 {
	out := make([]int64, len(b)-1)
	for _, x := range data {
		f := float64(x)
		for i := range out {
			if f >= b[i] && (f < b[i+1] || i == len(out)-1 && f == b[i+1]) {
				out[i]++
				break
			}
		}
	}
	return out
}

func sumOf(xs []int64) int64 {
	var s int64
	for _, x := range xs {
		s += x
	}
	return s
}

// TestHistogramFloats: NaNs and elements outside the buckets are not
// counted; an RDD holding a NaN or an infinity has no even buckets; bad
// bucket bounds are errors.
func TestHistogramFloats(t *testing.T) {
	s := newSession(t)
	ctx := context.Background()
	fl := float64sF
	r := fl.Invoke([]float64{math.NaN(), -1, 0, 0.5, 1, 1, 2, math.Inf(1)})
	got, err := rdd.Histogram(ctx, s, r, []float64{0, 1, 2})
	if err != nil || !slices.Equal(got, []int64{2, 3}) {
		t.Errorf("Histogram = %v, %v; want [2 3]", got, err)
	}
	if _, _, err := rdd.HistogramEven(ctx, s, r, 2); !errors.Is(err, rdd.ErrHistogram) {
		t.Errorf("HistogramEven over NaN and +Inf: %v, want ErrHistogram", err)
	}
	for _, b := range [][]float64{nil, {1}, {1, 1}, {2, 1}, {0, math.NaN()}} {
		if _, err := rdd.Histogram(ctx, s, r, b); !errors.Is(err, rdd.ErrHistogram) {
			t.Errorf("Histogram with buckets %v: %v, want ErrHistogram", b, err)
		}
	}
	// All equal: one bucket [x, x].
	b, counts, err := rdd.HistogramEven(ctx, s, fl.Invoke([]float64{3, 3, 3}), 5)
	if err != nil || !slices.Equal(b, []float64{3, 3}) || !slices.Equal(counts, []int64{3}) {
		t.Errorf("HistogramEven of equal elements = %v %v, %v", b, counts, err)
	}
	// Spark's example: 0..100 in 10 buckets.
	xs := make([]float64, 101)
	for i := range xs {
		xs[i] = float64(i)
	}
	b, counts, err = rdd.HistogramEven(ctx, s, fl.Invoke(xs), 10)
	if err != nil || !slices.Equal(counts, []int64{10, 10, 10, 10, 10, 10, 10, 10, 10, 11}) || b[0] != 0 || b[10] != 100 || b[3] != 30 {
		t.Errorf("HistogramEven of 0..100 = %v %v, %v", b, counts, err)
	}
}

// TestTakeSample: the size Spark's takeSample gives, elements of the RDD
// (each at most once without replacement), the same sample for the same
// seed, a different one for another.
func TestTakeSample(t *testing.T) {
	s := newSession(t)
	ctx := context.Background()
	data := make([]int, 500)
	for i := range data {
		data[i] = i
	}
	r := intsF.Invoke(IntArgs{Data: data, Parts: 7})
	for _, repl := range []bool{false, true} {
		for _, num := range []int{0, 1, 10, 499, 500, 1000} {
			got, err := rdd.TakeSample(ctx, s, r, repl, num, 42)
			if err != nil {
				t.Fatal(err)
			}
			want := num
			if !repl {
				want = min(num, len(data))
			}
			if len(got) != want {
				t.Errorf("TakeSample(%v, %d) gave %d elements, want %d", repl, num, len(got), want)
			}
			seen := map[int]bool{}
			for _, x := range got {
				if x < 0 || x >= len(data) || !repl && seen[x] {
					t.Errorf("TakeSample(%v, %d): element %d is not in the RDD or repeats", repl, num, x)
				}
				seen[x] = true
			}
			again, err := rdd.TakeSample(ctx, s, r, repl, num, 42)
			if err != nil || !slices.Equal(again, got) {
				t.Errorf("TakeSample(%v, %d) with the same seed differs", repl, num)
			}
			if num >= 10 {
				other, err := rdd.TakeSample(ctx, s, r, repl, num, 43)
				if err != nil || slices.Equal(other, got) {
					t.Errorf("TakeSample(%v, %d) with another seed is the same", repl, num)
				}
			}
		}
	}
	if got, err := rdd.TakeSample(ctx, s, intsF.Invoke(IntArgs{Parts: 3}), true, 5, 1); err != nil || len(got) != 0 {
		t.Errorf("TakeSample of nothing = %v, %v", got, err)
	}
	if _, err := rdd.TakeSample(ctx, s, r, false, -1, 1); err == nil {
		t.Error("TakeSample of -1 elements succeeded")
	}
	// Without replacement, every element is equally likely: over many
	// seeds each of 10 elements is drawn about 3 in 10 times.
	small := intsF.Invoke(IntArgs{Data: data[:10], Parts: 3})
	hits := make([]int, 10)
	const rounds = 300
	for seed := range int64(rounds) {
		got, err := rdd.TakeSample(ctx, s, small, false, 3, seed)
		if err != nil {
			t.Fatal(err)
		}
		for _, x := range got {
			hits[x]++
		}
	}
	for x, h := range hits {
		if h < rounds*3/10/2 || h > rounds*3/10*2 {
			t.Errorf("element %d drawn %d times in %d samples of 3 of 10", x, h, rounds)
		}
	}
}

// TestCountApproxDistinct: within a few standard errors of the truth on
// large counts, exact enough on small, the same count every run, -0 and
// +0 one element, and relativeSD checked.
func TestCountApproxDistinct(t *testing.T) {
	s := newSession(t)
	ctx := context.Background()
	var data []int
	for i := range 100000 {
		data = append(data, i%60000*7919)
	}
	r := intsF.Invoke(IntArgs{Data: data, Parts: 5})
	for _, sd := range []float64{0.05, 0.01} {
		got, err := rdd.CountApproxDistinct(ctx, s, r, sd)
		if err != nil {
			t.Fatal(err)
		}
		if rel := math.Abs(float64(got)-60000) / 60000; rel > 4*sd {
			t.Errorf("relativeSD %g: %d distinct, want 60000 (off by %.2f%%)", sd, got, 100*rel)
		}
		again, err := rdd.CountApproxDistinct(ctx, s, r, sd)
		if err != nil || again != got {
			t.Errorf("relativeSD %g: %d, then %d", sd, got, again)
		}
	}
	for _, n := range []int{0, 1, 5, 50, 500} {
		got, err := rdd.CountApproxDistinct(ctx, s, intsF.Invoke(IntArgs{Data: data[:n], Parts: 3}), 0.01)
		if err != nil || math.Abs(float64(got-int64(n))) > 0.03*float64(n)+0.5 {
			t.Errorf("%d distinct counted as %d, %v", n, got, err)
		}
	}
	fl := float64sF
	got, err := rdd.CountApproxDistinct(ctx, s, fl.Invoke([]float64{0, math.Copysign(0, -1), math.NaN(), math.NaN(), 1}), 0.05)
	if err != nil || got != 3 {
		t.Errorf("0, -0, NaN, NaN, 1: %d distinct, %v; want 3", got, err)
	}
	for _, sd := range []float64{0, -1, 0.38, 0.002, math.NaN()} {
		if _, err := rdd.CountApproxDistinct(ctx, s, r, sd); err == nil || !strings.Contains(err.Error(), "relativeSD") {
			t.Errorf("relativeSD %g: %v, want an error about relativeSD", sd, err)
		}
	}
}

// elemsSeen counts the elements ForEachPartition's static function saw, in
// this process (local mode).
var elemsSeen atomic.Int64

func countElems(ctx context.Context, elems iter.Seq[int]) error {
	for range elems {
		elemsSeen.Add(1)
	}
	return ctx.Err()
}

var errStop = errors.New("stop at 5")

// TestForEachPartition runs a function per partition, returns its error,
// and refuses a capturing function where it cannot reach the executors,
// before running anything.
func TestForEachPartition(t *testing.T) {
	s := newSession(t)
	ctx := context.Background()
	data := []int{1, 2, 3, 4, 5, 6, 7}
	r := intsF.Invoke(IntArgs{Data: data, Parts: 4})

	// In process: any function, called once per partition.
	var mu sync.Mutex
	var got [][]int
	err := rdd.ForEachPartition(ctx, s, r, func(_ context.Context, elems iter.Seq[int]) error {
		part := slices.Collect(elems)
		mu.Lock()
		got = append(got, part)
		mu.Unlock()
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Slice(got, func(i, j int) bool { return len(got[i]) > 0 && (len(got[j]) == 0 || got[i][0] < got[j][0]) })
	if len(got) != 4 || !slices.Equal(slices.Concat(got...), data) {
		t.Errorf("ForEachPartition saw %v", got)
	}

	// By reference: a static function.
	rec := &records{run: s}
	elemsSeen.Store(0)
	if err := rdd.ForEachPartition(ctx, rec, r, countElems); err != nil {
		t.Fatal(err)
	}
	if elemsSeen.Load() != int64(len(data)) {
		t.Errorf("the static function saw %d elements, want %d", elemsSeen.Load(), len(data))
	}

	// By reference: a capturing one is refused before any job.
	rec.reset()
	seen := 0
	err = rdd.ForEachPartition(ctx, rec, r, func(_ context.Context, elems iter.Seq[int]) error { // site:capturing
		for range elems {
			seen++
		}
		return nil
	})
	want := "rdd: ForEachPartition at actions_test.go:" + lineOf(t, "actions_test.go", "capturing") + ": its function captures variables"
	if err == nil || !strings.HasPrefix(err.Error(), want) || !strings.Contains(err.Error(), "Broadcast") {
		t.Errorf("capturing function on a cluster: %v, want an error starting %q", err, want)
	}
	if rec.jobs != 0 {
		t.Errorf("%d jobs ran before the error", rec.jobs)
	}

	// The function's error fails the job.
	err = rdd.ForEachPartition(ctx, s, r, func(_ context.Context, elems iter.Seq[int]) error {
		for x := range elems {
			if x == 5 {
				return rdd.Permanent(errStop)
			}
		}
		return nil
	})
	if !errors.Is(err, errStop) {
		t.Errorf("ForEachPartition with a failing function: %v, want errStop", err)
	}
}

// TestTreeActionsCombineOnExecutors: with depth 2 over 16 partitions read
// from no shuffle, each task combines 4 partitions, so the driver
// receives 4 values, not 16; after a shuffle, one per partition.
func TestTreeActionsCombineOnExecutors(t *testing.T) {
	s := newSession(t)
	ctx := context.Background()
	data := make([]int, 100)
	for i := range data {
		data[i] = i
	}
	for _, tc := range []struct {
		f          *rdd.FuncOf[IntArgs, int]
		depth      int
		wantValues int
	}{
		{intsF, 1, 16}, {intsF, 2, 4}, {intsF, 4, 8}, {shuffledF, 2, 4}, {shuffledF, 1, 16},
	} {
		rec := &records{run: s}
		got, err := rdd.TreeReduce(ctx, rec, tc.f.Invoke(IntArgs{Data: data, Parts: 16, Out: 16}), add, tc.depth)
		if err != nil || got != 4950 {
			t.Errorf("TreeReduce = %d, %v", got, err)
		}
		if rec.frames != tc.wantValues || len(rec.parts) != tc.wantValues {
			t.Errorf("depth %d: %d values in %d results reached the driver, want %d", tc.depth, rec.frames, len(rec.parts), tc.wantValues)
		}
		rec.reset()
		sum, err := rdd.TreeAggregate(ctx, rec, tc.f.Invoke(IntArgs{Data: data, Parts: 16, Out: 16}), 0, add, add, tc.depth)
		if err != nil || sum != 4950 || len(rec.parts) != tc.wantValues {
			t.Errorf("TreeAggregate = %d, %v, from %d results; want 4950 from %d", sum, err, len(rec.parts), tc.wantValues)
		}
	}
	for _, depth := range []int{0, -1} {
		if _, err := rdd.TreeReduce(ctx, s, intsF.Invoke(IntArgs{Data: data, Parts: 3}), add, depth); err == nil {
			t.Errorf("TreeReduce depth %d succeeded", depth)
		}
	}
}

type hidden struct{ n int }

// TestAggregateZeroMustEncode: a zero value that would not survive
// encoding (it is copied by encoding) is an error naming the call.
func TestAggregateZeroMustEncode(t *testing.T) {
	s := newSession(t)
	r := intsF.Invoke(IntArgs{Data: []int{1, 2}, Parts: 2})
	_, err := rdd.Aggregate(context.Background(), s, r, hidden{}, // site:aggzero
		func(h hidden, x int) hidden { return hidden{h.n + x} },
		func(a, b hidden) hidden { return hidden{a.n + b.n} })
	want := "rdd: Aggregate at actions_test.go:" + lineOf(t, "actions_test.go", "aggzero") + ": "
	if err == nil || !strings.HasPrefix(err.Error(), want) || !strings.Contains(err.Error(), "unexported") {
		t.Errorf("Aggregate with an unencodable zero: %v, want an error starting %q about the unexported field", err, want)
	}
}

// partitionedF lays its pairs out by key with a hash partitioner.
var partitionedF = rdd.Func(func(a IntArgs) *rdd.RDD[rdd.Pair[int, int]] {
	pairs := rdd.Map(rdd.Parallelize(a.Data, rdd.Partitions(a.Parts)), func(x int) rdd.Pair[int, int] { return rdd.KV(x%7, x) })
	return rdd.PartitionBy(pairs, a.Out)
})

// TestLookupComputesOnlyTheKeysPartition: on an RDD laid out by a
// partitioner, Lookup runs a job of one partition, the key's, and finds
// the same values as a scan.
func TestLookupComputesOnlyTheKeysPartition(t *testing.T) {
	s := newSession(t)
	ctx := context.Background()
	data := make([]int, 200)
	for i := range data {
		data[i] = i - 50
	}
	for _, key := range []int{0, 3, -6, 100} {
		var want []int
		for _, x := range data {
			if x%7 == key {
				want = append(want, x)
			}
		}
		rec := &records{run: s}
		got, err := rdd.Lookup(ctx, rec, partitionedF.Invoke(IntArgs{Data: data, Parts: 4, Out: 6}), key)
		slices.Sort(got)
		if err != nil || !slices.Equal(got, want) {
			t.Errorf("Lookup(%d) = %v, %v; want %v", key, got, err, want)
		}
		if len(rec.parts) != 1 {
			t.Errorf("Lookup(%d) computed partitions %v, want only the key's", key, rec.parts)
		}
		scan, err := rdd.Lookup(ctx, s, pairsF.Invoke(IntArgs{Data: data, Parts: 4}), key)
		slices.Sort(scan)
		if err != nil || !slices.Equal(scan, want) {
			t.Errorf("Lookup(%d) by a scan = %v, %v; want %v", key, scan, err, want)
		}
	}
}
