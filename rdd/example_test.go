package rdd_test

import (
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
