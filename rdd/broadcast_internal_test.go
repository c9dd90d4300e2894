package rdd

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/internal/codec"
	"github.com/sluicehq/sluice/internal/task"
)

// In an executor, a value is fetched once and kept; past the bound the
// least recently used goes, and is fetched again when asked for; a value
// that does not match its digest is refused, and not kept.
func TestExecutorBroadcastCache(t *testing.T) {
	served := map[string][]byte{}
	fetches := map[string]int{}
	// This process plays an executor whose driver serves served.
	task.SetBroadcastFetcher(func(ctx context.Context, id string) ([]byte, error) {
		fetches[id]++
		return served[id], nil
	})
	var made []string
	t.Cleanup(func() {
		task.SetBroadcastFetcher(nil)
		broadcasts.Lock()
		defer broadcasts.Unlock()
		for _, id := range made {
			if e := broadcasts.byID[id]; e != nil {
				broadcasts.cached -= e.size
				delete(broadcasts.byID, id)
			}
		}
	})
	c := codec.For[string]()
	mk := func(v string) Broadcast[string] {
		data := c.Append(nil, v)
		var raw [16]byte
		rand.Read(raw[:])
		sum := sha256.Sum256(data)
		b := Broadcast[string]{id: hex.EncodeToString(raw[:]), digest: hex.EncodeToString(sum[:])}
		served[b.id] = data
		made = append(made, b.id)
		return b
	}
	a, b, cc := mk("a"), mk("bb"), mk("ccc")
	for range 3 {
		if a.Value() != "a" || b.Value() != "bb" || cc.Value() != "ccc" {
			t.Fatal("wrong values")
		}
	}
	if fetches[a.id] != 1 || fetches[b.id] != 1 || fetches[cc.id] != 1 {
		t.Fatalf("fetches %v, want one of each", fetches)
	}

	broadcasts.Lock()
	evictPast(broadcasts.cached-int64(len(served[a.id])), nil) // room for all but a, the least recently used
	broadcasts.Unlock()
	if a.Value() != "a" || b.Value() != "bb" || cc.Value() != "ccc" {
		t.Fatal("wrong values after eviction")
	}
	if fetches[a.id] != 2 || fetches[b.id] != 1 || fetches[cc.id] != 1 {
		t.Fatalf("fetches %v after evicting a, want a fetched again and no other", fetches)
	}

	bad := mk("x")
	served[bad.id] = c.Append(nil, "y")
	for i := 1; i <= 2; i++ {
		if _, err := bad.value(); err == nil || !strings.Contains(err.Error(), "does not match its digest") {
			t.Fatalf("a value that does not match its digest: %v", err)
		}
		if fetches[bad.id] != i {
			t.Fatalf("%d fetches of the bad value after %d asks: a refused value must not be kept", fetches[bad.id], i)
		}
	}
	served[bad.id] = c.Append(nil, "x") // the driver's answer, once it comes through whole
	if bad.Value() != "x" {
		t.Fatal("the value after a refused one")
	}
}
