package driver

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/sluicehq/sluice/internal/task"
)

// Stage names follow the narrow parents; a lineage of 40 diamonds (a
// dataset unioned with a copy of itself, again and again) is named at
// once, within the bound, in valid UTF-8.
func TestStageNames(t *testing.T) {
	nodes := []task.NodeInfo{
		{ID: 1, Name: "TextFile", Site: "main.go:3"},
		{ID: 2, Name: "Map", Site: "main.go:4", Deps: []task.DepInfo{{Parent: 1}}},
		{ID: 3, Name: "ReduceByKey", Site: "main.go:5", Deps: []task.DepInfo{{Parent: 2, Shuffle: 1}}},
	}
	names := stageNames(nodes)
	if names[2] != "TextFile main.go:3 → Map main.go:4" || names[3] != "ReduceByKey main.go:5" {
		t.Fatalf("names %v", names)
	}
	nodes = []task.NodeInfo{{ID: 1, Name: "Parallelize"}}
	for i := range 40 {
		top := nodes[len(nodes)-1].ID
		nodes = append(nodes,
			task.NodeInfo{ID: top + 1, Name: "Map", Deps: []task.DepInfo{{Parent: top}}},
			task.NodeInfo{ID: top + 2, Name: "Union", Site: "é.go:" + strings.Repeat("7", i%3+1), Deps: []task.DepInfo{{Parent: top}, {Parent: top + 1}}})
	}
	names = stageNames(nodes)
	last := names[nodes[len(nodes)-1].ID]
	if len(last) > maxStageName+len("… ") || !utf8.ValidString(last) || !strings.HasSuffix(last, "→ Union é.go:7") {
		t.Fatalf("the last of 40 diamonds: %d bytes, valid %v: %q", len(last), utf8.ValidString(last), last)
	}
}
