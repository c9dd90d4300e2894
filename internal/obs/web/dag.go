package web

import (
	"bytes"
	"fmt"
	"html"
	"slices"
	"strings"

	"github.com/sluicehq/sluice/internal/obs"
)

// The DAG picture's geometry, in SVG user units.
const (
	boxW, boxH = 260, 84
	gapX, gapY = 60, 24
	margin     = 12
	lineChars  = 40
)

// DAG draws a job's stages as SVG: a column per depth (sources first), a
// box per stage with its operations and progress, an arrow per shuffle.
// Only each stage's latest attempt is drawn.
func DAG(stages []obs.StageInfo) []byte {
	latest := map[int]obs.StageInfo{}
	var ids []int
	for _, st := range stages {
		if _, ok := latest[st.ID]; !ok {
			ids = append(ids, st.ID)
		}
		if cur, ok := latest[st.ID]; !ok || st.Attempt >= cur.Attempt {
			latest[st.ID] = st
		}
	}
	slices.Sort(ids)
	depth := map[int]int{}
	var depthOf func(id int, seen int) int
	depthOf = func(id int, seen int) int {
		if d, ok := depth[id]; ok {
			return d
		}
		d := 0
		if seen < len(ids) { // a cycle cannot happen; bound the walk anyway
			for _, p := range latest[id].Parents {
				if _, ok := latest[p]; ok {
					d = max(d, depthOf(p, seen+1)+1)
				}
			}
		}
		depth[id] = d
		return d
	}
	cols := map[int][]int{}
	maxDepth, maxRows := 0, 0
	for _, id := range ids {
		d := depthOf(id, 0)
		cols[d] = append(cols[d], id)
		maxDepth = max(maxDepth, d)
		maxRows = max(maxRows, len(cols[d]))
	}
	pos := map[int][2]int{}
	for d, col := range cols {
		for i, id := range col {
			pos[id] = [2]int{margin + d*(boxW+gapX), margin + i*(boxH+gapY)}
		}
	}
	w := 2*margin + (maxDepth+1)*boxW + maxDepth*gapX
	h := 2*margin + max(maxRows, 1)*boxH + max(maxRows-1, 0)*gapY
	var b bytes.Buffer
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" class="dag" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="12">`, w, h, w, h)
	b.WriteString(`<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="8" markerHeight="8" orient="auto"><path d="M0,0 L10,5 L0,10 z" fill="#555"/></marker></defs>`)
	for _, id := range ids {
		to := pos[id]
		for _, p := range latest[id].Parents {
			from, ok := pos[p]
			if !ok {
				continue
			}
			fmt.Fprintf(&b, `<line class="edge" x1="%d" y1="%d" x2="%d" y2="%d" stroke="#555" marker-end="url(#arrow)"/>`,
				from[0]+boxW, from[1]+boxH/2, to[0], to[1]+boxH/2)
		}
	}
	fill := map[obs.Status]string{obs.Running: "#dbeafe", obs.Succeeded: "#dcfce7", obs.Failed: "#fee2e2"}
	for _, id := range ids {
		st, p := latest[id], pos[id]
		fmt.Fprintf(&b, `<g class="stage" data-stage="%d" data-attempt="%d" data-status="%s">`, st.ID, st.Attempt, html.EscapeString(string(st.Status)))
		fmt.Fprintf(&b, `<rect x="%d" y="%d" width="%d" height="%d" rx="6" fill="%s" stroke="#333"/>`, p[0], p[1], boxW, boxH, cmpOr(fill[st.Status], "#f3f4f6"))
		title := fmt.Sprintf("Stage %d", st.ID)
		if st.Attempt > 0 {
			title += fmt.Sprintf(" (attempt %d)", st.Attempt)
		}
		title += fmt.Sprintf(" · %s · %d/%d", st.Kind, st.Done, st.Tasks)
		fmt.Fprintf(&b, `<text x="%d" y="%d" font-weight="bold">%s</text>`, p[0]+8, p[1]+18, html.EscapeString(title))
		for i, line := range wrap(st.Name, lineChars, 3) {
			fmt.Fprintf(&b, `<text x="%d" y="%d">%s</text>`, p[0]+8, p[1]+36+i*15, html.EscapeString(line))
		}
		fmt.Fprintf(&b, `<title>%s</title></g>`, html.EscapeString(st.Name))
	}
	b.WriteString(`</svg>`)
	return b.Bytes()
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// wrap breaks s into at most n lines of at most width runes, preferring
// the breaks between operations; the last line ends in "…" if cut.
func wrap(s string, width, n int) []string {
	var lines []string
	cur := ""
	for _, word := range strings.Fields(s) {
		if cur != "" && len([]rune(cur))+1+len([]rune(word)) > width {
			lines = append(lines, cur)
			cur = ""
		}
		if cur != "" {
			cur += " "
		}
		cur += word
	}
	if cur != "" {
		lines = append(lines, cur)
	}
	for i, l := range lines {
		if r := []rune(l); len(r) > width {
			lines[i] = string(r[:width-1]) + "…"
		}
	}
	if len(lines) > n {
		lines = lines[:n]
		r := []rune(lines[n-1])
		lines[n-1] = string(r[:min(len(r), width-1)]) + "…"
	}
	return lines
}
