package worker

import (
	"bytes"
	"errors"
	"os"
	"testing"

	"github.com/sluicehq/sluice/internal/partfile"
)

// cached reads a partition, which makes it the most recently used.
func cached(t *testing.T, c *memCache, graph, node, part int) bool {
	t.Helper()
	b, ok := c.view(graph).Get(node, part)
	if ok && !bytes.Equal(b, payload(graph, node, part)) {
		t.Fatalf("graph %d node %d part %d: wrong bytes", graph, node, part)
	}
	return ok
}

// held reports whether a partition is cached without reading it.
func held(c *memCache, graph, node, part int) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	_, ok := c.parts[cacheKey{graph, node, part}]
	return ok
}

// payload is 100 bytes that name their partition.
func payload(graph, node, part int) []byte {
	return bytes.Repeat([]byte{byte(graph), byte(node), byte(part), 0}, 25)
}

func put(c *memCache, graph, node, part int) {
	c.view(graph).Put(node, part, payload(graph, node, part), false)
}

// The cache keeps within its budget by evicting the least recently used
// partitions of other datasets; it never evicts a dataset's partitions for
// another partition of the same dataset.
func TestCacheEvictsLeastRecentlyUsed(t *testing.T) {
	c := newMemCache(300) // three partitions of 100 bytes

	// One dataset larger than the budget keeps its first three partitions.
	for p := range 5 {
		put(c, 1, 1, p)
	}
	for p := range 5 {
		if got, want := held(c, 1, 1, p), p < 3; got != want {
			t.Fatalf("graph 1 partition %d cached %v, want %v", p, got, want)
		}
	}

	// Partition 0 was read last of the three: another dataset evicts the
	// least recently used first, partition 1, then partition 2.
	cached(t, c, 1, 1, 0)
	put(c, 2, 1, 0)
	if held(c, 1, 1, 1) || !held(c, 1, 1, 0) || !held(c, 1, 1, 2) || !held(c, 2, 1, 0) {
		t.Fatal("the least recently used partition was not the one evicted")
	}
	put(c, 2, 1, 1)
	if held(c, 1, 1, 2) || !held(c, 1, 1, 0) {
		t.Fatal("the second eviction did not take the next least recently used")
	}

	// A node of the same graph is another dataset: it may evict.
	put(c, 2, 7, 0)
	if !held(c, 2, 7, 0) || held(c, 1, 1, 0) {
		t.Fatal("another node of the same graph did not evict the least recently used")
	}
	if n, parts := c.size(); n != 300 || parts != 3 {
		t.Fatalf("%d bytes in %d partitions, want 300 in 3", n, parts)
	}

	// Too big for the whole budget: not stored, nothing evicted.
	c.view(3).Put(1, 0, make([]byte, 301), false)
	if _, ok := c.view(3).Get(1, 0); ok {
		t.Fatal("a partition over the budget was cached")
	}
	if _, parts := c.size(); parts != 3 {
		t.Fatalf("%d partitions after a partition over the budget, want 3 kept", parts)
	}

	// A dropped graph frees its bytes.
	put(c, 1, 1, 4)
	c.dropGraph(1)
	if n, parts := c.size(); n != 200 || parts != 2 || !held(c, 2, 1, 1) || !held(c, 2, 7, 0) {
		t.Fatalf("%d bytes in %d partitions after dropping graph 1, want 200 in 2", n, parts)
	}
}

// Many jobs, each caching its own datasets: the cache stays in its budget
// and keeps serving the newest jobs, which a cache that never evicts
// stopped doing once it filled.
func TestCacheServesNewJobsAfterFilling(t *testing.T) {
	c := newMemCache(1000)
	for g := 1; g <= 1000; g++ {
		for p := range 4 {
			put(c, g, 1, p)
		}
		for p := range 4 {
			if !cached(t, c, g, 1, p) {
				t.Fatalf("job %d: partition %d not cached", g, p)
			}
		}
		if n, _ := c.size(); n > 1000 {
			t.Fatalf("job %d: %d bytes cached, over the budget of 1000", g, n)
		}
	}
}

// An executor told of forgotten graphs drops their rebuilt lineages and
// cached partitions, and keeps the others'.
func TestExecutorForgetsGraphs(t *testing.T) {
	e, err := NewExecutor(ExecutorConfig{Dir: t.TempDir(), CacheMemory: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	for g := 1; g <= 5; g++ {
		e.graphs[g] = &graphEntry{index: g}
		e.order = append(e.order, g)
		put(e.cache, g, 1, 0)
	}
	e.ForgetGraphs(GraphRanges{{1, 2}, {4, 4}})
	if len(e.graphs) != 2 || e.graphs[3] == nil || e.graphs[5] == nil || len(e.order) != 2 {
		t.Fatalf("graphs %v (order %v) after forgetting 1, 2 and 4, want 3 and 5", e.graphs, e.order)
	}
	for g := 1; g <= 5; g++ {
		if want := g == 3 || g == 5; held(e.cache, g, 1, 0) != want {
			t.Fatalf("graph %d cached %v, want %v", g, !want, want)
		}
	}
}

// A MemoryAndDisk partition that memory pressure evicts moves to disk,
// whole and valid; a MemoryOnly one is dropped; dropNode (Unpersist)
// removes both copies.
func TestCacheEvictionMovesToDisk(t *testing.T) {
	dir := t.TempDir()
	c := newCache(2*int64(len(partBytes(t, 0))), dir, 1<<20)
	v1, v2 := c.view(1), c.view(2)
	v1.Put(1, 0, partBytes(t, 0), true)  // MemoryAndDisk
	v1.Put(2, 0, partBytes(t, 1), false) // MemoryOnly
	// Two partitions of another dataset evict both.
	v2.Put(1, 0, partBytes(t, 2), false)
	v2.Put(1, 1, partBytes(t, 3), false)
	if _, ok := v1.Get(1, 0); ok {
		t.Fatal("graph 1 node 1 still in memory")
	}
	if n, parts := c.diskSize(); parts != 1 || n != int64(len(partBytes(t, 0))) {
		t.Fatalf("on disk: %d partitions, %d bytes; want the evicted MemoryAndDisk one", parts, n)
	}
	path := v1.DiskPath(1, 0)
	var got []byte
	if err := partfile.EachFile(path, func(p []byte) (bool, error) { got = append(got, p...); return true, nil }); err != nil {
		t.Fatal(err)
	}
	if want := []byte{0x01, 0}; !bytes.Equal(got, want) {
		t.Fatalf("evicted partition reads back %x, want %x", got, want)
	}
	if _, err := os.Stat(v1.DiskPath(2, 0)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a MemoryOnly partition went to disk: %v", err)
	}
	c.dropNode(1, 1)
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("dropNode left the disk copy: %v", err)
	}
	if n, parts := c.diskSize(); n != 0 || parts != 0 {
		t.Fatalf("after dropNode %d bytes in %d partitions on disk", n, parts)
	}
}

// partBytes is a partition file of one one-byte record, i.
func partBytes(t *testing.T, i byte) []byte {
	t.Helper()
	b := partfile.NewBytes()
	if err := b.Record([]byte{1, i}); err != nil {
		t.Fatal(err)
	}
	data, err := b.Finish()
	if err != nil {
		t.Fatal(err)
	}
	return data
}
