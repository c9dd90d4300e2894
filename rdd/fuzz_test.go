package rdd

import (
	"bytes"
	"cmp"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"maps"
	"math"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/sluicehq/sluice/internal/block"
	"github.com/sluicehq/sluice/internal/codec"
	"github.com/sluicehq/sluice/internal/fuzztest"

	"github.com/sluicehq/sluice/internal/task"
)

type skv = Pair[string, int]

// FuzzActionResult decodes arbitrary bytes as the result of a task, as the
// driver does for Collect, Take and Reduce (framed elements, pairs or
// not), Count and CountByKey: an error or a value that re-encodes to bytes
// that decode to it again, never a panic.
func FuzzActionResult(f *testing.F) {
	pairs, strs := codecOf[skv](), codecOf[string]()
	var collected []byte
	for _, p := range []skv{{"a", 1}, {"", -1}, {"long key", math.MaxInt}} {
		collected = pairs.put(collected, p)
	}
	f.Add(collected)
	f.Add(strs.put(strs.put(nil, "x"), ""))
	f.Add([]byte{0x05})                                                       // a count
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}) // a count above MaxInt64
	f.Add([]byte{0x05, 0x00})                                                 // a count and a trailing byte
	var byKey []byte
	byKey = appendFrame(byKey, codec.For[string]().Append(nil, "k"))
	byKey = appendFrame(byKey, []byte{3})
	f.Add(byKey)
	f.Add([]byte{})
	f.Add([]byte{0x80})

	f.Fuzz(func(t *testing.T, b []byte) {
		defer fuzztest.Guard(t)()
		checkEach(t, pairs, b, func(a, b skv) bool { return a == b })
		checkEach(t, strs, b, func(a, b string) bool { return a == b })

		if n, err := decodeCount(b); err == nil {
			if again, err := decodeCount(binary.AppendUvarint(nil, uint64(n))); n < 0 || err != nil || again != n {
				t.Fatalf("decodeCount(%x) = %d, which does not round-trip: %d, %v", b, n, again, err)
			}
		}

		kc := codec.For[string]()
		counts := map[string]int64{}
		if err := decodeCountsByKey(kc, b, counts); err == nil {
			var again []byte
			for k, n := range counts {
				if n < 0 {
					return // repeated keys whose counts overflow int64 when added
				}
				again = appendFrame(again, kc.Append(nil, k))
				again = appendFrame(again, binary.AppendUvarint(nil, uint64(n)))
			}
			back := map[string]int64{}
			if err := decodeCountsByKey(kc, again, back); err != nil || !maps.Equal(back, counts) {
				t.Fatalf("counts %v re-encode to %v, %v", counts, back, err)
			}
		}
	})
}

// checkEach decodes b with c and, when that succeeds, checks that the
// elements re-encode to a payload that decodes to the same elements.
func checkEach[T any](t *testing.T, c *elemCodec[T], b []byte, same func(a, b T) bool) {
	var got []T
	if err := c.each(b, func(v T) bool { got = append(got, v); return true }); err != nil {
		return
	}
	var again []byte
	for _, v := range got {
		again = c.put(again, v)
	}
	var back []T
	if err := c.each(again, func(v T) bool { back = append(back, v); return true }); err != nil {
		t.Fatalf("%T: re-encoded elements do not decode: %v", got, err)
	}
	if !slices.EqualFunc(got, back, same) {
		t.Fatalf("%T: %v re-encodes to %v", got, got, back)
	}
}

// TestCountRefusesMalformedResults: a count is exactly one uvarint within
// int64.
func TestCountRefusesMalformedResults(t *testing.T) {
	for _, c := range []struct {
		b  []byte
		ok bool
	}{
		{[]byte{0}, true}, {[]byte{0xac, 0x02}, true},
		{nil, false}, {[]byte{0x80}, false}, {[]byte{5, 0}, false},
		{[]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}, false},
	} {
		if _, err := decodeCount(c.b); (err == nil) != c.ok {
			t.Errorf("decodeCount(%x) err = %v, want ok=%v", c.b, err, c.ok)
		}
	}
}

