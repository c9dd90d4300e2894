package main

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/driver"
	"github.com/sluicehq/sluice/rdd"
)

// TestTopKBar runs the measurement on a small file: the right top, and at
// most k records per partition counted on the way to the driver.
func TestTopKBar(t *testing.T) {
	cfg := driver.DefaultConfig()
	cfg.LocalDir = t.TempDir()
	s, err := driver.NewSession(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	path := filepath.Join(t.TempDir(), "in.txt")
	var b strings.Builder
	for i := range 300 {
		for j := range i%17 + 1 {
			b.WriteString(strings.Repeat("x", j+1) + " ")
		}
		b.WriteString("\n")
	}
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	counts := wordCount.Invoke([]string{path})
	all, err := rdd.Collect(ctx, s, counts)
	if err != nil {
		t.Fatal(err)
	}
	c := &counting{run: s}
	top, err := rdd.TopFunc(ctx, c, counts, 3, byCount)
	if err != nil {
		t.Fatal(err)
	}
	slices.SortFunc(all, func(a, b rdd.Pair[string, int64]) int { return byCount(b, a) })
	if !slices.Equal(top, all[:3]) {
		t.Errorf("top %v, want %v", top, all[:3])
	}
	if n := c.frames / 2; n == 0 || n > 3*counts.NumPartitions() {
		t.Errorf("%d records reached the driver from %d partitions", n, counts.NumPartitions())
	}
}
