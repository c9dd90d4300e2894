package rdd

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/sluicehq/sluice/internal/partfile"
	"github.com/sluicehq/sluice/internal/task"
)

// StorageLevel says where Persist keeps an RDD's computed partitions on
// the executors, as Spark's storage levels do.
//
// Every level keeps partitions serialized (the element codec's bytes),
// so the ...Ser levels are the same as the levels without the suffix,
// as in PySpark. Sluice keeps no decoded Go values between tasks on
// purpose: a Go value is shared memory, and a user function that
// appends to a slice or writes to a map inside a cached element would
// change the cached copy and every later job's answer, silently; a
// decoded copy per read cannot be changed that way. Bytes are also the
// only exact measure of a partition's size, which the memory budget
// (--cache-memory) counts.
type StorageLevel uint8

const (
	memoryBit StorageLevel = 1 << iota
	diskBit
)

// The storage levels.
const (
	// StorageNone keeps nothing: every job recomputes the partitions.
	StorageNone StorageLevel = 0
	// MemoryOnly keeps partitions in executor memory within
	// --cache-memory; a partition that does not fit is recomputed when
	// read (Spark's MEMORY_ONLY, serialized as MEMORY_ONLY_SER).
	MemoryOnly = memoryBit
	// DiskOnly writes partitions to the executor's local disk within
	// --cache-disk; they survive memory pressure but not the worker.
	DiskOnly = diskBit
	// MemoryAndDisk keeps partitions in memory and moves a partition
	// that does not fit, or that memory pressure evicts, to disk.
	MemoryAndDisk = memoryBit | diskBit
	// MemoryOnlySer is MemoryOnly: every level is serialized.
	MemoryOnlySer = MemoryOnly
	// MemoryAndDiskSer is MemoryAndDisk: every level is serialized.
	MemoryAndDiskSer = MemoryAndDisk
)

func (l StorageLevel) memory() bool { return l&memoryBit != 0 }
func (l StorageLevel) disk() bool   { return l&diskBit != 0 }

// String returns the level's name.
func (l StorageLevel) String() string {
	switch l {
	case StorageNone:
		return "StorageNone"
	case MemoryOnly:
		return "MemoryOnly"
	case DiskOnly:
		return "DiskOnly"
	case MemoryAndDisk:
		return "MemoryAndDisk"
	}
	return fmt.Sprintf("StorageLevel(%d)", uint8(l))
}

// nodeState is what the driver decides about a node at run time and sends
// to executors with every task (graph.States, under the node's id): its
// storage level, and where its checkpoint is once written. An executor
// takes both from the driver, never from its own rebuild of the lineage,
// so Persist and Unpersist called in the driver's main take effect there.
type nodeState struct {
	level StorageLevel
	ckpt  string // the directory of the node's reliable checkpoint; "" when none
}

func (st nodeState) encode() []byte { return append([]byte{byte(st.level)}, st.ckpt...) }

func decodeNodeState(b []byte) (nodeState, error) {
	if len(b) == 0 || StorageLevel(b[0])&^MemoryAndDisk != 0 {
		return nodeState{}, fmt.Errorf("rdd: malformed node state %q", b)
	}
	return nodeState{level: StorageLevel(b[0]), ckpt: string(b[1:])}, nil
}

func (n *node) state() nodeState {
	if p := n.rt.Load(); p != nil {
		return *p
	}
	return nodeState{}
}

func (n *node) setState(st nodeState) {
	if st == n.state() {
		return
	}
	n.rt.Store(&st)
}

// setLevel changes the level, keeping the checkpoint.
func (n *node) setLevel(l StorageLevel) {
	for {
		old := n.rt.Load()
		st := nodeState{level: l}
		if old != nil {
			st.ckpt = old.ckpt
		}
		if n.rt.CompareAndSwap(old, &st) {
			return
		}
	}
}

