package rdd_test

import (
	"context"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/driver"
	"github.com/sluicehq/sluice/rdd"
	"github.com/sluicehq/sluice/scheduler"

	"github.com/sluicehq/sluice/internal/task"
)

var update = flag.Bool("update", false, "rewrite the golden plans in testdata")

// firstLetter is a custom partitioner: keys by their first byte. It is a
// comparable value, so two of them with the same N are equal.
type firstLetter struct{ N int }

func (f firstLetter) NumPartitions() int { return f.N }
func (f firstLetter) Partition(k string) int {
	if k == "" {
		return 0
	}
	return int(k[0]) % f.N
}

// badPartitioner sends every key out of range.
type badPartitioner struct{}

func (badPartitioner) NumPartitions() int   { return 2 }
func (badPartitioner) Partition(string) int { return 7 }

// sliceHolder cannot be compared with ==: it is equal to nothing, so
// laying out by it always shuffles.
type sliceHolder struct{ order []string }

func (s sliceHolder) NumPartitions() int   { return 2 }
func (s sliceHolder) Partition(string) int { return 0 }

var (
	// PartitionBy, then a ReduceByKey, MapValues and GroupByKey that keep
	// the layout: one shuffle in all.
	planReduceF = rdd.Func(func(a Args) *rdd.RDD[rdd.Pair[string, []int]] {
		parted := rdd.PartitionBy(a.src(), 4)
		sums := rdd.ReduceByKey(parted, sum)
		doubled := rdd.MapValues(sums, func(v int) int { return 2 * v })
		return rdd.GroupByKey(rdd.Filter(doubled, func(p kv) bool { return p.Value != 1 }), rdd.Partitions(4))
	})
	// Both sides of the join already laid out alike: the join is narrow.
	planCoJoinF = rdd.Func(func(a Args) *rdd.RDD[rdd.Pair[string, rdd.Pair[int, int]]] {
		l := rdd.ReduceByKey(a.src(), sum, rdd.Partitions(3))
		r := rdd.PartitionBy(a.other(), 3)
		return rdd.Join(l, r)
	})
	// One side laid out by the join's partitioner: only the other shuffles.
	planHalfJoinF = rdd.Func(func(a Args) *rdd.RDD[optF] {
		return rdd.FullOuterJoin(rdd.PartitionBy(a.src(), 3), a.other())
	})
	// A sort's range partitioner is kept by a ReduceByKey after it.
	planSortReduceF = rdd.Func(func(a Args) *rdd.RDD[kv] {
		return rdd.ReduceByKey(rdd.SortByKey(a.src(), rdd.Partitions(3)), sum)
	})
	// Map may change keys: the layout is forgotten and the shuffle comes again.
	planMapF = rdd.Func(func(a Args) *rdd.RDD[kv] {
		parted := rdd.PartitionBy(a.src(), 4)
		return rdd.ReduceByKey(rdd.Map(parted, func(p kv) kv { return p }), sum, rdd.Partitions(4))
	})
	// A custom partitioner equal by value: no second shuffle; a different
	// count, or one that cannot be compared, shuffles.
	planCustomF = rdd.Func(func(a Args) *rdd.RDD[rdd.Pair[string, rdd.Triple[[]int, []int, []int]]] {
		parted := rdd.PartitionWith(a.src(), rdd.Partitioner[string](firstLetter{3}))
		grouped := rdd.FoldByKey(parted, 0, sum, rdd.WithPartitioner[string](firstLetter{3}))
		other := rdd.PartitionWith(a.other(), rdd.Partitioner[string](firstLetter{2}))
		odd := rdd.PartitionWith(a.src(), rdd.Partitioner[string](sliceHolder{}))
		return rdd.CoGroup3(grouped, other, odd)
	})
	// A join with a sorted side: the other side is shuffled by the sort's
	// range partitioner, whose bounds executors must have before its map
	// tasks run.
	planSortedJoinF = rdd.Func(func(a Args) *rdd.RDD[rdd.Pair[string, rdd.Pair[int, int]]] {
		return rdd.Join(rdd.SortByKey(a.src(), rdd.Partitions(3)), a.other())
	})
	sortedJoinGlomF = rdd.Func(func(a Args) *rdd.RDD[[]rdd.Pair[string, rdd.Pair[int, int]]] {
		return rdd.Glom(rdd.Join(rdd.SortByKey(a.src(), rdd.Partitions(3)), a.other()))
	})
	// A co-partitioned CoGroup and the subtractions built on it.
	planSubtractF = rdd.Func(func(a Args) *rdd.RDD[kv] {
		l := rdd.PartitionBy(a.src(), 2)
		r := rdd.AggregateByKey(a.other(), 0, sum, sum, rdd.Partitions(2))
		return rdd.SubtractByKey(l, r)
	})
)

