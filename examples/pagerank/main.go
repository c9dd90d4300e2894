// Command pagerank ranks the pages of a link graph by PageRank, as
// Spark's SparkPageRank example does: every iteration, each page gives
// its rank divided among the pages it links to, and a page's new rank is
// 0.15 + 0.85 × what it was given.
//
//	pagerank [--iterations N] --output DIR INPUT...
//
// INPUT holds lines "FROM TO" (white-space separated; repeated links count
// once; other lines are skipped). DIR gets page<TAB>rank lines. As in
// Spark's example, a page that nothing links to drops out after the first
// iteration.
//
// A first job counts each page's out-links in the driver; that table goes
// to the iterations as a Broadcast, fetched once per executor, so the
// links stay a flat list of edges (cached across the iterations with
// Cache) and no page's list of links is ever held whole: each edge's share
// of its page's rank is the rank divided by the page's out-degree from the
// table. The table is one entry per page with links, so it bounds the
// graph to what a Broadcast may hold (rdd.MaxBroadcast, about a million
// pages); past that the job fails saying so.
package main

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/pflag"

	"github.com/sluicehq/sluice/driver"
	"github.com/sluicehq/sluice/rdd"
)

// Args are the job's inputs, its number of iterations, and the out-degree
// of every page with links, computed by a first job.
type Args struct {
	Paths      []string
	Iterations int
	OutDegree  rdd.Broadcast[map[string]int64]
}

// links are the distinct links FROM → TO in the input.
func links(paths []string) *rdd.RDD[rdd.Pair[string, string]] {
	edges := rdd.FlatMap(rdd.TextFile(paths...), func(line string, emit func(rdd.Pair[string, string])) {
		if f := strings.Fields(line); len(f) == 2 {
			emit(rdd.KV(f[0], f[1]))
		}
	})
	return rdd.Distinct(edges)
}

// linkGraph is the links alone, for the first job, which counts them.
var linkGraph = rdd.Func(func(paths []string) *rdd.RDD[rdd.Pair[string, string]] {
	return links(paths)
})

var pageRank = rdd.Func(func(a Args) *rdd.RDD[rdd.Pair[string, float64]] {
	edges := links(a.Paths).Cache()
	ranks := rdd.Map(rdd.Distinct(rdd.Keys(edges)), func(p string) rdd.Pair[string, float64] { return rdd.KV(p, 1.0) })
	for range a.Iterations {
		contribs := rdd.MapErr(rdd.Join(edges, ranks), func(_ context.Context, e rdd.Pair[string, rdd.Pair[string, float64]]) (rdd.Pair[string, float64], error) {
			n := a.OutDegree.Value()[e.Key]
			if n <= 0 {
				// The table came from the same input: a page missing
				// from it means the input changed under the job.
				return rdd.Pair[string, float64]{}, rdd.Permanent(fmt.Errorf("page %q links to %q but has no out-degree in the broadcast table: did the input change during the job?", e.Key, e.Value.Key))
			}
			return rdd.KV(e.Value.Key, e.Value.Value/float64(n)), nil
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
		degree, err := rdd.CountByKey(ctx, s, linkGraph.Invoke(pflag.Args()))
		if err != nil {
			return err
		}
		b, err := rdd.NewBroadcast(s, degree)
		if err != nil {
			return err
		}
		defer b.Destroy()
		return rdd.SaveAsTextFile(ctx, s, pageRank.Invoke(Args{pflag.Args(), *iterations, b}), *output)
	})
}
