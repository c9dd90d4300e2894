package rdd_test

import (
	"context"
	"fmt"
	"log"
	"os"

	"github.com/sluicehq/sluice/driver"
	"github.com/sluicehq/sluice/rdd"
)

var squares = rdd.Func(func(n int) *rdd.RDD[int] {
	nums := make([]int, n)
	for i := range nums {
		nums[i] = i
	}
	return rdd.Map(rdd.Parallelize(nums, rdd.Partitions(4)), func(x int) int { return x * x })
})

func ExampleRDD_Persist() {
	s, err := driver.NewSession(driver.DefaultConfig())
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()

	sq := squares.Invoke(1000).Persist(rdd.MemoryAndDisk)
	n, _ := rdd.Count(ctx, s, sq)                // computes the partitions and keeps them
	first, _ := rdd.Take(ctx, s, sq, 3)          // reads what the executors kept
	if err := sq.Unpersist(ctx, s); err != nil { // drops them everywhere
		log.Fatal(err)
	}
	fmt.Println(n, first)
	// Output: 1000 [0 1 4]
}

func ExampleRDD_Checkpoint() {
	dir, err := os.MkdirTemp("", "checkpoints")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	cfg := driver.DefaultConfig()
	cfg.CheckpointDir = dir // --checkpoint-dir; or s.SetCheckpointDir
	s, err := driver.NewSession(cfg)
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()

	sq := squares.Invoke(10).Checkpoint()
	total, _ := rdd.Reduce(context.Background(), s, sq, func(a, b int) int { return a + b })
	fmt.Println(total, sq.IsCheckpointed())
	// Output: 285 true
}