// TestPlansGolden shows the stages that lineages with partitioner
// tracking compile to: an operation whose input is already laid out by
// its partitioner reads it in the same stage, with no second shuffle.
func TestPlansGolden(t *testing.T) {
	a := Args{Data: []kv{rdd.KV("a", 1)}, Other: []kv{rdd.KV("a", 2)}, In: 3}
	cases := map[string]func() ([]task.NodeInfo, int){
		"partitionby-reduce-group": func() ([]task.NodeInfo, int) { return planOf(t, planReduceF.Invoke(a)) },
		"copartitioned-join":       func() ([]task.NodeInfo, int) { return planOf(t, planCoJoinF.Invoke(a)) },
		"half-partitioned-join":    func() ([]task.NodeInfo, int) { return planOf(t, planHalfJoinF.Invoke(a)) },
		"sortbykey-reduce":         func() ([]task.NodeInfo, int) { return planOf(t, planSortReduceF.Invoke(a)) },
		"map-forgets-layout":       func() ([]task.NodeInfo, int) { return planOf(t, planMapF.Invoke(a)) },
		"custom-partitioners":      func() ([]task.NodeInfo, int) { return planOf(t, planCustomF.Invoke(a)) },
		"copartitioned-subtract":   func() ([]task.NodeInfo, int) { return planOf(t, planSubtractF.Invoke(a)) },
		"sorted-join":              func() ([]task.NodeInfo, int) { return planOf(t, planSortedJoinF.Invoke(a)) },
	}
	for name, build := range cases {
		t.Run(name, func(t *testing.T) {
			nodes, final := build()
			got := scheduler.Explain(nodes, final)
			path := filepath.Join("testdata", name+".golden")
			if *update {
				if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (go test ./rdd -run TestPlansGolden -update creates it)", err)
			}
			if got != string(want) {
				t.Errorf("plan changed (go test ./rdd -run TestPlansGolden -update rewrites it):\n--- got\n%s--- want\n%s", got, want)
			}
		})
	}
}

func planOf[T any](t *testing.T, r *rdd.RDD[T]) ([]task.NodeInfo, int) {
	t.Helper()
	g, err := task.GraphOf(r)
	if err != nil {
		t.Fatal(err)
	}
	nodes := g.Nodes()
	return nodes, nodes[len(nodes)-1].ID
}

// TestPlansAgainstNaive runs the lineages of the golden plans on random
// inputs: reading a co-partitioned input in place gives what the naive
// versions give.
func TestPlansAgainstNaive(t *testing.T) {
	for _, budget := range []string{"default", "tiny"} {
		t.Run(budget, func(t *testing.T) {
			s := newSession(t, func(c *driver.Config) {
				if budget == "tiny" {
					c.Memory = 64 << 10
				}
			})
			rng := rand.New(rand.NewPCG(21, uint64(len(budget))))
			cases := []Args{{In: 2}, {Data: []kv{rdd.KV("a", 1)}, In: 5}}
			for range 8 {
				cases = append(cases, randomArgs(rng, rng.IntN(200), 1+rng.IntN(30)))
			}
			if budget == "tiny" {
				// Enough distinct keys that combining in place spills.
				cases = append(cases, randomArgs(rng, 20000, 15000))
			}
			before := s.Metrics().Spills
			checkPlans(t, s, cases)
			if spills := s.Metrics().Spills - before; (budget == "tiny") != (spills > 0) {
				t.Fatalf("%d spills with the %s budget", spills, budget)
			}
		})
	}
}

