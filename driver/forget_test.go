package driver

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"sync"
	"testing"

	"github.com/sluicehq/sluice/internal/rpc"
	"github.com/sluicehq/sluice/worker"
)

// forgetRecorder is a worker's ForgetGraphs route that fails while down
// and records what it was sent.
type forgetRecorder struct {
	mu   sync.Mutex
	down bool
	got  []worker.GraphRanges
}

func (f *forgetRecorder) serve(t *testing.T) string {
	t.Helper()
	srv := rpc.NewServer(rpc.ServerConfig{})
	rpc.Handle(srv, worker.MethodForgetGraphs, func(ctx context.Context, req *worker.ForgetGraphsRequest) (*worker.Empty, error) {
		f.mu.Lock()
		defer f.mu.Unlock()
		if f.down {
			return nil, errors.New("disk on fire")
		}
		f.got = append(f.got, req.Graphs)
		return &worker.Empty{}, nil
	})
	ln, err := rpc.Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		<-served
	})
	return ln.Addr().String()
}

func (f *forgetRecorder) sent() []worker.GraphRanges {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.got)
}

// A worker that misses a sweep gets the whole forgotten set on the next
// one; one that has it is not sent it again.
func TestSweepRetriesWorkersThatMissedIt(t *testing.T) {
	up, down := &forgetRecorder{}, &forgetRecorder{down: true}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	c := &cluster{
		s: &Session{log: slog.New(slog.DiscardHandler)}, app: "app-1", ctx: ctx,
		client: rpc.NewClient(rpc.ClientConfig{}), workers: map[string]*remote{}, sweepWake: make(chan struct{}, 1),
	}
	defer c.client.Close()
	for name, f := range map[string]*forgetRecorder{"up": up, "down": down} {
		c.workers[name] = &remote{name: name, rpc: f.serve(t), everReady: true, ctx: ctx}
	}
	c.forgetGraph(3)
	c.forgetGraph(1)
	if !c.sweep() {
		t.Fatal("a sweep that a worker missed reports nothing behind")
	}
	if !c.sweep() {
		t.Fatal("a worker still down is not behind")
	}
	down.mu.Lock()
	down.down = false
	down.mu.Unlock()
	c.forgetGraph(2)
	if c.sweep() {
		t.Fatal("a sweep of reachable workers has one behind")
	}
	if c.sweep() {
		t.Fatal("a sweep with nothing new has a worker behind")
	}
	one, three := worker.GraphRanges{{From: 1, To: 1}, {From: 3, To: 3}}, worker.GraphRanges{{From: 1, To: 3}}
	if got := up.sent(); len(got) != 2 || !slices.Equal(got[0], one) || !slices.Equal(got[1], three) {
		t.Fatalf("the reachable worker was sent %v, want %v then %v, once each", got, one, three)
	}
	if got := down.sent(); len(got) != 1 || !slices.Equal(got[0], three) {
		t.Fatalf("the worker that was down was sent %v, want %v once it was back", got, three)
	}
}
