package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"syscall"

	"github.com/spf13/pflag"

	"github.com/sluicehq/sluice/bench/internal/cgpin"
	"github.com/sluicehq/sluice/driver"
	"github.com/sluicehq/sluice/rdd"
)

// wordCount is examples/wordcount's lineage for files.
var wordCount = rdd.Func(func(paths []string) *rdd.RDD[rdd.Pair[string, int64]] {
	words := rdd.FlatMap(rdd.TextFile(paths...), tokenize)
	ones := rdd.Map(words, func(w string) rdd.Pair[string, int64] { return rdd.KV(w, int64(1)) })
	return rdd.ReduceByKey(ones, func(a, b int64) int64 { return a + b })
})

// tokenize is examples/wordcount's FlatMap function (a literal there),
// named so that profiles name it.
func tokenize(line string, emit func(string)) {
	for w := range strings.FieldsSeq(line) {
		emit(w)
	}
}

// pin pins the goroutine that runs its one task (the task slot's) to its
// OS thread for good, with a stack that does not move (cgpin.Pin), and
// returns the thread's id; lock false only reports the id.
var pin = rdd.Func(func(lock bool) *rdd.RDD[int] {
	return rdd.Map(rdd.Parallelize([]int{0}), func(int) int {
		if lock {
			cgpin.Pin() // never unlocked: the slot stays on this thread
		}
		return syscall.Gettid()
	})
})

var output = pflag.String("output", "", "directory for the part files (required)")

func main() {
	driver.Usage("--parallelism 1 --output DIR FILE...", "Counts the words of FILE as examples/wordcount does, with the task slot pinned to one thread, for callgrind (see bench/callgrind.sh).")
	driver.Main(func(ctx context.Context, s *driver.Session) error {
		if n := s.Config().Parallelism; n != 1 || !s.InProcess() {
			return fmt.Errorf("run it in local mode with --parallelism 1 (it has %d slots, in process: %v): callgrind must see every task on one thread", n, s.InProcess())
		}
		if *output == "" || len(pflag.Args()) == 0 {
			return errors.New("give --output DIR and at least one input file")
		}
		before, err := threadOf(ctx, s, true)
		if err != nil {
			return err
		}
		if err := rdd.SaveAsTextFile(ctx, s, wordCount.Invoke(pflag.Args()), *output); err != nil {
			return err
		}
		after, err := threadOf(ctx, s, false)
		if err != nil {
			return err
		}
		if before != after {
			return fmt.Errorf("the task slot moved from thread %d to %d: the engine no longer runs a session's tasks on one goroutine, so pinning it does not hold and callgrind would miss work", before, after)
		}
		return nil
	})
}

// threadOf runs pin's one task and returns the thread it ran on.
func threadOf(ctx context.Context, s *driver.Session, lock bool) (int, error) {
	ids, err := rdd.Collect(ctx, s, pin.Invoke(lock))
	if err != nil {
		return 0, err
	}
	if len(ids) != 1 {
		return 0, fmt.Errorf("the pinning job returned %d thread ids, want 1", len(ids))
	}
	return ids[0], nil
}
