package rpc

import (
	"context"
	"fmt"
	"io"
	"testing"

	"github.com/sluicehq/sluice/internal/units"
)

func reportOps(b *testing.B, n int) {
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "ops/s")
}

// BenchmarkCall is one small call at a time over loopback.
func BenchmarkCall(b *testing.B) {
	addr := startServer(b, ServerConfig{}, func(s *Server) { Handle(s, "Echo", echo) })
	c := newTestClient(b, ClientConfig{})
	req := &echoReq{Name: "bench", N: 1, Items: []item{{"a", 1}}}
	ctx := context.Background()
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		if _, err := Call[echoReq, echoResp](ctx, c, addr, "Echo", req); err != nil {
			b.Fatal(err)
		}
		n++
	}
	reportOps(b, n)
}

// BenchmarkCallParallel is small calls from GOMAXPROCS goroutines.
func BenchmarkCallParallel(b *testing.B) {
	addr := startServer(b, ServerConfig{}, func(s *Server) { Handle(s, "Echo", echo) })
	c := newTestClient(b, ClientConfig{})
	req := &echoReq{Name: "bench", N: 1, Items: []item{{"a", 1}}}
	ctx := context.Background()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := Call[echoReq, echoResp](ctx, c, addr, "Echo", req); err != nil {
				b.Error(err)
				return
			}
		}
	})
	reportOps(b, b.N)
}

// BenchmarkStream streams 64 MiB over loopback, written in pieces of the
// sub-benchmark's size and read in 256 KiB reads.
func BenchmarkStream(b *testing.B) {
	const total = 64 << 20
	for _, piece := range []int{32 << 10, 1 << 20} {
		b.Run(fmt.Sprintf("write=%s", units.FormatBytes(int64(piece))), func(b *testing.B) {
			src := pattern(piece)
			addr := startServer(b, ServerConfig{}, func(s *Server) {
				HandleStream(s, "Fetch", func(_ context.Context, _ *echoReq, w io.Writer) error {
					for sent := 0; sent < total; sent += piece {
						if _, err := w.Write(src); err != nil {
							return err
						}
					}
					return nil
				})
			})
			c := newTestClient(b, ClientConfig{})
			buf := make([]byte, 256<<10)
			ctx := context.Background()
			b.SetBytes(total)
			n := 0
			for b.Loop() {
				body, err := c.Stream(ctx, addr, "Fetch", &echoReq{})
				if err != nil {
					b.Fatal(err)
				}
				got := 0
				for {
					m, err := body.Read(buf)
					got += m
					if err == io.EOF {
						break
					}
					if err != nil {
						b.Fatal(err)
					}
				}
				body.Close()
				if got != total {
					b.Fatalf("read %d bytes, want %d", got, total)
				}
				n++
			}
			reportOps(b, n)
		})
	}
}
