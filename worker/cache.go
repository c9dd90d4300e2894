package worker

import (
	"container/list"
	"fmt"
	"os"
	"path/filepath"
	"sync"

	"github.com/sluicehq/sluice/internal/partfile"
	"github.com/sluicehq/sluice/internal/task"
)

// memCache holds persisted partitions: in memory within a byte budget,
// evicting the least recently used to make room, as Spark's MemoryStore
// does, and on local disk within another (DiskOnly, MemoryAndDisk). Like
// Spark it never evicts a partition of the same dataset (graph and node)
// to store another of it: a cached dataset larger than the budget keeps
// the part that fits instead of cycling through it and keeping nothing
// useful. A partition that cannot be made room for is not stored, and is
// recomputed when read again. A MemoryAndDisk partition evicted from
// memory moves to disk, as Spark's do.
type memCache struct {
	mu    sync.Mutex
	limit int64
	used  int64
	lru   list.List // of *cacheEntry, most recently used first
	parts map[cacheKey]*list.Element

	diskDir   string // "" keeps nothing on disk
	diskLimit int64
	diskUsed  int64
	disk      map[cacheKey]int64 // files under diskDir and their sizes
}

type cacheKey struct{ graph, node, part int }

type cacheEntry struct {
	key    cacheKey
	data   []byte
	toDisk bool // MemoryAndDisk: moves to disk when evicted
}

func newMemCache(limit int64) *memCache { return newCache(limit, "", 0) }

// newCache returns a cache of limit bytes in memory and diskLimit bytes in
// files under diskDir ("" or 0: none on disk).
func newCache(limit int64, diskDir string, diskLimit int64) *memCache {
	if diskLimit <= 0 {
		diskDir = ""
	}
	return &memCache{limit: limit, parts: map[cacheKey]*list.Element{}, diskDir: diskDir, diskLimit: diskLimit, disk: map[cacheKey]int64{}}
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

func (v cacheView) Put(node, part int, data []byte, disk bool) {
	v.c.put(cacheKey{v.graph, node, part}, data, disk)
}

// Limit is the whole budget: other datasets' partitions can be evicted
// for one partition up to that size.
func (v cacheView) Limit() int64 { return v.c.limit }

func (v cacheView) DiskPath(node, part int) string {
	return v.c.diskPath(cacheKey{v.graph, node, part})
}

func (v cacheView) DiskLimit() int64 { return v.c.diskLimit }

func (v cacheView) AddDisk(node, part int, size int64) {
	v.c.addDisk(cacheKey{v.graph, node, part}, size)
}

func (c *memCache) diskPath(k cacheKey) string {
	if c.diskDir == "" {
		return ""
	}
	return filepath.Join(c.diskDir, fmt.Sprintf("g%d", k.graph), fmt.Sprintf("n%d_p%d", k.node, k.part))
}

// addDisk counts a committed file, or removes it when the disk budget
// cannot take it. Disk is not evicted: a partition that does not fit is
// recomputed when read, as one that does not fit memory is.
func (c *memCache) addDisk(k cacheKey, size int64) {
	c.mu.Lock()
	old, had := c.disk[k]
	fits := c.diskUsed-old+size <= c.diskLimit
	if fits {
		c.disk[k] = size
		c.diskUsed += size - old
	} else if had {
		delete(c.disk, k)
		c.diskUsed -= old
	}
	c.mu.Unlock()
	if !fits {
		os.Remove(c.diskPath(k))
	}
}

func (c *memCache) put(k cacheKey, data []byte, toDisk bool) {
	spill := c.putLocked(k, data, toDisk)
	// Evicted MemoryAndDisk partitions are written outside the lock.
	for _, e := range spill {
		if c.diskDir == "" {
			break
		}
		path := c.diskPath(e.key)
		if err := partfile.WriteFile(path, e.data); err == nil {
			c.addDisk(e.key, int64(len(e.data)))
		}
	}
}

func (c *memCache) putLocked(k cacheKey, data []byte, toDisk bool) (spill []*cacheEntry) {
	c.mu.Lock()
	defer c.mu.Unlock()
	size := int64(len(data))
	if _, ok := c.parts[k]; ok || size > c.limit {
		return nil
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
			return nil
		}
		for _, el := range victims {
			if e := c.remove(el); e.toDisk {
				if _, on := c.disk[e.key]; !on {
					spill = append(spill, e)
				}
			}
		}
	}
	c.parts[k] = c.lru.PushFront(&cacheEntry{key: k, data: data, toDisk: toDisk})
	c.used += size
	return spill
}

func (c *memCache) remove(el *list.Element) *cacheEntry {
	e := c.lru.Remove(el).(*cacheEntry)
	delete(c.parts, e.key)
	c.used -= int64(len(e.data))
	return e
}

// dropGraph forgets every partition of one graph.
func (c *memCache) dropGraph(graph int) {
	c.dropGraphs(func(g int) bool { return g == graph })
}

// dropGraphs forgets every partition of the graphs drop reports, and
// removes their directories on disk (with files a task was still adding).
func (c *memCache) dropGraphs(drop func(graph int) bool) {
	c.drop(func(k cacheKey) bool { return drop(k.graph) })
	if c.diskDir == "" {
		return
	}
	ents, _ := os.ReadDir(c.diskDir)
	for _, e := range ents {
		var g int
		if _, err := fmt.Sscanf(e.Name(), "g%d", &g); err == nil && drop(g) {
			os.RemoveAll(filepath.Join(c.diskDir, e.Name()))
		}
	}
}

// dropNode forgets every partition of one node of a graph: Unpersist.
func (c *memCache) dropNode(graph, node int) {
	c.drop(func(k cacheKey) bool { return k.graph == graph && k.node == node })
}

// drop forgets, in memory and on disk, the partitions that match.
func (c *memCache) drop(match func(cacheKey) bool) {
	c.mu.Lock()
	for el := c.lru.Front(); el != nil; {
		next := el.Next()
		if match(el.Value.(*cacheEntry).key) {
			c.remove(el)
		}
		el = next
	}
	var files []string
	for k, size := range c.disk {
		if match(k) {
			files = append(files, c.diskPath(k))
			delete(c.disk, k)
			c.diskUsed -= size
		}
	}
	c.mu.Unlock()
	for _, f := range files {
		os.Remove(f)
	}
}

// size returns the bytes and partitions held in memory.
func (c *memCache) size() (bytes int64, parts int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.used, len(c.parts)
}

// diskSize returns the bytes and partitions held on disk.
func (c *memCache) diskSize() (bytes int64, parts int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.diskUsed, len(c.disk)
}
