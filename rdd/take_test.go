package rdd_test

import (
	"context"
	"slices"
	"testing"

	"github.com/sluicehq/sluice/rdd"
)

var sizedF = rdd.Func(numbered)

func span(lo, hi int) []int {
	var s []int
	for i := lo; i < hi; i++ {
		s = append(s, i)
	}
	return s
}

// TestTakeScansLikeSpark checks which partitions each of Take's jobs
// computes. Spark's RDD.take scans one partition, then, having found
// nothing, four times as many as it has scanned; having found some, it
// estimates the partitions still needed from the rate so far, plus 50%,
// at most four times as many as it has scanned.
func TestTakeScansLikeSpark(t *testing.T) {
	s := newSession(t)
	for _, tc := range []struct {
		name  string
		sizes []int
		n     int
		jobs  [][]int
	}{
		{"the first partition is enough", []int{5, 5, 5, 5}, 4, [][]int{{0}}},
		// Found 1, need 2 more at 1 per partition: ceil(1.5*2*1/1) = 3.
		{"estimate from one partition", repeat(20, 1), 3, [][]int{{0}, {1, 2, 3}}},
		// Found 2, need 3 more at 2 per partition: ceil(1.5*3*1/2) = 3.
		{"estimate rounds up", repeat(10, 2), 5, [][]int{{0}, {1, 2, 3}}},
		// Found 1 in 1, then 1 in 5: the estimates (149, 743) are capped
		// at 4 times the partitions scanned.
		{"estimate capped", append([]int{1}, repeat(39, 0)...), 100, [][]int{{0}, span(1, 5), span(5, 25), span(25, 40)}},
		// Nothing found: 1, then 1*4, then 5*4 more partitions.
		{"empty first partitions scan more", append(repeat(5, 0), repeat(25, 1)...), 1, [][]int{{0}, span(1, 5), span(5, 25)}},
		{"first partition empty", []int{0, 1, 1, 1, 1, 1}, 2, [][]int{{0}, {1, 2, 3, 4}}},
		{"fewer elements than asked", []int{1, 0, 2}, 10, [][]int{{0}, {1, 2}}},
		{"take nothing", []int{3, 3}, 0, nil},
		{"take a negative count", []int{3, 3}, -1, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			log := &jobLog{run: s}
			got, err := rdd.Take(context.Background(), log, sizedF.Invoke(tc.sizes), tc.n)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.EqualFunc(log.jobs, tc.jobs, slices.Equal) {
				t.Errorf("jobs computed partitions %v, want %v", log.jobs, tc.jobs)
			}
			all := wantNumbered(tc.sizes)
			if want := all[:max(0, min(tc.n, len(all)))]; !slices.Equal(got, want) {
				t.Errorf("took %v, want %v", got, want)
			}
		})
	}
}
