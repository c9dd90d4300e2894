package rdd_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/sluicehq/sluice/driver"
	"github.com/sluicehq/sluice/rdd"
)

func (a Args) other() *rdd.RDD[kv] { return rdd.Parallelize(a.Other, rdd.Partitions(max(1, a.In-1))) }

type (
	optL = rdd.Pair[string, rdd.Pair[int, rdd.Opt[int]]]
	optR = rdd.Pair[string, rdd.Pair[rdd.Opt[int], int]]
	optF = rdd.Pair[string, rdd.Pair[rdd.Opt[int], rdd.Opt[int]]]
	cog  = rdd.Pair[string, rdd.Pair[[]int, []int]]
)

var (
	leftF = rdd.Func(func(a Args) *rdd.RDD[optL] {
		return rdd.LeftOuterJoin(a.src(), a.other(), rdd.Partitions(a.Out))
	})
	rightF = rdd.Func(func(a Args) *rdd.RDD[optR] {
		return rdd.RightOuterJoin(a.src(), a.other(), rdd.Partitions(a.Out))
	})
	fullF = rdd.Func(func(a Args) *rdd.RDD[optF] {
		return rdd.FullOuterJoin(a.src(), a.other(), rdd.Partitions(a.Out))
	})
	coGroupF = rdd.Func(func(a Args) *rdd.RDD[cog] {
		return rdd.CoGroup(a.src(), a.other(), rdd.Partitions(a.Out))
	})
	subByKeyF = rdd.Func(func(a Args) *rdd.RDD[kv] {
		return rdd.SubtractByKey(a.src(), a.other(), rdd.Partitions(a.Out))
	})
	subtractF = rdd.Func(func(a Args) *rdd.RDD[kv] {
		return rdd.Subtract(a.src(), a.other(), rdd.Partitions(a.Out))
	})
	intersectF = rdd.Func(func(a Args) *rdd.RDD[string] {
		return rdd.Intersection(rdd.Keys(a.src()), rdd.Keys(a.other()), rdd.Partitions(a.Out))
	})
	// The fold appends to its first argument: every key needs its own zero.
	foldF = rdd.Func(func(a Args) *rdd.RDD[rdd.Pair[string, []int]] {
		lists := rdd.MapValues(a.src(), func(v int) []int { return []int{v} })
		return rdd.FoldByKey(lists, make([]int, 0, 8), func(x, y []int) []int { return append(x, y...) }, rdd.Partitions(a.Out))
	})
	groupByF = rdd.Func(func(a Args) *rdd.RDD[rdd.Pair[int, []kv]] {
		return rdd.GroupBy(a.src(), func(p kv) int { return p.Value % 7 }, rdd.Partitions(a.Out))
	})
	flatValuesF = rdd.Func(func(a Args) *rdd.RDD[kv] {
		return rdd.FlatMapValues(a.src(), func(v int, emit func(int)) {
			for i := range v % 3 {
				emit(v + i)
			}
		})
	})
	keyByF = rdd.Func(func(a Args) *rdd.RDD[rdd.Pair[int, kv]] {
		return rdd.KeyBy(a.src(), func(p kv) int { return p.Value * 2 })
	})
	glomF = rdd.Func(func(a Args) *rdd.RDD[[]kv] { return rdd.Glom(a.src()) })
)

// same reports whether got and want hold the same elements, each as many
// times, in any order.
func same[T any](got, want []T) bool {
	str := func(ts []T) []string {
		out := make([]string, len(ts))
		for i, t := range ts {
			out[i] = fmt.Sprint(t)
		}
		slices.Sort(out)
		return out
	}
	return slices.Equal(str(got), str(want))
}

func byKey(ps []kv) map[string][]int {
	m := map[string][]int{}
	for _, p := range ps {
		m[p.Key] = append(m[p.Key], p.Value)
	}
	return m
}

// TestPairOpsAgainstNaive holds the outer joins, CoGroup, the subtractions,
// Intersection, FoldByKey, GroupBy, FlatMapValues, KeyBy and Glom against
// naive in-memory versions on random inputs with duplicate keys on both
// sides, random partition counts, empty inputs and more partitions than
// elements.
func TestPairOpsAgainstNaive(t *testing.T) {
	s := newSession(t)
	rng := rand.New(rand.NewPCG(12, 1))
	cases := []Args{
		{In: 3, Out: 2}, // both sides empty
		{Data: []kv{rdd.KV("a", 1)}, In: 5, Out: 7},                  // b empty, more partitions than elements
		{Other: []kv{rdd.KV("a", 1), rdd.KV("a", 1)}, In: 4, Out: 3}, // a empty
	}
	for range 10 {
		cases = append(cases, randomArgs(rng, rng.IntN(200), 1+rng.IntN(30)))
	}
	for _, a := range cases {
		checkPairOps(t, s, a)
	}
}

