package rdd_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"iter"
	"maps"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/internal/block"
	"github.com/sluicehq/sluice/rdd"

	"github.com/sluicehq/sluice/internal/task"
)

// Keys of by-key operations: comparable, never pointers, grouped by a
// canonical encoding; and map outputs that are the same bytes every time.

var pointerKeyF = rdd.Func(func(n int) *rdd.RDD[rdd.Pair[*int, int]] {
	one, other := 1, 1
	in := []rdd.Pair[*int, int]{rdd.KV(&one, 1), rdd.KV(&other, 2)}
	return rdd.ReduceByKey(rdd.Parallelize(in, rdd.Partitions(n)), sum) // site:pointerKey
})

// Pointer keys were grouped by address on the map side and by the value
// they point to on the reduce side.
func TestPointerKeyIsAnError(t *testing.T) {
	typeErrorBeforeAnyJob(t, pointerKeyF.Invoke(2),
		"rdd: ReduceByKey at keys_test.go:"+lineOf(t, "keys_test.go", "pointerKey")+": the key type *int is a pointer and cannot be a key")
}

// TestMapKeyDoesNotCompile builds a program that groups by a map key and
// joins on a slice key: the by-key operations take comparable keys, so the
// compiler refuses them instead of grouping equal keys apart. The program
// is a package of this module that exists only in a build overlay.
func TestMapKeyDoesNotCompile(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the compiler")
	}
	src := `package main

import "github.com/sluicehq/sluice/rdd"

var byMap = rdd.Func(func(n int) *rdd.RDD[rdd.Pair[map[string]int, []int]] {
	return rdd.GroupByKey(rdd.Parallelize([]rdd.Pair[map[string]int, int]{}, rdd.Partitions(n)))
})

var joined = rdd.Func(func(n int) *rdd.RDD[rdd.Pair[[]int, rdd.Pair[int, int]]] {
	a := rdd.Parallelize([]rdd.Pair[[]int, int]{})
	return rdd.Join(a, rdd.PartitionBy(a, n))
})

func main() {}
`
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	file, overlay := filepath.Join(dir, "main.go"), filepath.Join(dir, "overlay.json")
	if err := os.WriteFile(file, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	js := fmt.Sprintf(`{"Replace":{%q:%q}}`, filepath.Join(wd, "testdata", "mapkey", "main.go"), file)
	if err := os.WriteFile(overlay, []byte(js), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(filepath.Join(runtime.GOROOT(), "bin", "go"), "build", "-overlay", overlay, "-o", os.DevNull, "./testdata/mapkey")
	cmd.Dir = wd
	out, err := cmd.CombinedOutput()
	if err == nil {
		t.Fatalf("a map key compiled:\n%s", out)
	}
	for _, want := range []string{"map[string]int does not satisfy comparable", "[]int does not satisfy comparable"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("the compiler's output does not say %q:\n%s", want, out)
		}
	}
}

// mapValuesF has map values on both sides of two shuffles: one combined
// on the map side (ReduceByKey), one not (PartitionBy).
var mapValuesF = rdd.Func(func(n int) *rdd.RDD[rdd.Pair[string, map[string]int]] {
	counts := rdd.Map(rdd.Parallelize(makeWords(n), rdd.Partitions(1)), func(w string) rdd.Pair[string, map[string]int] {
		m := map[string]int{}
		for i := range 20 {
			m[fmt.Sprint(w, i)] = i * len(w)
		}
		return rdd.KV(w[:1], m)
	})
	merged := rdd.ReduceByKey(counts, func(a, b map[string]int) map[string]int {
		out := maps.Clone(a)
		for k, v := range b {
			out[k] += v
		}
		return out
	}, rdd.Partitions(3))
	return rdd.PartitionBy(merged, 2)
})

func makeWords(n int) []string {
	var out []string
	for i := range n {
		out = append(out, fmt.Sprintf("%c%d", 'a'+i%7, i))
	}
	return out
}

// TestMapOutputIsByteIdentical runs each map task of a lineage with
// map-valued records twice and compares what they wrote: a recomputed map
// output must be byte-identical to the lost one, which Go's random map
// order used to prevent.
func TestMapOutputIsByteIdentical(t *testing.T) {
	g, err := task.GraphOf(mapValuesF.Invoke(200))
	if err != nil {
		t.Fatal(err)
	}
	var shuffles []int
	for _, n := range g.Nodes() {
		for _, d := range n.Deps {
			if d.Shuffle != 0 {
				shuffles = append(shuffles, d.Shuffle)
			}
		}
	}
	if len(shuffles) != 2 {
		t.Fatalf("shuffles %v, want 2", shuffles)
	}
	ctx := context.Background()
	for _, sh := range shuffles {
		run := func() []byte {
			rec := &recordingShuffle{}
			tc := &task.Context{TempDir: t.TempDir(), Codec: block.None, Shuffle: rec}
			if sh == shuffles[1] {
				// The PartitionBy map task reads the ReduceByKey's output:
				// feed it from a recorded run of the first shuffle.
				rec.input = firstShuffleOutput(t, g, shuffles[0])
			}
			if err := g.RunMap(ctx, tc, sh, 0); err != nil {
				t.Fatal(err)
			}
			return rec.out.Bytes()
		}
		first := run()
		if len(first) == 0 {
			t.Fatalf("shuffle %d: the map task wrote nothing", sh)
		}
		for i := range 5 {
			if again := run(); !bytes.Equal(again, first) {
				t.Fatalf("shuffle %d: run %d wrote different bytes (%d and %d long)", sh, i+2, len(first), len(again))
			}
		}
	}
}

