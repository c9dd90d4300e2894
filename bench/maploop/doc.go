// Command maploop is the Sluice wordcount run so that callgrind can count
// the instructions of its map side alone; bench/callgrind.sh drives it:
//
//	GOGC=off GOMAXPROCS=1 GODEBUG=asyncpreemptoff=1 \
//	valgrind --tool=callgrind '--toggle-collect=github.com/sluicehq/sluice/rdd.(*graph).RunMap' \
//		maploop --parallelism 1 --output DIR FILE...
//
// The lineage is examples/wordcount's: TextFile, a FlatMap over
// strings.FieldsSeq, a Map to (word, 1) and ReduceByKey with +. It runs
// through driver.Main in local mode, so its map tasks take the path of any
// local job: scheduler, executor, map-side combine and shuffle writer of
// whatever engine it is built from.
//
// Callgrind follows call stacks per OS thread, and Go moves goroutines
// between threads and stacks under it (see bench/internal/cgpin): without
// care, two runs on the same 200 KB input counted 42.0 and 33.7 million
// instructions. So before the wordcount, a one-task job pins the task
// slot's goroutine to its thread for good, with a stack that does not move
// (the slot runs every task of the session in turn), and after it a second
// one-task job checks that tasks still run on that thread. maploop refuses
// to run with more than one slot or out of process. bench/callgrind.sh
// cross-checks the count against a run that collects everything the
// pinned thread ran between the first map task's start and the first
// result task's.
package main
