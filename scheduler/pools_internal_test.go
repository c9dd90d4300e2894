package scheduler

import (
	"slices"
	"strings"
	"testing"
)

// fairCompare, as Spark's FairSchedulingAlgorithm: needy pools first, by
// running/MinShare; then by running/Weight; ties by name.
func TestFairCompare(t *testing.T) {
	for _, tc := range []struct {
		name  string
		pools []poolShare
		want  string
	}{
		{"equal weights: fewest running first", []poolShare{{"a", 3, 1, 0}, {"b", 1, 1, 0}, {"c", 2, 1, 0}}, "b c a"},
		{"ties by name", []poolShare{{"b", 1, 1, 0}, {"a", 1, 1, 0}}, "a b"},
		{"weight 2 may run twice as many", []poolShare{{"heavy", 4, 2, 0}, {"light", 2, 1, 0}}, "heavy light"},
		{"weight 2 past twice", []poolShare{{"heavy", 5, 2, 0}, {"light", 2, 1, 0}}, "light heavy"},
		{"a needy pool before any other", []poolShare{{"a", 0, 10, 0}, {"b", 3, 1, 4}}, "b a"},
		{"a pool at its minimum is not needy", []poolShare{{"a", 0, 1, 0}, {"b", 4, 1, 4}}, "a b"},
		{"needy pools by running/MinShare", []poolShare{{"a", 1, 1, 2}, {"b", 1, 1, 4}}, "b a"},
		{"zero running, zero minimum", []poolShare{{"z", 0, 1, 0}, {"y", 0, 3, 0}}, "y z"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ps := slices.Clone(tc.pools)
			slices.SortFunc(ps, fairCompare)
			var names []string
			for _, p := range ps {
				names = append(names, p.Name)
			}
			if got := strings.Join(names, " "); got != tc.want {
				t.Fatalf("order %q, want %q", got, tc.want)
			}
			// The same set in any order sorts the same way.
			slices.Reverse(ps)
			slices.SortFunc(ps, fairCompare)
			names = names[:0]
			for _, p := range ps {
				names = append(names, p.Name)
			}
			if got := strings.Join(names, " "); got != tc.want {
				t.Fatalf("from reversed input: order %q, want %q", got, tc.want)
			}
		})
	}
}