func checkPlans(t *testing.T, s *driver.Session, cases []Args) {
	t.Helper()
	for _, a := range cases {
		name := fmt.Sprintf("%d and %d records, %d in", len(a.Data), len(a.Other), a.In)
		left, right := byKey(a.Data), byKey(a.Other)

		var wantGroups []rdd.Pair[string, []int]
		for k, vs := range left {
			s := 0
			for _, v := range vs {
				s += v
			}
			if 2*s != 1 {
				wantGroups = append(wantGroups, rdd.KV(k, []int{2 * s}))
			}
		}
		if got := collect(t, s, planReduceF.Invoke(a)); !same(got, wantGroups) {
			t.Errorf("%s: PartitionBy, ReduceByKey, MapValues, GroupByKey: %v, want %v", name, got, wantGroups)
		}

		var wantJoin []rdd.Pair[string, rdd.Pair[int, int]]
		var wantFull []optF
		for k, vs := range left {
			s := 0
			for _, v := range vs {
				s += v
			}
			for _, w := range right[k] {
				wantJoin = append(wantJoin, rdd.KV(k, rdd.KV(s, w)))
			}
			for _, v := range vs {
				if len(right[k]) == 0 {
					wantFull = append(wantFull, rdd.KV(k, rdd.KV(rdd.Some(v), rdd.Opt[int]{})))
				}
				for _, w := range right[k] {
					wantFull = append(wantFull, rdd.KV(k, rdd.KV(rdd.Some(v), rdd.Some(w))))
				}
			}
		}
		for k, ws := range right {
			if len(left[k]) == 0 {
				for _, w := range ws {
					wantFull = append(wantFull, rdd.KV(k, rdd.KV(rdd.Opt[int]{}, rdd.Some(w))))
				}
			}
		}
		if got := collect(t, s, planCoJoinF.Invoke(a)); !same(got, wantJoin) {
			t.Errorf("%s: co-partitioned Join differs from the naive join", name)
		}
		var wantInner []rdd.Pair[string, rdd.Pair[int, int]]
		for _, p := range a.Data {
			for _, w := range right[p.Key] {
				wantInner = append(wantInner, rdd.KV(p.Key, rdd.KV(p.Value, w)))
			}
		}
		sortedJoin := collect(t, s, planSortedJoinF.Invoke(a))
		if !same(sortedJoin, wantInner) {
			t.Errorf("%s: Join with a sorted side differs from the naive join", name)
		}
		// Within a partition the join orders keys by their encoding, but
		// the partitions are the sort's ranges.
		var last string
		for i, part := range collect(t, s, sortedJoinGlomF.Invoke(a)) {
			lo := slices.MinFunc(append(part, rdd.KV("~", rdd.KV(0, 0))), func(x, y rdd.Pair[string, rdd.Pair[int, int]]) int { return strings.Compare(x.Key, y.Key) })
			if len(part) > 0 && lo.Key < last {
				t.Errorf("%s: partition %d of a Join with a sorted side has key %q below %q of the partition before", name, i, lo.Key, last)
			}
			for _, p := range part {
				last = max(last, p.Key)
			}
		}
		if got := collect(t, s, planHalfJoinF.Invoke(a)); !same(got, wantFull) {
			t.Errorf("%s: half-partitioned FullOuterJoin differs from the naive join", name)
		}

		var wantSums []kv
		for k, vs := range left {
			s := 0
			for _, v := range vs {
				s += v
			}
			wantSums = append(wantSums, rdd.KV(k, s))
		}
		sorted := collect(t, s, planSortReduceF.Invoke(a))
		if !same(sorted, wantSums) {
			t.Errorf("%s: ReduceByKey after SortByKey differs from the naive sums", name)
		}
		if len(a.Data) < 1000 && !slices.IsSortedFunc(sorted, func(x, y kv) int { return strings.Compare(x.Key, y.Key) }) {
			// Combined in place without spilling, each partition's keys
			// come in first-seen order, which after a sort is sorted: the
			// layout is the sort's. (A spill orders keys by encoding.)
			t.Errorf("%s: ReduceByKey after SortByKey is not in key order", name)
		}
		if got := collect(t, s, planMapF.Invoke(a)); !same(got, wantSums) {
			t.Errorf("%s: ReduceByKey after Map differs", name)
		}

		var wantSub []kv
		for _, p := range a.Data {
			if len(right[p.Key]) == 0 {
				wantSub = append(wantSub, p)
			}
		}
		if got := collect(t, s, planSubtractF.Invoke(a)); !same(got, wantSub) {
			t.Errorf("%s: co-partitioned SubtractByKey: %v, want %v", name, got, wantSub)
		}

		var wantCo []rdd.Pair[string, rdd.Triple[[]int, []int, []int]]
		keys := map[string]bool{}
		for _, p := range append(slices.Clone(a.Data), a.Other...) {
			keys[p.Key] = true
		}
		for k := range keys {
			var first []int
			if vs := left[k]; len(vs) > 0 {
				s := 0
				for _, v := range vs {
					s += v
				}
				first = []int{s}
			}
			wantCo = append(wantCo, rdd.KV(k, rdd.Triple[[]int, []int, []int]{first, slices.Sorted(slices.Values(right[k])), slices.Sorted(slices.Values(left[k]))}))
		}
		gotCo := collect(t, s, planCustomF.Invoke(a))
		for _, c := range gotCo {
			slices.Sort(c.Value.Second)
			slices.Sort(c.Value.Third)
		}
		if !same(gotCo, wantCo) {
			t.Errorf("%s: CoGroup3 of custom partitioners: %v, want %v", name, gotCo, wantCo)
		}
	}
}

