package main

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// randomPairs returns n lines "key\tvalue" over keys keys, skewed towards
// small ones, with now and then a "\r\n" end, and no final newline when
// ragged.
func randomPairs(rng *rand.Rand, n, keys int, ragged bool) string {
	var b strings.Builder
	for i := range n {
		k := int(float64(keys) * rng.Float64() * rng.Float64())
		fmt.Fprintf(&b, "k%d\t%d", k, rng.Uint64N(1000)<<rng.IntN(54))
		if rng.IntN(20) == 0 {
			b.WriteByte('\r')
		}
		if !ragged || i < n-1 {
			b.WriteByte('\n')
		}
	}
	return b.String()
}

// lines splits a file as rdd.TextFile does.
func lines(s string) []string {
	if s == "" {
		return nil
	}
	ls := strings.Split(strings.TrimSuffix(s, "\n"), "\n")
	for i, l := range ls {
		ls[i] = strings.TrimSuffix(l, "\r")
	}
	return ls
}

// naive computes a job's output lines, sorted, the simplest way.
func naive(job string, inputs ...string) []string {
	var out []string
	switch job {
	case "groupbykey":
		vals := map[string][]uint64{}
		for _, l := range lines(inputs[0]) {
			k, v, _ := strings.Cut(l, "\t")
			n, err := strconv.ParseUint(v, 10, 64)
			if err != nil {
				panic(err)
			}
			vals[k] = append(vals[k], n)
		}
		for k, vs := range vals {
			var sum uint64
			for _, v := range vs {
				sum += mix(v)
			}
			out = append(out, fmt.Sprintf("%s\t%d\t%d", k, len(vs), sum))
		}
	case "distinct":
		seen := map[string]bool{}
		for _, in := range inputs {
			for _, l := range lines(in) {
				if !seen[l] {
					seen[l] = true
					out = append(out, l)
				}
			}
		}
	case "join":
		for _, a := range lines(inputs[0]) {
			for _, b := range lines(inputs[1]) {
				ka, va, _ := strings.Cut(a, "\t")
				kb, vb, _ := strings.Cut(b, "\t")
				if ka == kb {
					out = append(out, ka+"\t"+va+"\t"+vb)
				}
			}
		}
	}
	slices.Sort(out)
	return out
}

// readParts returns the lines of dir's part files, sorted.
func readParts(t *testing.T, dir string) []string {
	t.Helper()
	parts, _ := filepath.Glob(filepath.Join(dir, "part-*"))
	if len(parts) == 0 {
		t.Fatalf("no part files in %s", dir)
	}
	var out []string
	for _, p := range parts {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if len(b) > 0 {
			if b[len(b)-1] != '\n' {
				t.Fatalf("%s does not end in a newline", p)
			}
			out = append(out, strings.Split(string(b[:len(b)-1]), "\n")...)
		}
	}
	slices.Sort(out)
	return out
}

func TestJobsAgainstNaive(t *testing.T) {
	rng := rand.New(rand.NewPCG(15, 4))
	dir := t.TempDir()
	write := func(name, s string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	pairs := randomPairs(rng, 3000, 400, false)
	ragged := randomPairs(rng, 2000, 300, true)
	// Join sides with duplicate keys on both, keys on one side only, lines
	// without a tab and empty lines (the empty key).
	left := randomPairs(rng, 600, 300, true) + "\nnotab\n\n"
	right := randomPairs(rng, 500, 600, false) + "notab\n\nk1\t\n"
	cases := []struct {
		job    string
		inputs []string
	}{
		{"groupbykey", []string{pairs}},
		{"groupbykey", []string{ragged}},
		{"distinct", []string{pairs}},
		{"distinct", []string{ragged + "\n\n", "x\ny\n" + pairs}},
		{"join", []string{left, right}},
		{"join", []string{right, left}},
	}
	for i, c := range cases {
		var paths []string
		for j, in := range c.inputs {
			paths = append(paths, write(fmt.Sprintf("in%d-%d", i, j), in))
		}
		want := naive(c.job, c.inputs...)
		if len(want) < 10 {
			t.Fatalf("case %d: the naive model gives %d lines; the test needs more", i, len(want))
		}
		for _, cfg := range []config{
			defaultConfig(),
			{workers: 1, perWork: 1, bufSize: 1 << 10},
			{workers: 3, perWork: 4, bufSize: 8}, // lines longer than the buffer
		} {
			out := filepath.Join(dir, fmt.Sprintf("out%d-%d", i, cfg.workers))
			if err := runJob(c.job, paths, cfg, out); err != nil {
				t.Fatalf("case %d %s %+v: %v", i, c.job, cfg, err)
			}
			if got := readParts(t, out); !slices.Equal(got, want) {
				t.Fatalf("case %d %s %+v: %d lines, want %d like the naive model; first of each: %q %q",
					i, c.job, cfg, len(got), len(want), got[:min(3, len(got))], want[:3])
			}
		}
	}
}

func TestGroupByKeyRejectsBadValues(t *testing.T) {
	dir := t.TempDir()
	for i, in := range []string{"k\t12x\n", "k\n", "k\t-1\n", "k\t18446744073709551616\n", "k\t+1\n"} {
		p := filepath.Join(dir, fmt.Sprint(i))
		os.WriteFile(p, []byte("a\t1\n"+in), 0o644)
		if err := runJob("groupbykey", []string{p}, defaultConfig(), filepath.Join(dir, "out")); err == nil {
			t.Errorf("%q: accepted", in)
		}
	}
	p := filepath.Join(dir, "max")
	os.WriteFile(p, []byte("k\t18446744073709551615\n"), 0o644)
	if err := runJob("groupbykey", []string{p}, defaultConfig(), filepath.Join(dir, "max-out")); err != nil {
		t.Fatal(err)
	}
	if got, want := readParts(t, filepath.Join(dir, "max-out")), fmt.Sprintf("k\t1\t%d", mix(1<<64-1)); !slices.Equal(got, []string{want}) {
		t.Fatalf("got %q, want %q", got, want)
	}
}

func TestMix(t *testing.T) {
	// SplitMix64's output for state 0: the finalizer of its first
	// increment, 0x9e3779b97f4a7c15.
	if got := mix(0x9e3779b97f4a7c15); got != 0xe220a8397b1dcdaf {
		t.Fatalf("mix = %#x", got)
	}
}
