package rdd_test

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/sluicehq/sluice/driver"
	"github.com/sluicehq/sluice/rdd"
)

// XArgs are the arguments of the transformations' Funcs.
type XArgs struct {
	Args
	Seed     int64
	Fraction float64
	Replace  bool
	Weights  []float64
	Lo, Hi   string
}

// point is a key type that is not cmp.Ordered, for SortByKeyFunc.
type point struct{ X, Y int }

func comparePoints(a, b point) int { return cmp.Or(cmp.Compare(a.X, b.X), cmp.Compare(a.Y, b.Y)) }

var (
	sampleF = rdd.Func(func(a XArgs) *rdd.RDD[kv] { return rdd.Sample(a.src(), a.Replace, a.Fraction, a.Seed) })
	splitF  = rdd.Func(func(a XArgs) *rdd.RDD[rdd.Pair[int, kv]] {
		var tagged []*rdd.RDD[rdd.Pair[int, kv]]
		for i, s := range rdd.RandomSplit(a.src(), a.Weights, a.Seed) {
			tagged = append(tagged, rdd.Map(s, func(p kv) rdd.Pair[int, kv] { return rdd.KV(i, p) }))
		}
		return rdd.Union(tagged...)
	})
	zipF = rdd.Func(func(a XArgs) *rdd.RDD[rdd.Pair[kv, string]] {
		return rdd.Zip(a.src(), rdd.Map(a.src(), func(p kv) string { return p.Key + "!" }))
	})
	zipIndexF        = rdd.Func(func(a XArgs) *rdd.RDD[rdd.Pair[kv, int64]] { return rdd.ZipWithIndex(a.src()) })
	zipIDF           = rdd.Func(func(a XArgs) *rdd.RDD[[]rdd.Pair[kv, int64]] { return rdd.Glom(rdd.ZipWithUniqueID(a.src())) })
	cartF            = rdd.Func(func(a XArgs) *rdd.RDD[rdd.Pair[kv, kv]] { return rdd.Cartesian(a.src(), a.other()) })
	coalesceF        = rdd.Func(func(a XArgs) *rdd.RDD[[]kv] { return rdd.Glom(rdd.Coalesce(a.src(), a.Out)) })
	coalesceShuffleF = rdd.Func(func(a XArgs) *rdd.RDD[[]kv] {
		return rdd.Glom(rdd.Coalesce(a.src(), a.Out, rdd.Shuffle()))
	})
	cogroup3F = rdd.Func(func(a XArgs) *rdd.RDD[rdd.Pair[string, rdd.Triple[[]int, []int, []int]]] {
		third := rdd.MapValues(a.src(), func(v int) int { return -v })
		return rdd.CoGroup3(a.src(), a.other(), third, rdd.Partitions(a.Out))
	})
	sortByF = rdd.Func(func(a XArgs) *rdd.RDD[kv] {
		return rdd.SortBy(a.src(), func(p kv) int { return p.Value }, rdd.Partitions(a.Out))
	})
	sortDescF = rdd.Func(func(a XArgs) *rdd.RDD[kv] {
		return rdd.SortByKey(a.src(), rdd.Partitions(a.Out), rdd.Descending())
	})
	sortFuncF = rdd.Func(func(a XArgs) *rdd.RDD[rdd.Pair[point, string]] {
		pts := rdd.Map(a.src(), func(p kv) rdd.Pair[point, string] {
			return rdd.KV(point{p.Value % 7, len(p.Key)}, p.Key)
		})
		return rdd.SortByKeyFunc(pts, comparePoints, rdd.Partitions(a.Out))
	})
	repSortF = rdd.Func(func(a XArgs) *rdd.RDD[[]kv] {
		return rdd.Glom(rdd.RepartitionAndSortWithinPartitions(a.src(), rdd.Partitioner[string](firstLetter{a.Out})))
	})
	repSortDescF = rdd.Func(func(a XArgs) *rdd.RDD[[]kv] {
		return rdd.Glom(rdd.RepartitionAndSortWithinPartitions(a.src(), rdd.Partitioner[string](rdd.HashPartitioner[string]{N: a.Out}), rdd.Descending()))
	})
	rangeF = rdd.Func(func(a XArgs) *rdd.RDD[kv] { return rdd.FilterByRange(a.src(), a.Lo, a.Hi) })
	// rangeSortedF keeps a record of which partitions FilterByRange read.
	rangeSortedF = rdd.Func(func(a XArgs) *rdd.RDD[kv] {
		return rdd.FilterByRange(rdd.SortByKey(a.src(), rdd.Partitions(a.Out)), a.Lo, a.Hi)
	})
	rangeDescF = rdd.Func(func(a XArgs) *rdd.RDD[kv] {
		return rdd.FilterByRange(rdd.SortByKey(a.src(), rdd.Partitions(a.Out), rdd.Descending()), a.Lo, a.Hi)
	})
	pipeF = rdd.Func(func(a XArgs) *rdd.RDD[string] {
		return rdd.Pipe(a.src(), []string{"sh", "-c", `while IFS= read -r l; do echo "$SLUICE_PARTITION $PIPE_TAG $l"; done`}, "PIPE_TAG=t")
	})
)

