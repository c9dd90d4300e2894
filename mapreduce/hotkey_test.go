package mapreduce_test

import (
	"context"
	"fmt"
	"iter"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/sluicehq/sluice/mapreduce"
	"github.com/sluicehq/sluice/rdd"
)

// hotChunks is how many map tasks make the hot key's values.
const hotChunks = 10

// hotLive is the most live heap the hot reducer saw, sampled after a GC
// every hotSample values.
var (
	hotLive   atomic.Uint64
	hotSample = 1 << 20
)

// hotKey emits, for chunk i of n values each, ("hot", a 24-byte value
// numbering it) n times and a few cold keys; the reducer checks that the
// hot key's values arrive complete and counts them without keeping them.
var hotKey = mapreduce.Register(mapreduce.Job[int, string, string, string]{
	Name: "HotKey",
	// The input is the chunk numbers; paths[0] is the values per chunk.
	Input: func(paths []string) *rdd.RDD[int] {
		n, _ := strconv.Atoi(paths[0])
		chunks := make([]int, hotChunks)
		for i := range chunks {
			chunks[i] = i
		}
		return rdd.Map(rdd.Parallelize(chunks, rdd.Partitions(hotChunks)), func(i int) int { return i*1_000_000_000 + n })
	},
	Mapper: mapreduce.MapperFunc[int, string, string](func(_ context.Context, spec int, emit func(string, string)) error {
		chunk, n := spec/1_000_000_000, spec%1_000_000_000
		for j := range n {
			emit("hot", fmt.Sprintf("%08d-%015d", chunk, j))
			if j%100_000 == 0 {
				emit("cold"+strconv.Itoa(j), "x")
			}
		}
		return nil
	}),
	Reducer: mapreduce.ReducerFunc[string, string, string](func(_ context.Context, k string, values iter.Seq[string], emit func(string)) error {
		var n, sum int64
		for v := range values {
			if k == "hot" {
				j, err := strconv.ParseInt(v[9:], 10, 64)
				if err != nil || len(v) != 24 {
					return fmt.Errorf("bad value %q", v)
				}
				sum += j
				if n%int64(hotSample) == 0 {
					runtime.GC()
					var ms runtime.MemStats
					runtime.ReadMemStats(&ms)
					for {
						old := hotLive.Load()
						if ms.HeapAlloc <= old || hotLive.CompareAndSwap(old, ms.HeapAlloc) {
							break
						}
					}
				}
			}
			n++
		}
		emit(fmt.Sprintf("%s\t%d\t%d", k, n, sum))
		return nil
	}),
	Output: mapreduce.TextOutput[string](),
})

// The hot key's ten million values stream through the reducer under
// --memory 64MiB: the reduce side spills and merges instead of holding
// them, and the live heap stays far below what the values would take
// as a list (10M × 40 bytes = 400 MB).
func TestHotKeyStreams(t *testing.T) {
	if testing.Short() {
		t.Skip("ten million values")
	}
	perChunk := 1_000_000
	if raceEnabled {
		perChunk = 100_000 // the race detector is ~10 times slower
	}
	hotLive.Store(0)
	s := session(t, 64<<20)
	out := filepath.Join(t.TempDir(), "out")
	c, err := hotKey.Run(testCtx(t), s, mapreduce.Args{Inputs: []string{strconv.Itoa(perChunk)}, Output: out, Reducers: 2})
	if err != nil {
		t.Fatal(err)
	}
	total := int64(hotChunks * perChunk)
	wantSum := int64(hotChunks) * int64(perChunk) * int64(perChunk-1) / 2
	var hot string
	for _, l := range readParts(t, out) {
		if strings.HasPrefix(l, "hot\t") {
			hot = l
		}
	}
	if want := fmt.Sprintf("hot\t%d\t%d", total, wantSum); hot != want {
		t.Fatalf("hot key's line %q, want %q", hot, want)
	}
	mr := mapreduce.TaskCounters
	// A sorter holds at most a budget's worth of records, each charged at
	// least spill.RecordOverhead (32) bytes; the rest must have gone to disk.
	in := c.Get(mr, mapreduce.ReduceInputRecords)
	if spilled, most := c.Get(mr, mapreduce.SpilledRecords), int64(64<<20)/32; in != total+total/100_000 || spilled < in-most {
		t.Errorf("REDUCE_INPUT_RECORDS %d, SPILLED_RECORDS %d: want %d in and at most %d of them kept in memory", in, spilled, total+total/100_000, most)
	}
	live := hotLive.Load()
	t.Logf("%d values of one key under --memory 64MiB: live heap at most %d MiB in the reducer; peak RSS %s; counters %v",
		total, live>>20, peakRSS(), c[mr])
	if !raceEnabled && live > 160<<20 {
		t.Errorf("live heap reached %d MiB while reducing: the values are being held", live>>20)
	}
}

// peakRSS is this process's VmHWM.
func peakRSS() string {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return "unknown"
	}
	for l := range strings.Lines(string(b)) {
		if v, ok := strings.CutPrefix(l, "VmHWM:"); ok {
			return strings.TrimSpace(v)
		}
	}
	return "unknown"
}
