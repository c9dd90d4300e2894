package rdd_test

import (
	"cmp"
	"context"
	"fmt"
	"iter"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/driver"
	"github.com/sluicehq/sluice/rdd"
)

// Lines is the argument of wordCountF.
type Lines struct {
	Lines []string
	Parts int
}

var (
	wordCountF = rdd.Func(func(a Lines) *rdd.RDD[rdd.Pair[string, int64]] {
		words := rdd.FlatMap(rdd.Parallelize(a.Lines, rdd.Partitions(a.Parts)), func(line string, emit func(string)) {
			for w := range strings.FieldsSeq(line) {
				emit(w)
			}
		})
		ones := rdd.Map(words, func(w string) rdd.Pair[string, int64] { return rdd.KV(w, int64(1)) })
		return rdd.ReduceByKey(ones, func(a, b int64) int64 { return a + b })
	})
	pathsF = rdd.Func(func(a Lines) *rdd.RDD[string] { return rdd.Parallelize(a.Lines, rdd.Partitions(a.Parts)) })
)

// byCount orders word counts by count, then by word in reverse, so the
// largest are the most frequent and, among equals, the first in
// alphabetical order.
func byCount(a, b rdd.Pair[string, int64]) int {
	if c := cmp.Compare(a.Value, b.Value); c != 0 {
		return c
	}
	return cmp.Compare(b.Key, a.Key)
}

// zipfLines returns n lines of words drawn from a Zipf distribution.
func zipfLines(seed uint64, n int) []string {
	rng := rand.New(rand.NewPCG(seed, 7))
	z := rand.NewZipf(rng, 1.2, 1, 5000)
	lines := make([]string, n)
	for i := range lines {
		var b strings.Builder
		for j := range 1 + rng.IntN(12) {
			if j > 0 {
				b.WriteByte(' ')
			}
			fmt.Fprintf(&b, "w%d", z.Uint64())
		}
		lines[i] = b.String()
	}
	return lines
}

// checkTopK runs TopFunc on a word count through a counting runner and
// checks the answer and the bar: at most k records per partition, so k ×
// partitions in all, reach the driver.
func checkTopK(t *testing.T, run rdd.Runner, k int) {
	t.Helper()
	ctx := context.Background()
	counts := wordCountF.Invoke(Lines{Lines: zipfLines(3, 4000), Parts: 6})
	all, err := rdd.Collect(ctx, run, counts)
	if err != nil {
		t.Fatal(err)
	}
	want := slices.Clone(all)
	slices.SortFunc(want, func(a, b rdd.Pair[string, int64]) int { return byCount(b, a) })
	want = want[:k]

	rec := &records{run: run}
	got, err := rdd.TopFunc(ctx, rec, counts, k, byCount)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, want) {
		t.Errorf("TopFunc = %v, want %v", got, want)
	}
	parts := counts.NumPartitions()
	// A Pair is two frames: key and value.
	if n := rec.frames / 2; n > k*parts || rec.maxPart > 2*k {
		t.Errorf("%d records (at most %d from one partition) of %d words reached the driver; the bar is %d × %d partitions", n, rec.maxPart/2, len(all), k, parts)
	}
	t.Logf("top %d of %d words: %d records reached the driver from %d partitions", k, len(all), rec.frames/2, parts)
}

// TestTopKSendsKPerPartition is the bar, in local mode.
func TestTopKSendsKPerPartition(t *testing.T) {
	s := newSession(t)
	checkTopK(t, s, 10)
	checkTopK(t, &records{run: s}, 10) // by reference, in process
}

// writePid writes this process's id into each file named. It captures
// nothing, so it runs on the executors.
func writePid(_ context.Context, paths iter.Seq[string]) error {
	for p := range paths {
		if err := os.WriteFile(p, []byte(strconv.Itoa(os.Getpid())), 0o644); err != nil {
			return err
		}
	}
	return nil
}

// TestActionsOnLocalCluster runs the actions with --local-cluster 2: tasks
// run in two executor processes, so functions that capture nothing reach
// them by reference, and the others are applied in the driver (or, for
// ForEachPartition, refused before any task runs).
func TestActionsOnLocalCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("starts executor processes")
	}
	s := newSession(t, func(c *driver.Config) { c.LocalCluster = 2 })
	ctx := context.Background()

	rng := rand.New(rand.NewPCG(12, 2))
	for i := range 3 {
		a := randomInts(rng)
		t.Run(fmt.Sprintf("naive %d", i), func(t *testing.T) { checkActions(t, ctx, s, a) })
	}

	t.Run("Reduce sends one value per partition", func(t *testing.T) {
		data := make([]int, 1000)
		for i := range data {
			data[i] = i
		}
		r := intsF.Invoke(IntArgs{Data: data, Parts: 5})
		rec := &records{run: s}
		got, err := rdd.Reduce(ctx, rec, r, add)
		if err != nil || got != 499500 {
			t.Fatalf("Reduce = %d, %v", got, err)
		}
		if rec.frames != 5 || rec.maxPart != 1 {
			t.Errorf("%d values (at most %d per partition) reached the driver, want 1 per partition", rec.frames, rec.maxPart)
		}
		// A capturing function cannot reach the executors: the same sum,
		// from every element sent to the driver.
		rec.reset()
		zero := 0
		got, err = rdd.Reduce(ctx, rec, r, func(a, b int) int { return a + b + zero })
		if err != nil || got != 499500 {
			t.Fatalf("Reduce with a capturing function = %d, %v", got, err)
		}
		if rec.frames != len(data) {
			t.Errorf("with a capturing function %d values reached the driver, want all %d", rec.frames, len(data))
		}
	})

	t.Run("ForEachPartition runs on executors", func(t *testing.T) {
		dir := t.TempDir()
		var paths []string
		for i := range 6 {
			paths = append(paths, filepath.Join(dir, fmt.Sprintf("f%d", i)))
		}
		r := pathsF.Invoke(Lines{Lines: paths, Parts: 3})
		if err := rdd.ForEachPartition(ctx, s, r, writePid); err != nil {
			t.Fatal(err)
		}
		for _, p := range paths {
			b, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			if pid, err := strconv.Atoi(string(b)); err != nil || pid == os.Getpid() {
				t.Errorf("%s written by process %q; the driver is %d", p, b, os.Getpid())
			}
		}
		rec := &records{run: s}
		err := rdd.ForEachPartition(ctx, rec, r, func(ctx context.Context, paths iter.Seq[string]) error { // site:cluster
			return writePid(ctx, paths)
		})
		if err != nil {
			t.Errorf("a literal that captures nothing: %v", err)
		}
		rec.reset()
		err = rdd.ForEachPartition(ctx, rec, r, func(context.Context, iter.Seq[string]) error { // site:clustercapture
			return os.WriteFile(filepath.Join(dir, "captured"), nil, 0o644)
		})
		want := "rdd: ForEachPartition at actions_cluster_test.go:" + lineOf(t, "actions_cluster_test.go", "clustercapture") + ": its function captures variables"
		if err == nil || !strings.HasPrefix(err.Error(), want) {
			t.Errorf("capturing function: %v, want an error starting %q", err, want)
		}
		if rec.jobs != 0 {
			t.Errorf("%d jobs ran before the error", rec.jobs)
		}
	})

	t.Run("Top-k bar", func(t *testing.T) { checkTopK(t, s, 10) })
}
