package simcluster

import (
	"time"

	"github.com/sluicehq/sluice/scheduler"
)

// kind says what a simulated event does when its time comes.
type kind uint8

const (
	evTick       kind = iota + 1
	evDone            // an attempt reaches its end: success or fetch failure
	evKilled          // a killed attempt reports
	evReplicated      // a map output's copy on a core node is done: the task reports
	evNotice          // a task node gets its reclamation notice
	evDrainSeen       // the driver sees the node draining
	evDeath           // the node is gone
	evDetected        // membership declares it failed
	evJoin            // a new worker joins
	evMoved           // one drained output is copied to a core node
	evLeft            // a drained node has left
	evBeat            // the driver's heartbeat to a watched executor
	evFreeze          // an executor stops answering
	evExecReady       // a frozen executor's replacement is up
	evLost            // a task launched where no executor is comes back lost
)

// event is one entry of the virtual-time queue. Ties in time go in the
// order they were scheduled (seq), so a run is a function of its seed.
type event struct {
	at     time.Duration
	seq    uint64
	kind   kind
	worker int32 // index into sim.workers
	to     int32 // evMoved: the core node
	task   int64
	ref    scheduler.OutputRef
}

// queue is a binary min-heap of events by (at, seq).
type queue struct {
	evs []event
	seq uint64
}

func (q *queue) less(i, j int) bool {
	a, b := &q.evs[i], &q.evs[j]
	return a.at < b.at || (a.at == b.at && a.seq < b.seq)
}

func (q *queue) push(e event) {
	q.seq++
	e.seq = q.seq
	q.evs = append(q.evs, e)
	for i := len(q.evs) - 1; i > 0; {
		p := (i - 1) / 2
		if !q.less(i, p) {
			break
		}
		q.evs[i], q.evs[p] = q.evs[p], q.evs[i]
		i = p
	}
}

func (q *queue) pop() (event, bool) {
	n := len(q.evs)
	if n == 0 {
		return event{}, false
	}
	top := q.evs[0]
	q.evs[0] = q.evs[n-1]
	q.evs = q.evs[:n-1]
	n--
	for i := 0; ; {
		l, r, m := 2*i+1, 2*i+2, i
		if l < n && q.less(l, m) {
			m = l
		}
		if r < n && q.less(r, m) {
			m = r
		}
		if m == i {
			break
		}
		q.evs[i], q.evs[m] = q.evs[m], q.evs[i]
		i = m
	}
	return top, true
}
