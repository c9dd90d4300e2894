package main

import (
	"bufio"
	"errors"
	"fmt"
	"hash/maphash"
	"os"
	"path/filepath"
	"strconv"
	"unsafe"
)

// partitioner assigns keys to the tables' partitions.
type partitioner struct {
	seed maphash.Seed
	n    uint64
}

func newPartitioner(n int) partitioner { return partitioner{maphash.MakeSeed(), uint64(n)} }

func (p partitioner) of(key []byte) int { return int(maphash.Bytes(p.seed, key) % p.n) }

// mix is SplitMix64's finalizer: the checksum of a group is the sum of mix
// over its values.
func mix(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	return x ^ x>>31
}

// parseUint parses an unsigned decimal number as strconv.ParseUint(s, 10,
// 64) does, without making a string of b.
func parseUint(b []byte) (uint64, error) {
	if len(b) == 0 {
		return 0, errors.New(`value "": not an unsigned decimal number`)
	}
	var n uint64
	for _, c := range b {
		d := uint64(c - '0')
		if d > 9 {
			return 0, fmt.Errorf("value %q: not an unsigned decimal number", b)
		}
		if n > (1<<64-1-d)/10 {
			return 0, fmt.Errorf("value %q: out of range", b)
		}
		n = n*10 + d
	}
	return n, nil
}

// partFile creates dir/part-NNNNN and calls write with a buffered writer on it.
func partFile(dir string, p int, write func(w *bufio.Writer) error) error {
	f, err := os.Create(filepath.Join(dir, fmt.Sprintf("part-%05d", p)))
	if err != nil {
		return err
	}
	w := bufio.NewWriterSize(f, 1<<20)
	return errors.Join(write(w), w.Flush(), f.Close())
}

// groups holds the values of each key of one partition.
type groups struct {
	index map[string]int32 // key -> index in keys and vals
	keys  []string
	vals  [][]uint64
}

func newGroups() *groups { return &groups{index: map[string]int32{}} }

func (g *groups) add(k []byte, v uint64) {
	i, ok := g.index[string(k)]
	if !ok {
		i = g.insert(string(k))
	}
	g.vals[i] = append(g.vals[i], v)
}

func (g *groups) insert(k string) int32 {
	i := int32(len(g.keys))
	g.index[k] = i
	g.keys = append(g.keys, k)
	g.vals = append(g.vals, nil)
	return i
}

// groupByKey writes one "key\tcount\tchecksum" line per key.
func groupByKey(paths []string, cfg config, dir string) error {
	part := newPartitioner(cfg.workers)
	local := make([][]*groups, cfg.workers) // [worker][partition]
	for w := range local {
		for range cfg.workers {
			local[w] = append(local[w], newGroups())
		}
	}
	err := forLines(paths, cfg, func(w int, l []byte) error {
		k, vb := cut(l)
		v, err := parseUint(vb)
		if err != nil {
			return err
		}
		local[w][part.of(k)].add(k, v)
		return nil
	})
	if err != nil {
		return err
	}
	return forParts(cfg.workers, func(p int) error {
		g := local[0][p]
		for w := 1; w < cfg.workers; w++ {
			if o := local[w][p]; len(o.keys) > len(g.keys) {
				g, o = o, g
				local[0][p], local[w][p] = g, o
			}
		}
		for w := range cfg.workers {
			o := local[w][p]
			if o == g {
				continue
			}
			for j, k := range o.keys {
				i, ok := g.index[k]
				if !ok {
					i = g.insert(k)
				}
				g.vals[i] = append(g.vals[i], o.vals[j]...)
			}
			local[w][p] = nil // let the collector have it
		}
		return partFile(dir, p, func(bw *bufio.Writer) error {
			var line []byte
			for i, k := range g.keys {
				var sum uint64
				for _, v := range g.vals[i] {
					sum += mix(v)
				}
				line = append(line[:0], k...)
				line = append(line, '\t')
				line = strconv.AppendInt(line, int64(len(g.vals[i])), 10)
				line = append(line, '\t')
				line = strconv.AppendUint(line, sum, 10)
				line = append(line, '\n')
				if _, err := bw.Write(line); err != nil {
					return err
				}
			}
			return nil
		})
	})
}

