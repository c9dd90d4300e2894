// Command shufsluice runs the shuffle benchmarks' jobs on Sluice, with the
// output of the hand-written bench/shufbase:
//
//	shufsluice [flags] --job groupbykey --output DIR PAIRS
//	shufsluice [flags] --job join --output DIR LEFT RIGHT
//	shufsluice [flags] --job distinct --output DIR FILE...
//
// Input lines are "KEY\tVALUE" (bench/genpairs writes them); a line
// without a tab is a key with an empty value.
//
//   - groupbykey: rdd.GroupByKey of (key, value as uint64), then per key
//     "KEY\tCOUNT\tCHECKSUM", CHECKSUM the sum modulo 2**64 of mix(v) over
//     the group (mix is SplitMix64's finalizer), whatever the values' order.
//   - join: rdd.Join of the two files' (key, value) pairs, written as
//     "KEY\tLEFTVALUE\tRIGHTVALUE".
//   - distinct: rdd.Distinct of the lines.
//
// The driver's flags apply (--memory, --parallelism, --local-cluster,
// --join HOST:PORT, ...).
package main

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/spf13/pflag"

	"github.com/sluicehq/sluice/driver"
	"github.com/sluicehq/sluice/rdd"
)

// pairs reads "key\tvalue" lines.
func pairs(path string) *rdd.RDD[rdd.Pair[string, string]] {
	return rdd.Map(rdd.TextFile(path), func(l string) rdd.Pair[string, string] {
		k, v, _ := strings.Cut(l, "\t")
		return rdd.KV(k, v)
	})
}

// mix is SplitMix64's finalizer.
func mix(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	return x ^ x>>31
}

var groupByKey = rdd.Func(func(path string) *rdd.RDD[rdd.Pair[string, rdd.Pair[int64, uint64]]] {
	nums := rdd.MapErr(rdd.TextFile(path), func(_ context.Context, l string) (rdd.Pair[string, uint64], error) {
		k, v, _ := strings.Cut(l, "\t")
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			return rdd.Pair[string, uint64]{}, rdd.Permanent(fmt.Errorf("line %q: the value is not an unsigned decimal number", l))
		}
		return rdd.KV(k, n), nil
	})
	return rdd.MapValues(rdd.GroupByKey(nums), func(vs []uint64) rdd.Pair[int64, uint64] {
		var sum uint64
		for _, v := range vs {
			sum += mix(v)
		}
		return rdd.KV(int64(len(vs)), sum)
	})
})

var join = rdd.Func(func(paths [2]string) *rdd.RDD[rdd.Pair[string, rdd.Pair[string, string]]] {
	return rdd.Join(pairs(paths[0]), pairs(paths[1]))
})

var distinct = rdd.Func(func(paths []string) *rdd.RDD[string] {
	return rdd.Distinct(rdd.TextFile(paths...))
})

var (
	job    = pflag.String("job", "", "groupbykey, join or distinct (required)")
	output = pflag.String("output", "", "directory for the part files (required)")
)

func main() {
	driver.Usage("--job groupbykey|join|distinct --output DIR INPUT...",
		"Runs a shuffle benchmark job: groupbykey PAIRS, join LEFT RIGHT or distinct FILE..., writing part files into DIR.")
	driver.Main(func(ctx context.Context, s *driver.Session) error {
		args := pflag.Args()
		if *output == "" || len(args) == 0 {
			return errors.New("need --job, --output DIR and input files")
		}
		switch *job {
		case "groupbykey":
			if len(args) != 1 {
				return fmt.Errorf("groupbykey: want one input file, not %d", len(args))
			}
			return rdd.SaveAsTextFile(ctx, s, groupByKey.Invoke(args[0]), *output)
		case "join":
			if len(args) != 2 {
				return fmt.Errorf("join: want two input files, LEFT and RIGHT, not %d", len(args))
			}
			return rdd.SaveAsTextFile(ctx, s, join.Invoke([2]string{args[0], args[1]}), *output)
		case "distinct":
			return rdd.SaveAsTextFile(ctx, s, distinct.Invoke(args), *output)
		}
		return fmt.Errorf("--job %q: want groupbykey, join or distinct", *job)
	})
}
