package worker

import (
	"bytes"
	"context"
	"io"
	"sync"

	"github.com/sluicehq/sluice/internal/task"
)

// A reducer fetches ahead, as Spark's ShuffleBlockFetcherIterator and
// Hadoop's parallel copies do: while it reads one map output, it fetches
// up to aheadFetches more from other workers into memory, at most
// aheadBytes in all, so that it waits for about one round trip to a
// distant or lossy worker instead of one per map output. Records are still
// read in map order, so a reduce partition's input is the same sequence
// however the fetches interleave.
const (
	aheadFetches = 4       // Hadoop's parallel copies are 5; one task here shares its executor's slots
	aheadBytes   = 8 << 20 // per reducer: a map output's partition is mostly far smaller
)

// fetchAhead holds one reducer's fetches ahead of its reading.
type fetchAhead struct {
	next   int // the first map output not yet considered
	held   int64
	got    map[int]*fetched
	ctx    context.Context // the reducer's, cancelled by stop
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// fetched is one map output's partition fetched ahead.
type fetched struct {
	done chan struct{}
	size int64
	what string
	data []byte
	err  error
}

// fetchAhead starts fetches of the blocks from cur on that other workers
// hold, within the bounds. Blocks held here, of no exact size (the driver
// keeps large outputs' sizes approximately), or larger than the bound are
// read when the reducer reaches them.
func (c *chainReader) fetchAhead(cur int) {
	a := &c.ahead
	if a.next < cur {
		a.next = cur
	}
	for a.next < len(c.blocks) && len(a.got) < aheadFetches {
		i, b, size := a.next, c.blocks[a.next], c.size(a.next)
		if size <= 0 || size > aheadBytes || c.local(b.Worker) {
			a.next++
			continue
		}
		if a.held+size > aheadBytes {
			return
		}
		a.next++
		if a.got == nil {
			a.got = map[int]*fetched{}
			a.ctx, a.cancel = context.WithCancel(c.ctx)
		}
		f := &fetched{done: make(chan struct{}), size: size, what: c.what(i, b.Worker)}
		a.got[i], a.held = f, a.held+size
		a.wg.Go(func() {
			defer close(f.done)
			f.data, f.err = c.readAll(a.ctx, i, size)
		})
	}
}

// readAll fetches block i, from its replica when its holder fails,
// reading at most one byte more than its exact size so that a stream
// longer than claimed is caught when it is read.
func (c *chainReader) readAll(ctx context.Context, i int, size int64) ([]byte, error) {
	b := c.blocks[i]
	rc, err := c.fetch(ctx, i, b.Worker)
	if err != nil && b.Replica != "" && ctx.Err() == nil {
		if rr, rerr := c.fetch(ctx, i, b.Replica); rerr == nil {
			rc, err = rr, nil
		}
	}
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	buf := bytes.NewBuffer(make([]byte, 0, size))
	_, err = buf.ReadFrom(io.LimitReader(rc, size+1))
	return buf.Bytes(), err
}

// take returns block i if it was fetched ahead, waiting
// for its fetch; nil and no error if it was not.
func (a *fetchAhead) take(i int) (task.BlockReader, error) {
	f := a.got[i]
	if f == nil {
		return nil, nil
	}
	<-f.done
	delete(a.got, i)
	a.held -= f.size
	if f.err != nil {
		return nil, f.err
	}
	return newStreamBlocks(io.NopCloser(bytes.NewReader(f.data)), f.size, f.what), nil
}

// stop cancels the fetches ahead and waits for them.
func (a *fetchAhead) stop() {
	if a.cancel != nil {
		a.cancel()
	}
	a.wg.Wait()
	a.got = nil
}
