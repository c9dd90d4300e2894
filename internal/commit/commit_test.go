package commit_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/sluicehq/sluice/internal/commit"
)

// coordinator lets the first attempt of each partition that asks commit,
// as the driver's scheduler does, unless told to refuse or fail.
type coordinator struct {
	mu      sync.Mutex
	winners map[int]int
	err     error
}

func (c *coordinator) CanCommit(_ context.Context, _, part, attempt int) (bool, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err != nil {
		return false, c.err
	}
	if c.winners == nil {
		c.winners = map[int]int{}
	}
	w, ok := c.winners[part]
	if !ok {
		c.winners[part] = attempt
		return true, nil
	}
	return w == attempt, nil
}

// write runs one attempt that writes text and asks to commit it.
func write(t *testing.T, dir string, part, attempt int, text string, auth commit.Authorizer) (bool, error) {
	t.Helper()
	a, err := commit.NewAttempt(dir, 1, part, attempt)
	if err != nil {
		return false, err
	}
	if err := os.WriteFile(a.Path(), []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return a.Commit(context.Background(), auth)
}

func names(t *testing.T, dir string) []string {
	t.Helper()
	var got []string
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			rel, _ := filepath.Rel(dir, p)
			got = append(got, rel)
		}
		return nil
	})
	slices.Sort(got)
	return got
}

// A job whose partitions have several attempts each, one of them
// authorised, ends with exactly one part file per partition, holding the
// authorised attempt's bytes, then _SUCCESS, and nothing else.
func TestOneAttemptPerPartitionCommits(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "out")
	created, err := commit.SetupJob(dir)
	if err != nil || !created {
		t.Fatalf("SetupJob: %v, created %v", err, created)
	}
	c := &coordinator{}
	const parts = 3
	for p := range parts {
		for attempt := range 3 {
			ok, err := write(t, dir, p, attempt, fmt.Sprintf("p%d a%d\n", p, attempt), c)
			if err != nil || ok != (attempt == 0) {
				t.Fatalf("partition %d attempt %d: committed %v, %v", p, attempt, ok, err)
			}
		}
	}
	if err := commit.Check(dir, parts); !errors.Is(err, commit.ErrIncomplete) {
		t.Fatalf("Check before the job commit: %v", err)
	}
	if err := commit.CommitJob(dir, parts); err != nil {
		t.Fatal(err)
	}
	if err := commit.Check(dir, parts); err != nil {
		t.Fatal(err)
	}
	if got, want := names(t, dir), []string{"_SUCCESS", "part-00000", "part-00001", "part-00002"}; !slices.Equal(got, want) {
		t.Fatalf("output %v, want %v", got, want)
	}
	for p := range parts {
		b, _ := os.ReadFile(filepath.Join(dir, commit.PartName(p)))
		if string(b) != fmt.Sprintf("p%d a0\n", p) {
			t.Errorf("partition %d holds %q, not the authorised attempt's", p, b)
		}
	}
	parts2, err := commit.Parts(dir)
	if err != nil || len(parts2) != parts || filepath.Base(parts2[2]) != "part-00002" {
		t.Fatalf("Parts: %v, %v", parts2, err)
	}
}

// An attempt authorised after an earlier one committed (and was lost
// before it reported) replaces it.
func TestLaterAuthorisedAttemptReplaces(t *testing.T) {
	dir := t.TempDir()
	if _, err := commit.SetupJob(dir); err != nil {
		t.Fatal(err)
	}
	yes := authFunc(func() (bool, error) { return true, nil })
	if ok, err := write(t, dir, 0, 0, "first\n", yes); !ok || err != nil {
		t.Fatal(ok, err)
	}
	if ok, err := write(t, dir, 0, 1, "second\n", yes); !ok || err != nil {
		t.Fatal(ok, err)
	}
	if err := commit.CommitJob(dir, 1); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "part-00000")); string(b) != "second\n" {
		t.Fatalf("part-00000 holds %q", b)
	}
}

type authFunc func() (bool, error)

func (f authFunc) CanCommit(context.Context, int, int, int) (bool, error) { return f() }