// FuzzRangeBounds installs arbitrary bytes as a SortByKey range
// partitioner's state, as an executor does with the state a task carries,
// then partitions keys with it: the state is refused, or every key goes
// to a partition that exists, in key order.
func FuzzRangeBounds(f *testing.F) {
	enc, _ := codec.OrderedFor[int]()
	var good []byte
	for _, k := range []int{-5, 0, 7} {
		good = appendFrame(good, enc(nil, k))
	}
	f.Add(good)
	f.Add(appendFrame(appendFrame(nil, enc(nil, 3)), enc(nil, 1))) // out of order
	f.Add(appendFrame(appendFrame(nil, enc(nil, 3)), enc(nil, 3))) // repeated
	f.Add(bytes.Repeat(appendFrame(nil, enc(nil, 1)), 9))          // more bounds than partitions
	f.Add(append(appendFrame(nil, enc(nil, 1)), 0x09, 0x80))       // frame cut short
	f.Add(appendFrame(nil, []byte{1, 2, 3}))                       // not an ordered int
	f.Add([]byte{})

	const parts = 4
	dir := f.TempDir()
	keys := make([]int, 0, 64)
	for k := -32; k < 32; k++ {
		keys = append(keys, k*k*k)
	}
	f.Fuzz(func(t *testing.T, state []byte) {
		defer fuzztest.Guard(t)()
		r := SortByKey(Parallelize(pairsOf(keys), Partitions(1)), Partitions(parts))
		g, err := newGraph(r.n, task.Invocation{Key: "fuzz"})
		if err != nil {
			t.Fatal(err)
		}
		sid := r.n.deps[0].shuffle.id
		if err := g.SetStates(map[int][]byte{sid: state}); err != nil {
			return
		}
		w := &partitionRecorder{}
		tc := &task.Context{TempDir: dir, Codec: block.None, Shuffle: w}
		if err := g.RunMap(context.Background(), tc, sid, 0); err != nil {
			t.Fatalf("map task with accepted state %x: %v", state, err)
		}
		if len(w.parts) != len(keys) {
			t.Fatalf("%d records partitioned, want %d", len(w.parts), len(keys))
		}
		// Keys in ascending order must go to non-decreasing partitions.
		sorted := slices.Sorted(slices.Values(keys))
		last := 0
		for _, k := range sorted {
			p := w.parts[k]
			if p < 0 || p >= parts || p < last {
				t.Fatalf("state %x sent key %d to partition %d (after %d) of %d", state, k, p, last, parts)
			}
			last = p
		}
	})
}

func pairsOf(keys []int) []Pair[int, int] {
	out := make([]Pair[int, int], len(keys))
	for i, k := range keys {
		out[i] = KV(k, i)
	}
	return out
}

// partitionRecorder is a ShuffleIO whose writer records the partition of
// each key it is given (ordered ints) and refuses partitions out of order
// or out of range, as the shuffle writer does.
type partitionRecorder struct {
	parts map[int]int
	cur   int
	n     int
	key   []byte
	frame int
}

func (w *partitionRecorder) Create(_ context.Context, _, n int) (task.ShuffleWriter, error) {
	w.parts, w.cur, w.n = map[int]int{}, 0, n
	return w, nil
}

func (w *partitionRecorder) Open(context.Context, int, int) (task.BlockReader, error) {
	return nil, errors.New("fuzz: no reduce side")
}

func (w *partitionRecorder) Partition(p int) error {
	if p < w.cur || p >= w.n {
		return errors.New("partition out of order or range")
	}
	w.cur = p
	return nil
}

func (w *partitionRecorder) Frame(b []byte) {
	if w.frame == 0 {
		w.key = append(w.key[:0], b...)
	}
	w.frame++
}

