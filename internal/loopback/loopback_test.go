package loopback

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"
)

func TestAwait(t *testing.T) {
	addr, err := FreeAddr()
	if err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	close(exited)
	if err := Await(context.Background(), addr, time.Minute, exited); !errors.Is(err, ErrExited) {
		t.Fatalf("nothing listens and the process exited: %v, want ErrExited", err)
	}
	if err := Await(context.Background(), addr, 50*time.Millisecond, nil); err == nil {
		t.Fatal("nothing listens: Await returned nil")
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	if err := Await(context.Background(), addr, time.Minute, nil); err != nil {
		t.Fatalf("listening: %v", err)
	}
}
