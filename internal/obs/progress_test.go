package obs

import (
	"strings"
	"testing"
	"time"
)

func TestProgress(t *testing.T) {
	var out strings.Builder
	p := NewProgress(&out, time.Millisecond)
	var lines []string
	for _, e := range app(4) {
		out.Reset()
		p.Observe(e)
		if s := out.String(); s != "" {
			lines = append(lines, s)
		}
	}
	joined := strings.Join(lines, "\n")
	for _, want := range []string{
		"\r[job 0] stage 1/2 · tasks 0/0 · workers 2 alive\x1b[K",
		"\r[job 0] stage 1/2 · tasks 2/4 · 40.0 tasks/s · ETA 0s · workers 2 alive\x1b[K",
		"\r[job 0] stage 2/2 · tasks 4/5 · 30.8 tasks/s · ETA 0s · workers 1 alive, 1 lost\x1b[K",
		"stage 2/2 · tasks 5/5",
	} {
		if !strings.Contains(joined, want) {
			t.Errorf("no %q in\n%s", want, joined)
		}
	}
	// The job's end erases the line.
	if last := lines[len(lines)-1]; last != "\r\x1b[K" {
		t.Errorf("last write %q, want the line erased", last)
	}
}
