package rdd

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"
	"sync/atomic"
	"unsafe"

	"github.com/sluicehq/sluice/internal/block"
	"github.com/sluicehq/sluice/internal/codec"
	"github.com/sluicehq/sluice/internal/spill"

	"github.com/sluicehq/sluice/internal/task"
)

// shuffleDep is a wide dependency: a map stage over parent writes one
// output per map partition, cut into parts reduce partitions.
type shuffleDep struct {
	id     int
	parent *node
	parts  int
	runMap func(ctx context.Context, tc *task.Context, mapPart int) error

	// prepare, when set, runs on the driver before the map stage (a range
	// partitioner's sample) and returns state that setState installs in
	// every process. ready is guarded by the Graph's mutex.
	prepare  func(ctx context.Context, run Runner, g *graph) ([]byte, error)
	setState func([]byte) error
	ready    bool

	// indeterminate marks output that depends on input order.
	indeterminate bool

	// partitioner, when set, is the Partitioner[K] that places records,
	// named in the error for a key it sends out of range.
	partitioner any

	// sizeHint is the largest map-side table a task of this shuffle has
	// built in this process: a performance hint, never part of the output.
	sizeHint atomic.Int64
}

func memoryOf(tc *task.Context) int64 {
	if tc.Memory > 0 {
		return tc.Memory
	}
	return task.DefaultMemory
}

// closeSorter counts a sorter's spills in the task's metrics and removes
// its files.
func closeSorter(tc *task.Context, so *spill.Sorter) {
	tc.Metrics.Spills += int64(so.Spills())
	tc.Metrics.SpillBytes += so.SpillBytes()
	so.Close()
}

func newSorter(tc *task.Context, budget int64, byKey bool) (*spill.Sorter, error) {
	return spill.NewSorter(spill.Config{Dir: tc.TempDir, Budget: budget, Codec: tc.Codec, ByKey: byKey, Pool: tc.Sorters})
}

// hashPart is the hash partitioner: a fixed function of the key's bytes, the
// same in every process and attempt.
func hashPart(kb []byte, n int) int { return int(codec.Hash(kb) % uint64(n)) }

// sizeOf estimates the bytes a value holds, for memory budgets: its own
// size plus, for strings and slices, what they point to (one level deep).
func sizeOf[T any](v T) int64 {
	n := int64(unsafe.Sizeof(v))
	switch x := any(v).(type) {
	case string:
		return n + int64(len(x))
	case []byte:
		return n + int64(cap(x))
	}
	if reflect.TypeFor[T]().Kind() == reflect.Slice {
		rv := reflect.ValueOf(v)
		return n + int64(rv.Cap())*int64(rv.Type().Elem().Size())
	}
	return n
}

// growable reports whether values of T can grow as they are combined
// (slices, strings, maps): their size must be re-measured after merges.
func growable[T any]() bool {
	switch reflect.TypeFor[T]().Kind() {
	case reflect.Slice, reflect.String, reflect.Map:
		return true
	}
	return false
}

// cloneKey copies a string key so that a map entry does not keep alive the
// whole input chunk the string was cut from.
func cloneKey[K any](k K) K {
	if s, ok := any(k).(string); ok {
		return any(strings.Clone(s)).(K)
	}
	return k
}

// writeSorted writes a sorter's stream to a shuffle writer. When merge is
// set, adjacent records with the same partition and key are merged into
// one (the map-side combine after spills).
func writeSorted(it *spill.Iterator, w task.ShuffleWriter, merge func(a, b []byte) ([]byte, error)) error {
	cur := -1
	var pk, pv []byte
	pp, pending := 0, false
	flush := func() error {
		if !pending {
			return nil
		}
		if pp != cur {
			if err := w.Partition(pp); err != nil {
				return err
			}
			cur = pp
		}
		w.Frame(pk)
		w.Frame(pv)
		return w.EndRecord()
	}
	for it.Next() {
		p, k, v := it.Part(), it.Key(), it.Value()
		if merge != nil && pending && p == pp && bytes.Equal(k, pk) {
			m, err := merge(pv, v)
			if err != nil {
				return err
			}
			pv = append(pv[:0], m...)
			continue
		}
		if merge == nil {
			// Nothing to merge: write straight through.
			if p != cur {
				if err := w.Partition(p); err != nil {
					return err
				}
				cur = p
			}
			w.Frame(k)
			w.Frame(v)
			if err := w.EndRecord(); err != nil {
				return err
			}
			continue
		}
		if err := flush(); err != nil {
			return err
		}
		pp, pending = p, true
		pk = append(pk[:0], k...)
		pv = append(pv[:0], v...)
	}
	if err := it.Err(); err != nil {
		return err
	}
	return flush()
}

