package simcluster

import (
	"fmt"
	"strings"
	"time"
)

// Report says how a simulated job went. All but SchedCPU and
// MapTableHeap (measured on the real machine) are a function of the
// Config: Deterministic returns the report without them.
type Report struct {
	Seed uint64
	Err  string // why the job failed, or ""

	JobTime      time.Duration // virtual: submission to the job's end
	MapStageTime time.Duration // virtual: when every map output had been written once

	Events         int // scheduler.Step calls
	Launched       int // attempts launched, all kinds
	MapLaunched    int
	ResultLaunched int
	Delivered      int // result partitions delivered
	MapsDone       int // map partitions whose output has been written at least once

	Recomputed       int // map tasks run again for lost outputs (Scheduler.Recomputed)
	StagesRecomputed int // complete map stages that lost outputs (Scheduler.StagesRecomputed)
	FetchFailures    int // FetchFailed events reported
	OutputsLost      int // map outputs whose every copy went with its worker
	Unexplained      int // map tasks relaunched while a copy of their output lived and no fetch failure named it: must be 0

	Reclaimed int // task nodes reclaimed (told or gone) before the job ended
	Noticed   int // of them, told in advance (and drained)
	Moved     int // map outputs moved off draining workers

	ExecutorsReplaced int // executors found frozen (clusterpolicy.Frozen) and replaced
	FrozenLost        int // attempts lost with a frozen executor
	Flapping          int // WorkerFlapping events stepped (clusterpolicy.FlapDetector)
	ExcludedLaunches  int // attempts launched on a worker before the end of its flapping exclusion: must be 0

	ShuffleBytes int64 // read by reading attempts from other workers (an attempt that failed a fetch is charged its whole input)
	ReplicaBytes int64 // copied to core nodes by --shuffle-replicas
	MovedBytes   int64 // copied to core nodes by drains

	TraceHash string // sha256 of the trace, when Config.Hash or Config.Trace asked for it

	SchedCPU time.Duration // real time inside Scheduler.Step
	// MapTableHeap, with MeasureHeap, is the heap in use just after the
	// map stage, less before the job: the scheduler's map-output table and
	// the tasks it launched then (today each reduce task carries every
	// map's status), the simulator's own state being allocated before.
	MapTableHeap int64
}

// Deterministic returns r without the figures measured on the machine.
func (r Report) Deterministic() Report {
	r.SchedCPU, r.MapTableHeap = 0, 0
	return r
}

// PerEvent returns the mean real time of one Step.
func (r Report) PerEvent() time.Duration {
	if r.Events == 0 {
		return 0
	}
	return r.SchedCPU / time.Duration(r.Events)
}

// String returns the report in a few lines.
func (r Report) String() string {
	var b strings.Builder
	status := "succeeded"
	if r.Err != "" {
		status = "failed: " + r.Err
	}
	fmt.Fprintf(&b, "seed %d: job %s in %v (maps done at %v)\n", r.Seed, status, r.JobTime.Round(time.Millisecond), r.MapStageTime.Round(time.Millisecond))
	fmt.Fprintf(&b, "tasks: %d launched (%d map, %d result), %d delivered; %d maps recomputed, %d stages recomputed, %d fetch failures, %d outputs lost, %d unexplained\n",
		r.Launched, r.MapLaunched, r.ResultLaunched, r.Delivered, r.Recomputed, r.StagesRecomputed, r.FetchFailures, r.OutputsLost, r.Unexplained)
	fmt.Fprintf(&b, "nodes: %d reclaimed, %d with notice, %d outputs moved\n", r.Reclaimed, r.Noticed, r.Moved)
	if r.ExecutorsReplaced+r.Flapping > 0 {
		fmt.Fprintf(&b, "executors: %d frozen and replaced (%d attempts lost), %d flapping, %d launches while excluded\n", r.ExecutorsReplaced, r.FrozenLost, r.Flapping, r.ExcludedLaunches)
	}
	fmt.Fprintf(&b, "bytes: %s shuffle, %s replicas, %s moved\n", bytesOf(r.ShuffleBytes), bytesOf(r.ReplicaBytes), bytesOf(r.MovedBytes))
	fmt.Fprintf(&b, "scheduler: %d events, %v in Step (%v each)", r.Events, r.SchedCPU.Round(time.Microsecond), r.PerEvent())
	if r.MapTableHeap != 0 {
		fmt.Fprintf(&b, ", map-output table %s", bytesOf(r.MapTableHeap))
	}
	b.WriteString("\n")
	return b.String()
}

func bytesOf(n int64) string {
	switch {
	case n >= 1<<40:
		return fmt.Sprintf("%.1f TiB", float64(n)/(1<<40))
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}
