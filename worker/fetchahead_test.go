package worker_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/sluicehq/sluice/internal/block"
	"github.com/sluicehq/sluice/internal/task"
	"github.com/sluicehq/sluice/scheduler"
	"github.com/sluicehq/sluice/worker"
)

// distantFetcher serves the same map output from every worker after a
// round trip of rtt (in a synctest bubble: fake time), counting the
// fetches in flight.
type distantFetcher struct {
	b   []byte
	rtt time.Duration

	mu             sync.Mutex
	inFlight, peak int
	holders        []string
}

func (f *distantFetcher) Fetch(ctx context.Context, addr string, _ worker.FetchRequest) (io.ReadCloser, error) {
	f.mu.Lock()
	f.inFlight++
	f.peak = max(f.peak, f.inFlight)
	f.holders = append(f.holders, addr)
	f.mu.Unlock()
	defer func() {
		f.mu.Lock()
		f.inFlight--
		f.mu.Unlock()
	}()
	select {
	case <-time.After(f.rtt):
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	return io.NopCloser(bytes.NewReader(f.b)), nil
}

// TestReducerFetchesAhead: a reduce task whose eight map outputs sit on
// eight distant workers fetches several at once, so it waits about two
// round trips instead of eight, and reads the right records.
func TestReducerFetchesAhead(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		out := mapOutput(block.S2, map[string]int{"a": 1})
		f := &distantFetcher{b: out, rtt: 100 * time.Millisecond}
		ex, err := worker.NewExecutor(worker.ExecutorConfig{Name: "w", Dir: t.TempDir(), Codec: block.S2, Committer: allowAll{}, Fetcher: f})
		if err != nil {
			t.Fatal(err)
		}
		g, err := task.GraphOf(fetchedF.Invoke(1))
		if err != nil {
			t.Fatal(err)
		}
		nodes := g.Nodes()
		root := nodes[len(nodes)-1]
		var blocks []scheduler.MapBlock
		addrs := map[string]string{}
		for i := range 8 {
			name := fmt.Sprintf("h%d", i)
			blocks = append(blocks, scheduler.MapBlock{Map: i, Worker: name, Size: int64(len(out)), Exact: true})
			addrs[name] = fmt.Sprintf("10.0.0.%d:7000", i+1)
		}
		spec := &worker.TaskSpec{
			Invocation: g.Invocation(), GraphDigest: g.Digest(),
			Task: scheduler.Task{ID: 1, Kind: scheduler.ResultTask, Graph: 1, Node: root.ID, Partition: 0,
				Inputs: []scheduler.ShuffleInput{scheduler.NewShuffleInput(root.Deps[0].Shuffle, 0, 8, blocks)}},
			Action: task.Action{Kind: task.ActCount},
			Addrs:  addrs,
		}
		start := time.Now()
		res := ex.Run(context.Background(), spec)
		took := time.Since(start)
		if res.Status != worker.TaskSucceeded {
			t.Fatalf("status %d: %s", res.Status, res.Err)
		}
		t.Logf("8 fetches with a %v round trip: %v, at most %d at once", f.rtt, took, f.peak)
		if f.peak < 2 || f.peak > 5 {
			t.Errorf("%d fetches at once, want a few", f.peak)
		}
		if took > 3*f.rtt {
			t.Errorf("the reducer took %v: it waited for its fetches one after another", took)
		}
		if len(f.holders) != 8 {
			t.Errorf("%d fetches, want one per map output", len(f.holders))
		}
	})
}
