package task

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/sluicehq/sluice/internal/block"
	"github.com/sluicehq/sluice/internal/spill"
)

// DefaultMemory is the bytes a task may hold in its buffers before
// spilling, when the runtime sets no budget.
const DefaultMemory = 256 << 20

// ErrCommitDenied fails a task attempt whose output another attempt of the
// same partition committed first.
var ErrCommitDenied = errors.New("task: output commit denied")

// Context is what a running task gets from the runtime that runs it:
// where it may spill, how much memory it may hold, and the services
// (shuffle, cache, output commit) that the runtime implements.
type Context struct {
	Stage     int
	Partition int
	Attempt   int
	Memory    int64       // bytes a task may hold in its buffers before spilling
	Sorters   *spill.Pool // record buffers that sorters pass on from task to task; nil keeps none
	TempDir   string      // private scratch directory for spills
	Codec     block.Codec // compression for shuffle and spill files
	Shuffle   ShuffleIO
	Cache     CacheStore // nil disables caching
	Commit    Committer
	Log       *slog.Logger
	Metrics   Metrics    // filled in as the task runs
	IO        IOSettings // the session's settings for input and output formats
}

// IOSettings are the session's settings for reading and writing files
// (driver flags), sent with every task.
type IOSettings struct {
	// SkipBadRecords is how many malformed records a job may skip
	// (--skip-bad-records); 0: the first one fails the job.
	SkipBadRecords int64
	// OutputCodec compresses the files that SaveAs actions write
	// (--output-codec): gzip, zstd, snappy, none, or "" for each format's
	// default.
	OutputCodec string
}

// Metrics counts what a task did.
type Metrics struct {
	Spills     int64 // sorted runs written to disk because buffers passed the memory budget
	SpillBytes int64 // their bytes, compressed
	InputBytes int64 // bytes of input files read (their splits)
	// Filled in by the executor: shuffle records read and written, bytes
	// of shuffle blocks read, and the time spent waiting to open fetches.
	RecordsIn, RecordsOut int64
	ShuffleReadBytes      int64
	FetchWait             time.Duration
	// RunTime is how long the executor ran the task: the driver's view of
	// the attempt, less this, is its scheduler delay (Spark's meaning).
	RunTime time.Duration
	// BadRecords counts the malformed input records the task skipped
	// (IOSettings.SkipBadRecords); BadRecordSample is the first one's
	// error, naming its file and line.
	BadRecords      int64
	BadRecordSample string
}

// ShuffleIO reaches shuffle storage. Shuffles are named by the ids a Graph
// gives them.
type ShuffleIO interface {
	// Create returns the writer for this task's map output of shuffle.
	Create(ctx context.Context, shuffle, numPartitions int) (ShuffleWriter, error)
	// Open streams the blocks of reduce partition part of shuffle, from
	// every map output in map-partition order.
	Open(ctx context.Context, shuffle, part int) (BlockReader, error)
}

// ShuffleWriter writes one map output: records of framed key and value,
// partition after partition in ascending order.
type ShuffleWriter interface {
	Partition(p int) error
	Frame(b []byte)
	EndRecord() error
	Commit() error
	Abort()
}

// BlockReader yields block payloads; io.EOF ends them.
type BlockReader interface {
	Next() ([]byte, error)
	Close() error
}

// CacheStore is an executor's storage of persisted partitions, each a
// partition file (internal/partfile) in memory or on local disk.
type CacheStore interface {
	// Get returns a partition held in memory.
	Get(node, part int) ([]byte, bool)
	// Put stores a partition in memory if it can make room; disk says
	// that when evicted it moves to disk (MemoryAndDisk).
	Put(node, part int, data []byte, disk bool)
	// Limit is the largest partition worth holding in memory.
	Limit() int64
	// DiskPath returns the file a partition persisted on disk has, or is
	// to be written to; "" when the executor keeps nothing on disk.
	DiskPath(node, part int) string
	// DiskLimit is the largest partition worth writing to disk.
	DiskLimit() int64
	// AddDisk counts a file committed at DiskPath against the disk
	// budget, or removes it when it does not fit.
	AddDisk(node, part int, size int64)
}

// Committer authorises output commits: exactly one attempt per partition
// of an output may commit, as Hadoop's and Spark's commit coordinators do.
type Committer interface {
	CanCommit(ctx context.Context, stage, part, attempt int) (bool, error)
}

// ActionKind says what a result task does with its partition.
type ActionKind uint8

// The result-task kinds.
const (
	ActCollect    ActionKind = iota + 1 // every element, framed
	ActCount                            // the number of elements
	ActTake                             // the first N elements
	ActCountByKey                       // a Pair RDD's (key, count) frames
	ActSave                             // write a part file under Path
	ActSample                           // a seeded reservoir sample of N elements
	ActCheckpoint                       // write the partition into the checkpoint directory Path
	ActFunc                             // run a partition function of rdd's (Reduce, Aggregate, Top, ...) named by Funcs, or Local in-process
)

// Action is a result task's instruction, sent with each task.
type Action struct {
	Kind ActionKind
	N    int    // ActTake, ActSample
	Path string // ActSave: the output directory; ActCheckpoint: the node's checkpoint directory
	Seed int64  // ActSample
	// ActSave: the file format ("" is text) and its compression, as the
	// driver resolved them (rdd's SaveAs actions).
	Format, Codec string
	// ActFunc: Funcs references the functions to run (rdd/shipfunc.go),
	// resolved on the executor; Arg is their encoded argument (a zero
	// value, k, buckets). Local carries the function values themselves to
	// an executor in the driver's process instead of Funcs: it is never
	// encoded, so it never leaves the process.
	Funcs []byte
	Arg   []byte
	Local any `msgpack:"-"`
}

// Job is one action's work, handed to a runtime (rdd.Runner).
type Job struct {
	Name       string // the action and the user's call: "Collect at main.go:42"
	Graph      *Graph
	Node       int   // the node whose partitions the action reads
	Partitions []int // the partitions to compute
	// Span, when above 1, makes the task of partition p also read what
	// partitions p+1 … p+Span-1 of Node read, so that its action can
	// combine them in one task (the tree actions).
	Span   int
	Action Action
	// Result receives the encoded result of each partition, once, from
	// one goroutine at a time. An error ends the job with that error.
	Result func(part int, data []byte) error
}