func checkPairOps(t *testing.T, s *driver.Session, a Args) {
	t.Helper()
	name := fmt.Sprintf("%d and %d records, %d in, %d out", len(a.Data), len(a.Other), a.In, a.Out)
	left, right := byKey(a.Data), byKey(a.Other)

	var wantL []optL
	var wantR []optR
	var wantF []optF
	var wantC []cog
	var wantSub []kv
	for k, vs := range left {
		ws := right[k]
		wantC = append(wantC, rdd.KV(k, rdd.KV(vs, ws)))
		for _, v := range vs {
			if len(ws) == 0 {
				wantL = append(wantL, rdd.KV(k, rdd.KV(v, rdd.Opt[int]{})))
				wantF = append(wantF, rdd.KV(k, rdd.KV(rdd.Some(v), rdd.Opt[int]{})))
				wantSub = append(wantSub, rdd.KV(k, v))
			}
			for _, w := range ws {
				wantL = append(wantL, rdd.KV(k, rdd.KV(v, rdd.Some(w))))
				wantR = append(wantR, rdd.KV(k, rdd.KV(rdd.Some(v), w)))
				wantF = append(wantF, rdd.KV(k, rdd.KV(rdd.Some(v), rdd.Some(w))))
			}
		}
	}
	for k, ws := range right {
		if len(left[k]) > 0 {
			continue
		}
		wantC = append(wantC, rdd.KV(k, rdd.KV([]int(nil), ws)))
		for _, w := range ws {
			wantR = append(wantR, rdd.KV(k, rdd.KV(rdd.Opt[int]{}, w)))
			wantF = append(wantF, rdd.KV(k, rdd.KV(rdd.Opt[int]{}, rdd.Some(w))))
		}
	}
	check := func(op string, ok bool) {
		t.Helper()
		if !ok {
			t.Errorf("%s: %s differs from the naive version", name, op)
		}
	}
	check("LeftOuterJoin", same(collect(t, s, leftF.Invoke(a)), wantL))
	check("RightOuterJoin", same(collect(t, s, rightF.Invoke(a)), wantR))
	check("FullOuterJoin", same(collect(t, s, fullF.Invoke(a)), wantF))
	// CoGroup's value lists come in no particular order: sort them.
	gotC := collect(t, s, coGroupF.Invoke(a))
	for _, c := range append(gotC, wantC...) {
		slices.Sort(c.Value.Key)
		slices.Sort(c.Value.Value)
	}
	check("CoGroup", same(gotC, wantC))
	check("SubtractByKey", same(collect(t, s, subByKeyF.Invoke(a)), wantSub))

	inOther := map[kv]bool{}
	for _, p := range a.Other {
		inOther[p] = true
	}
	var wantSubtract []kv
	for _, p := range a.Data {
		if !inOther[p] {
			wantSubtract = append(wantSubtract, p)
		}
	}
	check("Subtract", same(collect(t, s, subtractF.Invoke(a)), wantSubtract))
	var wantInter []string
	for k := range left {
		if len(right[k]) > 0 {
			wantInter = append(wantInter, k)
		}
	}
	check("Intersection", same(collect(t, s, intersectF.Invoke(a)), wantInter))

	var wantFold []rdd.Pair[string, []int]
	for k, vs := range left {
		wantFold = append(wantFold, rdd.KV(k, slices.Sorted(slices.Values(vs))))
	}
	gotFold := collect(t, s, foldF.Invoke(a))
	for _, p := range gotFold {
		slices.Sort(p.Value)
	}
	check("FoldByKey", same(gotFold, wantFold))

	groups := map[int][]kv{}
	var wantFlat []kv
	var wantKeyBy []rdd.Pair[int, kv]
	for _, p := range a.Data {
		groups[p.Value%7] = append(groups[p.Value%7], p)
		for i := range p.Value % 3 {
			wantFlat = append(wantFlat, rdd.KV(p.Key, p.Value+i))
		}
		wantKeyBy = append(wantKeyBy, rdd.KV(p.Value*2, p))
	}
	var wantGroups []rdd.Pair[int, []kv]
	for k, g := range groups {
		wantGroups = append(wantGroups, rdd.KV(k, sortedPairs(g)))
	}
	gotGroups := collect(t, s, groupByF.Invoke(a))
	for i, g := range gotGroups {
		gotGroups[i].Value = sortedPairs(g.Value)
	}
	check("GroupBy", same(gotGroups, wantGroups))
	// Narrow operations keep the order: compare exactly.
	check("FlatMapValues", slices.Equal(collect(t, s, flatValuesF.Invoke(a)), wantFlat))
	check("KeyBy", slices.Equal(collect(t, s, keyByF.Invoke(a)), wantKeyBy))

	gotGlom := collect(t, s, glomF.Invoke(a))
	if len(gotGlom) != a.In {
		t.Errorf("%s: Glom gave %d slices for %d partitions", name, len(gotGlom), a.In)
	}
	check("Glom", slices.Equal(slices.Concat(gotGlom...), a.Data))
}

var firstF = rdd.Func(numbered)

// First and IsEmpty scan as few partitions as Take does, and First of an
// empty RDD is ErrEmpty.
func TestFirstAndIsEmpty(t *testing.T) {
	s := newSession(t)
	ctx := context.Background()
	for _, sizes := range [][]int{{0}, {0, 0, 0}, {0, 0, 3, 1}, {2}, {0, 1, 0, 0, 0, 0, 0}} {
		all := wantNumbered(sizes)
		got, err := rdd.First(ctx, s, firstF.Invoke(sizes))
		switch {
		case len(all) == 0 && !errors.Is(err, rdd.ErrEmpty):
			t.Errorf("First of %v: %v, %v; want ErrEmpty", sizes, got, err)
		case len(all) > 0 && (err != nil || got != all[0]):
			t.Errorf("First of %v: %v, %v; want %d", sizes, got, err, all[0])
		}
		empty, err := rdd.IsEmpty(ctx, s, firstF.Invoke(sizes))
		if err != nil || empty != (len(all) == 0) {
			t.Errorf("IsEmpty of %v: %v, %v; want %v", sizes, empty, err, len(all) == 0)
		}
	}
}
