package obs

import (
	"fmt"
	"time"
)

// Recorder hands each event of a driver to everything that follows
// them: the Store behind the UI, the Prometheus exporter, the event log
// and the progress line, each optional. One goroutine owns it (the
// driver's loop); the Store and the exporter may be read concurrently.
type Recorder struct {
	Store    *Store
	Exporter *Exporter  // nil: no metrics
	Log      *LogWriter // nil: no event log
	Progress *Progress  // nil: no progress line
	Now      func() time.Time

	seq    int64
	logErr error
	warn   func(error)
}

// NewRecorder records into store (a new one when nil); warn hears, once,
// of the event log failing (a full disk): the job goes on without it.
func NewRecorder(store *Store, warn func(error)) *Recorder {
	if store == nil {
		store = NewStore(0)
	}
	if warn == nil {
		warn = func(error) {}
	}
	return &Recorder{Store: store, Now: time.Now, warn: warn}
}

// Emit numbers e, stamps it with the time and hands it on.
func (r *Recorder) Emit(e Event) {
	r.seq++
	e.V, e.Seq, e.Time = Version, r.seq, r.Now().UnixMilli()
	r.Store.Apply(e)
	if r.Exporter != nil {
		r.Exporter.Observe(e)
	}
	if r.Log != nil && r.logErr == nil {
		if err := r.Log.Write(e); err != nil {
			r.fail(err)
		}
	}
	if r.Progress != nil {
		r.Progress.Observe(e)
	}
}

// Tick flushes the event log at its heartbeat: call it every second or so.
func (r *Recorder) Tick() {
	if r.Log != nil && r.logErr == nil {
		if err := r.Log.Beat(r.Now(), false); err != nil {
			r.fail(err)
		}
	}
}

func (r *Recorder) fail(err error) {
	r.logErr = err
	r.warn(fmt.Errorf("the event log stopped: %w", err))
}

// Close ends the application: an AppEnd event, then the log closed.
func (r *Recorder) Close(status Status, err error) error {
	a := &App{Status: status}
	if err != nil {
		a.Error = err.Error()
	}
	r.Emit(Event{Kind: AppEnd, App: a})
	if r.Log == nil {
		return nil
	}
	if r.logErr != nil {
		return r.logErr
	}
	return r.Log.Close(status, r.Now())
}
