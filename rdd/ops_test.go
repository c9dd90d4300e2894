package rdd_test

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluicehq/sluice/driver"
	"github.com/sluicehq/sluice/rdd"

	"github.com/sluicehq/sluice/internal/task"
)

type kv = rdd.Pair[string, int]

// Args are the Funcs' arguments: data and partition counts travel in them,
// as they must for executors to rebuild the lineage.
type Args struct {
	Data  []kv
	Other []kv
	In    int
	Out   int
}

func sum(a, b int) int { return a + b }

func (a Args) src() *rdd.RDD[kv] { return rdd.Parallelize(a.Data, rdd.Partitions(a.In)) }

var (
	reduceF = rdd.Func(func(a Args) *rdd.RDD[kv] { return rdd.ReduceByKey(a.src(), sum, rdd.Partitions(a.Out)) })
	groupF  = rdd.Func(func(a Args) *rdd.RDD[rdd.Pair[string, []int]] { return rdd.GroupByKey(a.src(), rdd.Partitions(a.Out)) })
	joinF   = rdd.Func(func(a Args) *rdd.RDD[rdd.Pair[string, rdd.Pair[int, int]]] {
		return rdd.Join(a.src(), rdd.Parallelize(a.Other, rdd.Partitions(max(1, a.In-1))), rdd.Partitions(a.Out))
	})
	sortF     = rdd.Func(func(a Args) *rdd.RDD[kv] { return rdd.SortByKey(a.src(), rdd.Partitions(a.Out)) })
	distinctF = rdd.Func(func(a Args) *rdd.RDD[string] { return rdd.Distinct(rdd.Keys(a.src()), rdd.Partitions(a.Out)) })
	aggF      = rdd.Func(func(a Args) *rdd.RDD[rdd.Pair[string, []int]] {
		return rdd.AggregateByKey(a.src(), []int(nil),
			func(acc []int, v int) []int { return append(acc, v) },
			func(x, y []int) []int { return append(x, y...) }, rdd.Partitions(a.Out))
	})
	partitionF = rdd.Func(func(a Args) *rdd.RDD[kv] { return rdd.PartitionBy(a.src(), a.Out) })
	unionF     = rdd.Func(func(a Args) *rdd.RDD[kv] {
		return rdd.Union(a.src(), rdd.Filter(rdd.Parallelize(a.Other, rdd.Partitions(2)), func(p kv) bool { return p.Value%2 == 0 }))
	})
)

