package worker

import (
	"sync"

	"github.com/sluicehq/sluice/internal/task"
)

// memCache holds cached partitions up to a byte budget. A partition that
// does not fit is not stored and is recomputed when read again, as Spark
// does for MEMORY_ONLY partitions it cannot hold; nothing is evicted, so a
// job's early partitions are not thrown out for its later ones.
type memCache struct {
	mu    sync.Mutex
	limit int64
	used  int64
	parts map[cacheKey][]byte
}

type cacheKey struct{ graph, node, part int }

func newMemCache(limit int64) *memCache {
	return &memCache{limit: limit, parts: map[cacheKey][]byte{}}
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
	b, ok := v.c.parts[cacheKey{v.graph, node, part}]
	return b, ok
}

func (v cacheView) Put(node, part int, data []byte) {
	v.c.mu.Lock()
	defer v.c.mu.Unlock()
	k := cacheKey{v.graph, node, part}
	if _, ok := v.c.parts[k]; ok || v.c.used+int64(len(data)) > v.c.limit {
		return
	}
	v.c.parts[k] = data
	v.c.used += int64(len(data))
}

func (v cacheView) Limit() int64 {
	v.c.mu.Lock()
	defer v.c.mu.Unlock()
	return v.c.limit - v.c.used
}

// dropGraph forgets every partition of one graph.
func (c *memCache) dropGraph(graph int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for k, b := range c.parts {
		if k.graph == graph {
			c.used -= int64(len(b))
			delete(c.parts, k)
		}
	}
}
