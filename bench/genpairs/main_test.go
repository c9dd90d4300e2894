package main

import (
	"bytes"
	"strconv"
	"strings"
	"testing"
)

func TestGenerateIsDeterministicAndBounded(t *testing.T) {
	for _, cfg := range []config{
		{size: 100000, keys: 1000, dist: "zipf", s: 1.1, values: 100, seed: 7},
		{size: 100000, keys: 50, dist: "uniform", values: 1 << 40, seed: 8},
		{size: 11, keys: 1, dist: "uniform", values: 1, seed: 9}, // one line: "00000000\t0\n"
	} {
		var a, b bytes.Buffer
		na, err := generate(&a, cfg)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := generate(&b, cfg); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(a.Bytes(), b.Bytes()) {
			t.Fatalf("%+v: two runs differ", cfg)
		}
		if int64(a.Len()) > cfg.size || int64(a.Len()) < cfg.size-30 {
			t.Fatalf("%+v: %d bytes, want at most %d and within a line of it", cfg, a.Len(), cfg.size)
		}
		lines := strings.Split(strings.TrimSuffix(a.String(), "\n"), "\n")
		if int64(len(lines)) != na {
			t.Fatalf("%+v: %d lines, generate said %d", cfg, len(lines), na)
		}
		names := map[string]bool{}
		for r := range cfg.keys {
			names[string(keyName(nil, r))] = true
		}
		keys := map[string]int{}
		for _, l := range lines {
			k, v, ok := strings.Cut(l, "\t")
			if !ok || !names[k] {
				t.Fatalf("%+v: line %q: key not one of the %d names", cfg, l, cfg.keys)
			}
			if n, err := strconv.ParseUint(v, 10, 64); err != nil || n >= cfg.values {
				t.Fatalf("%+v: line %q: value not in [0, %d)", cfg, l, cfg.values)
			}
			keys[k]++
		}
		if cfg.dist == "zipf" {
			// Rank 0 is the most frequent key, by far.
			top := keys[string(keyName(nil, 0))]
			for k, n := range keys {
				if k != string(keyName(nil, 0)) && n*2 > top {
					t.Fatalf("%+v: key %s has %d lines, rank 0 only %d", cfg, k, n, top)
				}
			}
		}
	}
}

func TestKeyNamesAreDistinct(t *testing.T) {
	seen := map[string]uint64{}
	for r := range uint64(1 << 16) {
		n := string(keyName(nil, r))
		if len(n) != 8 {
			t.Fatalf("rank %d: name %q, want 8 hex digits", r, n)
		}
		if q, ok := seen[n]; ok {
			t.Fatalf("ranks %d and %d share the name %s", q, r, n)
		}
		seen[n] = r
	}
	if got := string(keyName(nil, 1<<32-1)); got != "61c8864f" { // -0x9e3779b1 mod 2**32
		t.Fatalf("rank 2**32-1: %s", got)
	}
}

func TestValidate(t *testing.T) {
	good := config{size: 1, keys: 1, dist: "zipf", s: 1.1, values: 1}
	if err := good.validate(); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []func(*config){
		func(c *config) { c.keys = 0 },
		func(c *config) { c.keys = 1<<32 + 1 },
		func(c *config) { c.dist = "normal" },
		func(c *config) { c.s = 1 },
		func(c *config) { c.values = 0 },
	} {
		c := good
		bad(&c)
		if c.validate() == nil {
			t.Errorf("%+v: accepted", c)
		}
	}
}
