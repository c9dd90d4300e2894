package rdd_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync/atomic"
	"testing"

	"github.com/sluicehq/sluice/rdd"
)

var (
	errOdd   = errors.New("odd element")
	errCalls atomic.Int64 // calls of the failing function, over all attempts
)

// oddFails builds a lineage whose user function fails on 3: by MapErr or
// FlatMapErr, permanently or not.
var oddFails = rdd.Func(func(how string) *rdd.RDD[int] {
	fail := func(n int) error {
		if n != 3 {
			return nil
		}
		errCalls.Add(1)
		err := fmt.Errorf("%w: %d", errOdd, n)
		if how == "flat-permanent" || how == "map-permanent" {
			err = rdd.Permanent(err)
		}
		return err
	}
	in := rdd.Parallelize([]int{1, 2, 3, 4}, rdd.Partitions(2))
	if how == "map" || how == "map-permanent" {
		return rdd.MapErr(in, func(ctx context.Context, n int) (int, error) {
			return 10 * n, fail(n)
		})
	}
	return rdd.FlatMapErr(in, func(ctx context.Context, n int, emit func(int) bool) error {
		emit(n)
		return fail(n)
	})
})

// A user function's error reaches the driver as the job's error, wrapped
// in a TaskError, after the retries a transient error gets; a Permanent
// one fails the job on the first attempt.
func TestErrFuncsFailTheJob(t *testing.T) {
	s := newSession(t)
	for _, tc := range []struct {
		how   string
		calls int64
	}{
		{"map", 4}, {"map-permanent", 1}, {"flat", 4}, {"flat-permanent", 1},
	} {
		t.Run(tc.how, func(t *testing.T) {
			errCalls.Store(0)
			_, err := rdd.Collect(context.Background(), s, oddFails.Invoke(tc.how))
			if !errors.Is(err, errOdd) {
				t.Fatalf("errors.Is(%v, errOdd) is false", err)
			}
			var te *rdd.TaskError
			if !errors.As(err, &te) || te.Partition != 1 || te.Message != "odd element: 3" || te.Stack != "" {
				t.Fatalf("TaskError %+v, want partition 1's error, no stack", te)
			}
			if errors.Is(err, rdd.ErrPermanent) != (tc.calls == 1) {
				t.Errorf("errors.Is(err, rdd.ErrPermanent) is %v", !(tc.calls == 1))
			}
			if n := errCalls.Load(); n != tc.calls {
				t.Errorf("the function failed %d times, want %d", n, tc.calls)
			}
		})
	}
}

var mapErrF = rdd.Func(func(n int) *rdd.RDD[string] {
	return rdd.MapErr(rdd.Parallelize([]int{n, n + 1}), func(ctx context.Context, n int) (string, error) {
		if ctx == nil {
			return "", errors.New("no context")
		}
		return fmt.Sprint(n * n), nil
	})
})

func TestMapErrMaps(t *testing.T) {
	got, err := rdd.Collect(context.Background(), newSession(t), mapErrF.Invoke(3))
	if err != nil || !slices.Equal(got, []string{"9", "16"}) {
		t.Fatalf("got %v, %v; want [9 16]", got, err)
	}
}

// maxEmits bounds the endless FlatMapErr below, so that a broken early
// stop fails the test instead of hanging it.
const maxEmits = 1 << 20

var (
	emitted  atomic.Int64
	returned atomic.Int64
)

var endless = rdd.Func(func(int) *rdd.RDD[int] {
	return rdd.FlatMapErr(rdd.Parallelize([]int{0}, rdd.Partitions(1)), func(ctx context.Context, _ int, emit func(int) bool) error {
		defer returned.Add(1)
		for i := 0; i < maxEmits; i++ {
			emitted.Add(1)
			if !emit(i) {
				return nil
			}
		}
		return errors.New("emit never returned false")
	})
})

// A FlatMapErr that would emit forever stops when Take has what it needs.
func TestFlatMapErrStopsUnderTake(t *testing.T) {
	emitted.Store(0)
	returned.Store(0)
	got, err := rdd.Take(context.Background(), newSession(t), endless.Invoke(0), 3)
	if err != nil || !slices.Equal(got, []int{0, 1, 2}) {
		t.Fatalf("Take(3) = %v, %v; want [0 1 2]", got, err)
	}
	if n := emitted.Load(); n != 3 {
		t.Errorf("the function emitted %d values, want 3", n)
	}
	if n := returned.Load(); n != 1 {
		t.Errorf("the function returned %d times, want once", n)
	}
}