func randomX(rng *rand.Rand, n, keys int) XArgs {
	a := XArgs{Args: randomArgs(rng, n, keys), Seed: rng.Int64(), Fraction: rng.Float64(), Replace: rng.IntN(2) == 0}
	if a.Replace {
		a.Fraction *= 3
	}
	for range 1 + rng.IntN(4) {
		a.Weights = append(a.Weights, float64(rng.IntN(4)))
	}
	a.Weights = append(a.Weights, 0.5)
	a.Lo, a.Hi = fmt.Sprintf("k%d", rng.IntN(keys+1)), fmt.Sprintf("k%d", rng.IntN(keys+1))
	if rng.IntN(4) > 0 && a.Lo > a.Hi {
		a.Lo, a.Hi = a.Hi, a.Lo
	}
	return a
}

// parts returns the partitions of a.src(), as Parallelize cuts them.
func (a XArgs) parts() [][]kv {
	out := make([][]kv, a.In)
	for i := range out {
		out[i] = a.Data[i*len(a.Data)/a.In : (i+1)*len(a.Data)/a.In]
	}
	return out
}

// TestTransformsAgainstNaive holds Sample, RandomSplit, Zip,
// ZipWithIndex, ZipWithUniqueID, Cartesian, Coalesce, CoGroup3, SortBy,
// descending SortByKey, SortByKeyFunc, RepartitionAndSortWithinPartitions,
// FilterByRange and Pipe against naive in-memory versions on random
// inputs and partition counts, with empty inputs, empty partitions and
// more partitions than elements, with a normal memory budget and one so
// small that the sorts spill.
func TestTransformsAgainstNaive(t *testing.T) {
	for _, budget := range []string{"default", "tiny"} {
		t.Run(budget, func(t *testing.T) {
			s := newSession(t, func(c *driver.Config) {
				if budget == "tiny" {
					c.Memory = 64 << 10
				}
			})
			rng := rand.New(rand.NewPCG(31, uint64(len(budget))))
			cases := []XArgs{
				{Args: Args{In: 3, Out: 2}, Weights: []float64{1, 1}, Fraction: 0.5},
				{Args: Args{Data: []kv{rdd.KV("a", 1)}, Other: []kv{rdd.KV("b", 2)}, In: 5, Out: 7}, Weights: []float64{1}, Fraction: 1, Lo: "a", Hi: "a"},
				{Args: Args{Other: []kv{rdd.KV("a", 1), rdd.KV("a", 1)}, In: 4, Out: 3}, Weights: []float64{0, 2}, Replace: true, Fraction: 2},
			}
			for range 8 {
				cases = append(cases, randomX(rng, rng.IntN(300), 1+rng.IntN(40)))
			}
			if budget == "tiny" {
				big := randomX(rng, 12000, 9000)
				big.In, big.Out = 2, 2
				cases = append(cases, big)
			}
			before := s.Metrics().Spills
			for _, a := range cases {
				checkTransforms(t, s, a, len(a.Data) < 1000)
			}
			if spills := s.Metrics().Spills - before; (budget == "tiny") != (spills > 0) {
				t.Fatalf("%d spills with the %s budget", spills, budget)
			}
		})
	}
}

