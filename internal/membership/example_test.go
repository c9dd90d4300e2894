package membership_test

import (
	"context"
	"fmt"
	"log"
	"time"

	"github.com/sluicehq/sluice/internal/membership"
)

// A worker and a driver on loopback: the driver sees the worker, then hears
// that it is draining, then that it left.
func Example() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	start := func(name string, meta membership.Meta) *membership.Node {
		cfg := membership.DefaultConfig()
		cfg.Name = name
		cfg.BindAddr = "127.0.0.1:0"
		cfg.Keys = [][]byte{[]byte("0123456789abcdef0123456789abcdef")} // trust.Creds.GossipKeys in a real member
		cfg.Meta = meta
		n, err := membership.Start(cfg)
		if err != nil {
			log.Fatal(err)
		}
		return n
	}
	workerMeta := membership.Meta{Role: membership.RoleCore, Slots: 4, RPC: "127.0.0.1:7070", Version: "v1"}
	worker := start("worker-1", workerMeta)
	defer worker.Shutdown()
	driver := start("driver-1", membership.Meta{Role: membership.RoleDriver, App: "app-1", Version: "v1"})
	defer driver.Shutdown()

	if _, err := driver.Join(ctx, []string{worker.Addr()}); err != nil {
		log.Fatal(err)
	}
	for _, m := range driver.Members() {
		fmt.Println(m.Name, m.Meta.Role, m.Meta.State, m.Meta.Slots)
	}

	// waitFor prints the driver's next event of kind about the worker.
	waitFor := func(kind membership.EventKind) {
		for {
			select {
			case ev := <-driver.Events():
				if ev.Kind == kind && ev.Member.Name == "worker-1" {
					fmt.Println(ev.Member.Name, ev.Kind, ev.Member.Meta.State)
					return
				}
			case <-ctx.Done():
				log.Fatalf("no %s event: %v", kind, ctx.Err())
			}
		}
	}

	draining := workerMeta
	draining.State = membership.StateDraining
	if err := worker.UpdateMeta(ctx, draining); err != nil {
		log.Fatal(err)
	}
	waitFor(membership.Updated)

	if err := worker.Leave(ctx); err != nil {
		log.Fatal(err)
	}
	waitFor(membership.Left)
	// Output:
	// driver-1 driver alive 0
	// worker-1 core alive 4
	// worker-1 updated draining
	// worker-1 left draining
}