// Cache is Persist(MemoryOnly).
func (r *RDD[T]) Cache() *RDD[T] { return r.Persist(MemoryOnly) }

// Persist keeps r's partitions on the executors at level once a job has
// computed them, so later jobs read them instead of recomputing. It may be
// called inside the Func that builds the lineage or in the driver's main,
// on the RDD that Invoke returned, before or between actions: the driver
// sends the level with every task. A partition that was not kept (over
// the budget, or its executor gone) is recomputed from lineage when read.
// Persist returns r.
func (r *RDD[T]) Persist(level StorageLevel) *RDD[T] {
	r.n.setLevel(level & MemoryAndDisk)
	return r
}

// StorageLevel returns the level r is persisted at.
func (r *RDD[T]) StorageLevel() StorageLevel { return r.n.state().level }

// storageRunner is what Unpersist and Checkpoint need of a Runner beyond
// RunJob; the driver's Session has it.
type storageRunner interface {
	// UnpersistNode drops the stored partitions of node of g on every
	// executor, waiting at most until ctx ends.
	UnpersistNode(ctx context.Context, g *task.Graph, node int) error
	// CheckpointDir returns the directory reliable checkpoints go under;
	// "" when none was set.
	CheckpointDir() string
}

// Unpersist stops keeping r's partitions and drops those kept on every
// executor that run can reach, returning when they have answered (or ctx
// ended). Later jobs recompute r, or read its checkpoint.
func (r *RDD[T]) Unpersist(ctx context.Context, run Runner) error {
	r.n.setLevel(StorageNone)
	g, err := r.graph()
	if err != nil {
		return nil // no job could run: nothing was stored
	}
	sr, ok := run.(storageRunner)
	if !ok {
		return fmt.Errorf("rdd: Unpersist of %s: the Runner (%T) cannot reach executors' storage", r.n.name, run)
	}
	return sr.UnpersistNode(ctx, g.pub, r.n.id)
}

// iterate computes partition part: from the executor's storage when r is
// persisted and the partition is there (storing it when it is not), from
// r's checkpoint once it has one, or from lineage.
func (r *RDD[T]) iterate(ctx context.Context, tc *task.Context, part int, yield func(T) bool) error {
	st := r.n.state()
	compute := r.compute
	if st.ckpt != "" {
		compute = func(ctx context.Context, tc *task.Context, part int, yield func(T) bool) error {
			if err := r.readPartFile(checkpointPath(st.ckpt, part), yield); err != nil {
				return fmt.Errorf("rdd: reading the checkpoint of %s, whose lineage it replaced: %w", r.n.name, err)
			}
			return nil
		}
	}
	if st.level == StorageNone || tc.Cache == nil {
		return compute(ctx, tc, part, yield)
	}
	if st.level.memory() {
		if data, ok := tc.Cache.Get(r.n.id, part); ok {
			err := r.eachPart(bytes.NewReader(data), int64(len(data)), yield)
			if err == nil {
				return nil
			}
			// Memory does not rot; a bug would: say so, loudly.
			return fmt.Errorf("rdd: %s partition %d held in memory: %w", r.n.name, part, err)
		}
	}
	diskPath := ""
	if st.level.disk() {
		diskPath = tc.Cache.DiskPath(r.n.id, part)
	}
	if diskPath != "" {
		switch err := r.readPartFile(diskPath, yield); {
		case err == nil:
			return nil
		case errors.Is(err, partfile.ErrCorrupt):
			// A stored copy is only a copy: recompute, and drop it.
			if tc.Log != nil {
				tc.Log.Warn("persisted partition corrupt; recomputing", "node", r.n.id, "part", part, "err", err)
			}
			os.Remove(diskPath)
		case !errors.Is(err, fs.ErrNotExist):
			return err
		}
	}
	return r.computeAndStore(ctx, tc, part, st.level, diskPath, compute, yield)
}

