package mapreduce_test

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"maps"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluicehq/sluice/driver"
	"github.com/sluicehq/sluice/mapreduce"
	"github.com/sluicehq/sluice/rdd"
)

func session(t *testing.T, memory int64) *driver.Session {
	t.Helper()
	cfg := driver.DefaultConfig()
	cfg.Parallelism = 2
	if memory > 0 {
		cfg.Memory = memory
	}
	s, err := driver.NewSession(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// failOnce makes the first attempt that reaches each named point fail
// after it has counted and emitted: the counters of failed attempts must
// not reach the job's.
var failOnce struct {
	on    atomic.Bool
	fired [2]atomic.Bool // 0: a map task, 1: a reduce task
}

var errInjected = errors.New("injected failure")

// wordCount counts words with a combiner, a user counter of lines, and
// failures injected when failOnce.on.
var wordCount = mapreduce.Register(mapreduce.Job[string, string, int64, rdd.Pair[string, int64]]{
	Name:  "WordCount",
	Input: mapreduce.TextInput,
	Mapper: mapreduce.MapperFunc[string, string, int64](func(ctx context.Context, line string, emit func(string, int64)) error {
		mapreduce.Count(ctx, "test", "lines", 1)
		for w := range strings.FieldsSeq(line) {
			emit(w, 1)
		}
		if failOnce.on.Load() && strings.Contains(line, "fail-here") && failOnce.fired[0].CompareAndSwap(false, true) {
			return errInjected
		}
		return nil
	}),
	Combiner: mapreduce.CombinerFunc[string, int64](sum),
	Reducer: mapreduce.ReducerFunc[string, int64, rdd.Pair[string, int64]](func(ctx context.Context, w string, counts iter.Seq[int64], emit func(rdd.Pair[string, int64])) error {
		var n int64
		for c := range counts {
			n += c
		}
		mapreduce.Count(ctx, "test", "words", 1)
		emit(rdd.KV(w, n))
		if failOnce.on.Load() && w == "fail-here" && failOnce.fired[1].CompareAndSwap(false, true) {
			return errInjected
		}
		return nil
	}),
	Output: mapreduce.TextOutput[rdd.Pair[string, int64]](),
})

func sum(_ context.Context, _ string, vs iter.Seq[int64], emit func(int64)) error {
	var n int64
	for v := range vs {
		n += v
	}
	emit(n)
	return nil
}

// corpus writes files of random words drawn from a skewed vocabulary and
// returns their paths, the lines and the words.
func corpus(t *testing.T, seed uint64, files, lines int) (paths []string, nLines, nWords int, counts map[string]int64) {
	rng := rand.New(rand.NewPCG(seed, 1))
	dir := t.TempDir()
	counts = map[string]int64{}
	for f := range files {
		var b strings.Builder
		for range lines {
			n := rng.IntN(12)
			for i := range n {
				if i > 0 {
					b.WriteByte(' ')
				}
				w := "w" + strconv.Itoa(int(rng.ExpFloat64()*50))
				if rng.IntN(1000) == 0 {
					w = "fail-here"
				}
				counts[w]++
				b.WriteString(w)
			}
			nWords += n
			b.WriteByte('\n')
		}
		p := filepath.Join(dir, fmt.Sprintf("in-%d.txt", f))
		if err := os.WriteFile(p, []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
		paths = append(paths, p)
		nLines += lines
	}
	return paths, nLines, nWords, counts
}

// readParts reads part-00000, part-00001, ... of dir in order, checking
// _SUCCESS, and returns their lines.
func readParts(t *testing.T, dir string) []string {
	t.Helper()
	if _, err := os.Stat(filepath.Join(dir, "_SUCCESS")); err != nil {
		t.Fatalf("no _SUCCESS: %v", err)
	}
	var lines []string
	for i := 0; ; i++ {
		b, err := os.ReadFile(filepath.Join(dir, fmt.Sprintf("part-%05d", i)))
		if errors.Is(err, os.ErrNotExist) {
			return lines
		}
		if err != nil {
			t.Fatal(err)
		}
		if s := strings.TrimSuffix(string(b), "\n"); s != "" {
			lines = append(lines, strings.Split(s, "\n")...)
		}
	}
}

func checkCounts(t *testing.T, lines []string, want map[string]int64) {
	t.Helper()
	got := map[string]int64{}
	for _, l := range lines {
		w, n, ok := strings.Cut(l, "\t")
		c, err := strconv.ParseInt(n, 10, 64)
		if !ok || err != nil {
			t.Fatalf("bad line %q", l)
		}
		if _, dup := got[w]; dup {
			t.Fatalf("word %q twice", w)
		}
		got[w] = c
	}
	if !maps.Equal(got, want) {
		t.Fatalf("got %d words, want %d; they differ", len(got), len(want))
	}
}

// The job's answer and every counter equal a naive count, with a memory
// budget small enough to spill on both sides, and with one map and one
// reduce attempt failing after they counted: only the attempts whose
// output the job used are counted.
func TestWordCountAndCountersUnderRetries(t *testing.T) {
	for _, retry := range []bool{false, true} {
		t.Run(fmt.Sprintf("retry=%v", retry), func(t *testing.T) {
			failOnce.on.Store(retry)
			failOnce.fired[0].Store(false)
			failOnce.fired[1].Store(false)
			defer failOnce.on.Store(false)
			paths, nLines, nWords, want := corpus(t, 7, 4, 8000)
			s := session(t, 128<<10)
			out := filepath.Join(t.TempDir(), "out")
			c, err := wordCount.Run(testCtx(t), s, mapreduce.Args{Inputs: paths, Output: out, Reducers: 3})
			if err != nil {
				t.Fatal(err)
			}
			if retry && !(failOnce.fired[0].Load() && failOnce.fired[1].Load()) {
				t.Fatal("the failures were not injected")
			}
			checkCounts(t, readParts(t, out), want)
			mr := mapreduce.TaskCounters
			for _, w := range []struct {
				group, name string
				n           int64
			}{
				{mr, mapreduce.MapInputRecords, int64(nLines)},
				{"test", "lines", int64(nLines)},
				{mr, mapreduce.MapOutputRecords, int64(nWords)},
				{mr, mapreduce.CombineInputRecords, int64(nWords)},
				{mr, mapreduce.ReduceInputGroups, int64(len(want))},
				{mr, mapreduce.ReduceOutputRecords, int64(len(want))},
				{"test", "words", int64(len(want))},
			} {
				if got := c.Get(w.group, w.name); got != w.n {
					t.Errorf("counter %s.%s = %d, want %d", w.group, w.name, got, w.n)
				}
			}
			if got, want := c.Get(mr, mapreduce.ReduceInputRecords), c.Get(mr, mapreduce.CombineOutputRecords); got != want {
				t.Errorf("REDUCE_INPUT_RECORDS %d, want COMBINE_OUTPUT_RECORDS %d", got, want)
			}
			if c.Get(mr, mapreduce.SpilledRecords) == 0 || c.Get(mr, mapreduce.ReduceShuffleBytes) == 0 || c.Get(mr, mapreduce.MapOutputBytes) == 0 {
				t.Errorf("no spills or shuffle bytes counted under a 128 KiB budget: %v", c[mr])
			}
			if !maps.EqualFunc(s.Counters(), map[string]map[string]int64(c), maps.Equal) {
				t.Errorf("session counters %v, want the job's %v", s.Counters(), c)
			}
			if retry && s.Metrics().TasksFailed < 2 {
				t.Errorf("%d failed attempts, want 2", s.Metrics().TasksFailed)
			}
		})
	}
}

// sessionKey is the key of a secondary sort: a session, then a time.
type sessionKey struct {
	User string
	At   int64
}

var sessionOrder = mapreduce.KeyOrder[sessionKey]{
	Append: func(dst []byte, k sessionKey) []byte {
		return mapreduce.AppendInt64(mapreduce.AppendString(dst, k.User), k.At)
	},
	Decode: func(b []byte) (sessionKey, error) {
		u, rest, err := mapreduce.ReadString(b)
		if err != nil {
			return sessionKey{}, err
		}
		at, rest, err := mapreduce.ReadInt64(rest)
		if err == nil && len(rest) != 0 {
			err = fmt.Errorf("%d bytes after a key", len(rest))
		}
		return sessionKey{u, at}, err
	},
}

// timeline is secondary sort: lines "user time" grouped by user, each
// group's times in ascending order.
var timeline = mapreduce.Register(mapreduce.Job[string, sessionKey, int64, string]{
	Input: mapreduce.TextInput,
	Mapper: mapreduce.MapperFunc[string, sessionKey, int64](func(_ context.Context, line string, emit func(sessionKey, int64)) error {
		u, ts, _ := strings.Cut(line, " ")
		at, err := strconv.ParseInt(ts, 10, 64)
		if err != nil {
			return err
		}
		emit(sessionKey{u, at}, at)
		return nil
	}),
	SortKey:     sessionOrder,
	Grouping:    func(a, b sessionKey) bool { return a.User == b.User },
	Partitioner: mapreduce.PartitionerFunc[sessionKey](func(k sessionKey, n int) int { return len(k.User) % n }),
	Reducer: mapreduce.ReducerFunc[sessionKey, int64, string](func(_ context.Context, k sessionKey, ats iter.Seq[int64], emit func(string)) error {
		var b strings.Builder
		b.WriteString(k.User)
		for at := range ats {
			fmt.Fprintf(&b, " %d", at)
		}
		emit(b.String())
		return nil
	}),
	Output: mapreduce.TextOutput[string](),
})

func TestSecondarySort(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 3))
	want := map[string][]int64{}
	var b strings.Builder
	for range 5000 {
		u := strings.Repeat("u", 1+rng.IntN(5)) + "\x00" + strconv.Itoa(rng.IntN(20))
		at := rng.Int64N(2000) - 1000
		want[u] = append(want[u], at)
		fmt.Fprintf(&b, "%s %d\n", u, at)
	}
	in := filepath.Join(t.TempDir(), "in.txt")
	if err := os.WriteFile(in, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "out")
	if _, err := timeline.Run(testCtx(t), session(t, 64<<10), mapreduce.Args{Inputs: []string{in}, Output: out, Reducers: 3}); err != nil {
		t.Fatal(err)
	}
	got := map[string][]int64{}
	for _, l := range readParts(t, out) {
		f := strings.Fields(l)
		if _, dup := got[f[0]]; dup {
			t.Fatalf("user %q in two groups", f[0])
		}
		got[f[0]] = []int64{}
		for _, x := range f[1:] {
			n, _ := strconv.ParseInt(x, 10, 64)
			got[f[0]] = append(got[f[0]], n)
		}
	}
	for u := range want {
		slices.Sort(want[u])
	}
	if !maps.EqualFunc(got, want, slices.Equal) {
		t.Fatalf("groups differ from a naive secondary sort (%d users, want %d)", len(got), len(want))
	}
}

// A job without a Reducer, or with a key type that has no order and no
// SortKey, is an error naming what to set.
var (
	noReducer = mapreduce.Register(mapreduce.Job[string, string, int, string]{
		Input: mapreduce.TextInput, Mapper: mapreduce.MapperFunc[string, string, int](nil), Output: mapreduce.TextOutput[string](),
	})
	noOrder = mapreduce.Register(mapreduce.Job[string, [2]int, int, string]{
		Input: mapreduce.TextInput, Mapper: mapreduce.MapperFunc[string, [2]int, int](nil),
		Reducer: mapreduce.ReducerFunc[[2]int, int, string](nil), Output: mapreduce.TextOutput[string](),
	})
)

func TestJobMistakes(t *testing.T) {
	s := session(t, 0)
	_, err := noReducer.Run(testCtx(t), s, mapreduce.Args{Output: t.TempDir()})
	if err == nil || !strings.Contains(err.Error(), "Reducer") {
		t.Errorf("job without a Reducer: %v", err)
	}
	_, err = noOrder.Run(testCtx(t), s, mapreduce.Args{Output: t.TempDir()})
	if err == nil || !strings.Contains(err.Error(), "SortKey") {
		t.Errorf("key without an order: %v", err)
	}
}

func TestStringKeyRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 5))
	var encs [][]byte
	var strs []string
	for range 600 {
		b := make([]byte, rng.IntN(6))
		for i := range b {
			b[i] = []byte{0, 1, 0xff, 'a'}[rng.IntN(4)]
		}
		s := string(b)
		strs = append(strs, s)
		enc := mapreduce.AppendString(nil, s)
		got, rest, err := mapreduce.ReadString(append(enc, 7))
		if err != nil || got != s || string(rest) != "\x07" {
			t.Fatalf("ReadString(AppendString(%q)) = %q, %q, %v", s, got, rest, err)
		}
		encs = append(encs, enc)
	}
	for i := range strs {
		for j := range strs {
			if c1, c2 := strings.Compare(strs[i], strs[j]), strings.Compare(string(encs[i]), string(encs[j])); c1 != c2 {
				t.Fatalf("%q vs %q: strings compare %d, encodings %d", strs[i], strs[j], c1, c2)
			}
		}
	}
	for _, bad := range []string{"", "ab", "a\x00", "a\x00\x05"} {
		if _, _, err := mapreduce.ReadString([]byte(bad)); !errors.Is(err, mapreduce.ErrKey) {
			t.Errorf("ReadString(%q): %v, want ErrKey", bad, err)
		}
	}
}
