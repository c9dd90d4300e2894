package worker

import (
	"container/list"
	"sync"

	"github.com/sluicehq/sluice/internal/task"
)

// memCache holds cached partitions within a byte budget, evicting the
// least recently used to make room, as Spark's MemoryStore does. Like
// Spark it never evicts a partition of the same dataset (graph and node)
// to store another of it: a cached dataset larger than the budget keeps
// the part that fits instead of cycling through it and keeping nothing
// useful. A partition that cannot be made room for is not stored, and is
// recomputed when read again.
type memCache struct {
	mu    sync.Mutex
	limit int64
	used  int64
	lru   list.List // of *cacheEntry, most recently used first
	parts map[cacheKey]*list.Element
}

type cacheKey struct{ graph, node, part int }

type cacheEntry struct {
	key  cacheKey
	data []byte
}

func newMemCache(limit int64) *memCache {
	return &memCache{limit: limit, parts: map[cacheKey]*list.Element{}}
}

// view returns the task.CacheStore of one graph.
func (c *memCache) view(graph int) task.CacheStore { return cacheView{c, graph} }

type cacheView struct {
	c     *memCache
	graph int
}

func (v cacheView) Get(node, part int) ([]byte, bool) {
	v.c.mu.Lock()
	defer v.c.mu.Unlock()
	el, ok := v.c.parts[cacheKey{v.graph, node, part}]
	if !ok {
		return nil, false
	}
	v.c.lru.MoveToFront(el)
	return el.Value.(*cacheEntry).data, true
}

func (v cacheView) Put(node, part int, data []byte) {
	v.c.put(cacheKey{v.graph, node, part}, data)
}

// Limit is the whole budget: other datasets' partitions can be evicted
// for one partition up to that size.
func (v cacheView) Limit() int64 { return v.c.limit }

func (c *memCache) put(k cacheKey, data []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	size := int64(len(data))
	if _, ok := c.parts[k]; ok || size > c.limit {
		return
	}
	if need := c.used + size - c.limit; need > 0 {
		// Evict only if enough can go: never empty the cache for nothing.
		var victims []*list.Element
		for el := c.lru.Back(); el != nil && need > 0; el = el.Prev() {
			e := el.Value.(*cacheEntry)
			if e.key.graph == k.graph && e.key.node == k.node {
				continue
			}
			victims = append(victims, el)
			need -= int64(len(e.data))
		}
		if need > 0 {
			return
		}
		for _, el := range victims {
			c.remove(el)
		}
	}
	c.parts[k] = c.lru.PushFront(&cacheEntry{key: k, data: data})
	c.used += size
}

func (c *memCache) remove(el *list.Element) {
	e := c.lru.Remove(el).(*cacheEntry)
	delete(c.parts, e.key)
	c.used -= int64(len(e.data))
}

// dropGraph forgets every partition of one graph.
func (c *memCache) dropGraph(graph int) {
	c.dropGraphs(func(g int) bool { return g == graph })
}

// dropGraphs forgets every partition of the graphs drop reports.
func (c *memCache) dropGraphs(drop func(graph int) bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for el := c.lru.Front(); el != nil; {
		next := el.Next()
		if drop(el.Value.(*cacheEntry).key.graph) {
			c.remove(el)
		}
		el = next
	}
}

// size returns the bytes and partitions held.
func (c *memCache) size() (bytes int64, parts int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.used, len(c.parts)
}