// firstShuffleOutput runs the one map task of shuffle sh and returns the
// records it wrote for each reduce partition.
func firstShuffleOutput(t *testing.T, g *task.Graph, sh int) map[int][]byte {
	rec := &recordingShuffle{}
	tc := &task.Context{TempDir: t.TempDir(), Codec: block.None, Shuffle: rec}
	if err := g.RunMap(context.Background(), tc, sh, 0); err != nil {
		t.Fatal(err)
	}
	return rec.parts
}

// recordingShuffle is a ShuffleIO that keeps one map output in memory:
// every call as bytes in out, and each partition's framed records.
type recordingShuffle struct {
	out   bytes.Buffer
	parts map[int][]byte
	cur   int
	input map[int][]byte
}

func (s *recordingShuffle) Create(context.Context, int, int) (task.ShuffleWriter, error) {
	s.parts = map[int][]byte{}
	return s, nil
}

func (s *recordingShuffle) Open(_ context.Context, _, part int) (task.BlockReader, error) {
	return &oneBlock{data: s.input[part]}, nil
}

func (s *recordingShuffle) Partition(p int) error {
	fmt.Fprintf(&s.out, "partition %d\n", p)
	s.cur = p
	return nil
}

func (s *recordingShuffle) Frame(b []byte) {
	fmt.Fprintf(&s.out, "%x\n", b)
	s.parts[s.cur] = append(binary.AppendUvarint(s.parts[s.cur], uint64(len(b))), b...)
}

func (s *recordingShuffle) EndRecord() error { return nil }
func (s *recordingShuffle) Commit() error    { return nil }
func (s *recordingShuffle) Abort()           {}

type oneBlock struct {
	data []byte
	done bool
}

func (b *oneBlock) Next() ([]byte, error) {
	if b.done || len(b.data) == 0 {
		return nil, io.EOF
	}
	b.done = true
	return b.data, nil
}

func (b *oneBlock) Close() error { return nil }

// Float keys group as Go compares them, with one difference: -0 and +0 are
// one key (Go agrees), and every NaN is one key (Go says no NaN equals
// anything, which would make each NaN its own group). The groups are the
// same however the input is partitioned, and the key of a group is +0 or
// NaN.
var floatKeysF = rdd.Func(func(n int) *rdd.RDD[rdd.Pair[float64, int]] {
	negZero, otherNaN := math.Copysign(0, -1), math.Float64frombits(0x7ff8000000000abc)
	in := []rdd.Pair[float64, int]{
		rdd.KV(negZero, 1), rdd.KV(0.0, 2), rdd.KV(math.NaN(), 4), rdd.KV(otherNaN, 8),
		rdd.KV(1.5, 16), rdd.KV(negZero, 32), rdd.KV(math.NaN(), 64),
	}
	return rdd.ReduceByKey(rdd.Parallelize(in, rdd.Partitions(n)), sum, rdd.Partitions(3))
})

var floatGroupsF = rdd.Func(func(n int) *rdd.RDD[rdd.Pair[float64, []int]] {
	in := []rdd.Pair[float64, int]{rdd.KV(math.Copysign(0, -1), 1), rdd.KV(0.0, 2), rdd.KV(math.NaN(), 4), rdd.KV(math.NaN(), 8)}
	return rdd.GroupByKey(rdd.Parallelize(in, rdd.Partitions(n)), rdd.Partitions(2))
})

var floatPartitionF = rdd.Func(func(n int) *rdd.RDD[rdd.Pair[float64, int]] {
	in := []rdd.Pair[float64, int]{rdd.KV(math.Copysign(0, -1), 1), rdd.KV(0.0, 2)}
	// Each key with the partition it went to.
	return rdd.MapPartitions(rdd.PartitionBy(rdd.Parallelize(in, rdd.Partitions(n)), 8),
		func(part int, in iter.Seq[rdd.Pair[float64, int]]) iter.Seq[rdd.Pair[float64, int]] {
			return func(yield func(rdd.Pair[float64, int]) bool) {
				for p := range in {
					if !yield(rdd.KV(p.Key, part)) {
						return
					}
				}
			}
		})
})

func TestFloatKeys(t *testing.T) {
	s := newSession(t)
	describe := func(ps []rdd.Pair[float64, int]) string {
		var out []string
		for _, p := range ps {
			out = append(out, fmt.Sprintf("%v(sign %v)=%d", p.Key, math.Signbit(p.Key), p.Value))
		}
		slices.Sort(out)
		return strings.Join(out, " ")
	}
	want := "0(sign false)=35 1.5(sign false)=16 NaN(sign false)=76"
	for _, n := range []int{1, 2, 4, 7} {
		if got := describe(collect(t, s, floatKeysF.Invoke(n))); got != want {
			t.Errorf("ReduceByKey over %d partitions: %s; want %s", n, got, want)
		}
		groups := collect(t, s, floatGroupsF.Invoke(n))
		if len(groups) != 2 {
			t.Errorf("GroupByKey over %d partitions: %v; want a group for 0 and one for NaN", n, groups)
		}
	}
	// PartitionBy groups nothing: -0 goes where +0 goes, and stays -0.
	got, err := rdd.Collect(context.Background(), s, floatPartitionF.Invoke(2))
	if err != nil || len(got) != 2 || !math.Signbit(got[0].Key) || math.Signbit(got[1].Key) || got[0].Value != got[1].Value {
		t.Errorf("PartitionBy(-0, +0) = %v, %v; want -0 then +0 in one partition", got, err)
	}
}
