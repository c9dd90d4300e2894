package driver

import (
	"context"
	"flag"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/sluicehq/sluice/rdd"
	"github.com/sluicehq/sluice/worker"

	"github.com/sluicehq/sluice/internal/codec"
)

// scaleParts sets the size of TestManyPartitions: m map × m reduce
// partitions.
var scaleParts = flag.Int("scale-parts", 0, "map and reduce partitions of TestManyPartitions (0: 10,000, or 2,000 under -race)")

// sparseF sums n values by key over m map and r reduce partitions, tiny
// data: n records spread over the map partitions, each key its own.
var sparseF = rdd.Func(func(a [3]int) *rdd.RDD[rdd.Pair[int, int]] {
	n, m, r := a[0], a[1], a[2]
	data := make([]rdd.Pair[int, int], n)
	for i := range data {
		data[i] = rdd.KV(i*7919%n, i)
	}
	return rdd.ReduceByKey(rdd.Parallelize(data, rdd.Partitions(m)), func(a, b int) int { return a + b }, rdd.Partitions(r))
})

// TestManyPartitions runs a local job of 10,000 map × 10,000 reduce
// partitions on tiny data: it completes, with the right answer, and no
// task's encoded spec is over 64 KiB (a reduce task used to carry every
// map's size vector: 8.6 MiB at 1,000 × 1,000).
func TestManyPartitions(t *testing.T) {
	if testing.Short() {
		t.Skip("a long job")
	}
	parts := *scaleParts
	if parts == 0 {
		parts = 10000
		if raceEnabled {
			parts = 2000
		}
	}
	n := 2 * parts
	cfg := DefaultConfig()
	cfg.LocalDir = t.TempDir()
	s, err := NewSession(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	enc := codec.For[worker.TaskSpec]()
	largest, tasks := 0, 0
	s.onLaunch = func(spec *worker.TaskSpec) {
		tasks++
		largest = max(largest, len(enc.Append(nil, *spec)))
	}
	start := time.Now()
	got, err := rdd.Collect(context.Background(), s, sparseF.Invoke([3]int{n, parts, parts}))
	took := time.Since(start)
	if err != nil {
		t.Fatal(err)
	}
	slices.SortFunc(got, func(a, b rdd.Pair[int, int]) int { return a.Key - b.Key })
	want := map[int]int{}
	for i := range n {
		want[i*7919%n] += i
	}
	if len(got) != len(want) {
		t.Fatalf("%d keys, want %d", len(got), len(want))
	}
	for _, p := range got {
		if want[p.Key] != p.Value {
			t.Fatalf("key %d: %d, want %d", p.Key, p.Value, want[p.Key])
		}
	}
	t.Logf("%d × %d partitions: %d tasks in %v; largest task spec %d bytes", parts, parts, tasks, took, largest)
	if tasks < 2*parts {
		t.Fatalf("%d tasks launched, want at least %d", tasks, 2*parts)
	}
	if largest > 64<<10 {
		t.Fatalf("a task spec of %d bytes, over 64 KiB", largest)
	}
}

// Union of two shuffles: each partition of the union reads its own
// partition of one of them, and the answer is right.
func TestUnionOfShuffles(t *testing.T) {
	s, err := NewSession(DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	got, err := rdd.Collect(context.Background(), s, unionF.Invoke(200))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]int{}
	for i := range 200 {
		want[fmt.Sprint("a", i%11)] += i
		want[fmt.Sprint("b", i%13)] += 2 * i
	}
	if len(got) != len(want) {
		t.Fatalf("%d keys, want %d: %v", len(got), len(want), got)
	}
	for _, p := range got {
		if want[p.Key] != p.Value {
			t.Fatalf("key %s: %d, want %d", p.Key, p.Value, want[p.Key])
		}
	}
}

var unionF = rdd.Func(func(n int) *rdd.RDD[rdd.Pair[string, int]] {
	a := make([]rdd.Pair[string, int], n)
	b := make([]rdd.Pair[string, int], n)
	for i := range n {
		a[i] = rdd.KV(fmt.Sprint("a", i%11), i)
		b[i] = rdd.KV(fmt.Sprint("b", i%13), 2*i)
	}
	sum := func(x, y int) int { return x + y }
	return rdd.Union(
		rdd.ReduceByKey(rdd.Parallelize(a, rdd.Partitions(3)), sum, rdd.Partitions(2)),
		rdd.ReduceByKey(rdd.Parallelize(b, rdd.Partitions(4)), sum, rdd.Partitions(5)))
})

// Map outputs with data in most of many reduce partitions have their sizes
// compressed in the driver (approximate sizes, exact empties): the answer
// stays exact.
func TestCompressedSizesExactAnswer(t *testing.T) {
	s, err := NewSession(DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	const n, m, r = 40000, 8, 600
	got, err := rdd.Collect(context.Background(), s, sparseF.Invoke([3]int{n, m, r}))
	if err != nil {
		t.Fatal(err)
	}
	sum := 0
	for _, p := range got {
		sum += p.Value
	}
	if len(got) != n || sum != n*(n-1)/2 {
		t.Fatalf("%d keys summing to %d, want %d summing to %d", len(got), sum, n, n*(n-1)/2)
	}
}
