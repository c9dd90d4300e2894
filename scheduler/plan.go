package scheduler

import (
	"fmt"
	"slices"
	"strings"

	"github.com/sluicehq/sluice/internal/task"
)

// Explain describes the stages that a job on node final of a lineage runs:
// one line per stage, the final stage first, then each stage's parents,
// each with the nodes it pipelines, last node first.
func Explain(nodes []task.NodeInfo, final int) string {
	byID := map[int]task.NodeInfo{}
	for _, n := range nodes {
		byID[n.ID] = n
	}
	var b strings.Builder
	seen := map[int]bool{}
	var visit func(node, shuffle int, depth int)
	visit = func(node, shuffle int, depth int) {
		n := byID[node]
		kind := "result"
		if shuffle != 0 {
			kind = fmt.Sprintf("map shuffle=%d", shuffle)
		}
		fmt.Fprintf(&b, "%s%s partitions=%d: %s", strings.Repeat("  ", depth), kind, n.Partitions, pipeline(byID, node))
		if shuffle != 0 && seen[shuffle] {
			b.WriteString(" (shared)\n")
			return
		}
		b.WriteString("\n")
		seen[shuffle] = true
		reads := shufflesRead(byID, node)
		slices.SortFunc(reads, func(a, b task.DepInfo) int { return a.Shuffle - b.Shuffle })
		for _, d := range reads {
			visit(d.Parent, d.Shuffle, depth+1)
		}
	}
	visit(final, 0, 0)
	return b.String()
}

// pipeline lists the nodes that one task of node's stage runs, from node
// back to the stage's sources or shuffle reads.
func pipeline(byID map[int]task.NodeInfo, node int) string {
	var parts []string
	seen := map[int]bool{}
	var visit func(id int)
	visit = func(id int) {
		if seen[id] {
			return
		}
		seen[id] = true
		n := byID[id]
		s := fmt.Sprintf("%s#%d", n.Name, n.ID)
		if n.Cached {
			s += "[cached]"
		}
		if n.Checkpointed {
			s += "[checkpointed]"
		}
		var reads []string
		for _, d := range n.Deps {
			if d.Shuffle != 0 {
				reads = append(reads, fmt.Sprintf("shuffle=%d", d.Shuffle))
			}
		}
		if len(reads) > 0 {
			s += "(" + strings.Join(reads, ",") + ")"
		}
		parts = append(parts, s)
		for _, d := range n.Deps {
			if d.Shuffle == 0 {
				visit(d.Parent)
			}
		}
	}
	visit(node)
	return strings.Join(parts, " <- ")
}
