package rdd_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/sluicehq/sluice/rdd"
)

// truncateOnce truncates the file named by the first line it sees that
// starts with "truncate ", once per process.
var truncateOnce sync.Once

var truncatingCount = rdd.Func(func(paths []string) *rdd.RDD[string] {
	return rdd.Map(rdd.TextFile(paths...), func(l string) string {
		if target, ok := strings.CutPrefix(l, "truncate "); ok {
			truncateOnce.Do(func() { os.Truncate(target, 10) })
		}
		return l
	})
})

// TestInputTruncatedMidJob: a file cut short while the job runs fails the
// job with a message naming it, instead of counting half of it.
func TestInputTruncatedMidJob(t *testing.T) {
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a.txt"), filepath.Join(dir, "b.txt")
	os.WriteFile(a, []byte("truncate "+b+"\n"), 0o644)
	os.WriteFile(b, []byte(strings.Repeat("some words here\n", 500)), 0o644)
	s := newSession(t)
	n, err := rdd.Count(t.Context(), s, truncatingCount.Invoke([]string{a, b}))
	if !errors.Is(err, rdd.ErrInputChanged) || !errors.Is(err, rdd.ErrPermanent) || !strings.Contains(err.Error(), b) {
		t.Fatalf("Count = %d, %v; want a permanent ErrInputChanged naming %s", n, err, b)
	}
	var te *rdd.TaskError
	if !errors.As(err, &te) || te.Attempt != 0 {
		t.Errorf("the task error %+v: want the first attempt to fail the job", te)
	}
}
