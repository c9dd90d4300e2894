// Package logonce limits log lines about a peer to one per peer per
// interval, so that a scanner or a misconfigured member cannot flood a log.
//
//	refused := logonce.New(time.Minute)
//	if refused.Allow(peerHost) {
//		log.Warn("refused a peer", "remote", peerHost)
//	}
package logonce

import (
	"sync"
	"time"
)

// maxKeys bounds the keys a Limiter remembers: when full it forgets them
// all, so a scan from many addresses costs bounded memory and at worst one
// line per address per interval.
const maxKeys = 4096

// Limiter says whether to log an event about a key (a peer's address):
// once per key per interval. It is safe for concurrent use.
type Limiter struct {
	interval time.Duration
	mu       sync.Mutex
	last     map[string]time.Time
}

// New returns a Limiter that allows one event per key per interval.
func New(interval time.Duration) *Limiter {
	return &Limiter{interval: interval, last: make(map[string]time.Time)}
}

// Allow reports whether an event about key may be logged now, and if so
// starts its interval.
func (l *Limiter) Allow(key string) bool {
	now := time.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	if t, ok := l.last[key]; ok && now.Sub(t) < l.interval {
		return false
	}
	if len(l.last) >= maxKeys {
		clear(l.last)
	}
	l.last[key] = now
	return true
}