func checkTransforms(t *testing.T, s *driver.Session, a XArgs, all bool) {
	t.Helper()
	name := fmt.Sprintf("%d and %d records, %d in, %d out", len(a.Data), len(a.Other), a.In, a.Out)
	check := func(op string, ok bool, detail ...any) {
		t.Helper()
		if !ok {
			t.Errorf("%s: %s differs from the naive version %v", name, op, detail)
		}
	}
	ctx := context.Background()

	// Sample: a seeded draw, the same every time; without replacement an
	// ordered subsequence of each partition, with replacement each
	// element repeated in place.
	got := collect(t, s, sampleF.Invoke(a))
	check("Sample (again)", slices.Equal(got, collect(t, s, sampleF.Invoke(a))))
	check("Sample", isRepeatedSubsequence(got, a.Data, !a.Replace), got)
	if a.Fraction == 0 {
		check("Sample of fraction 0", len(got) == 0)
	}
	if a.Fraction == 1 && !a.Replace {
		check("Sample of fraction 1", slices.Equal(got, a.Data))
	}

	// RandomSplit: disjoint and complete; every split keeps input order.
	splits := collect(t, s, splitF.Invoke(a))
	bySplit := make([][]kv, len(a.Weights))
	for _, p := range splits {
		bySplit[p.Key] = append(bySplit[p.Key], p.Value)
	}
	var union []kv
	for i, sp := range bySplit {
		check("RandomSplit order", isRepeatedSubsequence(sp, a.Data, true))
		if a.Weights[i] == 0 {
			check("RandomSplit of weight 0", len(sp) == 0)
		}
		union = append(union, sp...)
	}
	check("RandomSplit", same(union, a.Data))

	var wantZip []rdd.Pair[kv, string]
	var wantIdx []rdd.Pair[kv, int64]
	for i, p := range a.Data {
		wantZip = append(wantZip, rdd.KV(p, p.Key+"!"))
		wantIdx = append(wantIdx, rdd.KV(p, int64(i)))
	}
	check("Zip", slices.Equal(collect(t, s, zipF.Invoke(a)), wantZip))
	check("ZipWithIndex", slices.Equal(collect(t, s, zipIndexF.Invoke(a)), wantIdx))
	// ZipWithIndex runs its counting job once per graph; Take after it
	// still sees the right indices.
	if first, err := rdd.Take(ctx, s, zipIndexF.Invoke(a), 3); err != nil || !slices.Equal(first, wantIdx[:min(3, len(wantIdx))]) {
		t.Errorf("%s: Take of ZipWithIndex: %v, %v", name, first, err)
	}

	ids := collect(t, s, zipIDF.Invoke(a))
	seen := map[int64]bool{}
	for part, elems := range ids {
		for k, p := range elems {
			if p.Value != int64(k*a.In+part) || seen[p.Value] {
				t.Errorf("%s: ZipWithUniqueID gave element %d of partition %d id %d", name, k, part, p.Value)
			}
			seen[p.Value] = true
			check("ZipWithUniqueID elements", p.Key == a.parts()[part][k])
		}
	}

	if all {
		var wantCart []rdd.Pair[kv, kv]
		for _, x := range a.Data {
			for _, y := range a.Other {
				wantCart = append(wantCart, rdd.KV(x, y))
			}
		}
		check("Cartesian", same(collect(t, s, cartF.Invoke(a)), wantCart))
	}

	co := collect(t, s, coalesceF.Invoke(a))
	check("Coalesce partitions", len(co) == min(a.Out, a.In), len(co))
	check("Coalesce", slices.Equal(slices.Concat(co...), a.Data))
	cs := collect(t, s, coalesceShuffleF.Invoke(a))
	check("Coalesce with Shuffle", len(cs) == a.Out && same(slices.Concat(cs...), a.Data), len(cs))

	left, right := byKey(a.Data), byKey(a.Other)
	var wantCo []rdd.Pair[string, rdd.Triple[[]int, []int, []int]]
	keys := map[string]bool{}
	for _, p := range append(slices.Clone(a.Data), a.Other...) {
		keys[p.Key] = true
	}
	for k := range keys {
		var neg []int
		for _, v := range left[k] {
			neg = append(neg, -v)
		}
		slices.Sort(neg)
		wantCo = append(wantCo, rdd.KV(k, rdd.Triple[[]int, []int, []int]{
			slices.Sorted(slices.Values(left[k])), slices.Sorted(slices.Values(right[k])), neg}))
	}
	gotCo := collect(t, s, cogroup3F.Invoke(a))
	for _, c := range gotCo {
		slices.Sort(c.Value.First)
		slices.Sort(c.Value.Second)
		slices.Sort(c.Value.Third)
	}
	check("CoGroup3", same(gotCo, wantCo))

	// Sorts: stable, so equal keys keep their input order (a
	// Parallelize's order is the input's).
	wantBy := slices.Clone(a.Data)
	slices.SortStableFunc(wantBy, func(x, y kv) int { return cmp.Compare(x.Value, y.Value) })
	check("SortBy", slices.Equal(collect(t, s, sortByF.Invoke(a)), wantBy))
	wantDesc := slices.Clone(a.Data)
	slices.SortStableFunc(wantDesc, func(x, y kv) int { return strings.Compare(y.Key, x.Key) })
	check("SortByKey descending", slices.Equal(collect(t, s, sortDescF.Invoke(a)), wantDesc))
	var wantPts []rdd.Pair[point, string]
	for _, p := range a.Data {
		wantPts = append(wantPts, rdd.KV(point{p.Value % 7, len(p.Key)}, p.Key))
	}
	slices.SortStableFunc(wantPts, func(x, y rdd.Pair[point, string]) int { return comparePoints(x.Key, y.Key) })
	check("SortByKeyFunc", slices.Equal(collect(t, s, sortFuncF.Invoke(a)), wantPts))

	fl := firstLetter{a.Out}
	wantRep := make([][]kv, a.Out)
	for _, p := range a.Data {
		wantRep[fl.Partition(p.Key)] = append(wantRep[fl.Partition(p.Key)], p)
	}
	for i := range wantRep {
		slices.SortStableFunc(wantRep[i], func(x, y kv) int { return strings.Compare(x.Key, y.Key) })
	}
	gotRep := collect(t, s, repSortF.Invoke(a))
	check("RepartitionAndSortWithinPartitions", len(gotRep) == a.Out && slices.EqualFunc(gotRep, wantRep, slices.Equal))
	hp := rdd.HashPartitioner[string]{N: a.Out}
	gotDesc := collect(t, s, repSortDescF.Invoke(a))
	for i, part := range gotDesc {
		for _, p := range part {
			check("RepartitionAndSortWithinPartitions descending layout", hp.Partition(p.Key) == i)
		}
		check("RepartitionAndSortWithinPartitions descending order", slices.IsSortedFunc(part, func(x, y kv) int { return strings.Compare(y.Key, x.Key) }))
	}
	check("RepartitionAndSortWithinPartitions descending", same(slices.Concat(gotDesc...), a.Data))

	var wantRange []kv
	for _, p := range a.Data {
		if a.Lo <= p.Key && p.Key <= a.Hi {
			wantRange = append(wantRange, p)
		}
	}
	check("FilterByRange", slices.Equal(collect(t, s, rangeF.Invoke(a)), wantRange))
	wantSorted := slices.Clone(wantRange)
	slices.SortStableFunc(wantSorted, func(x, y kv) int { return strings.Compare(x.Key, y.Key) })
	check("FilterByRange after SortByKey", slices.Equal(collect(t, s, rangeSortedF.Invoke(a)), wantSorted))
	slices.Reverse(wantSorted)
	gotDescRange := collect(t, s, rangeDescF.Invoke(a))
	check("FilterByRange after a descending SortByKey", same(gotDescRange, wantSorted) &&
		slices.IsSortedFunc(gotDescRange, func(x, y kv) int { return strings.Compare(y.Key, x.Key) }))

	if all {
		var wantPipe []string
		for part, elems := range a.parts() {
			for _, p := range elems {
				wantPipe = append(wantPipe, fmt.Sprintf("%d t %s\t%d", part, p.Key, p.Value))
			}
		}
		check("Pipe", slices.Equal(collect(t, s, pipeF.Invoke(a)), wantPipe))
	}
}

