package worker_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"reflect"
	"runtime"
	"sync/atomic"
	"testing"

	"github.com/sluicehq/sluice/internal/block"
	"github.com/sluicehq/sluice/internal/codec"
	"github.com/sluicehq/sluice/internal/fuzztest"
	"github.com/sluicehq/sluice/rdd"
	"github.com/sluicehq/sluice/scheduler"
	"github.com/sluicehq/sluice/worker"

	"github.com/sluicehq/sluice/internal/task"
)

// wireBody decodes one RPC body type of the cluster and checks the result.
type wireBody struct {
	seeds func() [][]byte
	check func(t *testing.T, b []byte)
}

// wireAllocFactor bounds what decoding may allocate per input byte. It is
// not 1: each byte can stand for a whole zero value (nil or an empty map
// decodes to a struct), and the msgpack library allocates a slice twice
// (MakeSlice, then AppendSlice). The largest element the bodies hold is a
// scheduler.MapStatus (64 bytes): an array of nil, empty maps or empty
// arrays in its place was measured at 128 to 152 bytes allocated per byte
// of input. What matters here is that no claimed length moves it.
const wireAllocFactor = 160

func bodyOf[T any](values ...T) wireBody {
	c := codec.For[T]()
	return wireBody{
		seeds: func() [][]byte {
			var out [][]byte
			for _, v := range values {
				out = append(out, c.Append(nil, v))
			}
			return out
		},
		check: func(t *testing.T, b []byte) {
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			v, err := c.Decode(b)
			runtime.ReadMemStats(&after)
			if n, limit := after.TotalAlloc-before.TotalAlloc, wireAllocFactor*uint64(len(b))+64<<10; n > limit {
				t.Fatalf("%T: decoding %d bytes allocated %d", v, len(b), n)
			}
			if err != nil {
				if !errors.Is(err, codec.ErrDecode) {
					t.Fatalf("%T: error %v does not wrap codec.ErrDecode", v, err)
				}
				return
			}
			again, err := c.Decode(c.Append(nil, v))
			if err != nil || !reflect.DeepEqual(again, v) {
				t.Fatalf("%T: Decode(Append(%+v)) = %+v, %v", v, v, again, err)
			}
		},
	}
}

// wireBodies lists every request and response body of the cluster's RPC
// methods, each with a few valid values for the seed corpus.
func wireBodies() []wireBody {
	sizes := []int64{0, 120, 1 << 40}
	return []wireBody{
		bodyOf(worker.HasBinaryRequest{SHA256: "ab12"}),
		bodyOf(worker.HasBinaryResponse{Have: true}),
		bodyOf(worker.UploadBinaryRequest{SHA256: "ab12", Size: 4}, worker.UploadBinaryRequest{}),
		bodyOf(worker.Empty{}),
		bodyOf(worker.StartExecutorRequest{App: "app-1", SHA256: "ab", Driver: "10.0.0.1:7000", Codec: "s2", TaskMemory: 1 << 28, CacheMemory: -1, RegistryDigest: "d", WorkDir: "/tmp"}),
		bodyOf(worker.StartExecutorResponse{Addr: "10.0.0.2:7001", Slots: 8}),
		bodyOf(worker.StopAppRequest{App: "app-1"}),
		bodyOf(worker.FetchRequest{App: "app-1", Graph: 1, Shuffle: 2, Map: 3, Part: -4}),
		bodyOf(worker.FetchFileRequest{App: "app-1", Graph: 1, Shuffle: 2, Map: 3, Index: true}),
		bodyOf(worker.PullMapOutputRequest{App: "app-1", Graph: 1, Shuffle: 2, Map: 3, From: "10.0.0.3:7002"}),
		bodyOf(worker.DrainedRequest{App: "app-1"}),
		bodyOf(worker.WorkerLostRequest{Worker: "w1"}),
		bodyOf(worker.CanCommitRequest{App: "app-1", Stage: 1, Part: 2, Attempt: 3}),
		bodyOf(worker.CanCommitResponse{OK: true}),
		bodyOf(worker.TaskSpec{
			Invocation:  task.Invocation{Key: "main.init:12", Args: []byte{0x93, 1, 2, 3}},
			GraphDigest: "0123456789abcdef",
			States:      map[int][]byte{3: {1, 'a'}, 5: nil},
			Task: scheduler.Task{ID: 9, Job: 1, Stage: 2, Graph: 1, Kind: scheduler.ResultTask, Node: 4, Partition: 1, Attempt: 2,
				Inputs: []scheduler.ShuffleInput{scheduler.NewShuffleInput(3, 1, 5, []scheduler.MapBlock{
					{Map: 0, Worker: "w1", Replica: "c1", Gen: 4, Size: 120, Exact: true}, {Map: 3, Worker: "w2", Gen: 2, Size: 7}, {Map: 4, Worker: "w1", Gen: 9, Size: -1}})}},
			Action: task.Action{Kind: task.ActTake, N: 10, Path: "/out", Seed: -1},
			Addrs:  map[string]string{"w1": "10.0.0.4:7003"},
		}, worker.TaskSpec{}),
		bodyOf(worker.TaskResult{TaskID: 9, Worker: "w1", WorkerLost: true, Status: worker.TaskFetchFailed, Err: "boom", Stack: "goroutine 1",
			MapStatus: &scheduler.MapStatus{Worker: "w1", Sizes: sizes}, Result: []byte{1}, Metrics: task.Metrics{Spills: 2},
			FetchShuffle: 1, FetchMap: 2, FetchWorker: "w2", FetchGen: 3}, worker.TaskResult{}),
	}
}

