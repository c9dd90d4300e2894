package worker_test

import (
	"context"
	"io"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/block"
	"github.com/sluicehq/sluice/worker"
)

// stallingFetcher serves a stream that never delivers a byte, as a frozen
// worker's would, until its context ends; it hands the test that context.
type stallingFetcher struct{ started chan context.Context }

func (f stallingFetcher) Fetch(ctx context.Context, _ string, _ worker.FetchRequest) (io.ReadCloser, error) {
	f.started <- ctx
	return &stalled{ctx: ctx}, nil
}

type stalled struct{ ctx context.Context }

func (s *stalled) Read([]byte) (int, error) {
	<-s.ctx.Done()
	return 0, context.Cause(s.ctx)
}

func (s *stalled) Close() error { return nil }

// TestWorkerLostCancelsFetches: a reducer fetching from a worker that the
// driver then declares lost stops waiting at once and reports a fetch
// failure, instead of waiting out the stream's idle timeout.
func TestWorkerLostCancelsFetches(t *testing.T) {
	f := stallingFetcher{started: make(chan context.Context, 1)}
	ex, err := worker.NewExecutor(worker.ExecutorConfig{Name: "w", Dir: t.TempDir(), Codec: block.S2, Committer: allowAll{}, Fetcher: f})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan worker.TaskResult, 1)
	go func() {
		res, _ := fetchedTask(t, ex, 1, 100)
		done <- res
	}()
	fetch := <-f.started
	ex.WorkerLost("someone else") // not the holder: the fetch goes on
	if err := fetch.Err(); err != nil {
		t.Fatalf("the fetch was cancelled (%v) when another worker was lost", err)
	}
	ex.WorkerLost("other")
	select {
	case res := <-done:
		if res.Status != worker.TaskFetchFailed || res.FetchWorker != "other" {
			t.Fatalf("status %d (%s), fetch worker %q; want a fetch failure from other", res.Status, res.Err, res.FetchWorker)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the fetch from a lost worker was not cancelled")
	}
}
