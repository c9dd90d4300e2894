// Command join joins two TSV files on their first column, as a
// reduce-side join in Hadoop: both files go through one shuffle keyed by
// (first column, side), partitioned and grouped by the first column, so
// each key's reduce call reads the left file's rows first, then the
// right's, as a stream. The left rows of one key are held while the right
// ones stream past.
//
//	join [--type inner|left|right|full] [--null S] --output DIR LEFT RIGHT
//
// Each output line is the key, the rest of the left row and the rest of
// the right row (what follows the first tab; empty for a one-column row),
// tab-separated, once for every matching pair of rows. An outer join
// writes a row without a match with --null (default \N, as Hive writes
// NULL) in place of the missing side.
package main

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"iter"
	"strings"

	"github.com/spf13/pflag"

	"github.com/sluicehq/sluice/driver"
	"github.com/sluicehq/sluice/mapreduce"
	"github.com/sluicehq/sluice/rdd"
)

// row is an input line and the side it came from: 0 left, 1 right.
type row struct {
	Side int64
	Line string
}

// sideKey sorts a key's left rows before its right rows.
type sideKey struct {
	Key  string
	Side int64
}

// half is what a row contributes to the output.
type half struct {
	Side int64
	Rest string
}

var order = mapreduce.KeyOrder[sideKey]{
	Append: func(dst []byte, k sideKey) []byte {
		return mapreduce.AppendInt64(mapreduce.AppendString(dst, k.Key), k.Side)
	},
	Decode: func(b []byte) (sideKey, error) {
		s, rest, err := mapreduce.ReadString(b)
		if err != nil {
			return sideKey{}, err
		}
		side, _, err := mapreduce.ReadInt64(rest)
		return sideKey{s, side}, err
	},
}

var join = mapreduce.Register(mapreduce.Job[row, sideKey, half, string]{
	Name: "Join",
	Input: func(paths []string) *rdd.RDD[row] {
		left, right := paths[0], paths[1]
		tag := func(side int64) func(string) row { return func(l string) row { return row{side, l} } }
		return rdd.Union(rdd.Map(rdd.TextFile(left), tag(0)), rdd.Map(rdd.TextFile(right), tag(1)))
	},
	Mapper: mapreduce.MapperFunc[row, sideKey, half](func(_ context.Context, r row, emit func(sideKey, half)) error {
		k, rest, _ := strings.Cut(r.Line, "\t")
		emit(sideKey{k, r.Side}, half{r.Side, rest})
		return nil
	}),
	SortKey:     order,
	Grouping:    func(a, b sideKey) bool { return a.Key == b.Key },
	Partitioner: mapreduce.PartitionerFunc[sideKey](func(k sideKey, n int) int { return int(hash(k.Key) % uint64(n)) }),
	Reducer:     mapreduce.ReducerFunc[sideKey, half, string](reduceJoin),
	Output:      mapreduce.TextOutput[string](),
})

func hash(s string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(s))
	return h.Sum64()
}

// reduceJoin joins one key's rows. The flags hold the same values in
// every process: executors get the driver's arguments.
func reduceJoin(_ context.Context, k sideKey, halves iter.Seq[half], emit func(string)) error {
	typ, null := *joinType, *nullText
	var lefts []string
	matched := false
	for h := range halves {
		if h.Side == 0 {
			lefts = append(lefts, h.Rest)
			continue
		}
		if len(lefts) == 0 {
			if typ == "right" || typ == "full" {
				emit(k.Key + "\t" + null + "\t" + h.Rest)
			}
			continue
		}
		matched = true
		for _, l := range lefts {
			emit(k.Key + "\t" + l + "\t" + h.Rest)
		}
	}
	if !matched && (typ == "left" || typ == "full") {
		for _, l := range lefts {
			emit(k.Key + "\t" + l + "\t" + null)
		}
	}
	return nil
}

var (
	output   = pflag.String("output", "", "directory for the joined part files (required)")
	joinType = pflag.String("type", "inner", "inner, left, right or full (outer)")
	nullText = pflag.String("null", `\N`, "what an outer join writes for the missing side")
)

func main() {
	driver.Usage("--output DIR LEFT RIGHT", "Joins two TSV files on their first column into part files in DIR.")
	driver.Main(func(ctx context.Context, s *driver.Session) error {
		if *output == "" || pflag.NArg() != 2 {
			return errors.New("need --output DIR, LEFT and RIGHT")
		}
		switch *joinType {
		case "inner", "left", "right", "full":
		default:
			return fmt.Errorf("--type %q: want inner, left, right or full", *joinType)
		}
		_, err := join.Run(ctx, s, mapreduce.Args{Inputs: pflag.Args(), Output: *output})
		return err
	})
}
