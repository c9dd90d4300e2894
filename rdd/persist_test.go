package rdd_test

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/sluicehq/sluice/driver"
	"github.com/sluicehq/sluice/rdd"
	"github.com/sluicehq/sluice/scheduler"

	"github.com/sluicehq/sluice/internal/task"
)

// persistRuns counts how often persistF's and checkpointF's Maps run, in
// this process (local mode runs executors in-process).
var persistRuns atomic.Int64

type persistArgs struct {
	Data  []kv
	Parts int
	Level rdd.StorageLevel // persisted inside the Func; StorageNone: not
}

// persistF doubles values, counting each call, and persists at a.Level.
var persistF = rdd.Func(func(a persistArgs) *rdd.RDD[kv] {
	m := rdd.Map(rdd.Parallelize(a.Data, rdd.Partitions(a.Parts)), func(p kv) kv {
		persistRuns.Add(1)
		return rdd.KV(p.Key, 2*p.Value)
	})
	if a.Level != rdd.StorageNone {
		m.Persist(a.Level)
	}
	return m
})

func naiveDouble(data []kv) []kv {
	out := make([]kv, len(data))
	for i, p := range data {
		out[i] = rdd.KV(p.Key, 2*p.Value)
	}
	return out
}

var levels = []rdd.StorageLevel{rdd.StorageNone, rdd.MemoryOnly, rdd.DiskOnly, rdd.MemoryAndDisk, rdd.MemoryOnlySer, rdd.MemoryAndDiskSer}

// Every level gives the naive answer on random inputs and partition
// counts (empty RDDs, empty partitions, more partitions than elements),
// whether it is set inside the Func or in main; a persisted RDD is
// computed once over three jobs, one that is not three times.
func TestPersistLevelsAgainstNaive(t *testing.T) {
	s := newSession(t)
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(12, 12))
	for i := range 24 {
		level := levels[i%len(levels)]
		inMain := i%4 >= 2
		n := []int{0, 1, 5, 200}[rng.IntN(4)]
		parts := 1 + rng.IntN(8)
		data := randomArgs(rng, n, 7).Data
		name := fmt.Sprintf("%v/n=%d/parts=%d/inMain=%v", level, n, parts, inMain)
		t.Run(name, func(t *testing.T) {
			a := persistArgs{Data: data, Parts: parts}
			if !inMain {
				a.Level = level
			}
			r := persistF.Invoke(a)
			if inMain && level != rdd.StorageNone {
				r.Persist(level)
			}
			if got := r.StorageLevel(); got != level {
				t.Fatalf("StorageLevel() = %v, want %v", got, level)
			}
			persistRuns.Store(0)
			want := naiveDouble(data)
			for range 3 {
				got, err := rdd.Collect(ctx, s, r)
				if err != nil {
					t.Fatal(err)
				}
				if !slices.Equal(got, want) {
					t.Fatalf("Collect = %v, want %v", got, want)
				}
			}
			runs, once := persistRuns.Load(), int64(n)
			if level == rdd.StorageNone {
				once *= 3
			}
			if runs != once {
				t.Fatalf("the Map ran %d times over three jobs, want %d", runs, once)
			}
		})
	}
}

// With a memory budget smaller than one partition, MemoryOnly recomputes
// every time, while DiskOnly and MemoryAndDisk (which moves what memory
// cannot hold to disk) compute once.
func TestDiskLevelsSurviveMemoryPressure(t *testing.T) {
	s := newSession(t, func(c *driver.Config) { c.CacheMemory = 1 << 10 })
	ctx := context.Background()
	data := randomArgs(rand.New(rand.NewPCG(3, 3)), 3000, 50).Data // ~10 KiB a partition
	for _, tc := range []struct {
		level rdd.StorageLevel
		runs  int64
	}{{rdd.MemoryOnly, 3 * 3000}, {rdd.DiskOnly, 3000}, {rdd.MemoryAndDisk, 3000}} {
		t.Run(tc.level.String(), func(t *testing.T) {
			r := persistF.Invoke(persistArgs{Data: data, Parts: 3, Level: tc.level})
			persistRuns.Store(0)
			for range 3 {
				got, err := rdd.Collect(ctx, s, r)
				if err != nil || !slices.Equal(got, naiveDouble(data)) {
					t.Fatalf("Collect: %d elements, %v", len(got), err)
				}
			}
			if got := persistRuns.Load(); got != tc.runs {
				t.Fatalf("the Map ran %d times, want %d", got, tc.runs)
			}
		})
	}
}

