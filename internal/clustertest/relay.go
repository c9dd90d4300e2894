package clustertest

import (
	"container/heap"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"sync"
	"time"
)

// maxDelayed bounds the packets the hub holds for delivery later: 4096
// packets of at most the links' 1500-byte MTU is 6 MiB, far more than a
// 200 ms delay fills at the rates the tests send. Past it a packet is lost,
// as at a router whose buffer is full.
const maxDelayed = 4096

// relay forwards the packets host src sends until its link's file is
// closed. Drop decisions come from a generator seeded with the hub's seed
// and src's index, so a run's decisions depend only on the packets sent.
func (hub *Hub) relay(src *Host) {
	rng := rand.New(rand.NewPCG(hub.Seed, uint64(src.index)))
	buf := make([]byte, 1<<16)
	for {
		n, err := src.tun.Read(buf)
		if err != nil {
			if !hub.closed.Load() {
				hub.fail(fmt.Errorf("reading %s's link: %w", src.Name, err))
			}
			return
		}
		dst := hub.route(buf[:n])
		if dst == nil || dst == src {
			continue // not IPv4 (IPv6 router solicitations), or not to a host
		}
		src.stats.sent.Add(1)
		fs, fd := src.faults.Load(), dst.faults.Load()
		// Both draws happen whatever the first decides, so one host's
		// faults do not shift the sequence that another's depend on.
		lostOut, lostIn := rng.Float64() < fs.Drop, rng.Float64() < fd.Drop
		if fs.Cut || fd.Cut || lostOut || lostIn {
			src.stats.dropped.Add(1)
			dst.stats.dropped.Add(1)
			continue
		}
		if d := fs.Delay + fd.Delay; d > 0 {
			if !hub.delayed.push(time.Now().Add(d), dst, append([]byte(nil), buf[:n]...)) {
				dst.stats.overflow.Add(1)
			}
			continue
		}
		hub.deliver(dst, buf[:n])
	}
}

// route returns the host a packet is addressed to, or nil.
func (hub *Hub) route(pkt []byte) *Host {
	if len(pkt) < 20 || pkt[0]>>4 != 4 {
		return nil
	}
	dst := pkt[16:20]
	if dst[0] != 10 || dst[1] != 232 || dst[2] != hub.subnet {
		return nil
	}
	k := int(dst[3]) - 1
	if k < 0 || k >= len(hub.Hosts) {
		return nil
	}
	return hub.Hosts[k]
}

// deliver writes a packet to dst's link. A link that is down refuses it:
// the packet is lost, as on a wire to an unplugged port.
func (hub *Hub) deliver(dst *Host, pkt []byte) {
	if _, err := dst.tun.Write(pkt); err != nil {
		if !errors.Is(err, os.ErrClosed) {
			dst.stats.dropped.Add(1)
		}
		return
	}
	dst.stats.delivered.Add(1)
}

// delayQueue holds packets until they are due, earliest first (ties in
// arrival order, so a constant delay keeps a flow's order), in at most
// limit entries, and delivers them from one goroutine.
type delayQueue struct {
	mu    sync.Mutex
	q     delayHeap
	seq   uint64
	limit int
	wake  chan struct{} // a packet was pushed: the earliest due time may have changed
	done  chan struct{}
}

type delayed struct {
	due time.Time
	seq uint64
	dst *Host
	pkt []byte
}

func newDelayQueue(limit int) *delayQueue {
	return &delayQueue{limit: limit, wake: make(chan struct{}, 1), done: make(chan struct{})}
}

// push queues pkt for dst at due; it reports false when the queue is full.
func (d *delayQueue) push(due time.Time, dst *Host, pkt []byte) bool {
	d.mu.Lock()
	if len(d.q) >= d.limit {
		d.mu.Unlock()
		return false
	}
	d.seq++
	heap.Push(&d.q, delayed{due: due, seq: d.seq, dst: dst, pkt: pkt})
	d.mu.Unlock()
	select {
	case d.wake <- struct{}{}:
	default:
	}
	return true
}

func (d *delayQueue) start(wg *sync.WaitGroup) {
	wg.Add(1)
	go func() {
		defer wg.Done()
		d.run()
	}()
}

func (d *delayQueue) stop() {
	select {
	case <-d.done:
	default:
		close(d.done)
	}
}

func (d *delayQueue) run() {
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		d.mu.Lock()
		now := time.Now()
		var due []delayed
		for len(d.q) > 0 && !d.q[0].due.After(now) {
			due = append(due, heap.Pop(&d.q).(delayed))
		}
		wait := time.Hour
		if len(d.q) > 0 {
			wait = d.q[0].due.Sub(now)
		}
		d.mu.Unlock()
		for _, p := range due {
			p.dst.hub.deliver(p.dst, p.pkt)
		}
		timer.Reset(wait)
		select {
		case <-timer.C:
		case <-d.wake:
		case <-d.done:
			return
		}
	}
}

type delayHeap []delayed

func (h delayHeap) Len() int { return len(h) }
func (h delayHeap) Less(i, j int) bool {
	if !h[i].due.Equal(h[j].due) {
		return h[i].due.Before(h[j].due)
	}
	return h[i].seq < h[j].seq
}
func (h delayHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *delayHeap) Push(x any)   { *h = append(*h, x.(delayed)) }
func (h *delayHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	old[len(old)-1] = delayed{}
	*h = old[:len(old)-1]
	return x
}