func (w *partitionRecorder) EndRecord() error {
	_, dec := codec.OrderedFor[int]()
	k, err := dec(w.key)
	if err != nil {
		return err
	}
	w.parts[k] = w.cur
	w.frame = 0
	return nil
}

func (w *partitionRecorder) Commit() error { return nil }
func (w *partitionRecorder) Abort()        {}

// TestRangeBoundsChecked: SortByKey refuses bounds out of order, repeated,
// or more than its partitions can use, which would send records to the
// wrong partition or to one that does not exist.
func TestRangeBoundsChecked(t *testing.T) {
	enc := codec.For[int]().Append
	state := func(ks ...int) []byte {
		var b []byte
		for _, k := range ks {
			b = appendFrame(b, enc(nil, k))
		}
		return b
	}
	for _, c := range []struct {
		state []byte
		ok    bool
	}{
		{state(), true}, {state(1, 2, 3), true},
		{state(2, 1), false}, {state(1, 1), false}, {state(1, 2, 3, 4), false},
	} {
		r := SortByKey(Parallelize(pairsOf([]int{1}), Partitions(1)), Partitions(4))
		g, err := newGraph(r.n, task.Invocation{Key: "test"})
		if err != nil {
			t.Fatal(err)
		}
		err = g.SetStates(map[int][]byte{r.n.deps[0].shuffle.id: c.state})
		if (err == nil) != c.ok {
			t.Errorf("state %x: err = %v, want ok=%v", c.state, err, c.ok)
		}
	}
}

// payloadShuffle is a ShuffleIO whose every reduce partition is one block
// with the payload p.
type payloadShuffle struct{ p []byte }

func (s payloadShuffle) Create(context.Context, int, int) (task.ShuffleWriter, error) {
	return nil, errors.New("fuzz: no map side")
}

func (s payloadShuffle) Open(context.Context, int, int) (task.BlockReader, error) {
	return &onePayload{p: bytes.Clone(s.p)}, nil
}

type onePayload struct{ p []byte }

func (o *onePayload) Next() ([]byte, error) {
	if len(o.p) == 0 {
		return nil, io.EOF
	}
	p := o.p
	o.p = nil
	return p, nil
}

func (o *onePayload) Close() error { return nil }

// reducers returns the reduce side of every shuffle operation, each as a
// graph and the node whose partition 0 reads one shuffled payload.
func reducers(t testing.TB) map[string]func() (*graph, int) {
	src := Parallelize([]skv{{"a", 1}}, Partitions(1))
	build := func(n *node) (*graph, int) {
		g, err := newGraph(n, task.Invocation{Key: "fuzz"})
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range n.deps {
			if d.shuffle != nil && d.shuffle.setState != nil {
				if err := g.SetStates(map[int][]byte{d.shuffle.id: nil}); err != nil {
					t.Fatal(err)
				}
			}
		}
		return g, n.id
	}
	sum := func(a, b int) int { return a + b }
	return map[string]func() (*graph, int){
		"ReduceByKey": func() (*graph, int) { return build(ReduceByKey(src, sum, Partitions(1)).n) },
		"GroupByKey":  func() (*graph, int) { return build(GroupByKey(src, Partitions(1)).n) },
		"AggregateByKey": func() (*graph, int) {
			return build(AggregateByKey(src, []int(nil), func(a []int, v int) []int { return append(a, v) },
				func(a, b []int) []int { return append(a, b...) }, Partitions(1)).n)
		},
		"SortByKey":   func() (*graph, int) { return build(SortByKey(src, Partitions(1)).n) },
		"Join":        func() (*graph, int) { return build(Join(src, src, Partitions(1)).n) },
		"PartitionBy": func() (*graph, int) { return build(PartitionBy(src, 1).n) },
		"Repartition": func() (*graph, int) { return build(Repartition(src, 1).n) },
		"Distinct":    func() (*graph, int) { return build(Distinct(Keys(src), Partitions(1)).n) },
	}
}