// storedFiles counts the persisted partitions on the local executor's disk.
func storedFiles(t *testing.T, root string) int {
	t.Helper()
	n := 0
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && strings.Contains(path, string(filepath.Separator)+"cache"+string(filepath.Separator)) {
			n++
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// Unpersist drops what executors hold, in memory and on disk, and later
// jobs neither read nor store it.
func TestUnpersistDrops(t *testing.T) {
	local := t.TempDir()
	s := newSession(t, func(c *driver.Config) { c.LocalDir = local })
	ctx := context.Background()
	data := randomArgs(rand.New(rand.NewPCG(4, 4)), 100, 10).Data
	for _, level := range []rdd.StorageLevel{rdd.MemoryOnly, rdd.DiskOnly, rdd.MemoryAndDisk} {
		t.Run(level.String(), func(t *testing.T) {
			r := persistF.Invoke(persistArgs{Data: data, Parts: 4}).Persist(level)
			persistRuns.Store(0)
			for range 2 {
				if n, err := rdd.Count(ctx, s, r); err != nil || n != 100 {
					t.Fatalf("Count = %d, %v", n, err)
				}
			}
			if got := persistRuns.Load(); got != 100 {
				t.Fatalf("persisted: the Map ran %d times, want 100", got)
			}
			if files := storedFiles(t, local); (files == 4) != (level == rdd.DiskOnly) {
				t.Fatalf("%d partitions on disk at %v", files, level)
			}
			if err := r.Unpersist(ctx, s); err != nil {
				t.Fatal(err)
			}
			if files := storedFiles(t, local); files != 0 {
				t.Fatalf("%d partitions left on disk after Unpersist", files)
			}
			persistRuns.Store(0)
			for range 2 {
				if n, err := rdd.Count(ctx, s, r); err != nil || n != 100 {
					t.Fatalf("Count = %d, %v", n, err)
				}
			}
			if got := persistRuns.Load(); got != 200 {
				t.Fatalf("after Unpersist the Map ran %d times over two Counts, want 200", got)
			}
			if files := storedFiles(t, local); files != 0 {
				t.Fatalf("after Unpersist a job stored %d partitions on disk", files)
			}
		})
	}
}

// checkpointF checkpoints a ReduceByKey of a counted Map: a lineage with a
// shuffle below the checkpoint, which truncation must cut off.
var checkpointF = rdd.Func(func(a persistArgs) *rdd.RDD[kv] {
	m := rdd.Map(rdd.Parallelize(a.Data, rdd.Partitions(a.Parts)), func(p kv) kv {
		persistRuns.Add(1)
		return p
	})
	counts := rdd.ReduceByKey(m, sum, rdd.Partitions(3)).Checkpoint()
	return rdd.Filter(counts, func(p kv) bool { return p.Value != 0 })
})

func naiveCounts(data []kv) map[string]int {
	out := map[string]int{}
	for _, p := range data {
		out[p.Key] += p.Value
	}
	for k, v := range out {
		if v == 0 {
			delete(out, k)
		}
	}
	return out
}

func asMap(ps []kv) map[string]int {
	out := map[string]int{}
	for _, p := range ps {
		out[p.Key] = p.Value
	}
	return out
}

func explain(t *testing.T, r *rdd.RDD[kv]) string {
	t.Helper()
	g, err := task.GraphOf(r)
	if err != nil {
		t.Fatal(err)
	}
	nodes := g.Nodes()
	return scheduler.Explain(nodes, nodes[len(nodes)-1].ID)
}

func TestCheckpointTruncatesLineage(t *testing.T) {
	dir := t.TempDir()
	s := newSession(t, func(c *driver.Config) { c.CheckpointDir = dir })
	ctx := context.Background()
	data := randomArgs(rand.New(rand.NewPCG(5, 5)), 500, 40).Data
	r := checkpointF.Invoke(persistArgs{Data: data, Parts: 4})
	before := explain(t, r)
	if !strings.Contains(before, "shuffle=") {
		t.Fatalf("before the checkpoint the plan has no shuffle:\n%s", before)
	}
	persistRuns.Store(0)
	got, err := rdd.Collect(ctx, s, r)
	if err != nil {
		t.Fatal(err)
	}
	if want := naiveCounts(data); !mapsEqual(asMap(got), want) {
		t.Fatalf("Collect = %v, want %v", asMap(got), want)
	}
	if runs := persistRuns.Load(); runs != 500 {
		t.Fatalf("the first job computed the lineage below the checkpoint %d times per element, want once", runs/500)
	}
	after := explain(t, r)
	if want := "result partitions=3: Filter#5 <- ReduceByKey#4[checkpointed]\n"; after != want {
		t.Fatalf("plan after the checkpoint:\n%s\nwant:\n%s", after, want)
	}
	got2, err := rdd.Collect(ctx, s, r)
	if err != nil || !slices.Equal(got2, got) {
		t.Fatalf("second Collect = %v, %v; first %v", got2, err, got)
	}
	if runs := persistRuns.Load(); runs != 500 {
		t.Fatalf("a job after the checkpoint ran the lineage below it (%d Map calls in all, want 500)", runs)
	}

	// The files are checked on read: damage fails the job, naming the file.
	ckdir, ok := r.CheckpointFile()
	if ok {
		t.Fatal("CheckpointFile of the unmarked root reports a checkpoint")
	}
	parts, err := filepath.Glob(filepath.Join(dir, "*", "rdd-*", "part-*"))
	if err != nil || len(parts) != 3 {
		t.Fatalf("checkpoint files %v, %v; want 3", parts, err)
	}
	_ = ckdir
	b, err := os.ReadFile(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	orig := slices.Clone(b)
	b[len(b)/2] ^= 0x40
	if err := os.WriteFile(parts[1], b, 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = rdd.Collect(ctx, s, r)
	if err == nil || !strings.Contains(err.Error(), filepath.Base(parts[1])) {
		t.Fatalf("Collect over a damaged checkpoint file: %v, want an error naming %s", err, parts[1])
	}
	if runs := persistRuns.Load(); runs != 500 {
		t.Fatalf("a damaged checkpoint was recomputed from lineage (%d Map calls)", runs)
	}
	// So does a missing one. The damaged file is mended first: with both,
	// whichever partition ran out of attempts first would name the job's
	// error.
	if err := os.WriteFile(parts[1], orig, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(parts[2]); err != nil {
		t.Fatal(err)
	}
	_, err = rdd.Collect(ctx, s, r)
	if err == nil || !strings.Contains(err.Error(), "checkpoint") || !strings.Contains(err.Error(), filepath.Base(parts[2])) {
		t.Fatalf("Collect over a missing checkpoint file: %v, want an error naming the checkpoint and %s", err, parts[2])
	}
	if runs := persistRuns.Load(); runs != 500 {
		t.Fatalf("a missing checkpoint file was recomputed from lineage (%d Map calls)", runs)
	}
}

func mapsEqual(a, b map[string]int) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

func TestCheckpointNeedsADirectory(t *testing.T) {
	s := newSession(t)
	r := checkpointF.Invoke(persistArgs{Data: []kv{rdd.KV("a", 1)}, Parts: 1})
	_, err := rdd.Collect(context.Background(), s, r)
	if !errors.Is(err, rdd.ErrNoCheckpointDir) || !strings.Contains(err.Error(), "--checkpoint-dir") || !strings.Contains(err.Error(), "persist_test.go") {
		t.Fatalf("Collect without a checkpoint directory: %v; want ErrNoCheckpointDir naming the flag and the call", err)
	}
	if err := s.SetCheckpointDir(t.TempDir()); err != nil {
		t.Fatal(err)
	}
	got, err := rdd.Collect(context.Background(), s, r)
	if err != nil || len(got) != 1 {
		t.Fatalf("Collect after SetCheckpointDir = %v, %v", got, err)
	}
}

// A range-partitioned shuffle below a checkpoint (SortByKey samples its
// input first) and a shuffle above it both work across the truncation.
var sortCheckpointF = rdd.Func(func(a persistArgs) *rdd.RDD[kv] {
	sorted := rdd.SortByKey(rdd.Parallelize(a.Data, rdd.Partitions(a.Parts)), rdd.Partitions(3)).Checkpoint()
	return rdd.SortByKey(rdd.ReduceByKey(sorted, sum, rdd.Partitions(2)), rdd.Partitions(2))
})

func TestCheckpointAcrossShuffles(t *testing.T) {
	s := newSession(t, func(c *driver.Config) { c.CheckpointDir = t.TempDir() })
	data := randomArgs(rand.New(rand.NewPCG(6, 6)), 300, 30).Data
	r := sortCheckpointF.Invoke(persistArgs{Data: data, Parts: 4})
	sums := map[string]int{}
	for _, p := range data {
		sums[p.Key] += p.Value
	}
	var want []kv
	for k, v := range sums {
		want = append(want, rdd.KV(k, v))
	}
	slices.SortFunc(want, func(a, b kv) int { return strings.Compare(a.Key, b.Key) })
	for i := range 2 {
		got, err := rdd.Collect(context.Background(), s, r)
		if err != nil || !slices.Equal(got, want) {
			t.Fatalf("Collect %d = %v, %v; want %v", i, got, err, want)
		}
	}
	want2 := "result partitions=2: SortByKey#9(shuffle=8)\n" +
		"  map shuffle=8 partitions=2: ReduceByKey#6(shuffle=5)\n" +
		"    map shuffle=5 partitions=3: SortByKey#4[checkpointed]\n"
	if plan := explain(t, r); plan != want2 {
		t.Fatalf("plan after the checkpoint:\n%s\nwant (no stage below the checkpoint):\n%s", plan, want2)
	}
}

// localCkptF doubles values, counting each call, then keeps the result
// with LocalCheckpoint; a.Level != StorageNone skips the checkpoint, for
// the reference.
var localCkptF = rdd.Func(func(a persistArgs) *rdd.RDD[[]kv] {
	m := rdd.Map(rdd.Parallelize(a.Data, rdd.Partitions(a.Parts)), func(p kv) kv {
		persistRuns.Add(1)
		return rdd.KV(p.Key, 2*p.Value)
	})
	if a.Level == rdd.StorageNone {
		m = rdd.LocalCheckpoint(m)
	}
	return rdd.Glom(m)
})

// TestLocalCheckpoint: a locally checkpointed RDD has the same partitions,
// in the same order, as the RDD itself (empty ones and more partitions
// than elements included), and later jobs read the saved partitions
// instead of running the lineage below them again.
func TestLocalCheckpoint(t *testing.T) {
	s := newSession(t)
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(31, 31))
	for _, n := range []int{0, 3, 200} {
		for _, parts := range []int{1, 4, 9} {
			data := randomArgs(rng, n, 7).Data
			want, err := rdd.Collect(ctx, s, localCkptF.Invoke(persistArgs{Data: data, Parts: parts, Level: rdd.MemoryOnly}))
			if err != nil {
				t.Fatal(err)
			}
			r := localCkptF.Invoke(persistArgs{Data: data, Parts: parts})
			persistRuns.Store(0)
			for job := range 3 {
				got, err := rdd.Collect(ctx, s, r)
				if err != nil {
					t.Fatal(err)
				}
				if fmt.Sprint(got) != fmt.Sprint(want) {
					t.Fatalf("n=%d parts=%d job %d: partitions %v, want %v", n, parts, job, got, want)
				}
			}
			if runs := persistRuns.Load(); runs != int64(n) {
				t.Errorf("n=%d parts=%d: three jobs ran the lineage below the checkpoint %d times for %d elements, want once each", n, parts, runs, n)
			}
		}
	}
}
