// Package loopback finds free ports on 127.0.0.1 and waits for a local
// process to listen on one: what `sluice up`, `sluice chaos` and the
// cluster tests do to start worker processes.
//
//	addr, err := loopback.FreeAddr()
//	// start a worker with --listen addr, then:
//	err = loopback.Await(ctx, addr, 30*time.Second, exited)
//	if errors.Is(err, loopback.ErrExited) {
//		// the port was taken before the worker bound it: try another
//	}
package loopback

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"
)

// ErrExited is returned by Await when the process exited before
// listening, most often because another process took its port first.
var ErrExited = errors.New("exited before listening")

// FreeAddr returns a 127.0.0.1 address whose port is free for both TCP and
// UDP now (memberlist binds both). Another process may still take it
// before the caller binds it; Await's ErrExited tells the caller to retry.
func FreeAddr() (string, error) {
	for range 50 {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return "", err
		}
		addr := ln.Addr().String()
		ln.Close()
		if pc, err := net.ListenPacket("udp", addr); err == nil {
			pc.Close()
			return addr, nil
		}
	}
	return "", errors.New("loopback: no port free for both TCP and UDP on 127.0.0.1")
}

// Await polls until addr accepts TCP connections. It returns ErrExited as
// soon as exited is closed, an error after limit, or ctx's error.
func Await(ctx context.Context, addr string, limit time.Duration, exited <-chan struct{}) error {
	deadline := time.NewTimer(limit)
	defer deadline.Stop()
	for {
		if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			c.Close()
			return nil
		}
		select {
		case <-exited:
			return ErrExited
		case <-deadline.C:
			return fmt.Errorf("not listening at %s after %v", addr, limit)
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}