// isRepeatedSubsequence reports whether got is sub with each element of
// sub repeated in place some number of times (at most once when once is
// set), sub being a subsequence of all.
func isRepeatedSubsequence(got, all []kv, once bool) bool {
	i := 0
	for j := 0; j < len(got); {
		for i < len(all) && all[i] != got[j] {
			i++
		}
		if i == len(all) {
			return false
		}
		j++
		for !once && j < len(got) && got[j] == all[i] {
			j++
		}
		i++
	}
	return true
}

var (
	zipUnevenF = rdd.Func(func(n int) *rdd.RDD[rdd.Pair[int, int]] {
		a := rdd.Parallelize([]int{1, 2, 3, 4}, rdd.Partitions(2))
		return rdd.Zip(a, rdd.Filter(a, func(x int) bool { return x != n }))
	})
	zipPartsF = rdd.Func(func(n int) *rdd.RDD[rdd.Pair[int, int]] {
		return rdd.Zip(rdd.Parallelize([]int{1}, rdd.Partitions(2)), rdd.Parallelize([]int{1}, rdd.Partitions(3))) // site:zipparts
	})
	pipeFailF = rdd.Func(func(code int) *rdd.RDD[string] {
		return rdd.Pipe(rdd.Parallelize([]int{1, 2, 3}, rdd.Partitions(1)), []string{"sh", "-c", fmt.Sprintf("cat; echo oops >&2; exit %d", code)})
	})
	pipeMissingF = rdd.Func(func(n int) *rdd.RDD[string] {
		return rdd.Pipe(rdd.Parallelize([]int{1}, rdd.Partitions(1)), []string{"/no/such/command-sluice"})
	})
	pipeHeadF = rdd.Func(func(n int) *rdd.RDD[string] {
		return rdd.Pipe(numbered([]int{n, n}), []string{"head", "-n", "2"})
	})
	sampleBadF = rdd.Func(func(f float64) *rdd.RDD[int] {
		return rdd.Sample(rdd.Parallelize([]int{1}), false, f, 1)
	})
	splitBadF = rdd.Func(func(w []float64) *rdd.RDD[int] {
		return rdd.RandomSplit(rdd.Parallelize([]int{1}), w, 1)[0]
	})
)

