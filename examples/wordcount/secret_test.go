package main

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/clustertest"
	"github.com/sluicehq/sluice/internal/trust"
)

// TestClusterSecret: with a secret on the workers, a driver without it or
// with a wrong one runs nothing and fails within --wait with one line that
// names --secret-file and the member it tried; with it, the right output.
func TestClusterSecret(t *testing.T) {
	if testing.Short() {
		t.Skip("starts worker processes")
	}
	dir := t.TempDir()
	secret, wrong := filepath.Join(dir, "secret"), filepath.Join(dir, "wrong")
	for _, f := range []string{secret, wrong} {
		if err := trust.WriteSecretFile(f, [][]byte{[]byte(trust.NewSecret())}, false); err != nil {
			t.Fatal(err)
		}
	}
	c := clustertest.Start(t, sluice(t), clustertest.Options{Core: 1, Task: 1, Args: []string{"--secret-file", secret}})
	paths := writeCorpus(t, dir, 2, 5000, 3)

	for _, tc := range []struct {
		name string
		args []string
	}{
		{"no secret", nil},
		{"a wrong secret", []string{"--secret-file", wrong}},
		{"--insecure", []string{"--insecure"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "out")
			start := time.Now()
			args := append([]string{"--join", c.Join, "--min-workers", "2", "--wait", "20s", "--output", out}, tc.args...)
			r := runWithin(t, time.Minute, append(args, paths...)...)
			msg := strings.TrimSpace(r.stderr)
			if tc.args != nil && tc.args[0] == "--insecure" {
				// --insecure is warned about at start, as it should be.
				_, msg, _ = strings.Cut(msg, "neither authenticated nor encrypted\"\n")
			}
			if r.code == 0 {
				t.Fatalf("the driver succeeded without the workers' secret")
			}
			if took := time.Since(start); took > 25*time.Second {
				t.Errorf("the driver took %v to fail, more than --wait 20s", took)
			}
			if strings.Count(msg, "\n") != 0 || !strings.Contains(msg, "--secret-file") || !strings.Contains(msg, c.Join) {
				t.Errorf("want one line naming --secret-file and %s, got:\n%q", c.Join, msg)
			}
			if _, err := filepath.Glob(out); err == nil {
				if m, _ := filepath.Glob(filepath.Join(out, "*")); len(m) > 0 {
					t.Errorf("a refused driver left output: %v", m)
				}
			}
		})
	}

	out := filepath.Join(dir, "out")
	r := runWithin(t, 2*time.Minute, append([]string{"--join", c.Join, "--min-workers", "2", "--secret-file", secret, "--output", out}, paths...)...)
	if r.code != 0 {
		t.Fatalf("with the secret: exit %d: %s", r.code, r.stderr)
	}
	equalCounts(t, readOutput(t, out), naiveCount(t, paths...))
}
