package rpc

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log"
	"net"
	"net/http"
	"strings"
	"sync"
)

// Listen listens for TCP connections on addr (host:port; port 0 picks a
// free one, and the listener's Addr tells which).
func Listen(addr string) (net.Listener, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("rpc: listen on %s: %w", addr, err)
	}
	return ln, nil
}

// Serve serves s on ln until ctx is done, behind mutual TLS when
// ServerConfig.TLS is set, then shuts down: it stops
// accepting, gives in-flight calls ShutdownTimeout to finish, then cancels
// their contexts and closes their connections, and returns once every
// handler it started has returned (a handler that ignores its context
// delays it). Serve closes ln. It returns nil after a shutdown, or the
// error that stopped the listener.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	addr := ln.Addr().String()
	ln = &limitListener{Listener: ln, conns: newPeerCounter(s.cfg.MaxPeerConns), max: int64(s.cfg.MaxConns), log: func(peer string) {
		if s.refused.Allow("conns " + peer) {
			s.log.Warn("rpc: closed connections over the per-peer limit (not logged again for a minute)", "remote", peer, "limit", s.cfg.MaxPeerConns)
		}
	}}
	if s.cfg.TLS != nil {
		ln = tls.NewListener(ln, s.cfg.TLS)
	}
	// Handlers get a context that outlives ctx by the graceful period.
	hard, stop := context.WithCancel(context.WithoutCancel(ctx))
	defer stop()
	var inflight tracker
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if !inflight.enter() {
				s.fail(w, http.NewResponseController(w), http.StatusServiceUnavailable, "shutting_down", "the server is shutting down")
				return
			}
			defer inflight.exit()
			s.ServeHTTP(w, r)
		}),
		ReadHeaderTimeout: s.cfg.ReadHeaderTimeout,
		IdleTimeout:       s.cfg.IdleTimeout,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          log.New(serverLog{s}, "", 0),
		BaseContext:       func(net.Listener) context.Context { return hard },
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()

	var serveErr error
	select {
	case err := <-served:
		served = nil
		if !errors.Is(err, http.ErrServerClosed) {
			serveErr = err
		}
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), s.cfg.ShutdownTimeout)
	err := srv.Shutdown(sctx)
	cancel()
	if err != nil {
		s.log.Warn("rpc: in-flight calls outlived the shutdown timeout; cancelling them", "addr", addr, "timeout", s.cfg.ShutdownTimeout)
		stop()
		srv.Close()
	}
	if served != nil {
		<-served
	}
	inflight.wait()
	if serveErr != nil {
		return fmt.Errorf("rpc: serve on %s: %w", addr, serveErr)
	}
	return nil
}

// serverLog receives net/http's own log lines. A failed TLS handshake is a
// peer without the cluster's credentials (or a scanner): it is logged once
// per peer a minute, not once per attempt.
type serverLog struct{ s *Server }

func (l serverLog) Write(p []byte) (int, error) {
	line := strings.TrimSpace(string(p))
	if rest, ok := strings.CutPrefix(line, "http: TLS handshake error from "); ok {
		addr, reason, _ := strings.Cut(rest, ": ")
		l.s.refuse(addr, errors.New(reason))
		return len(p), nil
	}
	l.s.log.Warn(line)
	return len(p), nil
}

// tracker counts running handlers so that Serve can wait for them; once
// waiting, it admits no more.
type tracker struct {
	mu      sync.Mutex
	closing bool
	wg      sync.WaitGroup
}

func (t *tracker) enter() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closing {
		return false
	}
	t.wg.Add(1)
	return true
}

func (t *tracker) exit() { t.wg.Done() }

func (t *tracker) wait() {
	t.mu.Lock()
	t.closing = true
	t.mu.Unlock()
	t.wg.Wait()
}