// TestTransformMistakes: the new user's mistakes give errors naming what
// to change, and runtime mismatches fail the job, never a silent answer.
func TestTransformMistakes(t *testing.T) {
	s := newSession(t)
	ctx := context.Background()
	// An element missing from one side of a Zip, either side.
	for _, n := range []int{2, 4} {
		_, err := rdd.Collect(ctx, s, zipUnevenF.Invoke(n))
		if !errors.Is(err, rdd.ErrZipMismatch) || !errors.Is(err, rdd.ErrPermanent) {
			t.Errorf("Zip missing %d: %v, want ErrZipMismatch, permanent", n, err)
		}
	}
	if got, err := rdd.Take(ctx, s, zipUnevenF.Invoke(4), 1); err != nil || len(got) != 1 {
		t.Errorf("Take 1 of a Zip whose first partition matches: %v, %v", got, err)
	}
	_, err := rdd.Collect(ctx, s, zipPartsF.Invoke(0))
	if err == nil || !strings.Contains(err.Error(), "2 and 3 partitions") || !strings.Contains(err.Error(), "xforms_test.go:"+lineOf(t, "xforms_test.go", "zipparts")) {
		t.Errorf("Zip of 2 and 3 partitions: %v", err)
	}
	_, err = rdd.Collect(ctx, s, pipeFailF.Invoke(3))
	if err == nil || !strings.Contains(err.Error(), "exited with status 3") || !strings.Contains(err.Error(), `"oops"`) || !strings.Contains(err.Error(), "cat; echo") {
		t.Errorf("Pipe of a failing command: %v", err)
	}
	if got, err := rdd.Collect(ctx, s, pipeFailF.Invoke(0)); err != nil || !slices.Equal(got, []string{"1", "2", "3"}) {
		t.Errorf("Pipe through cat: %v, %v", got, err)
	}
	_, err = rdd.Collect(ctx, s, pipeMissingF.Invoke(0))
	if err == nil || !errors.Is(err, rdd.ErrPermanent) || !strings.Contains(err.Error(), "command-sluice") {
		t.Errorf("Pipe of a missing command: %v", err)
	}
	// A command that stops reading its input early is not a failure;
	// nor is a consumer that stops reading the output early.
	if got, err := rdd.Collect(ctx, s, pipeHeadF.Invoke(100000)); err != nil || len(got) != 4 {
		t.Errorf("Pipe through head: %d lines, %v", len(got), err)
	}
	if got, err := rdd.Take(ctx, s, pipeHeadF.Invoke(100000), 1); err != nil || len(got) != 1 {
		t.Errorf("Take 1 of a Pipe: %v, %v", got, err)
	}
	for _, f := range []float64{-0.1, 1.5} {
		if _, err := rdd.Collect(ctx, s, sampleBadF.Invoke(f)); err == nil || !strings.Contains(err.Error(), "fraction") {
			t.Errorf("Sample of fraction %v: %v", f, err)
		}
	}
	for _, w := range [][]float64{{0, 0}, {1, -1}} {
		if _, err := rdd.Collect(ctx, s, splitBadF.Invoke(w)); err == nil || !strings.Contains(err.Error(), "weight") {
			t.Errorf("RandomSplit of %v: %v", w, err)
		}
	}
}

