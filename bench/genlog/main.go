// Command genlog writes the event log of a synthetic application, for
// measuring `sluice history`: a job of --tasks map tasks and --tasks/10
// reduce tasks on --workers workers, with task metrics, as a driver writes
// it (segments, checkpoints, status).
package main

import (
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"time"

	"github.com/sluicehq/sluice/internal/obs"
)

func main() {
	dir := flag.String("dir", "", "event-log directory to write the application under (required)")
	id := flag.String("app", "app-bench", "application id")
	tasks := flag.Int("tasks", 100_000, "map tasks; a tenth as many reduce tasks")
	workers := flag.Int("workers", 100, "workers")
	flag.Parse()
	if *dir == "" {
		fmt.Fprintln(os.Stderr, "genlog: --dir is required")
		os.Exit(2)
	}
	if err := write(*dir, *id, *tasks, *workers); err != nil {
		fmt.Fprintln(os.Stderr, "genlog:", err)
		os.Exit(1)
	}
}

func write(dir, id string, maps, workers int) error {
	w, err := obs.CreateLog(dir, obs.App{ID: id, Name: "genlog"}, obs.LogOptions{})
	if err != nil {
		return err
	}
	rng := rand.New(rand.NewPCG(1, 2))
	now := time.Date(2026, 11, 30, 0, 0, 0, 0, time.UTC).UnixMilli()
	emit := func(e obs.Event) error {
		now += int64(rng.IntN(3))
		e.Time = now
		return w.Write(e)
	}
	must := func(err error) {
		if err != nil {
			panic(err)
		}
	}
	must(emit(obs.Event{Kind: obs.AppStart, App: &obs.App{ID: id, Name: "genlog", Mode: "cluster"}}))
	for i := range workers {
		must(emit(obs.Event{Kind: obs.WorkerAdded, Worker: &obs.Worker{Name: fmt.Sprintf("w%d", i), Role: "task", Slots: 4}}))
	}
	reduces := max(maps/10, 1)
	must(emit(obs.Event{Kind: obs.JobStart, Job: &obs.Job{ID: 1, Name: "SaveAsTextFile at main.go:55", Stages: []int{0, 1},
		Graph: []obs.Stage{{ID: 0, Job: 1, Kind: "result", Tasks: reduces, Parents: []int{1}, Name: "ReduceByKey main.go:45"},
			{ID: 1, Job: 1, Kind: "map", Tasks: maps, Name: "TextFile main.go:37 → FlatMap main.go:39 → Map main.go:44"}}}}))
	id64 := int64(0)
	stage := func(st, n int) {
		must(emit(obs.Event{Kind: obs.StageSubmitted, Stage: &obs.Stage{ID: st, Job: 1, Tasks: n}}))
		for p := range n {
			id64++
			wk := fmt.Sprintf("w%d", rng.IntN(workers))
			must(emit(obs.Event{Kind: obs.TaskStart, Task: &obs.Task{ID: id64, Stage: st, Partition: p, Worker: wk, Role: "task"}}))
			must(emit(obs.Event{Kind: obs.TaskEnd, Task: &obs.Task{ID: id64, Stage: st, Partition: p, Worker: wk, Role: "task", Status: obs.Succeeded,
				Metrics: obs.Metrics{Duration: 500 + rng.Int64N(2000), SchedDelay: rng.Int64N(20), RecordsIn: rng.Int64N(1e6), RecordsOut: rng.Int64N(1e5),
					ShuffleRead: rng.Int64N(1 << 24), ShuffleWrite: rng.Int64N(1 << 24), FetchWait: rng.Int64N(50)}}}))
		}
		must(emit(obs.Event{Kind: obs.StageCompleted, Stage: &obs.Stage{ID: st, Status: obs.Succeeded}}))
	}
	stage(1, maps)
	stage(0, reduces)
	must(emit(obs.Event{Kind: obs.JobEnd, Job: &obs.Job{ID: 1, Status: obs.Succeeded}}))
	must(emit(obs.Event{Kind: obs.AppEnd, App: &obs.App{Status: obs.Succeeded}}))
	return w.Close(obs.Succeeded, time.UnixMilli(now))
}
