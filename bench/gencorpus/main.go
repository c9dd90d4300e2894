package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "gencorpus:", err)
		os.Exit(1)
	}
}

func run() error {
	var (
		sizeFlag = flag.String("size", "256MiB", "corpus size in bytes, with an optional KiB, MiB, GiB or TiB suffix")
		vocabN   = flag.Int("vocab", 1000000, "number of distinct words to draw from")
		seed     = flag.Uint64("seed", 1, "random seed")
		s        = flag.Float64("zipf", 1.1, "Zipf exponent s > 1; P(rank r) ∝ r**-s")
		out      = flag.String("out", "", "output file (required)")
		force    = flag.Bool("force", false, "overwrite --out if it exists")
		workers  = flag.Int("workers", runtime.GOMAXPROCS(0), "generator goroutines; the output does not depend on it")
	)
	flag.Parse()
	if flag.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q; all options are flags, see -h", flag.Arg(0))
	}
	size, err := parseSize(*sizeFlag)
	if err != nil {
		return err
	}
	if *out == "" {
		return errors.New("--out is required")
	}
	if *workers < 1 {
		return fmt.Errorf("--workers %d: must be at least 1", *workers)
	}
	if err := checkOut(*out, *force); err != nil {
		return err
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	start := time.Now()

	z, err := newZipfTable(*s, *vocabN)
	if err != nil {
		return err
	}
	g := &generator{seed: *seed, size: size, vocab: newVocab(z.k), zipf: z}

	st, err := writeFile(ctx, g, *out, *force, *workers)
	if err != nil {
		return err
	}
	sec := time.Since(start).Seconds()
	if st.words == 0 {
		fmt.Fprintf(os.Stderr, "gencorpus: wrote %s: empty, as --size is below one line\n", *out)
		return nil
	}
	fmt.Fprintf(os.Stderr, "gencorpus: wrote %s: %d bytes, %d words, %d distinct; %.1f M words/GiB, %.2f bytes/word; %.2fs, %.0f MB/s\n",
		*out, st.bytes, st.words, st.distinct,
		float64(st.words)/float64(st.bytes)*(1<<30)/1e6, float64(st.bytes)/float64(st.words),
		sec, float64(st.bytes)/1e6/sec)
	return nil
}

// checkOut refuses an existing out unless force, and always one that is not
// a regular file: a rename would replace a device such as /dev/null.
func checkOut(out string, force bool) error {
	fi, err := os.Lstat(out)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil
	case err != nil:
		return err
	case !fi.Mode().IsRegular():
		return fmt.Errorf("%s exists and is not a regular file; give another --out", out)
	case !force:
		return fmt.Errorf("%s exists; pass --force to overwrite it", out)
	}
	return nil
}

// writeFile writes the corpus to a temporary file beside out and renames it
// into place. Without force it does not replace a file that appeared at out
// meanwhile.
func writeFile(ctx context.Context, g *generator, out string, force bool, workers int) (st stats, err error) {
	f, err := os.CreateTemp(filepath.Dir(out), "."+filepath.Base(out)+".tmp*")
	if err != nil {
		return st, fmt.Errorf("creating a temporary file beside %s: %w", out, err)
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(tmp)
		}
	}()
	if st, err = g.writeTo(ctx, f, workers); err != nil {
		return st, fmt.Errorf("writing %s: %w", tmp, err)
	}
	if err = f.Chmod(0o644); err != nil {
		return st, err
	}
	if err = f.Close(); err != nil {
		return st, err
	}
	if force {
		if err = checkOut(out, true); err != nil {
			return st, err
		}
		return st, os.Rename(tmp, out)
	}
	// A hard link fails if out exists, where a rename would replace it.
	if err = os.Link(tmp, out); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return st, fmt.Errorf("%s appeared while generating; pass --force to overwrite it", out)
		}
		if _, serr := os.Lstat(out); serr == nil {
			return st, fmt.Errorf("%s appeared while generating; pass --force to overwrite it", out)
		}
		return st, os.Rename(tmp, out) // a file system without hard links
	}
	return st, os.Remove(tmp)
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
