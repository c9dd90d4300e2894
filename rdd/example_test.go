package rdd_test

import (
	"context"
	"fmt"
	"log"
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
