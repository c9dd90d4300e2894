package simcluster

import (
	"fmt"
	"testing"
	"time"
)

// BenchmarkSimScale measures the scheduler on a job of maps × reduces on
// workers (a tenth of them core, 4 slots each), without reclamation:
// sched-ns/event is the mean real time of one Step, sched-s the total.
// cmd/simbench runs the larger sizes, each within a time cap.
func BenchmarkSimScale(b *testing.B) {
	for _, c := range []struct{ maps, reduces, workers int }{
		{1_000, 1_000, 100},
		{1_000, 1_000, 1_000},
	} {
		b.Run(fmt.Sprintf("maps=%d/reduces=%d/workers=%d", c.maps, c.reduces, c.workers), func(b *testing.B) {
			cfg := DefaultConfig()
			cfg.Maps, cfg.Reduces = c.maps, c.reduces
			cfg.CoreWorkers, cfg.TaskWorkers, cfg.Slots = c.workers/10, c.workers-c.workers/10, 4
			cfg.MapTime, cfg.ReduceTime = time.Minute, time.Minute
			var sched time.Duration
			var events int
			for b.Loop() {
				r, err := Run(cfg)
				if err != nil {
					b.Fatal(err)
				}
				sched += r.SchedCPU
				events += r.Events
			}
			b.ReportMetric(float64(sched.Nanoseconds())/float64(events), "sched-ns/event")
			b.ReportMetric(sched.Seconds()/float64(b.N), "sched-s")
		})
	}
}

// BenchmarkSimReclaim runs the default job with 20% of task nodes
// reclaimed an hour, with and without replicas and notice, and reports
// the virtual job time and the maps recomputed alongside the real cost.
func BenchmarkSimReclaim(b *testing.B) {
	for _, replicas := range []int{0, 1} {
		for _, notice := range []time.Duration{0, 2 * time.Minute} {
			b.Run(fmt.Sprintf("replicas=%d/notice=%v", replicas, notice), func(b *testing.B) {
				cfg := DefaultConfig()
				cfg.Maps, cfg.Reduces, cfg.TaskWorkers = 1_000, 200, 36
				cfg.ReclaimRate, cfg.ShuffleReplicas, cfg.Notice = 0.2, replicas, notice
				var job time.Duration
				recomputed := 0
				seed := uint64(0)
				for b.Loop() {
					seed++
					cfg.Seed = seed
					r, err := Run(cfg)
					if err != nil {
						b.Fatal(err)
					}
					job += r.JobTime
					recomputed += r.Recomputed
				}
				b.ReportMetric(job.Seconds()/float64(b.N), "virtual-s/job")
				b.ReportMetric(float64(recomputed)/float64(b.N), "recomputed/job")
			})
		}
	}
}