// distinct writes each distinct line once.
func distinct(paths []string, cfg config, dir string) error {
	part := newPartitioner(cfg.workers)
	local := make([][]map[string]struct{}, cfg.workers) // [worker][partition]
	for w := range local {
		for range cfg.workers {
			local[w] = append(local[w], map[string]struct{}{})
		}
	}
	err := forLines(paths, cfg, func(w int, l []byte) error {
		m := local[w][part.of(l)]
		if _, ok := m[string(l)]; !ok {
			m[string(l)] = struct{}{}
		}
		return nil
	})
	if err != nil {
		return err
	}
	return forParts(cfg.workers, func(p int) error {
		big := 0
		for w := range cfg.workers {
			if len(local[w][p]) > len(local[big][p]) {
				big = w
			}
		}
		m := local[big][p]
		for w := range cfg.workers {
			if w != big {
				for l := range local[w][p] {
					m[l] = struct{}{}
				}
				local[w][p] = nil
			}
		}
		return partFile(dir, p, func(bw *bufio.Writer) error {
			for l := range m {
				bw.WriteString(l)
				if err := bw.WriteByte('\n'); err != nil {
					return err
				}
			}
			return nil
		})
	})
}

// table is one partition of the right side of a join: the values of each
// key as a chain through entries, each value a substring of an arena of
// the partition's right lines.
type table struct {
	head    map[string]int32 // key -> first entry
	entries []entry
}

type entry struct {
	off, len uint32 // the value in the arena
	arena    int32  // which of the partition's arenas: the worker that read the line
	next     int32  // the key's next entry, or -1
}

// value returns e's value; arenas are those of e's partition.
func (e entry) value(arenas []string) string {
	return arenas[e.arena][e.off : e.off+e.len]
}

// join writes "key\tleft\tright" for every pair of lines with the same key.
func join(left, right string, cfg config, dir string) error {
	part := newPartitioner(cfg.workers)
	// Phase 1: right lines into arenas by partition.
	arenas := make([][][]byte, cfg.workers) // [worker][partition]
	for w := range arenas {
		arenas[w] = make([][]byte, cfg.workers)
	}
	err := forLines([]string{right}, cfg, func(w int, l []byte) error {
		k, _ := cut(l)
		p := part.of(k)
		arenas[w][p] = append(append(arenas[w][p], l...), '\n')
		return nil
	})
	if err != nil {
		return err
	}
	// Phase 2: a hash table per partition. An arena is never written again,
	// so its keys and values are substrings of one string that shares its
	// bytes.
	tables := make([]table, cfg.workers)
	strs := make([][]string, cfg.workers) // [partition][worker]
	err = forParts(cfg.workers, func(p int) error {
		t := table{head: map[string]int32{}}
		for w := range cfg.workers {
			a := arenas[w][p]
			if len(a) > 1<<32-1 {
				return fmt.Errorf("%s: partition %d of the right side holds %d bytes, more than 4 GiB; use more --workers", right, p, len(a))
			}
			s := unsafe.String(unsafe.SliceData(a), len(a))
			strs[p] = append(strs[p], s)
			for off := 0; off < len(s); {
				end := off
				for s[end] != '\n' {
					end++
				}
				k, voff := s[off:end], end
				for i := off; i < end; i++ {
					if s[i] == '\t' {
						k, voff = s[off:i], i+1
						break
					}
				}
				e := entry{off: uint32(voff), len: uint32(end - voff), arena: int32(w), next: -1}
				if h, ok := t.head[k]; ok {
					e.next = h
				}
				t.head[k] = int32(len(t.entries))
				t.entries = append(t.entries, e)
				off = end + 1
			}
		}
		tables[p] = t
		return nil
	})
	if err != nil {
		return err
	}
	// Phase 3: probe with the left lines; each worker writes its own part.
	ws := make([]*bufio.Writer, cfg.workers)
	fs := make([]*os.File, cfg.workers)
	for w := range ws {
		if fs[w], err = os.Create(filepath.Join(dir, fmt.Sprintf("part-%05d", w))); err != nil {
			for _, f := range fs[:w] {
				f.Close()
			}
			return err
		}
		ws[w] = bufio.NewWriterSize(fs[w], 1<<20)
	}
	err = forLines([]string{left}, cfg, func(w int, l []byte) error {
		k, v := cut(l)
		p := part.of(k)
		t := &tables[p]
		h, ok := t.head[string(k)]
		if !ok {
			return nil
		}
		bw := ws[w]
		for ; h >= 0; h = t.entries[h].next {
			e := t.entries[h]
			bw.Write(k)
			bw.WriteByte('\t')
			bw.Write(v)
			bw.WriteByte('\t')
			bw.WriteString(e.value(strs[p]))
			bw.WriteByte('\n')
		}
		return nil
	})
	for w := range ws {
		err = errors.Join(err, ws[w].Flush(), fs[w].Close())
	}
	return err
}
