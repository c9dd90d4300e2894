package rpc_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/sluicehq/sluice/internal/rpc"
	"github.com/sluicehq/sluice/internal/trust"
)

type addReq struct{ A, B int }
type addResp struct{ Sum int }

type fetchReq struct {
	Shuffle, Map, Reduce int
}

// serve starts srv on a free loopback port and returns its address and a
// function that stops it and waits for Serve to return.
func serve(srv *rpc.Server) (addr string, stop func()) {
	ln, err := rpc.Listen("127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln) }()
	return ln.Addr().String(), func() {
		cancel()
		if err := <-done; err != nil {
			panic(err)
		}
	}
}

func Example() {
	creds, err := trust.New([][]byte{[]byte(trust.NewSecret())}, nil)
	if err != nil {
		panic(err)
	}
	srv := rpc.NewServer(rpc.ServerConfig{TLS: creds.ServerTLS()})
	rpc.Handle(srv, "Add", func(ctx context.Context, r *addReq) (*addResp, error) {
		return &addResp{Sum: r.A + r.B}, nil
	})
	addr, stop := serve(srv)
	defer stop()

	c := rpc.NewClient(rpc.ClientConfig{TLS: creds.ClientTLS()})
	defer c.Close()
	ctx := context.Background()
	resp, err := rpc.Call[addReq, addResp](ctx, c, addr, "Add", &addReq{A: 2, B: 3})
	if err != nil {
		panic(err)
	}
	fmt.Println(resp.Sum)

	// A different secret is refused in the TLS handshake; nothing was run.
	guess, _ := trust.New([][]byte{[]byte(trust.NewSecret())}, nil)
	intruder := rpc.NewClient(rpc.ClientConfig{TLS: guess.ClientTLS()})
	defer intruder.Close()
	_, err = rpc.Call[addReq, addResp](ctx, intruder, addr, "Add", &addReq{A: 2, B: 3})
	fmt.Println(errors.Is(err, rpc.ErrUnauthorized))
	// Output:
	// 5
	// true
}

func ExampleClient_Stream() {
	creds, err := trust.New([][]byte{[]byte(trust.NewSecret())}, nil)
	if err != nil {
		panic(err)
	}
	srv := rpc.NewServer(rpc.ServerConfig{TLS: creds.ServerTLS()})
	rpc.HandleStream(srv, "FetchBlocks", func(ctx context.Context, r *fetchReq, w io.Writer) error {
		if r.Map != 0 {
			return rpc.Errorf("not_found", "no output of map %d in shuffle %d", r.Map, r.Shuffle)
		}
		// A real worker copies a byte range of its shuffle file.
		_, err := io.Copy(w, strings.NewReader("blocks of reduce partition 4"))
		return err
	})
	addr, stop := serve(srv)
	defer stop()

	c := rpc.NewClient(rpc.ClientConfig{TLS: creds.ClientTLS()})
	defer c.Close()
	ctx := context.Background()
	body, err := c.Stream(ctx, addr, "FetchBlocks", &fetchReq{Shuffle: 1, Map: 0, Reduce: 4})
	if err != nil {
		panic(err)
	}
	data, err := io.ReadAll(body) // a stream cut short is an error, never a short read
	body.Close()
	fmt.Println(string(data), err)

	_, err = c.Stream(ctx, addr, "FetchBlocks", &fetchReq{Shuffle: 1, Map: 7, Reduce: 4})
	if re, ok := errors.AsType[*rpc.RemoteError](err); ok && re.Code == "not_found" {
		fmt.Println("map output lost:", re.Message)
	}
	// Output:
	// blocks of reduce partition 4 <nil>
	// map output lost: no output of map 7 in shuffle 1
}