var (
	customLayoutF = rdd.Func(func(a Args) *rdd.RDD[[]kv] {
		return rdd.Glom(rdd.PartitionWith(a.src(), rdd.Partitioner[string](firstLetter{a.Out})))
	})
	rangeLayoutF = rdd.Func(func(a Args) *rdd.RDD[[]kv] {
		return rdd.Glom(rdd.PartitionWith(a.src(), rdd.Partitioner[string](rdd.NewRangePartitioner("k2", "k4"))))
	})
	badLayoutF = rdd.Func(func(a Args) *rdd.RDD[kv] {
		return rdd.PartitionWith(a.src(), rdd.Partitioner[string](badPartitioner{}))
	})
	wrongKeyF = rdd.Func(func(a Args) *rdd.RDD[kv] {
		return rdd.ReduceByKey(a.src(), sum, rdd.WithPartitioner[int](rdd.HashPartitioner[int]{N: 2})) // site:wrongkey
	})
	badBoundsF = rdd.Func(func(a Args) *rdd.RDD[kv] {
		return rdd.PartitionWith(a.src(), rdd.Partitioner[string](rdd.NewRangePartitioner("b", "a")))
	})
)

// TestPartitionWith: every record lands in the partition the partitioner
// names, in input order; a partitioner that names a partition it does not
// have fails the task, and one for the wrong key type fails the build.
func TestPartitionWith(t *testing.T) {
	s := newSession(t)
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(5, 5))
	for range 5 {
		a := randomArgs(rng, rng.IntN(100), 1+rng.IntN(10))
		parts := collect(t, s, customLayoutF.Invoke(a))
		if len(parts) != a.Out {
			t.Fatalf("%d partitions, want %d", len(parts), a.Out)
		}
		want := make([][]kv, a.Out)
		for _, p := range a.Data {
			i := firstLetter{a.Out}.Partition(p.Key)
			want[i] = append(want[i], p)
		}
		for i := range want {
			if !slices.Equal(parts[i], want[i]) {
				t.Fatalf("partition %d: %v, want %v", i, parts[i], want[i])
			}
		}
		ranged := collect(t, s, rangeLayoutF.Invoke(a))
		if len(ranged) != 3 {
			t.Fatalf("range layout has %d partitions, want 3", len(ranged))
		}
		for i, part := range ranged {
			for _, p := range part {
				if (i == 0) != (p.Key <= "k2") || (i == 2) != (p.Key > "k4") {
					t.Fatalf("key %q in range partition %d", p.Key, i)
				}
			}
		}
	}
	a := Args{Data: []kv{rdd.KV("a", 1)}, In: 1}
	if _, err := rdd.Collect(ctx, s, badLayoutF.Invoke(a)); err == nil || !strings.Contains(err.Error(), "partition 7") {
		t.Errorf("a partitioner out of range: %v, want an error naming partition 7", err)
	}
	_, err := rdd.Collect(ctx, s, wrongKeyF.Invoke(a))
	if err == nil || !strings.Contains(err.Error(), "partitioner_test.go:"+lineOf(t, "partitioner_test.go", "wrongkey")) || !strings.Contains(err.Error(), "Partitioner[string]") {
		t.Errorf("a partitioner of int keys for string keys: %v", err)
	}
	if _, err := rdd.Collect(ctx, s, badBoundsF.Invoke(a)); err == nil || !strings.Contains(err.Error(), "not above") {
		t.Errorf("range bounds out of order: %v", err)
	}
}