// shuffled returns a reduce partition's payload as map tasks write it:
// each record a key frame and a value frame.
func shuffled(recs ...skv) []byte {
	kc, vc := codec.For[string](), codec.For[int]()
	var p []byte
	for _, r := range recs {
		p = appendFramed(p, kc.Append, r.Key)
		p = appendFramed(p, vc.Append, r.Value)
	}
	return p
}

// naiveSums decodes a payload of (string, int) records by hand and sums
// the values of each key encoding, as ReduceByKey groups them; ok is false
// when the payload does not decode.
func naiveSums(p []byte) (sums []skv, ok bool) {
	kc, vc := codec.For[string](), codec.For[int]()
	idx := map[string]int{}
	for len(p) > 0 {
		kf, rest, err := block.NextFrame(p)
		if err != nil {
			return nil, false
		}
		vf, rest, err := block.NextFrame(rest)
		if err != nil {
			return nil, false
		}
		k, kerr := kc.Decode(kf)
		v, verr := vc.Decode(vf)
		if kerr != nil || verr != nil {
			return nil, false
		}
		if i, seen := idx[string(kf)]; seen {
			sums[i].Value += v
		} else {
			idx[string(kf)] = len(sums)
			sums = append(sums, skv{k, v})
		}
		p = rest
	}
	return sums, true
}

// naiveRecords decodes a payload of records by hand: PartitionBy's, whose
// key and value frames hold a string and an int, or Repartition's, whose
// key frame is empty and whose value frame holds one framed pair. ok is
// false when the payload does not decode.
func naiveRecords(p []byte, repartition bool) (recs []skv, ok bool) {
	kc, vc := codec.For[string](), codec.For[int]()
	for len(p) > 0 {
		kf, rest, err := block.NextFrame(p)
		if err != nil {
			return nil, false
		}
		vf, rest, err := block.NextFrame(rest)
		if err != nil {
			return nil, false
		}
		p = rest
		if repartition {
			kf, rest, err = block.NextFrame(vf)
			if err != nil {
				return nil, false
			}
			if vf, rest, err = block.NextFrame(rest); err != nil || len(rest) > 0 {
				return nil, false
			}
		}
		k, kerr := kc.Decode(kf)
		v, verr := vc.Decode(vf)
		if kerr != nil || verr != nil {
			return nil, false
		}
		recs = append(recs, skv{k, v})
	}
	return recs, true
}

// naiveResults gives, for the operations that have a naive version here,
// what the operation should return for payload p (in an order that only
// matters when sorted is false), or ok false when p should fail it.
func naiveResults() map[string]func(p []byte) (recs []skv, ok bool, sorted bool) {
	return map[string]func(p []byte) (recs []skv, ok bool, sorted bool){
		"ReduceByKey": func(p []byte) ([]skv, bool, bool) { r, ok := naiveSums(p); return r, ok, true },
		"PartitionBy": func(p []byte) ([]skv, bool, bool) { r, ok := naiveRecords(p, false); return r, ok, false },
		"Repartition": func(p []byte) ([]skv, bool, bool) { r, ok := naiveRecords(p, true); return r, ok, false },
	}
}

