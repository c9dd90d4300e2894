package main

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/clustertest"
	"github.com/sluicehq/sluice/internal/commit"
)

const asMain = "SLUICE_SORT_RUN_MAIN"

func TestMain(m *testing.M) { clustertest.ExampleMain(m, asMain, main) }

// randomLines writes a file of lines of random bytes: any byte but "\n",
// so "\r", NUL, 0xff and blanks too; empty lines; duplicates; and, when
// last is set, a last line without a newline.
func randomLines(rng *rand.Rand, n int, last bool) []byte {
	var b []byte
	var prev []byte
	alphabet := []byte{0, '\r', ' ', '\t', 'a', 'b', 'A', 0x7f, 0x80, 0xff}
	for i := range n {
		var l []byte
		switch rng.IntN(10) {
		case 0: // empty
		case 1:
			l = prev // a duplicate
		default:
			l = make([]byte, rng.IntN(40))
			for j := range l {
				if rng.IntN(2) == 0 {
					l[j] = alphabet[rng.IntN(len(alphabet))]
				} else if l[j] = byte(rng.IntN(256)); l[j] == '\n' {
					l[j] = 'n'
				}
			}
		}
		b = append(b, l...)
		if i < n-1 || !last {
			b = append(b, '\n')
		}
		prev = l
	}
	return b
}

// cSort is the reference: LC_ALL=C sort of the files.
func cSort(t *testing.T, paths ...string) []byte {
	t.Helper()
	cmd := exec.Command("sort", paths...)
	cmd.Env = append(os.Environ(), "LC_ALL=C")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("sort: %v", err)
	}
	return out
}

func concatParts(t *testing.T, dir string) []byte {
	t.Helper()
	if err := commit.Check(dir, -1); err != nil {
		t.Fatal(err)
	}
	parts, err := commit.Parts(dir)
	if err != nil {
		t.Fatal(err)
	}
	var all []byte
	for i, p := range parts {
		if filepath.Base(p) != fmt.Sprintf("part-%05d", i) {
			t.Fatalf("part files %v are not part-00000, part-00001, ...", parts)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, b...)
	}
	return all
}

func runSort(t *testing.T, args ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], args...)
	cmd.Env = append(os.Environ(), asMain+"=1")
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("sort %v: %v\n%s", args, err, b)
	}
}

// The part files, concatenated in order, are byte for byte what
// LC_ALL=C sort prints, on random byte lines, with a memory budget small
// enough to spill, several reducers, and in executor processes.
func TestMatchesCSort(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	dir := t.TempDir()
	var paths []string
	for i, n := range []int{30000, 5000, 1, 0} {
		p := filepath.Join(dir, fmt.Sprintf("in%d", i))
		if err := os.WriteFile(p, randomLines(rng, n, i%2 == 1), 0o644); err != nil {
			t.Fatal(err)
		}
		paths = append(paths, p)
	}
	want := cSort(t, paths...)
	for i, mode := range [][]string{
		{"--memory", "128KiB", "--reducers", "5"},
		{"--reducers", "1"},
		{"--local-cluster", "2", "--memory", "256KiB", "--reducers", "3"},
		nil,
	} {
		t.Run(fmt.Sprint(mode), func(t *testing.T) {
			out := filepath.Join(dir, fmt.Sprintf("out%d", i))
			runSort(t, slices.Concat([]string{"--output", out}, mode, paths)...)
			got := concatParts(t, out)
			if !bytes.Equal(got, want) {
				t.Fatalf("output (%d bytes) differs from LC_ALL=C sort (%d bytes)", len(got), len(want))
			}
			if parts, _ := commit.Parts(out); len(mode) > 0 && mode[len(mode)-1] == "5" && len(parts) != 5 {
				t.Fatalf("%d part files, want 5", len(parts))
			}
		})
	}
}

// With many partitions and few distinct lines, range bounds repeat: no
// line may land out of order or twice.
func TestFewDistinctLines(t *testing.T) {
	dir := t.TempDir()
	var b []byte
	rng := rand.New(rand.NewPCG(1, 2))
	for range 20000 {
		b = append(b, "abc"[rng.IntN(3)])
		b = append(b, '\n')
	}
	in := filepath.Join(dir, "in")
	os.WriteFile(in, b, 0o644)
	out := filepath.Join(dir, "out")
	runSort(t, "--output", out, "--reducers", "8", in)
	if got, want := concatParts(t, out), cSort(t, in); !bytes.Equal(got, want) {
		t.Fatalf("output differs from LC_ALL=C sort")
	}
}
