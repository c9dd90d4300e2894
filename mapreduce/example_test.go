package mapreduce_test

import (
	"context"
	"fmt"
	"iter"
	"log"
	"os"
	"path/filepath"
	"strings"

	"github.com/sluicehq/sluice/driver"
	"github.com/sluicehq/sluice/mapreduce"
	"github.com/sluicehq/sluice/rdd"
)

// letters counts the words of its input by first letter. It is registered
// at package level, like an rdd.Func, so executors rebuild it.
var letters = mapreduce.Register(mapreduce.Job[string, string, int64, rdd.Pair[string, int64]]{
	Input: mapreduce.TextInput,
	Mapper: mapreduce.MapperFunc[string, string, int64](func(ctx context.Context, line string, emit func(string, int64)) error {
		mapreduce.Count(ctx, "example", "lines", 1)
		for w := range strings.FieldsSeq(line) {
			emit(w[:1], 1)
		}
		return nil
	}),
	Reducer: mapreduce.ReducerFunc[string, int64, rdd.Pair[string, int64]](func(_ context.Context, letter string, ones iter.Seq[int64], emit func(rdd.Pair[string, int64])) error {
		var n int64
		for one := range ones { // a stream: nothing is collected
			n += one
		}
		emit(rdd.KV(letter, n))
		return nil
	}),
	Output:   mapreduce.TextOutput[rdd.Pair[string, int64]](),
	Reducers: 1,
})

func Example() {
	dir, err := os.MkdirTemp("", "mapreduce-example-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	in := filepath.Join(dir, "in.txt")
	os.WriteFile(in, []byte("apple avocado\nbanana\ncherry apricot\n"), 0o644)

	s, err := driver.NewSession(driver.DefaultConfig())
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()
	counters, err := letters.Run(context.Background(), s, mapreduce.Args{Inputs: []string{in}, Output: filepath.Join(dir, "out")})
	if err != nil {
		log.Fatal(err)
	}
	out, _ := os.ReadFile(filepath.Join(dir, "out", "part-00000"))
	fmt.Print(string(out))
	fmt.Println("lines:", counters.Get("example", "lines"))
	fmt.Println("groups:", counters.Get(mapreduce.TaskCounters, mapreduce.ReduceInputGroups))
	// Output:
	// a	3
	// b	1
	// c	1
	// lines: 3
	// groups: 3
}
