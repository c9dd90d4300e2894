package driver

import (
	"context"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/sluicehq/sluice/rdd"
)

var pairsF = rdd.Func(func(n int) *rdd.RDD[rdd.Pair[int, int]] {
	data := make([]rdd.Pair[int, int], n)
	for i := range data {
		data[i] = rdd.KV(i%7, i)
	}
	return rdd.ReduceByKey(rdd.Parallelize(data, rdd.Partitions(3)), func(a, b int) int { return a + b })
})

func shuffleFiles(t *testing.T, s *Session) int {
	files, err := filepath.Glob(filepath.Join(s.dir, "executor", "shuffle", "*"))
	if err != nil {
		t.Fatal(err)
	}
	return len(files)
}

// A lineage the program no longer holds has its shuffle files removed.
func TestDroppedLineageIsCleanedUp(t *testing.T) {
	cfg := DefaultConfig()
	cfg.LocalDir = t.TempDir()
	s, err := NewSession(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	keep := pairsF.Invoke(100)
	if _, err := rdd.Count(context.Background(), s, keep); err != nil {
		t.Fatal(err)
	}
	kept := shuffleFiles(t, s)
	func() {
		if _, err := rdd.Count(context.Background(), s, pairsF.Invoke(50)); err != nil {
			t.Fatal(err)
		}
	}()
	if shuffleFiles(t, s) <= kept {
		t.Fatal("the second lineage wrote no shuffle files")
	}
	deadline := time.Now().Add(30 * time.Second)
	for shuffleFiles(t, s) != kept {
		if time.Now().After(deadline) {
			t.Fatalf("%d shuffle files after the lineage was dropped, want %d", shuffleFiles(t, s), kept)
		}
		runtime.GC()
		time.Sleep(10 * time.Millisecond)
	}
	// The lineage still held keeps its map outputs: a second job skips the map stage.
	before := s.Metrics().Tasks
	if _, err := rdd.Count(context.Background(), s, keep); err != nil {
		t.Fatal(err)
	}
	if ran := s.Metrics().Tasks - before; ran != int64(keep.NumPartitions()) {
		t.Fatalf("second job on a kept lineage ran %d tasks, want %d (result tasks only)", ran, keep.NumPartitions())
	}
	runtime.KeepAlive(keep)
	if _, err := os.Stat(s.dir); err != nil {
		t.Fatal(err)
	}
}