// FuzzWireBodies decodes arbitrary bytes as every RPC body the cluster
// exchanges, as rpc.Handle and rpc.Call do: an error wrapping
// codec.ErrDecode or a value that survives a round trip, never a panic,
// and no allocation that a claimed length rather than the input drives.
func FuzzWireBodies(f *testing.F) {
	bodies := wireBodies()
	for _, body := range bodies {
		for _, s := range body.seeds() {
			f.Add(s)
			f.Add(s[:len(s)/2])
		}
	}
	for _, b := range [][]byte{
		{}, {0xc0}, {0xc1}, {0x80},
		{0x81, 0xa4, 'D', 'a', 't', 'a', 0xc6, 0xff, 0xff, 0xff, 0xff},                                           // a 4 GiB bin in 11 bytes
		{0x81, 0xa4, 'T', 'a', 's', 'k', 0x81, 0xa6, 'I', 'n', 'p', 'u', 't', 's', 0xdd, 0x7f, 0xff, 0xff, 0xff}, // 2G inputs
		{0x81, 0xa6, 'S', 't', 'a', 't', 'e', 's', 0xdf, 0xff, 0xff, 0xff, 0xff},                                 // 4G map entries
		bytes.Repeat([]byte{0x91}, 2000),                                                                         // nesting deeper than the codec allows
	} {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		defer fuzztest.Guard(t)()
		for _, body := range bodies {
			body.check(t, b)
		}
	})
}

// fetchedF reduces a shuffle whose only map output another worker holds,
// so that its reduce task reads the partition through the Fetcher.
var fetchedF = rdd.Func(func(n int) *rdd.RDD[rdd.Pair[string, int]] {
	pairs := rdd.Parallelize([]rdd.Pair[string, int]{rdd.KV("a", 1)}, rdd.Partitions(1))
	return rdd.ReduceByKey(pairs, func(a, b int) int { return a + b }, rdd.Partitions(n))
})

// bytesFetcher serves the same bytes for every fetch.
type bytesFetcher struct{ b []byte }

func (f bytesFetcher) Fetch(context.Context, string, worker.FetchRequest) (io.ReadCloser, error) {
	return io.NopCloser(bytes.NewReader(f.b)), nil
}

// mapOutput returns a reduce partition as a map task writes it.
func mapOutput(c block.Codec, recs map[string]int) []byte {
	var buf bytes.Buffer
	w := block.NewWriter(&buf, c)
	w.SetBlockSize(16)
	kc, vc := codec.For[string](), codec.For[int]()
	for k, v := range recs {
		w.Frame(kc.Append(nil, k))
		w.Frame(vc.Append(nil, v))
		if err := w.EndRecord(); err != nil {
			panic(err)
		}
	}
	if err := w.Flush(); err != nil {
		panic(err)
	}
	return buf.Bytes()
}

// streamOK reports whether b is a whole stream of valid blocks of size
// bytes (any length when size is negative, which means unknown).
func streamOK(b []byte, size int64) bool {
	if size >= 0 && int64(len(b)) != size {
		return false
	}
	r := block.NewReader(bytes.NewReader(b))
	for {
		if _, err := r.Next(); err != nil {
			return err == io.EOF
		}
	}
}