// eachRecord calls f with the key and value frames of every record of a
// reduce partition.
func eachRecord(ctx context.Context, tc *task.Context, shuffle, part int, f func(k, v []byte) error) error {
	rd, err := tc.Shuffle.Open(ctx, shuffle, part)
	if err != nil {
		return err
	}
	defer rd.Close()
	for {
		p, err := rd.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		for len(p) > 0 {
			k, rest, err := block.NextFrame(p)
			if err != nil {
				return fmt.Errorf("rdd: shuffle %d partition %d: %w", shuffle, part, err)
			}
			v, rest, err := block.NextFrame(rest)
			if err != nil {
				return fmt.Errorf("rdd: shuffle %d partition %d: %w", shuffle, part, err)
			}
			if err := f(k, v); err != nil {
				return err
			}
			p = rest
		}
		if err := ctx.Err(); err != nil {
			return err
		}
	}
}

// eachDecoded yields every record of a reduce partition, decoded, in map
// order, stopping early when yield says so.
func eachDecoded[T any](ctx context.Context, tc *task.Context, shuffle, part int, yield func(T) bool, decode func(k, v []byte) (T, error)) error {
	err := eachRecord(ctx, tc, shuffle, part, func(k, v []byte) error {
		t, err := decode(k, v)
		if err != nil {
			return err
		}
		if !yield(t) {
			return errStop
		}
		return nil
	})
	if err == errStop {
		return nil
	}
	return err
}

// errStop ends an iteration early without being an error.
var errStop = errors.New("rdd: stop")

// writeMapOutput runs write against a fresh shuffle writer and commits it,
// or aborts it on any error.
func writeMapOutput(ctx context.Context, tc *task.Context, s *shuffleDep, write func(w task.ShuffleWriter) error) error {
	w, err := tc.Shuffle.Create(ctx, s.id, s.parts)
	if err != nil {
		return err
	}
	committed := false
	defer func() {
		if !committed {
			w.Abort() // an error, or a panic in user code
		}
	}()
	if err := write(w); err != nil {
		return err
	}
	committed = true
	return w.Commit()
}

// plainMap writes every record of parent partition mapPart, partitioned by
// part, in input order within each partition.
func plainMap[T any](ctx context.Context, tc *task.Context, s *shuffleDep, parent *RDD[T], mapPart int,
	encode func(kb, vb []byte, t T) ([]byte, []byte, int)) error {
	so, err := newSorter(tc, memoryOf(tc), false)
	if err != nil {
		return err
	}
	defer closeSorter(tc, so)
	var kb, vb []byte
	var addErr error
	err = parent.iterate(ctx, tc, mapPart, func(t T) bool {
		var p int
		kb, vb, p = encode(kb[:0], vb[:0], t)
		if p < 0 || p >= s.parts {
			addErr = partitionRangeError(s.partitioner, p, s.parts)
			return false
		}
		addErr = so.Add(p, kb, vb)
		return addErr == nil
	})
	if err == nil {
		err = addErr
	}
	if err != nil {
		return err
	}
	it, err := so.Iter()
	if err != nil {
		return err
	}
	return writeMapOutput(ctx, tc, s, func(w task.ShuffleWriter) error { return writeSorted(it, w, nil) })
}

// sortedInput sorts partition part of one or more sources (shuffles, or
// parents already partitioned alike) by key bytes on disk if need be, and
// hands f the sorted stream. With several sources (a join) each key gets
// its source's index appended: a msgpack value is never a prefix of
// another, so key||index sorts by key first and by source within a key.
func sortedInput(ctx context.Context, tc *task.Context, part int, f func(*spill.Iterator) error, sources ...source) error {
	so, err := newSorter(tc, memoryOf(tc), true)
	if err != nil {
		return err
	}
	defer closeSorter(tc, so)
	var tk []byte
	for side, src := range sources {
		err := src(ctx, tc, part, func(k, v []byte) error {
			if len(sources) > 1 {
				tk = append(append(tk[:0], k...), byte(side))
				k = tk
			}
			return so.Add(0, k, v)
		})
		if err != nil {
			return err
		}
	}
	it, err := so.Iter()
	if err != nil {
		return err
	}
	return f(it)
}