// liar says it equals every partitioner, whatever its count.
type liar struct{ n int }

func (l liar) NumPartitions() int                 { return l.n }
func (l liar) Partition(string) int               { return 0 }
func (l liar) Equal(rdd.Partitioner[string]) bool { return true }

// TestPartitionerEquality holds the documented equality rules, which
// decide whether a shuffle is skipped: PartitionWith returns its input
// as it is exactly when the input's partitioner equals the one given.
func TestPartitionerEquality(t *testing.T) {
	type P = rdd.Partitioner[string]
	src := rdd.Parallelize([]kv{rdd.KV("a", 1)}, rdd.Partitions(2))
	ptr := &firstLetter{3}
	rng := rdd.NewRangePartitionerFunc(strings.Compare, "m")
	for _, c := range []struct {
		name   string
		first  P
		second P
		equal  bool
	}{
		{"hash, same count", rdd.HashPartitioner[string]{N: 3}, rdd.HashPartitioner[string]{N: 3}, true},
		{"hash, other count", rdd.HashPartitioner[string]{N: 3}, rdd.HashPartitioner[string]{N: 4}, false},
		{"comparable value", firstLetter{3}, firstLetter{3}, true},
		{"comparable value, other field", firstLetter{3}, firstLetter{4}, false},
		{"other types", firstLetter{3}, rdd.HashPartitioner[string]{N: 3}, false},
		{"same pointer", ptr, ptr, true},
		{"other pointer, equal value", ptr, &firstLetter{3}, false},
		{"incomparable value", sliceHolder{}, sliceHolder{}, false},
		{"natural range, same bounds", rdd.NewRangePartitioner("f", "p"), rdd.NewRangePartitioner("f", "p"), true},
		{"natural range, other bounds", rdd.NewRangePartitioner("f", "p"), rdd.NewRangePartitioner("f", "q"), false},
		{"range with a func, itself", rng, rng, true},
		{"range with a func, another", rng, rdd.NewRangePartitionerFunc(strings.Compare, "m"), false},
		{"Equal says yes, same count", liar{2}, liar{2}, true},
		{"Equal says yes, other count", liar{2}, liar{3}, false},
	} {
		parted := rdd.PartitionWith(src, c.first)
		again := rdd.PartitionWith(parted, c.second)
		if (again == parted) != c.equal {
			t.Errorf("%s: reused the layout: %v, want %v", c.name, again == parted, c.equal)
		}
		if _, ok := rdd.PartitionerOf(again); !ok {
			t.Errorf("%s: no partitioner after PartitionWith", c.name)
		}
	}
	// Map forgets the layout; MapValues and Filter keep it.
	parted := rdd.PartitionBy(src, 3)
	if _, ok := rdd.PartitionerOf(rdd.Map(parted, func(p kv) kv { return p })); ok {
		t.Error("Map kept the partitioner")
	}
	for name, r := range map[string]*rdd.RDD[kv]{
		"MapValues":     rdd.MapValues(parted, func(v int) int { return v }),
		"Filter":        rdd.Filter(parted, func(kv) bool { return true }),
		"FlatMapValues": rdd.FlatMapValues(parted, func(v int, emit func(int)) { emit(v) }),
		"Sample":        rdd.Sample(parted, false, 0.5, 1),
	} {
		if p, ok := rdd.PartitionerOf(r); !ok || p != rdd.Partitioner[string](rdd.HashPartitioner[string]{N: 3}) {
			t.Errorf("%s: PartitionerOf = %v, %v; want hash(3)", name, p, ok)
		}
	}
}

