package rdd_test

import (
	"context"
	"encoding/binary"
	"fmt"
	"iter"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/driver"
	"github.com/sluicehq/sluice/rdd"
)

// GroupsArgs describe a GroupSorted job over random pairs.
type GroupsArgs struct {
	Data       []rdd.Pair[string, int]
	In, Out    int
	Combine    bool
	TotalOrder bool
}

// group is what the test's reducer yields: a partition's group in the
// order it came, or, with Sides set, the side records of the last one.
type group struct {
	Part   int
	Key    string
	Values []int
	Sides  []int
}

var groupsF = rdd.Func(func(a GroupsArgs) *rdd.RDD[group] {
	s := rdd.SortedGroups[string, int]{
		Partitions: a.Out,
		AppendKey:  func(dst []byte, k string) []byte { return append(dst, k...) },
		DecodeKey:  func(b []byte) (string, error) { return string(b), nil },
		TotalOrder: a.TotalOrder,
	}
	newMap := func(part int) rdd.MapTask[rdd.Pair[string, int], string, int] {
		mt := rdd.MapTask[rdd.Pair[string, int], string, int]{
			Map: func(_ context.Context, in iter.Seq[rdd.Pair[string, int]], emit func(string, int)) error {
				for p := range in {
					emit(p.Key, p.Value)
				}
				return nil
			},
			Finish: func(st rdd.MapStats) []byte {
				return binary.AppendUvarint(nil, uint64(st.InputRecords))
			},
		}
		if a.Combine {
			mt.Combine = func(_ context.Context, _ string, vs iter.Seq[int], emit func(int)) error {
				n := 0
				for v := range vs {
					n += v
				}
				emit(n)
				return nil
			}
		}
		return mt
	}
	reduce := func(_ context.Context, rt *rdd.ReduceTask, groups iter.Seq2[string, iter.Seq[int]], yield func(group) bool) error {
		for k, vs := range groups {
			if !yield(group{Part: rt.Partition, Key: k, Values: slices.Collect(vs)}) {
				return nil
			}
		}
		if rt.Sides != nil {
			g := group{Part: rt.Partition, Sides: []int{}}
			for _, b := range rt.Sides {
				n, _ := binary.Uvarint(b)
				g.Sides = append(g.Sides, int(n))
			}
			yield(g)
		}
		return nil
	}
	return rdd.GroupSorted(rdd.Parallelize(a.Data, rdd.Partitions(a.In)), s, newMap, reduce)
})

// GroupSorted against a naive grouping on random inputs: every key once,
// in ascending order within a partition (and across partitions with
// TotalOrder), with its values (summed when combined), and the side
// records of every map task on the last partition only.
func TestGroupSortedAgainstNaive(t *testing.T) {
	for _, budget := range []string{"default", "tiny"} {
		t.Run(budget, func(t *testing.T) {
			s := newSession(t, func(c *driver.Config) {
				if budget == "tiny" {
					c.Memory = 64 << 10
				}
			})
			rng := rand.New(rand.NewPCG(17, uint64(len(budget))))
			for iter := range 16 {
				n, keys := rng.IntN(400), 1+rng.IntN(60)
				if iter == 0 {
					n, keys = 30000, 8000
				}
				a := GroupsArgs{In: 1 + rng.IntN(5), Out: 1 + rng.IntN(5), Combine: iter%2 == 1, TotalOrder: iter%3 == 1}
				for range n {
					k := fmt.Sprintf("k%d", rng.IntN(keys))
					if rng.IntN(50) == 0 {
						k = "" // the empty key is a key like any other
					}
					a.Data = append(a.Data, rdd.KV(k, rng.IntN(100)))
				}
				checkGroupSorted(t, s, a)
			}
			if spills := s.Metrics().Spills; (budget == "tiny") != (spills > 0) {
				t.Fatalf("%d spills with the %s budget", spills, budget)
			}
		})
	}
}

func checkGroupSorted(t *testing.T, s *driver.Session, a GroupsArgs) {
	t.Helper()
	name := fmt.Sprintf("%d records, %d in, %d out, combine %v, total order %v", len(a.Data), a.In, a.Out, a.Combine, a.TotalOrder)
	want := map[string][]int{}
	for _, p := range a.Data {
		want[p.Key] = append(want[p.Key], p.Value)
	}
	got, err := rdd.Collect(context.Background(), s, groupsF.Invoke(a))
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	have := map[string][]int{}
	var sides []int
	sideParts := 0
	prev := map[int]string{}
	last := ""
	for i, g := range got {
		if g.Sides != nil {
			sides, sideParts = g.Sides, sideParts+1
			if g.Part != a.Out-1 {
				t.Fatalf("%s: side records on partition %d of %d", name, g.Part, a.Out)
			}
			continue
		}
		if p, ok := prev[g.Part]; ok && strings.Compare(p, g.Key) >= 0 {
			t.Fatalf("%s: partition %d yields %q after %q", name, g.Part, g.Key, p)
		}
		prev[g.Part] = g.Key
		if a.TotalOrder && i > 0 && strings.Compare(last, g.Key) >= 0 {
			t.Fatalf("%s: %q after %q across partitions", name, g.Key, last)
		}
		last = g.Key
		if _, dup := have[g.Key]; dup {
			t.Fatalf("%s: key %q in two groups", name, g.Key)
		}
		have[g.Key] = g.Values
	}
	if len(have) != len(want) {
		t.Fatalf("%s: %d keys, want %d", name, len(have), len(want))
	}
	for k, vs := range want {
		got := have[k]
		if a.Combine {
			if total(got) != total(vs) {
				t.Fatalf("%s: key %q sums to %d, want %d", name, k, total(got), total(vs))
			}
			continue
		}
		if !slices.Equal(slices.Sorted(slices.Values(got)), slices.Sorted(slices.Values(vs))) {
			t.Fatalf("%s: key %q has %v, want %v", name, k, got, vs)
		}
	}
	if sideParts != 1 || len(sides) != a.In || total(sides) != len(a.Data) {
		t.Fatalf("%s: side records %v on %d partitions, want one per map task (%d), counting %d inputs", name, sides, sideParts, a.In, len(a.Data))
	}
}

func total(xs []int) int {
	n := 0
	for _, x := range xs {
		n += x
	}
	return n
}

var groupsNoKeyF = rdd.Func(func(n int) *rdd.RDD[int] {
	return rdd.GroupSorted(rdd.Parallelize([]int{n}), rdd.SortedGroups[int, int]{},
		func(int) rdd.MapTask[int, int, int] { return rdd.MapTask[int, int, int]{} },
		func(context.Context, *rdd.ReduceTask, iter.Seq2[int, iter.Seq[int]], func(int) bool) error {
			return nil
		})
})

// A GroupSorted without a key encoding is an error before anything runs.
func TestGroupSortedNeedsKeyEncoding(t *testing.T) {
	err := groupsNoKeyF.Invoke(1).Err()
	if err == nil || !strings.Contains(err.Error(), "AppendKey and DecodeKey are required") {
		t.Fatalf("err %v, want one naming AppendKey and DecodeKey", err)
	}
}
