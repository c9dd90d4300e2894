// Command topk measures the bar for distributed top-k: the words
// of a corpus are counted (as examples/wordcount does), then rdd.TopFunc
// selects the k most frequent, and a Runner between the action and the
// session counts the records in every result that reaches the driver:
//
//	go run ./bench/topk [driver flags] [--k 10] FILE...
//
// It prints one JSON line: the top k, the distinct words, the partitions
// of the counted RDD, the records that reached the driver for TopFunc
// and the bar, k × partitions. It exits 1 when the bar is not met.
package main

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"sync"

	"github.com/spf13/pflag"

	"github.com/sluicehq/sluice/driver"
	"github.com/sluicehq/sluice/internal/block"
	"github.com/sluicehq/sluice/internal/task"
	"github.com/sluicehq/sluice/rdd"
)

var wordCount = rdd.Func(func(paths []string) *rdd.RDD[rdd.Pair[string, int64]] {
	words := rdd.FlatMap(rdd.TextFile(paths...), func(line string, emit func(string)) {
		for w := range strings.FieldsSeq(line) {
			emit(w)
		}
	})
	ones := rdd.Map(words, func(w string) rdd.Pair[string, int64] { return rdd.KV(w, int64(1)) })
	return rdd.ReduceByKey(ones, func(a, b int64) int64 { return a + b })
})

// byCount orders by count, then by word descending, so the top has the
// most frequent words first and, among equal counts, the first word.
func byCount(a, b rdd.Pair[string, int64]) int {
	if c := cmp.Compare(a.Value, b.Value); c != 0 {
		return c
	}
	return cmp.Compare(b.Key, a.Key)
}

// counting counts the framed records in the results that reach the driver.
type counting struct {
	run    rdd.Runner
	mu     sync.Mutex
	frames int
}

func (c *counting) RunJob(ctx context.Context, job *task.Job) error {
	j := *job
	j.Result = func(p int, data []byte) error {
		n := 0
		for b := data; len(b) > 0; n++ {
			_, rest, err := block.NextFrame(b)
			if err != nil {
				return err
			}
			b = rest
		}
		c.mu.Lock()
		c.frames += n
		c.mu.Unlock()
		return job.Result(p, data)
	}
	return c.run.RunJob(ctx, &j)
}

var k = pflag.Int("k", 10, "how many of the most frequent words")

type report struct {
	Top        []string `json:"top"`
	Words      int64    `json:"distinct_words"`
	Partitions int      `json:"partitions"`
	Records    int      `json:"records_to_driver"`
	Bar        int      `json:"bar"`
}

func main() {
	driver.Main(func(ctx context.Context, s *driver.Session) error {
		counts := wordCount.Invoke(pflag.Args())
		c := &counting{run: s}
		top, err := rdd.TopFunc(ctx, c, counts, *k, byCount)
		if err != nil {
			return err
		}
		words, err := rdd.Count(ctx, s, counts)
		if err != nil {
			return err
		}
		r := report{Words: words, Partitions: counts.NumPartitions(), Records: c.frames / 2, Bar: *k * counts.NumPartitions()}
		for _, p := range top {
			r.Top = append(r.Top, fmt.Sprintf("%s %d", p.Key, p.Value))
		}
		if err := json.NewEncoder(os.Stdout).Encode(r); err != nil {
			return err
		}
		if r.Records > r.Bar {
			return fmt.Errorf("%d records reached the driver, above the bar of %d", r.Records, r.Bar)
		}
		return nil
	})
}