func newSession(t *testing.T, mutate ...func(*driver.Config)) *driver.Session {
	t.Helper()
	cfg := driver.DefaultConfig()
	cfg.Parallelism = 3
	cfg.LocalDir = t.TempDir()
	for _, m := range mutate {
		m(&cfg)
	}
	s, err := driver.NewSession(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func randomArgs(rng *rand.Rand, n, keys int) Args {
	gen := func(n int) []kv {
		out := make([]kv, n)
		for i := range out {
			out[i] = rdd.KV(fmt.Sprintf("k%d", rng.IntN(keys)), rng.IntN(1000)-500)
		}
		return out
	}
	return Args{Data: gen(n), Other: gen(n / 2), In: 1 + rng.IntN(5), Out: 1 + rng.IntN(6)}
}

func sortedPairs[V cmp.Ordered](ps []rdd.Pair[string, V]) []rdd.Pair[string, V] {
	ps = slices.Clone(ps)
	slices.SortFunc(ps, func(a, b rdd.Pair[string, V]) int {
		return cmp.Or(strings.Compare(a.Key, b.Key), cmp.Compare(a.Value, b.Value))
	})
	return ps
}

func collect[T any](t *testing.T, s *driver.Session, r *rdd.RDD[T]) []T {
	t.Helper()
	out, err := rdd.Collect(context.Background(), s, r)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestByKeyAgainstNaive holds the shuffle operations against naive
// in-memory versions on random inputs and partition counts, with a normal
// memory budget and with one so small that every task spills.
func TestByKeyAgainstNaive(t *testing.T) {
	for _, budget := range []string{"default", "tiny"} {
		t.Run(budget, func(t *testing.T) {
			s := newSession(t, func(c *driver.Config) {
				if budget == "tiny" {
					c.Memory = 64 << 10
				}
			})
			rng := rand.New(rand.NewPCG(7, uint64(len(budget))))
			for iter := range 12 {
				n, keys := rng.IntN(300), 1+rng.IntN(50)
				if budget == "tiny" && iter == 0 {
					n, keys = 20000, 15000 // enough distinct keys to pass 64KiB
				}
				a := randomArgs(rng, n, keys)
				checkOps(t, s, a)
			}
			if spills := s.Metrics().Spills; (budget == "tiny") != (spills > 0) {
				t.Fatalf("%d spills with the %s budget", spills, budget)
			}
		})
	}
}

func checkOps(t *testing.T, s *driver.Session, a Args) {
	t.Helper()
	name := fmt.Sprintf("%d records, %d in, %d out", len(a.Data), a.In, a.Out)

	want := map[string]int{}
	groups := map[string][]int{}
	for _, p := range a.Data {
		want[p.Key] += p.Value
		groups[p.Key] = append(groups[p.Key], p.Value)
	}
	var wantReduce []kv
	for k, v := range want {
		wantReduce = append(wantReduce, rdd.KV(k, v))
	}
	if got := collect(t, s, reduceF.Invoke(a)); !slices.Equal(sortedPairs(got), sortedPairs(wantReduce)) {
		t.Fatalf("%s: ReduceByKey differs from the naive sum", name)
	}

	checkGroups := func(op string, got []rdd.Pair[string, []int]) {
		t.Helper()
		m := map[string][]int{}
		for _, g := range got {
			if _, dup := m[g.Key]; dup {
				t.Fatalf("%s: %s yields key %q twice", name, op, g.Key)
			}
			m[g.Key] = slices.Sorted(slices.Values(g.Value))
		}
		if len(m) != len(groups) {
			t.Fatalf("%s: %s has %d keys, want %d", name, op, len(m), len(groups))
		}
		for k, vs := range groups {
			if !slices.Equal(m[k], slices.Sorted(slices.Values(vs))) {
				t.Fatalf("%s: %s key %q has %v, want %v", name, op, k, m[k], vs)
			}
		}
	}
	checkGroups("GroupByKey", collect(t, s, groupF.Invoke(a)))
	checkGroups("AggregateByKey", collect(t, s, aggF.Invoke(a)))

	var wantJoin []string
	for _, l := range a.Data {
		for _, r := range a.Other {
			if l.Key == r.Key {
				wantJoin = append(wantJoin, fmt.Sprint(l.Key, l.Value, r.Value))
			}
		}
	}
	var gotJoin []string
	for _, p := range collect(t, s, joinF.Invoke(a)) {
		gotJoin = append(gotJoin, fmt.Sprint(p.Key, p.Value.Key, p.Value.Value))
	}
	slices.Sort(wantJoin)
	slices.Sort(gotJoin)
	if !slices.Equal(gotJoin, wantJoin) {
		t.Fatalf("%s: Join gives %d pairs, want %d", name, len(gotJoin), len(wantJoin))
	}

	sorted := collect(t, s, sortF.Invoke(a))
	if !slices.IsSortedFunc(sorted, func(x, y kv) int { return strings.Compare(x.Key, y.Key) }) {
		t.Fatalf("%s: SortByKey output is not sorted across partitions", name)
	}
	if !slices.Equal(sortedPairs(sorted), sortedPairs(a.Data)) {
		t.Fatalf("%s: SortByKey is not a permutation of its input", name)
	}

	distinct := collect(t, s, distinctF.Invoke(a))
	slices.Sort(distinct)
	if wantKeys := slices.Sorted(maps.Keys(groups)); !slices.Equal(distinct, wantKeys) {
		t.Fatalf("%s: Distinct gives %d keys, want %d", name, len(distinct), len(wantKeys))
	}

	parted := collect(t, s, partitionF.Invoke(a))
	if !slices.Equal(sortedPairs(parted), sortedPairs(a.Data)) {
		t.Fatalf("%s: PartitionBy is not a permutation of its input", name)
	}
}

func TestActions(t *testing.T) {
	s := newSession(t)
	ctx := context.Background()
	a := Args{Data: []kv{rdd.KV("a", 1), rdd.KV("b", 2), rdd.KV("a", 3), rdd.KV("c", 4), rdd.KV("a", 5)}, Other: []kv{rdd.KV("x", 2), rdd.KV("y", 3), rdd.KV("z", 4)}, In: 3, Out: 2}

	r := unionF.Invoke(a)
	got := collect(t, s, r)
	want := []kv{rdd.KV("a", 1), rdd.KV("b", 2), rdd.KV("a", 3), rdd.KV("c", 4), rdd.KV("a", 5), rdd.KV("x", 2), rdd.KV("z", 4)}
	if !slices.Equal(got, want) {
		t.Fatalf("Union+Filter: %v, want %v (partition order)", got, want)
	}
	if n, err := rdd.Count(ctx, s, r); err != nil || n != 7 {
		t.Fatalf("Count = %d, %v", n, err)
	}
	for _, n := range []int{0, 1, 2, 6, 7, 100} {
		got, err := rdd.Take(ctx, s, r, n)
		if err != nil || !slices.Equal(got, want[:min(n, len(want))]) {
			t.Fatalf("Take(%d) = %v, %v", n, got, err)
		}
	}
	counts, err := rdd.CountByKey(ctx, s, r)
	if err != nil || !maps.Equal(counts, map[string]int64{"a": 3, "b": 1, "c": 1, "x": 1, "z": 1}) {
		t.Fatalf("CountByKey = %v, %v", counts, err)
	}
	total, err := rdd.Reduce(ctx, s, rdd.Values(r), sum)
	if err == nil {
		t.Fatalf("Reduce on an RDD that no Func returned should fail, got %v", total)
	}
	if !errors.Is(err, rdd.ErrNotInvoked) {
		t.Fatalf("Reduce: %v, want ErrNotInvoked", err)
	}
	sumF := reduceOfValues.Invoke(a)
	if total, err := rdd.Reduce(ctx, s, sumF, sum); err != nil || total != 15 {
		t.Fatalf("Reduce = %d, %v; want 15", total, err)
	}
	if _, err := rdd.Reduce(ctx, s, reduceOfValues.Invoke(Args{In: 2}), sum); !errors.Is(err, rdd.ErrEmpty) {
		t.Fatalf("Reduce of nothing: %v, want ErrEmpty", err)
	}
	seen := 0
	if err := rdd.ForEach(ctx, s, sumF, func(int) { seen++ }); err != nil || seen != 5 {
		t.Fatalf("ForEach saw %d, %v", seen, err)
	}
}

var reduceOfValues = rdd.Func(func(a Args) *rdd.RDD[int] { return rdd.Values(a.src()) })

// computed counts how often cachedF's Map runs, in this process (local
// mode runs executors in-process).
var computed atomic.Int64

var cachedF = rdd.Func(func(n int) *rdd.RDD[int] {
	data := make([]int, n)
	for i := range data {
		data[i] = i
	}
	return rdd.Map(rdd.Parallelize(data, rdd.Partitions(4)), func(x int) int { computed.Add(1); return x * 2 }).Cache()
})

func TestCacheComputesOnce(t *testing.T) {
	s := newSession(t)
	r := cachedF.Invoke(100)
	computed.Store(0)
	for range 3 {
		if n, err := rdd.Count(context.Background(), s, r); err != nil || n != 100 {
			t.Fatalf("Count = %d, %v", n, err)
		}
	}
	if got := computed.Load(); got != 100 {
		t.Fatalf("Map ran %d times over three Counts of a cached RDD, want 100", got)
	}
	// Take stops early: a partial partition must not be cached as whole.
	computed.Store(0)
	r2 := cachedF.Invoke(40)
	if got, err := rdd.Take(context.Background(), s, r2, 3); err != nil || len(got) != 3 {
		t.Fatalf("Take = %v, %v", got, err)
	}
	if n, err := rdd.Count(context.Background(), s, r2); err != nil || n != 40 {
		t.Fatalf("Count after Take = %d, %v", n, err)
	}
}

var failing atomic.Int64

var panicF = rdd.Func(func(mode string) *rdd.RDD[int] {
	return rdd.Map(rdd.Parallelize([]int{1, 2, 3, 4}, rdd.Partitions(2)), func(x int) int {
		if x == 3 {
			n := failing.Add(1)
			if mode == "always" || n <= 2 {
				panic(fmt.Sprintf("bad record %d", x))
			}
		}
		return x
	})
})

func TestUserPanicRetriedThenFails(t *testing.T) {
	s := newSession(t)
	failing.Store(0)
	_, err := rdd.Collect(context.Background(), s, panicF.Invoke("always"))
	if err == nil || !strings.Contains(err.Error(), "bad record 3") || !strings.Contains(err.Error(), "4 times") {
		t.Fatalf("error %v; want the panic's message after 4 attempts", err)
	}
	if n := failing.Load(); n != 4 {
		t.Fatalf("the failing task ran %d times, want 4", n)
	}
	failing.Store(0)
	got, err := rdd.Collect(context.Background(), s, panicF.Invoke("twice"))
	if err != nil || !slices.Equal(got, []int{1, 2, 3, 4}) {
		t.Fatalf("a task that fails twice then succeeds: %v, %v", got, err)
	}
}

var saveF = rdd.Func(func(a Args) *rdd.RDD[kv] { return rdd.ReduceByKey(a.src(), sum, rdd.Partitions(a.Out)) })

func TestSaveAsTextFile(t *testing.T) {
	s := newSession(t)
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "out")
	a := Args{Data: []kv{rdd.KV("a", 1), rdd.KV("b", 2), rdd.KV("a", 3)}, In: 2, Out: 3}
	if err := rdd.SaveAsTextFile(ctx, s, saveF.Invoke(a), dir); err != nil {
		t.Fatal(err)
	}
	ents, _ := os.ReadDir(dir)
	var names []string
	var lines []string
	for _, e := range ents {
		names = append(names, e.Name())
		if strings.HasPrefix(e.Name(), "part-") {
			b, _ := os.ReadFile(filepath.Join(dir, e.Name()))
			lines = append(lines, strings.Fields(strings.ReplaceAll(string(b), "\t", "="))...)
		}
	}
	if want := []string{"_SUCCESS", "part-00000", "part-00001", "part-00002"}; !slices.Equal(names, want) {
		t.Fatalf("output holds %v, want %v", names, want)
	}
	slices.Sort(lines)
	if want := []string{"a=4", "b=2"}; !slices.Equal(lines, want) {
		t.Fatalf("lines %v, want %v", lines, want)
	}

	// An output directory that holds anything is refused and left alone.
	err := rdd.SaveAsTextFile(ctx, s, saveF.Invoke(a), dir)
	if err == nil || !strings.Contains(err.Error(), dir) {
		t.Fatalf("second save into %s: %v, want an error naming it", dir, err)
	}
	if ents2, _ := os.ReadDir(dir); len(ents2) != len(ents) {
		t.Fatalf("the refused save changed %s", dir)
	}

	// A failing job leaves no output directory behind.
	failing.Store(0)
	bad := filepath.Join(t.TempDir(), "bad")
	if err := rdd.SaveAsTextFile(ctx, s, panicF.Invoke("always"), bad); err == nil {
		t.Fatal("a failing job saved")
	}
	if _, err := os.Stat(bad); !os.IsNotExist(err) {
		t.Fatalf("after a failed save, %s: %v; want it gone", bad, err)
	}
}

var growF = rdd.Func(func(n int) *rdd.RDD[rdd.Pair[string, []int]] {
	data := make([]kv, n)
	for i := range data {
		data[i] = rdd.KV(fmt.Sprint("k", i%2), i)
	}
	return rdd.AggregateByKey(rdd.Parallelize(data, rdd.Partitions(2)), []int(nil),
		func(acc []int, v int) []int { return append(acc, v) },
		func(x, y []int) []int { return append(x, y...) })
})

// Combiners that grow (AggregateByKey into a slice) count against the
// budget as they grow, so two keys with many values still spill.
func TestGrowingCombinersSpill(t *testing.T) {
	s := newSession(t, func(c *driver.Config) { c.Memory = 64 << 10 })
	got := collect(t, s, growF.Invoke(200000))
	total := 0
	for _, g := range got {
		total += len(g.Value)
	}
	if len(got) != 2 || total != 200000 {
		t.Fatalf("%d keys, %d values; want 2 and 200000", len(got), total)
	}
	if s.Metrics().Spills == 0 {
		t.Fatal("no spills: growing combiners were not counted against the budget")
	}
}

var countPairKeyF = rdd.Func(func(n int) *rdd.RDD[rdd.Pair[rdd.Pair[string, int], int]] {
	return rdd.Parallelize([]rdd.Pair[rdd.Pair[string, int], int]{
		rdd.KV(rdd.KV("a", 1), 1), rdd.KV(rdd.KV("a", 1), 2), rdd.KV(rdd.KV("b", 2), 3),
	}, rdd.Partitions(n))
})

func TestCountByKeyCompositeKey(t *testing.T) {
	s := newSession(t)
	got, err := rdd.CountByKey(context.Background(), s, countPairKeyF.Invoke(2))
	if err != nil || got[rdd.KV("a", 1)] != 2 || got[rdd.KV("b", 2)] != 1 {
		t.Fatalf("CountByKey = %v, %v", got, err)
	}
}

var nestedF = rdd.Func(func(n int) *rdd.RDD[int] {
	return rdd.Parallelize([]int{1, 2, 3, 4}, rdd.Partitions(n))
})

// ForEach's function may run another action on the same session.
func TestForEachRunsNestedAction(t *testing.T) {
	s := newSession(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var counts []int64
	err := rdd.ForEach(ctx, s, nestedF.Invoke(2), func(int) {
		n, err := rdd.Count(ctx, s, nestedF.Invoke(3))
		if err != nil {
			t.Error(err)
		}
		counts = append(counts, n)
	})
	if err != nil || len(counts) != 4 || counts[0] != 4 {
		t.Fatalf("ForEach: %v, counts %v", err, counts)
	}
}

var slowF = rdd.Func(func(ms int) *rdd.RDD[int] {
	return rdd.Map(rdd.Parallelize([]int{1, 2}, rdd.Partitions(2)), func(x int) int {
		time.Sleep(time.Duration(ms) * time.Millisecond) // the work a cancelled job is doing
		return x
	})
})

func TestCancelledJobReturnsContextError(t *testing.T) {
	s := newSession(t)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err := rdd.Collect(ctx, s, slowF.Invoke(300))
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Collect past its deadline: %v, want DeadlineExceeded", err)
	}
}

var repartitionF = rdd.Func(func(a Args) *rdd.RDD[kv] { return rdd.Repartition(a.src(), a.Out) })

func TestRepartition(t *testing.T) {
	s := newSession(t)
	rng := rand.New(rand.NewPCG(11, 12))
	for range 10 {
		a := randomArgs(rng, rng.IntN(500), 40)
		r := repartitionF.Invoke(a)
		if r.NumPartitions() != a.Out {
			t.Fatalf("%d partitions, want %d", r.NumPartitions(), a.Out)
		}
		got := collect(t, s, r)
		if !slices.Equal(sortedPairs(got), sortedPairs(a.Data)) {
			t.Fatalf("Repartition is not a permutation of its input")
		}
		g, _ := task.GraphOf(r)
		last := g.Nodes()[len(g.Nodes())-1]
		if len(last.Deps) != 1 || !last.Deps[0].Indeterminate {
			t.Fatalf("Repartition's shuffle is not marked indeterminate: %+v", last)
		}
	}
}
