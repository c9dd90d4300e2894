package rdd_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/internal/task"
	"github.com/sluicehq/sluice/rdd"
)

// names records the jobs it is asked to run, and runs none.
type names []string

var errNotRun = errors.New("not run")

func (n *names) RunJob(_ context.Context, j *task.Job) error {
	*n = append(*n, j.Name)
	return errNotRun
}

var jobNameF = rdd.Func(func(n int) *rdd.RDD[int] { return rdd.Parallelize(make([]int, n)) })

// A job is named after the action the user called and the user's line.
func TestJobNames(t *testing.T) {
	var got names
	r := jobNameF.Invoke(3)
	ctx := context.Background()
	rdd.Collect(ctx, &got, r)
	rdd.Count(ctx, &got, r)
	rdd.SaveAsTextFile(ctx, &got, r, t.TempDir()+"/out")
	want := []string{"Collect at jobname_test.go:30", "Count at jobname_test.go:31", "SaveAsTextFile at jobname_test.go:32"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("job names %q, want %q", got, want)
	}
}
