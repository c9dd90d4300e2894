package worker

import (
	"io"
	"sync"
	"time"
)

// Bounds of the idle timeout of a fetch: a healthy peer sends a block in
// milliseconds, so a fetch stalled for minIdle is gone; on a slow or lossy
// network the timeout grows with the observed rate, up to maxIdle (the RPC
// client's default).
const (
	minIdle = 5 * time.Second
	maxIdle = time.Minute
	// unmeasured is the idle timeout before any sample: no slow link has
	// shown itself yet, so the floor. A slow link still delivers bytes;
	// one that delivers none for this long is stalled in retransmission
	// timeouts (maxIdle here let one such fetch from a lossy host hold a
	// reducer for 48 s, where recomputing the output took 50 ms).
	unmeasured = minIdle
	// idleBytes is the amount of data whose expected transfer time, times
	// idleFactor, is the idle timeout.
	idleBytes  = 1 << 20
	idleFactor = 20
	// minSample is the smallest fetch that says anything about the rate.
	// Smaller fetches are mostly round trips, so their rate is low and the
	// timeout it gives errs long; map outputs are often this small, and an
	// executor that never measured would never adapt.
	minSample = 16 << 10
)

// rateEstimate follows the transfer rate of fetches (an exponentially
// weighted mean) and derives their idle timeout from it.
type rateEstimate struct {
	mu  sync.Mutex
	bps float64 // bytes per second; 0 before a sample
}

func (r *rateEstimate) observe(bytes int64, d time.Duration) {
	if bytes < minSample || d <= 0 {
		return
	}
	bps := float64(bytes) / d.Seconds()
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.bps == 0 {
		r.bps = bps
		return
	}
	r.bps = 0.8*r.bps + 0.2*bps
}

// idle returns the idle timeout for the next fetch: idleFactor times the
// time idleBytes take at the observed rate, within [minIdle, maxIdle];
// unmeasured before any sample.
func (r *rateEstimate) idle() time.Duration {
	r.mu.Lock()
	bps := r.bps
	r.mu.Unlock()
	if bps <= 0 {
		return unmeasured
	}
	d := time.Duration(idleFactor * float64(idleBytes) / bps * float64(time.Second))
	return min(max(d, minIdle), maxIdle)
}

// measured reports a fetch's bytes and duration to its estimate when the
// fetch is read to its end.
type measured struct {
	io.ReadCloser
	rate  *rateEstimate
	start time.Time
	n     int64
	done  bool
}

func (m *measured) Read(p []byte) (int, error) {
	n, err := m.ReadCloser.Read(p)
	m.n += int64(n)
	if err == io.EOF && !m.done {
		m.done = true
		m.rate.observe(m.n, time.Since(m.start))
	}
	return n, err
}
