package rdd_test

import (
	"context"
	"iter"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/sluicehq/sluice/rdd"

	"github.com/sluicehq/sluice/internal/task"
)

// jobLog is a Runner that records the partitions of every job before the
// wrapped Runner runs it.
type jobLog struct {
	run  rdd.Runner
	mu   sync.Mutex
	jobs [][]int
}

func (l *jobLog) RunJob(ctx context.Context, job *task.Job) error {
	l.mu.Lock()
	l.jobs = append(l.jobs, slices.Clone(job.Partitions))
	l.mu.Unlock()
	return l.run.RunJob(ctx, job)
}

// lineOf returns the number of the only line of file (in this directory)
// that holds the comment "// site:" + name, for tests of errors that name
// a call site.
func lineOf(t *testing.T, file, name string) string {
	t.Helper()
	marker := "// site:" + name
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	found := 0
	for i, l := range strings.Split(string(b), "\n") {
		if strings.Contains(l, marker) {
			if found != 0 {
				t.Fatalf("%q is on lines %d and %d of %s", marker, found, i+1, file)
			}
			found = i + 1
		}
	}
	if found == 0 {
		t.Fatalf("%q is not in %s", marker, file)
	}
	return strconv.Itoa(found)
}

// numbered returns an RDD whose partition i holds sizes[i] elements,
// numbered i*1000, i*1000+1, ...: the test sees where each came from.
func numbered(sizes []int) *rdd.RDD[int] {
	counts := rdd.Parallelize(sizes, rdd.Partitions(len(sizes)))
	return rdd.MapPartitions(counts, func(part int, in iter.Seq[int]) iter.Seq[int] {
		return func(yield func(int) bool) {
			for n := range in {
				for i := range n {
					if !yield(part*1000 + i) {
						return
					}
				}
			}
		}
	})
}

// wantNumbered returns the elements of numbered(sizes), in order.
func wantNumbered(sizes []int) []int {
	var want []int
	for i, n := range sizes {
		for j := range n {
			want = append(want, i*1000+j)
		}
	}
	return want
}
