package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "genpairs:", err)
		os.Exit(1)
	}
}

// config says what to generate.
type config struct {
	size   int64   // bytes at most
	keys   uint64  // distinct key ranks to draw from
	dist   string  // "zipf" or "uniform"
	s      float64 // Zipf exponent
	values uint64  // values are in [0, values)
	seed   uint64
}

func run() error {
	var cfg config
	sizeFlag := flag.String("size", "256MiB", "file size in bytes at most, with an optional KiB, MiB, GiB or TiB suffix")
	flag.Uint64Var(&cfg.keys, "keys", 1000000, "number of key ranks to draw from, at most 2**32")
	flag.StringVar(&cfg.dist, "dist", "zipf", "key distribution: zipf or uniform")
	flag.Float64Var(&cfg.s, "zipf", 1.1, "Zipf exponent s > 1; P(rank r) ∝ (r+1)**-s")
	flag.Uint64Var(&cfg.values, "values", 1000000, "values are drawn uniformly from [0, N)")
	flag.Uint64Var(&cfg.seed, "seed", 1, "random seed")
	out := flag.String("out", "", "output file (required)")
	force := flag.Bool("force", false, "overwrite --out if it exists")
	flag.Parse()
	if flag.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q; all options are flags, see -h", flag.Arg(0))
	}
	var err error
	if cfg.size, err = parseSize(*sizeFlag); err != nil {
		return err
	}
	if *out == "" {
		return errors.New("--out is required")
	}
	if err := cfg.validate(); err != nil {
		return err
	}
	if _, err := os.Lstat(*out); err == nil && !*force {
		return fmt.Errorf("%s exists; pass --force to overwrite it", *out)
	}
	f, err := os.CreateTemp(filepath.Dir(*out), "."+filepath.Base(*out)+".tmp*")
	if err != nil {
		return err
	}
	n, err := generate(f, cfg)
	err = errors.Join(err, f.Chmod(0o644), f.Close())
	if err == nil {
		err = os.Rename(f.Name(), *out)
	}
	if err != nil {
		os.Remove(f.Name())
		return fmt.Errorf("writing %s: %w", *out, err)
	}
	fmt.Fprintf(os.Stderr, "genpairs: wrote %s: %d lines\n", *out, n)
	return nil
}

func (c config) validate() error {
	switch {
	case c.keys < 1 || c.keys > 1<<32:
		return fmt.Errorf("--keys %d: must be in [1, 2**32]", c.keys)
	case c.dist != "zipf" && c.dist != "uniform":
		return fmt.Errorf("--dist %q: want zipf or uniform", c.dist)
	case c.dist == "zipf" && !(c.s > 1):
		return fmt.Errorf("--zipf %v: must be greater than 1", c.s)
	case c.values < 1:
		return fmt.Errorf("--values %d: must be at least 1", c.values)
	}
	return nil
}

// keyName appends the 8 hex digits that name rank r: r times an odd
// constant modulo 2**32, a bijection on [0, 2**32).
func keyName(dst []byte, r uint64) []byte {
	const hex = "0123456789abcdef"
	x := uint32(r) * 0x9e3779b1
	for i := 28; i >= 0; i -= 4 {
		dst = append(dst, hex[x>>uint(i)&15])
	}
	return dst
}

// generate writes lines to w until the next one would pass cfg.size, and
// returns how many it wrote.
func generate(w io.Writer, cfg config) (int64, error) {
	src := rand.New(rand.NewPCG(cfg.seed, 0x6e70616972730a))
	rank := func() uint64 { return src.Uint64N(cfg.keys) }
	if cfg.dist == "zipf" {
		z := rand.NewZipf(src, cfg.s, 1, cfg.keys-1)
		rank = z.Uint64
	}
	bw := bufio.NewWriterSize(w, 1<<20)
	var line []byte
	var written, lines int64
	for {
		line = keyName(line[:0], rank())
		line = append(line, '\t')
		line = strconv.AppendUint(line, src.Uint64N(cfg.values), 10)
		line = append(line, '\n')
		if written+int64(len(line)) > cfg.size {
			break
		}
		bw.Write(line)
		written += int64(len(line))
		lines++
	}
	return lines, bw.Flush()
}

// parseSize parses a byte count such as "1000", "64KiB", "256MiB" or "1GiB".
func parseSize(s string) (int64, error) {
	num, mult := strings.TrimSpace(s), int64(1)
	for _, u := range []struct {
		suffix string
		mult   int64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"TiB", 1 << 40}, {"B", 1}} {
		if len(num) > len(u.suffix) && strings.EqualFold(num[len(num)-len(u.suffix):], u.suffix) {
			num, mult = strings.TrimSpace(num[:len(num)-len(u.suffix)]), u.mult
			break
		}
	}
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil || n <= 0 || n > (1<<62)/mult {
		return 0, fmt.Errorf("size %q: want a positive whole number of bytes with an optional KiB, MiB, GiB or TiB suffix", s)
	}
	return n * mult, nil
}
