package scheduler_test

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/rdd"
	"github.com/sluicehq/sluice/scheduler"

	"github.com/sluicehq/sluice/internal/task"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

type kv = rdd.Pair[string, int]

func sum(a, b int) int { return a + b }

var (
	wordCountFunc = rdd.Func(func(lines []string) *rdd.RDD[kv] {
		words := rdd.FlatMap(rdd.Parallelize(lines, rdd.Partitions(3)), func(l string, emit func(string)) {
			for w := range strings.FieldsSeq(l) {
				emit(w)
			}
		})
		return rdd.ReduceByKey(rdd.Map(words, func(w string) kv { return rdd.KV(w, 1) }), sum, rdd.Partitions(2))
	})
	narrowFunc = rdd.Func(func(n int) *rdd.RDD[int] {
		data := make([]int, n)
		return rdd.Filter(rdd.Map(rdd.Parallelize(data, rdd.Partitions(4)), func(x int) int { return x + 1 }), func(x int) bool { return x > 0 })
	})
	joinFunc = rdd.Func(func(n int) *rdd.RDD[rdd.Pair[string, rdd.Pair[int, int]]] {
		a := rdd.ReduceByKey(rdd.Parallelize([]kv{rdd.KV("a", 1)}, rdd.Partitions(2)), sum)
		b := rdd.Parallelize([]kv{rdd.KV("a", 2)}, rdd.Partitions(3))
		return rdd.Join(a, b, rdd.Partitions(4))
	})
	sortFunc = rdd.Func(func(n int) *rdd.RDD[kv] {
		counts := rdd.ReduceByKey(rdd.Parallelize([]kv{rdd.KV("b", 1), rdd.KV("a", 2)}, rdd.Partitions(2)), sum).Cache()
		return rdd.SortByKey(rdd.Union(counts, counts), rdd.Partitions(3))
	})
	repartitionFunc = rdd.Func(func(n int) *rdd.RDD[kv] {
		spread := rdd.Repartition(rdd.Parallelize([]string{"a", "b", "c", "d"}, rdd.Partitions(3)), 2)
		return rdd.ReduceByKey(rdd.Map(spread, func(w string) kv { return rdd.KV(w, 1) }), sum, rdd.Partitions(2))
	})
	groupTwiceFunc = rdd.Func(func(n int) *rdd.RDD[rdd.Pair[int, []int]] {
		g := rdd.GroupByKey(rdd.Parallelize([]rdd.Pair[int, int]{rdd.KV(1, 1)}, rdd.Partitions(2)))
		sizes := rdd.Map(g, func(p rdd.Pair[int, []int]) rdd.Pair[int, int] { return rdd.KV(len(p.Value), p.Key) })
		return rdd.GroupByKey(sizes, rdd.Partitions(1))
	})
)

func nodesOf[T any](t *testing.T, r *rdd.RDD[T]) ([]task.NodeInfo, int) {
	t.Helper()
	g, err := task.GraphOf(r)
	if err != nil {
		t.Fatal(err)
	}
	nodes := g.Nodes()
	return nodes, nodes[len(nodes)-1].ID
}

func TestExplainGolden(t *testing.T) {
	cases := map[string]func() ([]task.NodeInfo, int){
		"wordcount":   func() ([]task.NodeInfo, int) { return nodesOf(t, wordCountFunc.Invoke([]string{"a b", "b"})) },
		"narrow":      func() ([]task.NodeInfo, int) { return nodesOf(t, narrowFunc.Invoke(10)) },
		"join":        func() ([]task.NodeInfo, int) { return nodesOf(t, joinFunc.Invoke(0)) },
		"sortbykey":   func() ([]task.NodeInfo, int) { return nodesOf(t, sortFunc.Invoke(0)) },
		"group-twice": func() ([]task.NodeInfo, int) { return nodesOf(t, groupTwiceFunc.Invoke(0)) },
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
				t.Fatalf("%v (run go test ./scheduler -update to create it)", err)
			}
			if got != string(want) {
				t.Errorf("plan changed (go test ./scheduler -update rewrites it):\n--- got\n%s--- want\n%s", got, want)
			}
		})
	}
}
