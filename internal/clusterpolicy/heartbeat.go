package clusterpolicy

import "time"

// MinHeartbeatInterval bounds how often heartbeats go, however short the
// timeout.
const MinHeartbeatInterval = 100 * time.Millisecond

// HeartbeatInterval returns how often the driver asks each executor for a
// heartbeat under timeout: five beats a timeout, so one slow answer is
// not a freeze. A beat's call gives up after this interval too.
func HeartbeatInterval(timeout time.Duration) time.Duration {
	return max(timeout/5, MinHeartbeatInterval)
}

// Frozen reports whether an executor whose last answered heartbeat (or
// start) was at last is frozen at now: it has answered nothing for more
// than timeout. A frozen executor's running tasks are lost and its worker
// replaces it; the map outputs it wrote stay, served by the worker.
func Frozen(last, now time.Time, timeout time.Duration) bool {
	return now.Sub(last) > timeout
}
