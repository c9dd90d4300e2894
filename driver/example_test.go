package driver_test

import (
	"context"
	"fmt"
	"log"

	"github.com/sluicehq/sluice/driver"
	"github.com/sluicehq/sluice/rdd"
)

var squares = rdd.Func(func(n int) *rdd.RDD[int] {
	nums := make([]int, n)
	for i := range nums {
		nums[i] = i + 1
	}
	return rdd.Map(rdd.Parallelize(nums, rdd.Partitions(4)), func(x int) int { return x * x })
})

// A Session runs jobs in local mode; driver.Main opens one from the
// command line's flags.
func ExampleSession() {
	cfg := driver.DefaultConfig()
	cfg.Parallelism = 2
	s, err := driver.NewSession(cfg)
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()
	n, err := rdd.Count(context.Background(), s, squares.Invoke(10))
	fmt.Println(n, err)
	sum, err := rdd.Reduce(context.Background(), s, squares.Invoke(10), func(a, b int) int { return a + b })
	fmt.Println(sum, err)
	// Output:
	// 10 <nil>
	// 385 <nil>
}
