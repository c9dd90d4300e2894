package rdd_test

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log"
	"strconv"
	"strings"

	"github.com/sluicehq/sluice/driver"
	"github.com/sluicehq/sluice/rdd"
)

// lengths is registered at init, like every lineage: executors rebuild it
// from its argument.
var lengths = rdd.Func(func(words []string) *rdd.RDD[rdd.Pair[int, []string]] {
	byLen := rdd.Map(rdd.Parallelize(words), func(w string) rdd.Pair[int, string] { return rdd.KV(len(w), w) })
	return rdd.SortByKey(rdd.MapValues(rdd.GroupByKey(byLen), func(ws []string) []string { return ws }))
})

func Example() {
	cfg := driver.DefaultConfig()
	s, err := driver.NewSession(cfg)
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()

	groups, err := rdd.Collect(context.Background(), s, lengths.Invoke(strings.Fields("a bb cc d eee")))
	if err != nil {
		log.Fatal(err)
	}
	for _, g := range groups {
		fmt.Println(g.Key, g.Value)
	}
	// Output:
	// 1 [a d]
	// 2 [bb cc]
	// 3 [eee]
}

// ErrBadRecord is registered, so errors.Is finds it in a task failure that
// comes from a cluster's executor too.
var ErrBadRecord = rdd.RegisterError(errors.New("bad record"))

var parse = rdd.Func(func(lines []string) *rdd.RDD[int] {
	return rdd.Map(rdd.Parallelize(lines), func(l string) int {
		n, err := strconv.Atoi(l)
		if err != nil {
			// The same line fails the same way on every attempt: say so,
			// and the job fails at once instead of after four attempts.
			panic(rdd.Permanent(fmt.Errorf("%w %q", ErrBadRecord, l)))
		}
		return n
	})
})

func ExampleTaskError() {
	s, err := driver.NewSession(driver.DefaultConfig())
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()

	_, err = rdd.Collect(context.Background(), s, parse.Invoke([]string{"1", "two", "3"}))
	var te *rdd.TaskError
	if errors.As(err, &te) {
		fmt.Printf("%s (attempt %d, permanent %v)\n", te.Message, te.Attempt, te.Permanent)
	}
	fmt.Println(errors.Is(err, ErrBadRecord))
	// Output:
	// bad record "two" (attempt 0, permanent true)
	// true
}

// parseErr parses with MapErr: a bad line is an error, not a panic.
var parseErr = rdd.Func(func(lines []string) *rdd.RDD[int] {
	return rdd.MapErr(rdd.Parallelize(lines), func(ctx context.Context, l string) (int, error) {
		n, err := strconv.Atoi(l)
		if err != nil {
			return 0, rdd.Permanent(fmt.Errorf("%w %q", ErrBadRecord, l))
		}
		return n, nil
	})
})

func ExampleMapErr() {
	s, err := driver.NewSession(driver.DefaultConfig())
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()

	ns, err := rdd.Collect(context.Background(), s, parseErr.Invoke([]string{"1", "2", "3"}))
	fmt.Println(ns, err)
	_, err = rdd.Collect(context.Background(), s, parseErr.Invoke([]string{"1", "two"}))
	fmt.Println(errors.Is(err, ErrBadRecord))
	// Output:
	// [1 2 3] <nil>
	// true
}

// multiples emits the multiples of each element, without end: emit
// returning false is what ends the loop.
var multiples = rdd.Func(func(ns []int) *rdd.RDD[int] {
	return rdd.FlatMapErr(rdd.Parallelize(ns), func(ctx context.Context, n int, emit func(int) bool) error {
		for m := n; emit(m); m += n {
		}
		return nil
	})
})

func ExampleFlatMapErr() {
	s, err := driver.NewSession(driver.DefaultConfig())
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()

	first, err := rdd.Take(context.Background(), s, multiples.Invoke([]int{7}), 4)
	fmt.Println(first, err)
	// Output:
	// [7 14 21 28] <nil>
}

// sizes are the sizes of some files, in KiB.
var sizes = rdd.Func(func(kib []float64) *rdd.RDD[float64] { return rdd.Parallelize(kib, rdd.Partitions(3)) })

// larger orders word counts by count: a top-level function captures
// nothing, so on a cluster it runs on the executors.
func larger(a, b rdd.Pair[string, int64]) int { return cmp.Compare(a.Value, b.Value) }

var counts = rdd.Func(func(words []string) *rdd.RDD[rdd.Pair[string, int64]] {
	ones := rdd.Map(rdd.Parallelize(words), func(w string) rdd.Pair[string, int64] { return rdd.KV(w, int64(1)) })
	return rdd.ReduceByKey(ones, func(a, b int64) int64 { return a + b })
})

