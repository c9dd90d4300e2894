package rdd_test

import (
	"context"
	"errors"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/driver"
	"github.com/sluicehq/sluice/rdd"
)

// bcastArgs carries a Broadcast in a Func's argument, next to plain data.
type bcastArgs struct {
	N     int
	Parts int
	Names rdd.Broadcast[map[int]string]
}

// named looks every number up in the broadcast table, in every task.
var named = rdd.Func(func(a bcastArgs) *rdd.RDD[string] {
	nums := make([]int, a.N)
	for i := range nums {
		nums[i] = i
	}
	return rdd.Map(rdd.Parallelize(nums, rdd.Partitions(a.Parts)), func(n int) string {
		return a.Names.Value()[n%7]
	})
})

func wantNamed(n int, names map[int]string) []string {
	var out []string
	for i := range n {
		out = append(out, names[i%7])
	}
	return out
}

func weekdays() map[int]string {
	return map[int]string{0: "sun", 1: "mon", 2: "tue", 3: "wed", 4: "thu", 5: "fri", 6: "sat"}
}

func collectNamed(t *testing.T, s *driver.Session, a bcastArgs) ([]string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	return rdd.Collect(ctx, s, named.Invoke(a))
}

// A value computed in the driver at run time reaches every task through a
// Broadcast in the Func's argument; later changes to it do not.
func TestBroadcastLocal(t *testing.T) {
	s := newSession(t)
	names := weekdays()
	b, err := rdd.NewBroadcast(s, names)
	if err != nil {
		t.Fatal(err)
	}
	want := wantNamed(50, names)
	names[0] = "changed after NewBroadcast"
	got, err := collectNamed(t, s, bcastArgs{N: 50, Parts: 5, Names: b})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	if v := b.Value(); !maps.Equal(v, weekdays()) {
		t.Fatalf("Value in the driver is %v", v)
	}
}

// The new user's mistakes: a value that would not survive encoding, one
// too large, the zero Broadcast, one used after Destroy.
func TestBroadcastMistakes(t *testing.T) {
	s := newSession(t)
	type hidden struct{ n int }
	if _, err := rdd.NewBroadcast(s, hidden{1}); !errors.Is(err, rdd.ErrBroadcast) || !strings.Contains(err.Error(), "unexported") {
		t.Errorf("a value with an unexported field: %v", err)
	}
	if _, err := rdd.NewBroadcast(s, strings.Repeat("x", rdd.MaxBroadcast+1)); !errors.Is(err, rdd.ErrBroadcast) || !strings.Contains(err.Error(), "over the") {
		t.Errorf("a value over MaxBroadcast: %v", err)
	}
	if _, err := rdd.NewBroadcast[int](nil, 1); !errors.Is(err, rdd.ErrBroadcast) {
		t.Errorf("no Runner: %v", err)
	}

	_, err := collectNamed(t, s, bcastArgs{N: 10, Parts: 2})
	var te *rdd.TaskError
	if !errors.As(err, &te) || !te.Permanent || te.Attempt != 0 || !strings.Contains(err.Error(), "zero Broadcast") {
		t.Errorf("a zero Broadcast: %v (%+v), want a permanent failure naming it", err, te)
	}

	b, err := rdd.NewBroadcast(s, weekdays())
	if err != nil {
		t.Fatal(err)
	}
	b.Destroy()
	_, err = collectNamed(t, s, bcastArgs{N: 10, Parts: 2, Names: b})
	if !errors.As(err, &te) || !te.Permanent || !strings.Contains(err.Error(), "has no value in this process") {
		t.Errorf("a destroyed Broadcast: %v, want a permanent failure saying it has no value", err)
	}
}

// Closing a session releases its values: a Broadcast handle that outlives
// its session has no value.
func TestBroadcastReleasedWithSession(t *testing.T) {
	s := newSession(t)
	b, err := rdd.NewBroadcast(s, 42)
	if err != nil {
		t.Fatal(err)
	}
	if b.Value() != 42 {
		t.Fatal("Value before Close")
	}
	s.Close()
	defer func() {
		p := recover()
		err, _ := p.(error)
		if !errors.Is(err, rdd.ErrBroadcast) {
			t.Fatalf("Value after the session closed: panic %v, want an ErrBroadcast", p)
		}
	}()
	b.Value()
}

// On --local-cluster the value crosses to each executor process once,
// however many tasks and jobs use it; a destroyed value fails the job at
// once, from the executor, with the driver's reason.
func TestBroadcastOnLocalCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("starts executor processes")
	}
	s := newSession(t, func(c *driver.Config) { c.LocalCluster = 2 })
	b, err := rdd.NewBroadcast(s, weekdays())
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		got, err := collectNamed(t, s, bcastArgs{N: 200, Parts: 12, Names: b})
		if err != nil {
			t.Fatal(err)
		}
		if want := wantNamed(200, weekdays()); !slices.Equal(got, want) {
			t.Fatalf("got %v, want %v", got, want)
		}
	}
	m := s.Metrics()
	if ran := len(m.TasksByWorker); m.BroadcastFetches != int64(ran) || ran == 0 {
		t.Fatalf("%d fetches of the value by %d executors that ran tasks (%v), want one each", m.BroadcastFetches, ran, m.TasksByWorker)
	}

	gone, err := rdd.NewBroadcast(s, map[int]string{0: "x"})
	if err != nil {
		t.Fatal(err)
	}
	gone.Destroy()
	_, err = collectNamed(t, s, bcastArgs{N: 10, Parts: 2, Names: gone})
	var te *rdd.TaskError
	if !errors.As(err, &te) || !te.Permanent || te.Attempt != 0 || !strings.Contains(err.Error(), "no such value in this session") {
		t.Fatalf("a destroyed Broadcast on executors: %v, want a permanent failure with the driver's reason", err)
	}
}