var rangeReads atomic.Int64

var prunedF = rdd.Func(func(n int) *rdd.RDD[kv] {
	data := make([]kv, n)
	for i := range data {
		data[i] = rdd.KV(fmt.Sprintf("k%03d", (i*37)%n), i)
	}
	sorted := rdd.SortByKey(rdd.Parallelize(data, rdd.Partitions(3)), rdd.Partitions(8))
	counted := rdd.MapValues(sorted, func(v int) int { rangeReads.Add(1); return v })
	return rdd.FilterByRange(counted, "k010", "k012")
})

// TestFilterByRangePrunes: after a sort, FilterByRange reads only the
// partitions whose ranges can hold keys in its range.
func TestFilterByRangePrunes(t *testing.T) {
	s := newSession(t)
	rangeReads.Store(0)
	got := collect(t, s, prunedF.Invoke(400))
	var want []kv
	for k := 10; k <= 12; k++ {
		for i := range 400 {
			if (i*37)%400 == k {
				want = append(want, rdd.KV(fmt.Sprintf("k%03d", k), i))
			}
		}
	}
	if !slices.Equal(got, want) {
		t.Fatalf("FilterByRange = %v, want %v", got, want)
	}
	// 400 keys in 8 ranges: one or two ranges hold k010..k012.
	if n := rangeReads.Load(); n == 0 || n > 200 {
		t.Fatalf("FilterByRange read %d of 400 sorted records", n)
	}
}

var (
	rateF = rdd.Func(func(a XArgs) *rdd.RDD[int] {
		return rdd.Sample(numbered([]int{5000, 0, 7000, 8000}), a.Replace, a.Fraction, a.Seed)
	})
	splitRateF = rdd.Func(func(a XArgs) *rdd.RDD[int] {
		return rdd.RandomSplit(numbered([]int{5000, 0, 7000, 8000}), a.Weights, a.Seed)[0]
	})
)

// TestSampleRates: the samples are the sizes Spark's would be, within a
// few standard deviations (the seeds are fixed, so this cannot flake).
func TestSampleRates(t *testing.T) {
	s := newSession(t)
	ctx := context.Background()
	const n = 20000
	for _, c := range []struct {
		replace  bool
		fraction float64
	}{{false, 0.3}, {false, 0.95}, {true, 0.3}, {true, 2.5}, {true, 40}} {
		got, err := rdd.Count(ctx, s, rateF.Invoke(XArgs{Replace: c.replace, Fraction: c.fraction, Seed: 99}))
		if err != nil {
			t.Fatal(err)
		}
		want := c.fraction * n
		if d := float64(got) - want; d > 0.03*want+50 || d < -0.03*want-50 {
			t.Errorf("Sample(replace %v, fraction %v) of %d: %d elements, want about %.0f", c.replace, c.fraction, n, got, want)
		}
	}
	got, err := rdd.Count(ctx, s, splitRateF.Invoke(XArgs{Weights: []float64{1, 3}, Seed: 7}))
	if err != nil || got < n/4-300 || got > n/4+300 {
		t.Errorf("RandomSplit 1:3 of %d: the first has %d, want about %d (%v)", n, got, n/4, err)
	}
}