// An attempt denied, or whose authorisation fails, leaves no file; a
// failed job leaves the directory as it was: removed if SetupJob made
// it, empty otherwise; an attempt that runs on after the abort cannot
// bring _temporary back.
func TestDeniedAttemptsAndAbortLeaveNothing(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "out")
	created, err := commit.SetupJob(dir)
	if err != nil {
		t.Fatal(err)
	}
	boom := errors.New("driver gone")
	if ok, err := write(t, dir, 0, 0, "x", authFunc(func() (bool, error) { return false, nil })); ok || err != nil {
		t.Fatalf("denied: %v, %v", ok, err)
	}
	if ok, err := write(t, dir, 1, 0, "x", authFunc(func() (bool, error) { return false, boom })); ok || !errors.Is(err, boom) {
		t.Fatalf("failed authorisation: %v, %v", ok, err)
	}
	a, err := commit.NewAttempt(dir, 1, 2, 0)
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(a.Path(), []byte("x"), 0o644)
	a.Abort()
	if got := names(t, dir); len(got) != 0 {
		t.Fatalf("denied and aborted attempts left %v", got)
	}
	if err := commit.CommitJob(dir, 1); err == nil {
		t.Fatal("a job commit with a partition never committed succeeded")
	}
	commit.AbortJob(dir, created)
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("an aborted job's directory that it created: %v", err)
	}
	if _, err := commit.NewAttempt(dir, 1, 0, 5); err == nil || !strings.Contains(err.Error(), "aborted") {
		t.Fatalf("an attempt after the abort: %v", err)
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Fatal("an attempt after the abort brought the directory back")
	}

	// A directory the job did not create stays, empty.
	mine := t.TempDir()
	created, err = commit.SetupJob(mine)
	if err != nil || created {
		t.Fatalf("SetupJob of an empty directory: %v, created %v", err, created)
	}
	commit.AbortJob(mine, created)
	if ents, err := os.ReadDir(mine); err != nil || len(ents) != 0 {
		t.Fatalf("an aborted job's own directory: %v, %v", ents, err)
	}
}

// SetupJob refuses what would mix with another output: a directory that
// holds anything, a file; and an empty name.
func TestSetupJobRefuses(t *testing.T) {
	full := t.TempDir()
	os.WriteFile(filepath.Join(full, "old"), nil, 0o644)
	file := filepath.Join(t.TempDir(), "f")
	os.WriteFile(file, nil, 0o644)
	for name, dir := range map[string]string{"not empty": full, "a file": file, "empty name": ""} {
		if _, err := commit.SetupJob(dir); err == nil {
			t.Errorf("SetupJob of %s succeeded", name)
		}
	}
	if got := names(t, full); !slices.Equal(got, []string{"old"}) {
		t.Fatalf("a refused SetupJob changed the directory: %v", got)
	}
}

// Check names what is wrong with an output: a missing part, an extra one,
// no _SUCCESS, _temporary left.
func TestCheck(t *testing.T) {
	dir := t.TempDir()
	for _, f := range []string{"part-00000", "part-00002", "part-00003", "_temporary/0/x"} {
		os.MkdirAll(filepath.Dir(filepath.Join(dir, f)), 0o755)
		os.WriteFile(filepath.Join(dir, f), nil, 0o644)
	}
	err := commit.Check(dir, 3)
	for _, want := range []string{"missing part-00001", "unexpected part-00003", "no _SUCCESS", "_temporary left behind"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Check: %v; want it to say %q", err, want)
		}
	}
	if !errors.Is(err, commit.ErrIncomplete) {
		t.Errorf("Check: %v does not wrap ErrIncomplete", err)
	}
	// However many parts there are, a gap shows.
	if err := commit.Check(dir, -1); err == nil || !strings.Contains(err.Error(), "missing part-00001") || !strings.Contains(err.Error(), "unexpected part-00003") {
		t.Errorf("Check of any number of parts: %v", err)
	}
	if ps, err := commit.Parts(filepath.Join(dir, "none")); err != nil || ps != nil {
		t.Errorf("Parts of a missing directory: %v, %v", ps, err)
	}
}

// TestSuffixedPartNames: part files named with a codec's or format's
// suffix commit under that name, and Check counts them as their
// partition's.
func TestSuffixedPartNames(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "out")
	if _, err := commit.SetupJob(dir); err != nil {
		t.Fatal(err)
	}
	auth := &coordinator{}
	for p, sfx := range []string{".json.gz", ".json.gz", ""} {
		a, err := commit.NewAttempt(dir, 1, p, 0)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(a.PathWithSuffix(sfx), []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
		if ok, err := a.Commit(context.Background(), auth); !ok || err != nil {
			t.Fatal(ok, err)
		}
	}
	if err := commit.CommitJob(dir, 3); err != nil {
		t.Fatal(err)
	}
	want := []string{"_SUCCESS", "part-00000.json.gz", "part-00001.json.gz", "part-00002"}
	if got := names(t, dir); !slices.Equal(got, want) {
		t.Fatalf("files %q, want %q", got, want)
	}
	if err := commit.Check(dir, 3); err != nil {
		t.Fatal(err)
	}
	if err := commit.Check(dir, 4); err == nil {
		t.Fatal("Check of 4 partitions passed with 3")
	}
	os.WriteFile(filepath.Join(dir, "part-00001.json"), nil, 0o644)
	if err := commit.Check(dir, 3); err == nil || !strings.Contains(err.Error(), "unexpected part-00001.json") {
		t.Fatalf("a second file of partition 1: %v", err)
	}
}