// FuzzReduceInput feeds arbitrary bytes, as one block of a fetched or
// local map output, to the reduce side of every shuffle operation, with a
// normal memory budget and with one so small that every record spills:
// an error or a result, never a panic; and ReduceByKey, PartitionBy and
// Repartition agree with a naive decoding of the same bytes.
func FuzzReduceInput(f *testing.F) {
	f.Add(shuffled(skv{"a", 1}, skv{"b", 2}, skv{"a", 3}))
	f.Add(shuffled(skv{"", -1}, skv{"x", math.MinInt}, skv{"x", -1}))
	f.Add(append(shuffled(skv{"a", 1}), 0x03, 0xa1))                              // record cut short
	f.Add([]byte{0x02, 0xd9, 0x01, 'a', 0x01, 0x05, 0x02, 0xa1, 'a', 0x01, 0x06}) // "a" as str8 and as fixstr
	f.Add([]byte{0x01, 0xc0, 0x01, 0xc0})
	el := codecOf[skv]().put(nil, skv{"a", 1})
	f.Add(appendFrame(appendFrame(nil, nil), el)) // a Repartition record

	dir := f.TempDir()
	ops := reducers(f)
	names := slices.Sorted(maps.Keys(ops))
	naives := naiveResults()
	f.Fuzz(func(t *testing.T, p []byte) {
		defer fuzztest.Guard(t)()
		for _, memory := range []int64{1 << 20, 1} {
			for _, name := range names {
				g, node := ops[name]()
				tc := &task.Context{Memory: memory, TempDir: dir, Codec: block.None, Shuffle: payloadShuffle{p}}
				out, err := g.RunResult(context.Background(), tc, node, 0, task.Action{Kind: task.ActCollect})
				naive := naives[name]
				if naive == nil {
					continue
				}
				want, ok, sorted := naive(p)
				if ok != (err == nil) {
					t.Fatalf("memory %d: %s of %x: error %v, naive decoding ok=%v", memory, name, p, err, ok)
				}
				if err != nil {
					continue
				}
				var got []skv
				if err := codecOf[skv]().each(out, func(kv skv) bool { got = append(got, kv); return true }); err != nil {
					t.Fatalf("%s: result does not decode: %v", name, err)
				}
				if sorted {
					byKey := func(a, b skv) int { return cmp.Or(cmp.Compare(a.Key, b.Key), cmp.Compare(a.Value, b.Value)) }
					slices.SortFunc(got, byKey)
					slices.SortFunc(want, byKey)
				}
				if !slices.Equal(got, want) {
					t.Fatalf("memory %d: %s of %x = %v, naive %v", memory, name, p, got, want)
				}
			}
		}
	})
}

// TestRepartitionRefusesTrailingBytes: a value frame of a Repartition
// shuffle holds exactly one framed element; anything after it is corrupt,
// not silently dropped.
func TestRepartitionRefusesTrailingBytes(t *testing.T) {
	g, node := reducers(t)["Repartition"]()
	el := codecOf[skv]().put(nil, skv{"a", 1})
	for _, c := range []struct {
		value []byte
		ok    bool
	}{{el, true}, {append(slices.Clone(el), 0x00), false}} {
		p := appendFrame(appendFrame(nil, nil), c.value)
		tc := &task.Context{TempDir: t.TempDir(), Codec: block.None, Shuffle: payloadShuffle{p}}
		_, err := g.RunResult(context.Background(), tc, node, 0, task.Action{Kind: task.ActCollect})
		if (err == nil) != c.ok {
			t.Errorf("value %x: err = %v, want ok=%v", c.value, err, c.ok)
		}
	}
}

// FuzzReadLines cuts arbitrary file contents into splits at fuzzed
// offsets: every line is read exactly once, as a naive split of the whole
// file reads it.
func FuzzReadLines(f *testing.F) {
	for _, s := range lineFiles {
		f.Add([]byte(s), uint16(1), uint16(3))
	}
	f.Add([]byte("a\r\nb\rc\n\n"), uint16(2), uint16(2))
	path := filepath.Join(f.TempDir(), "lines")
	f.Fuzz(func(t *testing.T, content []byte, cut1, cut2 uint16) {
		defer fuzztest.Guard(t)()
		if err := os.WriteFile(path, content, 0o644); err != nil {
			t.Fatal(err)
		}
		n := int64(len(content))
		cuts := []int64{min(int64(cut1), n), min(int64(cut2), n)}
		slices.Sort(cuts)
		want := wantLines(string(content))
		if got := readSplits(t, path, cuts, n); !slices.Equal(got, want) {
			t.Fatalf("%q cut at %v: got %q, want %q", content, cuts, got, want)
		}
	})
}
