// Command pagerank ranks the pages of a link graph by PageRank, as
// Spark's SparkPageRank example does: every iteration, each page gives
// its rank divided among the pages it links to, and a page's new rank is
// 0.15 + 0.85 × what it was given. The links, read once, stay cached
// (Cache) across the iterations.
//
//	pagerank [--iterations N] --output DIR INPUT...
//
// INPUT holds lines "FROM TO" (white-space separated; repeated links count
// once; other lines are skipped). DIR gets page<TAB>rank lines. As in
// Spark's example, a page that nothing links to drops out after the first
// iteration.
//
// Broadcast (rdd.Broadcast) is being added to Sluice; until then the
// ranks travel by join, which is what this example does in any case for
// graphs larger than memory.
package main

import (
	"context"
	"errors"
	"strings"

	"github.com/spf13/pflag"

	"github.com/sluicehq/sluice/driver"
	"github.com/sluicehq/sluice/rdd"
)

// Args are the job's inputs and its number of iterations.
type Args struct {
	Paths      []string
	Iterations int
}

var pageRank = rdd.Func(func(a Args) *rdd.RDD[rdd.Pair[string, float64]] {
	edges := rdd.FlatMap(rdd.TextFile(a.Paths...), func(line string, emit func(rdd.Pair[string, string])) {
		if f := strings.Fields(line); len(f) == 2 {
			emit(rdd.KV(f[0], f[1]))
		}
	})
	links := rdd.GroupByKey(rdd.Distinct(edges)).Cache()
	ranks := rdd.MapValues(links, func([]string) float64 { return 1 })
	for range a.Iterations {
		contribs := rdd.FlatMap(rdd.Join(links, ranks), func(p rdd.Pair[string, rdd.Pair[[]string, float64]], emit func(rdd.Pair[string, float64])) {
			urls, rank := p.Value.Key, p.Value.Value
			for _, u := range urls {
				emit(rdd.KV(u, rank/float64(len(urls))))
			}
		})
		ranks = rdd.MapValues(rdd.ReduceByKey(contribs, func(x, y float64) float64 { return x + y }), func(s float64) float64 {
			return 0.15 + 0.85*s
		})
	}
	return ranks
})

var (
	output     = pflag.String("output", "", "directory for page<TAB>rank part files (required)")
	iterations = pflag.Int("iterations", 10, "iterations of the rank update")
)

func main() {
	driver.Usage("--output DIR INPUT...", "Ranks the pages of the link graph in INPUT (lines FROM TO) by PageRank.")
	driver.Main(func(ctx context.Context, s *driver.Session) error {
		if *output == "" || pflag.NArg() == 0 {
			return errors.New("need --output DIR and at least one INPUT")
		}
		if *iterations < 1 || *iterations > 1000 {
			return errors.New("--iterations must be between 1 and 1000")
		}
		return rdd.SaveAsTextFile(ctx, s, pageRank.Invoke(Args{pflag.Args(), *iterations}), *output)
	})
}