// computeAndStore computes a partition and stores it at level: in memory
// while it fits the cache's limit, then (MemoryAndDisk, DiskOnly) in a
// file at diskPath, written as it is computed. A partition not read to
// its end (Take) is not stored.
func (r *RDD[T]) computeAndStore(ctx context.Context, tc *task.Context, part int, level StorageLevel, diskPath string,
	compute func(context.Context, *task.Context, int, func(T) bool) error, yield func(T) bool) error {
	var (
		mem      *partfile.Bytes
		file     *partfile.File
		storeErr error
		rec      []byte
		complete = true
	)
	if level.memory() {
		mem = partfile.NewBytes()
	} else if diskPath != "" {
		file, storeErr = partfile.Create(diskPath, tc.Codec)
	}
	memLimit, diskLimit := tc.Cache.Limit(), tc.Cache.DiskLimit()
	err := compute(ctx, tc, part, func(t T) bool {
		if mem != nil || file != nil {
			rec = r.codec.put(rec[:0], t)
		}
		if mem != nil {
			if storeErr = mem.Record(rec); storeErr == nil && mem.Raw()+partfile.Overhead > memLimit {
				// Too big for memory: move what is there to disk, or drop it.
				if level.disk() && diskPath != "" {
					file, storeErr = spillToFile(mem, diskPath, tc)
				}
				mem = nil
			}
		} else if file != nil {
			if storeErr = file.Record(rec); storeErr == nil && file.Raw() > diskLimit {
				file.Abort()
				file = nil
			}
		}
		if storeErr != nil {
			mem = nil
			if file != nil {
				file.Abort()
				file = nil
			}
		}
		if !yield(t) {
			complete = false
			return false
		}
		return true
	})
	if err != nil || !complete {
		if file != nil {
			file.Abort()
		}
		return err
	}
	if mem != nil {
		data, ferr := mem.Finish()
		if ferr == nil {
			tc.Cache.Put(r.n.id, part, data, level.disk())
		}
	}
	if file != nil {
		size := file.Size() + partfile.Overhead
		if cerr := file.Commit(); cerr == nil {
			tc.Cache.AddDisk(r.n.id, part, size)
		} else if tc.Log != nil {
			tc.Log.Warn("storing a persisted partition", "node", r.n.id, "part", part, "err", cerr)
		}
	}
	if storeErr != nil && tc.Log != nil {
		tc.Log.Warn("storing a persisted partition", "node", r.n.id, "part", part, "err", storeErr)
	}
	return nil
}

// spillToFile starts the file at path with the records in mem.
func spillToFile(mem *partfile.Bytes, path string, tc *task.Context) (*partfile.File, error) {
	data, err := mem.Finish()
	if err != nil {
		return nil, err
	}
	f, err := partfile.Create(path, tc.Codec)
	if err != nil {
		return nil, err
	}
	err = partfile.Each(bytes.NewReader(data), int64(len(data)), func(p []byte) (bool, error) {
		// A payload holds whole records: writing it as one keeps them whole.
		return true, f.Record(p)
	})
	if err != nil {
		f.Abort()
		return nil, err
	}
	return f, nil
}

// eachPart decodes the partition file in src.
func (r *RDD[T]) eachPart(src io.ReaderAt, size int64, yield func(T) bool) error {
	return partfile.Each(src, size, func(p []byte) (bool, error) {
		more := true
		err := r.codec.each(p, func(t T) bool {
			more = yield(t)
			return more
		})
		return more, err
	})
}

func (r *RDD[T]) readPartFile(path string, yield func(T) bool) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	if err := r.eachPart(f, fi.Size(), yield); err != nil {
		return fmt.Errorf("rdd: %s: %w", path, err)
	}
	return nil
}

// checkpointPath names partition part of the checkpoint in dir.
func checkpointPath(dir string, part int) string {
	return filepath.Join(dir, fmt.Sprintf("part-%05d", part))
}
