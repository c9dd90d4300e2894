package main

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// budget is a recorded measurement that --check holds new ones to. Its file
// is "key value" lines; lines starting with # are comments.
type budget struct {
	Corpus, Env, Recorded string // what and how it measured, for the reader
	Bytes, Words          int64  // the corpus: a check on another one is an error
	Sluice, Baseline      int64  // instructions
	Tolerance             float64
}

const budgetHeader = `# Instruction counts of wordcount's map side (bench/maploop) and of the
# baseline's counting core on the same corpus, under callgrind. Written by
# bench/callgrind.sh --record; bench/callgrind.sh --check fails when sluice
# exceeds sluice_instructions by more than tolerance_percent (see
# bench/cgreport/doc.go). Re-record when a change makes the map side cheaper,
# and say so in the commit.
`

func (b budget) String() string {
	var s strings.Builder
	s.WriteString(budgetHeader)
	fmt.Fprintf(&s, "recorded %s\n", b.Recorded)
	if b.Env != "" {
		fmt.Fprintf(&s, "env %s\n", b.Env)
	}
	if b.Corpus != "" {
		fmt.Fprintf(&s, "corpus %s\n", b.Corpus)
	}
	fmt.Fprintf(&s, "bytes %d\nwords %d\n", b.Bytes, b.Words)
	fmt.Fprintf(&s, "sluice_instructions %d\nbaseline_instructions %d\n", b.Sluice, b.Baseline)
	fmt.Fprintf(&s, "tolerance_percent %g\n", b.Tolerance)
	return s.String()
}

// parseBudget parses a budget file; every number is required.
func parseBudget(text string) (budget, error) {
	var b budget
	seen := map[string]bool{}
	for i, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		key, val, _ := strings.Cut(line, " ")
		val = strings.TrimSpace(val)
		if seen[key] {
			return b, fmt.Errorf("line %d: %s given twice", i+1, key)
		}
		seen[key] = true
		var err error
		switch key {
		case "recorded":
			b.Recorded = val
		case "env":
			b.Env = val
		case "corpus":
			b.Corpus = val
		case "bytes":
			b.Bytes, err = positive(val)
		case "words":
			b.Words, err = positive(val)
		case "sluice_instructions":
			b.Sluice, err = positive(val)
		case "baseline_instructions":
			b.Baseline, err = positive(val)
		case "tolerance_percent":
			b.Tolerance, err = strconv.ParseFloat(val, 64)
			if err == nil && (b.Tolerance <= 0 || b.Tolerance >= 100 || math.IsNaN(b.Tolerance)) {
				err = errors.New("want a percentage above 0 and below 100")
			}
		default:
			return b, fmt.Errorf("line %d: unknown key %q", i+1, key)
		}
		if err != nil {
			return b, fmt.Errorf("line %d: %s %q: %w", i+1, key, val, err)
		}
	}
	for _, k := range []string{"bytes", "words", "sluice_instructions", "baseline_instructions", "tolerance_percent"} {
		if !seen[k] {
			return b, fmt.Errorf("no %s line", k)
		}
	}
	return b, nil
}

func positive(s string) (int64, error) {
	n, err := strconv.ParseInt(s, 10, 64)
	if err == nil && n <= 0 {
		err = errors.New("want a positive number")
	}
	return n, err
}

// check holds m to the budget: ok is false for a regression, and lines say
// what was compared. An error means the two cannot be compared (another
// corpus).
func (b budget) check(m measured) (ok bool, lines []string, err error) {
	if m.Bytes != b.Bytes || m.Words != b.Words {
		return false, nil, fmt.Errorf("recorded on %d bytes and %d words, but this corpus has %d bytes and %d words: check on the same corpus (SIZE, SEED, VOCAB) or record a budget for this one",
			b.Bytes, b.Words, m.Bytes, m.Words)
	}
	tol := b.Tolerance / 100
	sluice := change(m.Sluice, b.Sluice)
	base := change(m.Baseline, b.Baseline)
	lines = append(lines, fmt.Sprintf("budget: sluice %d, baseline %d instructions, tolerance %g%% (recorded %s)", b.Sluice, b.Baseline, b.Tolerance, b.Recorded))
	if math.Abs(base) > tol {
		// The baseline did not change, so the measurement did: compare
		// what the change cancels out of.
		ratio := (float64(m.Sluice)/float64(m.Baseline))/(float64(b.Sluice)/float64(b.Baseline)) - 1
		lines = append(lines, fmt.Sprintf("the baseline moved %+.2f%% from its budget: the toolchain, the CPU or the corpus generator changed, so the ratio is checked instead of the count; record a new budget here", 100*base))
		ok = ratio <= tol
		lines = append(lines, verdict("sluice/baseline ratio", ratio, tol, ok))
		return ok, lines, nil
	}
	ok = sluice <= tol
	lines = append(lines, verdict("sluice instructions", sluice, tol, ok))
	return ok, lines, nil
}

// change is how far got is from want, as a fraction of want.
func change(got, want int64) float64 { return float64(got)/float64(want) - 1 }

func verdict(what string, c, tol float64, ok bool) string {
	switch {
	case !ok:
		return fmt.Sprintf("FAIL: %s %+.2f%% over budget (tolerance %g%%): find the regression, or record a new budget and say why in the commit", what, 100*c, 100*tol)
	case c < -tol:
		return fmt.Sprintf("ok: %s %+.2f%% against budget; below the tolerance, so record the gain (bench/callgrind.sh --record)", what, 100*c)
	default:
		return fmt.Sprintf("ok: %s %+.2f%% against budget (tolerance %g%%)", what, 100*c, 100*tol)
	}
}