// fetchedTask runs the reduce task of fetchedF on ex, its one map output
// held by worker "other", whose partition the map task reported as size
// bytes long.
func fetchedTask(t testing.TB, ex *worker.Executor, id int64, size int64) (worker.TaskResult, int) {
	g, err := task.GraphOf(fetchedF.Invoke(1))
	if err != nil {
		t.Fatal(err)
	}
	nodes := g.Nodes()
	root := nodes[len(nodes)-1]
	shuffle := root.Deps[0].Shuffle
	var blocks []scheduler.MapBlock // an empty partition is not listed
	if size != 0 {
		blocks = append(blocks, scheduler.MapBlock{Map: 0, Worker: "other", Size: size, Exact: size >= 0})
	}
	spec := &worker.TaskSpec{
		Invocation: g.Invocation(), GraphDigest: g.Digest(),
		Task: scheduler.Task{ID: id, Kind: scheduler.ResultTask, Graph: 1, Node: root.ID, Partition: 0,
			Inputs: []scheduler.ShuffleInput{scheduler.NewShuffleInput(shuffle, 0, 1, blocks)}},
		Action: task.Action{Kind: task.ActCollect},
		Addrs:  map[string]string{"other": "10.0.0.9:7000"},
	}
	return ex.Run(context.Background(), spec), shuffle
}

func fetchingExecutor(t testing.TB, dir string, b []byte) *worker.Executor {
	ex, err := worker.NewExecutor(worker.ExecutorConfig{Name: "w", Dir: dir, Codec: block.S2, Committer: allowAll{}, Fetcher: bytesFetcher{b}})
	if err != nil {
		t.Fatal(err)
	}
	return ex
}

// FuzzFetchedPartition runs a reduce task whose input arrives over the
// network as arbitrary bytes of a claimed size. A stream that is corrupt,
// truncated or longer than claimed must fail the task as a fetch failure,
// so the scheduler recomputes the map output; records that do not decode
// fail it; nothing panics.
func FuzzFetchedPartition(f *testing.F) {
	for _, c := range []block.Codec{block.None, block.S2, block.Zstd} {
		b := mapOutput(c, map[string]int{"a": 1, "b": -2, "ccc": 1 << 40})
		f.Add(b, int64(len(b)))
		f.Add(b, int64(len(b)+1))
		f.Add(b[:len(b)-1], int64(len(b)))
		f.Add(b, int64(-1))
	}
	f.Add([]byte{}, int64(0))
	f.Add([]byte{}, int64(10))
	f.Add([]byte{1, 2, 3}, int64(3))
	dir := f.TempDir()
	var id atomic.Int64
	f.Fuzz(func(t *testing.T, b []byte, size int64) {
		defer fuzztest.Guard(t)()
		res, shuffle := fetchedTask(t, fetchingExecutor(t, dir, b), id.Add(1), size)
		if res.Stack != "" {
			t.Fatalf("the task panicked: %s\n%s", res.Err, res.Stack)
		}
		ok := size == 0 || streamOK(b, size) // a partition of size 0 is not fetched
		switch res.Status {
		case worker.TaskSucceeded:
			if !ok {
				t.Fatalf("a bad stream of %d bytes (claimed %d) was read without an error", len(b), size)
			}
		case worker.TaskFetchFailed:
			if ok {
				t.Fatalf("a good stream failed as a fetch failure: %s", res.Err)
			}
			if res.FetchWorker != "other" || res.FetchShuffle != shuffle || res.FetchMap != 0 {
				t.Fatalf("fetch failure names map %d of shuffle %d on %q", res.FetchMap, res.FetchShuffle, res.FetchWorker)
			}
		case worker.TaskFailed:
			// Records that do not decode, in blocks read before any
			// block-level error.
		default:
			t.Fatalf("status %d: %s", res.Status, res.Err)
		}
	})
}

// TestFetchedPartitionSizeMismatch: a stream that ends cleanly at a block
// boundary but holds fewer or more bytes than the map task reported is a
// fetch failure, not a smaller or larger partition.
func TestFetchedPartitionSizeMismatch(t *testing.T) {
	b := mapOutput(block.S2, map[string]int{"a": 1, "b": 2})
	ex := fetchingExecutor(t, t.TempDir(), b)
	for i, size := range []int64{int64(len(b)) - 1, int64(len(b)) + 1, int64(len(b)), -1} {
		res, _ := fetchedTask(t, ex, int64(i+1), size)
		want := worker.TaskFetchFailed
		if size == int64(len(b)) || size < 0 {
			want = worker.TaskSucceeded
		}
		if res.Status != want {
			t.Errorf("%d bytes reported as %d: status %d (%s), want %d", len(b), size, res.Status, res.Err, want)
		}
	}
}