func ExampleTopFunc() {
	s, err := driver.NewSession(driver.DefaultConfig())
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()

	// Each partition sends only its 2 most frequent words to the driver.
	top, err := rdd.TopFunc(context.Background(), s, counts.Invoke(strings.Fields("a b a c a b d")), 2, larger)
	fmt.Println(top, err)
	// Output:
	// [a	3 b	2] <nil>
}

func ExampleStats() {
	s, err := driver.NewSession(driver.DefaultConfig())
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()

	ctx := context.Background()
	r := sizes.Invoke([]float64{1, 2, 3, 4, 10})
	st, err := rdd.Stats(ctx, s, r)
	fmt.Println(st, err)
	bounds, hist, err := rdd.HistogramEven(ctx, s, r, 3)
	fmt.Println(bounds, hist, err)
	// Output:
	// (count: 5, mean: 4, stdev: 3.1622776601683795, max: 10, min: 1) <nil>
	// [1 4 7 10] [3 1 1] <nil>
}

func ExampleReduce() {
	s, err := driver.NewSession(driver.DefaultConfig())
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()

	// The literal captures nothing, so each task reduces its partition on
	// the executor, and one value per partition reaches the driver.
	total, err := rdd.Reduce(context.Background(), s, sizes.Invoke([]float64{1, 2, 3, 4}), func(a, b float64) float64 { return a + b })
	fmt.Println(total, err)
	// Output:
	// 10 <nil>
}

// shout's argument carries a Broadcast: the driver's run-time table
// reaches every task, on any executor.
type shoutArgs struct {
	Words []string
	Loud  rdd.Broadcast[map[string]string]
}

// unknown counts, in the tasks of the job's result stage, the words the
// table lacks: exactly once per word, whatever the retries.
var unknown = rdd.NewInt64Accumulator("unknown words")

var shout = rdd.Func(func(a shoutArgs) *rdd.RDD[string] {
	return rdd.MapErr(rdd.Parallelize(a.Words, rdd.Partitions(2)), func(ctx context.Context, w string) (string, error) {
		loud, ok := a.Loud.Value()[w]
		if !ok {
			unknown.Add(ctx, 1)
			return w, nil
		}
		return loud, nil
	})
})

func ExampleNewBroadcast() {
	s, err := driver.NewSession(driver.DefaultConfig())
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()

	// Computed in the driver at run time, so executors could not compute
	// it themselves.
	loud := map[string]string{}
	for _, w := range strings.Fields("hello world") {
		loud[w] = strings.ToUpper(w) + "!"
	}
	b, err := rdd.NewBroadcast(s, loud)
	if err != nil {
		log.Fatal(err)
	}
	unknown.Reset()
	out, err := rdd.Collect(context.Background(), s, shout.Invoke(shoutArgs{Words: strings.Fields("hello big world"), Loud: b}))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(out, unknown.Value(), "unknown")
	// Output:
	// [HELLO! big WORLD!] 1 unknown
}

// vowels is a custom partitioner: words starting with a vowel go to
// partition 0, the rest to 1. As a comparable value, it equals any other
// vowels{}, so operations laid out by it again do not shuffle.
type vowels struct{}

func (vowels) NumPartitions() int { return 2 }
func (vowels) Partition(w string) int {
	if strings.ContainsAny(w[:1], "aeiou") {
		return 0
	}
	return 1
}

var wordCounts = rdd.Func(func(words []string) *rdd.RDD[[]rdd.Pair[string, int]] {
	ones := rdd.Map(rdd.Parallelize(words), func(w string) rdd.Pair[string, int] { return rdd.KV(w, 1) })
	byVowel := rdd.PartitionWith(ones, rdd.Partitioner[string](vowels{}))
	// ReduceByKey takes its input's partitioner and finds the records of
	// each key already together: it combines them in place, no shuffle.
	counts := rdd.ReduceByKey(byVowel, func(a, b int) int { return a + b })
	return rdd.Glom(counts)
})

func ExamplePartitionWith() {
	s, err := driver.NewSession(driver.DefaultConfig())
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()
	parts, err := rdd.Collect(context.Background(), s, wordCounts.Invoke(strings.Fields("apple box ant cat box apple")))
	if err != nil {
		log.Fatal(err)
	}
	for i, p := range parts {
		fmt.Printf("%d %v\n", i, p)
	}
	// Output:
	// 0 [apple	2 ant	1]
	// 1 [box	2 cat	1]
}