var (
	lookupSortedF = rdd.Func(func(a Args) *rdd.RDD[[]kv] { return rdd.Glom(rdd.SortByKey(a.src(), rdd.Partitions(a.Out))) })
	lookupSortF   = rdd.Func(func(a Args) *rdd.RDD[kv] { return rdd.SortByKey(a.src(), rdd.Partitions(a.Out)) })
	lookupHashF   = rdd.Func(func(a Args) *rdd.RDD[kv] { return rdd.ReduceByKey(a.src(), sum, rdd.Partitions(a.Out)) })
	lookupNoneF   = rdd.Func(func(a Args) *rdd.RDD[kv] { return a.src() })
	hashGlomF     = rdd.Func(func(a Args) *rdd.RDD[[]kv] { return rdd.Glom(rdd.ReduceByKey(a.src(), sum, rdd.Partitions(a.Out))) })
)

// TestPartitionOfKey: the partition an action (Lookup) may read alone is
// the one that holds every record of the key, for hash and sampled range
// layouts; an RDD without a partitioner names none.
func TestPartitionOfKey(t *testing.T) {
	s := newSession(t)
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(8, 2))
	for range 4 {
		a := randomArgs(rng, 1+rng.IntN(200), 1+rng.IntN(30))
		parts := collect(t, s, lookupSortedF.Invoke(a))
		sorted := lookupSortF.Invoke(a)
		for i, part := range parts {
			for _, p := range part {
				got, ok, err := rdd.PartitionOfKey(ctx, s, sorted, p.Key)
				if err != nil || !ok || got != i {
					t.Fatalf("key %q is in sorted partition %d; PartitionOfKey says %d, %v, %v", p.Key, i, got, ok, err)
				}
			}
		}
		hp := rdd.HashPartitioner[string]{N: a.Out}
		for i, part := range collect(t, s, hashGlomF.Invoke(a)) {
			for _, p := range part {
				if hp.Partition(p.Key) != i {
					t.Fatalf("ReduceByKey put %q in partition %d; its HashPartitioner says %d", p.Key, i, hp.Partition(p.Key))
				}
			}
		}
		for _, p := range a.Data {
			got, ok, err := rdd.PartitionOfKey(ctx, s, lookupHashF.Invoke(a), p.Key)
			if err != nil || !ok || got != hp.Partition(p.Key) {
				t.Fatalf("hash: PartitionOfKey(%q) = %d, %v, %v", p.Key, got, ok, err)
			}
		}
		if _, ok, err := rdd.PartitionOfKey(ctx, s, lookupNoneF.Invoke(a), "k1"); ok || err != nil {
			t.Fatalf("no partitioner: ok %v, err %v", ok, err)
		}
	}
}
