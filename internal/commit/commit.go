package commit

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// The names in an output directory.
const (
	Success    = "_SUCCESS"   // written last by the job commit
	Temporary  = "_temporary" // attempts and committed tasks, until the job commit
	partPrefix = "part-"
)

// ErrIncomplete is wrapped by Check's error for an output that is not one
// committed job's: a part file missing or extra, no _SUCCESS, or
// _temporary left behind.
var ErrIncomplete = errors.New("commit: output incomplete")

// Authorizer says whether an attempt may commit its partition: the
// driver lets exactly one attempt per partition of an output commit
// (task.Committer; the scheduler's CanCommit).
type Authorizer interface {
	CanCommit(ctx context.Context, stage, part, attempt int) (bool, error)
}

// PartName is the file name of partition part's output: part-NNNNN.
func PartName(part int) string { return fmt.Sprintf("%s%05d", partPrefix, part) }

func jobTemp(dir string) string { return filepath.Join(dir, Temporary, "0") }

func attemptDir(dir string, stage, part, attempt int) string {
	return filepath.Join(jobTemp(dir), Temporary, fmt.Sprintf("attempt_%d_%05d_%d", stage, part, attempt))
}

func taskDir(dir string, part int) string {
	return filepath.Join(jobTemp(dir), fmt.Sprintf("task_%05d", part))
}

// SetupJob refuses an output directory that holds anything, creates it
// otherwise, and creates its _temporary/0 for the attempts. It reports
// whether it created dir, for AbortJob.
func SetupJob(dir string) (created bool, err error) {
	if dir == "" {
		return false, errors.New("commit: empty output directory name")
	}
	st, err := os.Stat(dir)
	switch {
	case err == nil && !st.IsDir():
		return false, fmt.Errorf("commit: output %s exists and is not a directory", dir)
	case err == nil:
		ents, err := os.ReadDir(dir)
		if err != nil {
			return false, fmt.Errorf("commit: %w", err)
		}
		if len(ents) > 0 {
			return false, fmt.Errorf("commit: output directory %s already exists and is not empty", dir)
		}
	case errors.Is(err, os.ErrNotExist):
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return false, fmt.Errorf("commit: %w", err)
		}
		created = true
	default:
		return false, fmt.Errorf("commit: %w", err)
	}
	if err := os.MkdirAll(jobTemp(dir), 0o755); err != nil {
		if created {
			os.RemoveAll(dir)
		}
		return false, fmt.Errorf("commit: %w", err)
	}
	return created, nil
}

// CommitJob is the job commit: every committed task's part file moves into
// dir, _temporary goes, and _SUCCESS is written last. Every partition
// below parts must have committed. A part file's name is PartName, or
// PartName followed by a suffix (PathWithSuffix): ".gz", ".json.zst".
func CommitJob(dir string, parts int) error {
	for p := range parts {
		name, err := committedPart(dir, p)
		if err != nil {
			return fmt.Errorf("commit: job commit: %w", err)
		}
		if err := os.Rename(filepath.Join(taskDir(dir, p), name), filepath.Join(dir, name)); err != nil {
			return fmt.Errorf("commit: job commit: %w", err)
		}
	}
	if err := os.RemoveAll(filepath.Join(dir, Temporary)); err != nil {
		return fmt.Errorf("commit: job commit: %w", err)
	}
	f, err := os.Create(filepath.Join(dir, Success))
	if err != nil {
		return fmt.Errorf("commit: job commit: %w", err)
	}
	return f.Close()
}

// committedPart returns the name of partition p's committed part file:
// the only file in its task directory, named for p.
func committedPart(dir string, p int) (string, error) {
	ents, err := os.ReadDir(taskDir(dir, p))
	if err != nil {
		return "", err
	}
	if len(ents) != 1 || !isPartName(ents[0].Name(), p) {
		var names []string
		for _, e := range ents {
			names = append(names, e.Name())
		}
		return "", fmt.Errorf("partition %d committed %q, not one part file", p, names)
	}
	return ents[0].Name(), nil
}

// isPartName reports whether name is partition p's part file name:
// PartName(p), possibly followed by a suffix that begins with a dot.
func isPartName(name string, p int) bool {
	rest, ok := strings.CutPrefix(name, PartName(p))
	return ok && (rest == "" || rest[0] == '.' && !strings.ContainsAny(rest, `/\`))
}

// AbortJob removes what a failed job wrote: _temporary, and dir itself
// when SetupJob created it (and nothing else was put there). Part files
// are only ever moved into dir by CommitJob, so dir is left as it was.
func AbortJob(dir string, created bool) {
	os.RemoveAll(filepath.Join(dir, Temporary))
	if created {
		os.Remove(dir)
	}
}

// Attempt is one task attempt's output of one partition.
type Attempt struct {
	dir                  string
	stage, part, attempt int
}

// NewAttempt makes the attempt's temporary directory. The job's
// _temporary/0 must exist: SetupJob made it, and AbortJob removes it when
// the job fails, so an attempt still running then fails here instead of
// bringing it back.
func NewAttempt(dir string, stage, part, attempt int) (*Attempt, error) {
	a := &Attempt{dir: dir, stage: stage, part: part, attempt: attempt}
	ad := attemptDir(dir, stage, part, attempt)
	for _, d := range []string{filepath.Dir(ad), ad} {
		if err := os.Mkdir(d, 0o755); err != nil && !errors.Is(err, os.ErrExist) {
			return nil, fmt.Errorf("commit: %w (was the job aborted?)", err)
		}
	}
	return a, nil
}

// Path is the file the attempt writes its partition to.
func (a *Attempt) Path() string { return a.PathWithSuffix("") }

// PathWithSuffix is Path with suffix (empty, or beginning with a dot:
// ".gz") after the part name; CommitJob keeps it.
func (a *Attempt) PathWithSuffix(suffix string) string {
	return filepath.Join(attemptDir(a.dir, a.stage, a.part, a.attempt), PartName(a.part)+suffix)
}

// Commit asks auth whether this attempt may commit and, if so, renames
// its directory to the partition's committed task directory. An earlier
// attempt may have committed and then been lost before it reported; auth
// authorised this one since, so its output replaces that one (the same
// bytes, by determinism). Denied (false, nil) or failed, the attempt's
// files are removed.
func (a *Attempt) Commit(ctx context.Context, auth Authorizer) (bool, error) {
	ok, err := auth.CanCommit(ctx, a.stage, a.part, a.attempt)
	if err == nil && ok {
		td := taskDir(a.dir, a.part)
		os.RemoveAll(td)
		if err = os.Rename(attemptDir(a.dir, a.stage, a.part, a.attempt), td); err != nil {
			err = fmt.Errorf("commit: committing partition %d: %w", a.part, err)
		}
	}
	if err != nil || !ok {
		a.Abort()
		return false, err
	}
	return true, nil
}

// Abort removes the attempt's files.
func (a *Attempt) Abort() { os.RemoveAll(attemptDir(a.dir, a.stage, a.part, a.attempt)) }

// Committed reports whether dir holds a committed job's output: its
// _SUCCESS.
func Committed(dir string) bool {
	st, err := os.Stat(filepath.Join(dir, Success))
	return err == nil && st.Mode().IsRegular()
}

// Parts returns the paths of dir's part files in partition order; a
// missing dir has none.
func Parts(dir string) ([]string, error) {
	ents, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var paths []string
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), partPrefix) && e.Type().IsRegular() {
			paths = append(paths, filepath.Join(dir, e.Name()))
		}
	}
	slices.Sort(paths) // part-NNNNN: by name is by partition below 100,000
	return paths, nil
}

// Check reports whether dir is exactly one committed job's output of
// parts partitions: part-00000 to the last, nothing more of that name,
// _SUCCESS, and no _temporary. With parts below 0, the number of part
// files found is taken, so a gap in their numbers shows.
func Check(dir string, parts int) error {
	got, err := Parts(dir)
	if err != nil {
		return err
	}
	if parts < 0 {
		parts = len(got)
	}
	var missing, extra []string
	want := map[string]bool{}
	for p := range parts {
		want[PartName(p)] = true
	}
	for _, g := range got {
		name := filepath.Base(g)
		// part-00003.json.gz is partition 3's.
		key := name
		if len(name) > len(PartName(0)) && name[len(PartName(0))] == '.' {
			key = name[:len(PartName(0))]
		}
		if !want[key] {
			extra = append(extra, name)
		}
		delete(want, key)
	}
	for p := range parts {
		if want[PartName(p)] {
			missing = append(missing, PartName(p))
		}
	}
	var problems []string
	if len(missing) > 0 {
		problems = append(problems, fmt.Sprintf("missing %s", strings.Join(cut(missing), ", ")))
	}
	if len(extra) > 0 {
		problems = append(problems, fmt.Sprintf("unexpected %s", strings.Join(cut(extra), ", ")))
	}
	if !Committed(dir) {
		problems = append(problems, "no "+Success)
	}
	if _, err := os.Stat(filepath.Join(dir, Temporary)); err == nil {
		problems = append(problems, Temporary+" left behind")
	}
	if len(problems) > 0 {
		return fmt.Errorf("%w: %s: %s", ErrIncomplete, dir, strings.Join(problems, "; "))
	}
	return nil
}

// cut keeps a message short: the first five names and a count.
func cut(names []string) []string {
	if len(names) <= 5 {
		return names
	}
	return append(names[:5:5], fmt.Sprintf("and %d more", len(names)-5))
}
