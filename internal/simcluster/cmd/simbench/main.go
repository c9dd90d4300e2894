// Command simbench measures the scheduler on simulated clusters and prints
// two Markdown tables for BENCHMARKS.md:
//
//   - scale: scheduler CPU in total and per event, and the heap the
//     map-output table takes, for jobs of 1k to 100k map tasks × 1k and 10k
//     reduce tasks on 100 and 1,000 workers;
//   - reclaim: virtual job time and recomputation of one job under spot
//     reclamation of 0, 5 and 20% of task nodes an hour, with and without
//     --shuffle-replicas 1, with a 2-minute notice (drain) and without.
//
// Each run is a child process with GOMAXPROCS=1 (the scheduler on one
// core, the garbage collector included), stopped at -cap of wall time or
// -mem of heap and reported as "> cap":
//
//	go run ./internal/simcluster/cmd/simbench              # both tables
//	go run ./internal/simcluster/cmd/simbench -only scale -cap 30s
//	go run ./internal/simcluster/cmd/simbench -only reclaim -seeds 5
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"runtime/metrics"
	"strings"
	"time"

	"github.com/sluicehq/sluice/internal/simcluster"
)

// exitMem is the child's exit status when its heap passed -mem.
const exitMem = 3

type params struct {
	Maps, Reduces, Workers int
	Slots                  int
	MapTime, ReduceTime    time.Duration
	MapOutputBytes         int64
	Rate                   float64 // reclaimed per task node per hour
	Replicas               int
	Notice                 time.Duration
	Seed                   uint64
	Heap                   bool
}

func (p params) config() simcluster.Config {
	cfg := simcluster.DefaultConfig()
	cfg.Seed = p.Seed
	cfg.Maps, cfg.Reduces = p.Maps, p.Reduces
	cfg.CoreWorkers = max(1, p.Workers/10)
	cfg.TaskWorkers = p.Workers - cfg.CoreWorkers
	cfg.Slots = p.Slots
	cfg.MapTime, cfg.ReduceTime = p.MapTime, p.ReduceTime
	cfg.MapOutputBytes = p.MapOutputBytes
	cfg.ReclaimRate, cfg.ShuffleReplicas, cfg.Notice = p.Rate, p.Replicas, p.Notice
	cfg.MeasureHeap = p.Heap
	return cfg
}

type result struct {
	Report simcluster.Report
	Err    string
	Wall   time.Duration
	CPU    time.Duration // the child's user and system time: robust to other load on the machine, unlike Wall and SchedCPU
	Over   string        // "time" or "mem" when the run was stopped
}

func main() {
	child := flag.String("child", "", "run one simulation described by this JSON and print its result (internal)")
	childCap := flag.Duration("child-cap", 0, "the child's wall cap (internal)")
	only := flag.String("only", "", "scale or reclaim: print one table")
	capTime := flag.Duration("cap", 90*time.Second, "wall time after which a run stops and is reported as > cap")
	capMem := flag.Int64("mem", 4<<30, "heap bytes after which a run stops and is reported as > cap")
	seeds := flag.Int("seeds", 3, "seeds averaged in the reclaim table")
	flag.Parse()
	if *child != "" {
		runChild(*child, *childCap, *capMem)
		return
	}
	fmt.Printf("Measured with simbench on %s/%s, %d cores (runs use GOMAXPROCS=1), %s; cap %v wall, %s heap.\n\n",
		runtime.GOOS, runtime.GOARCH, runtime.NumCPU(), runtime.Version(), *capTime, gib(*capMem))
	if *only == "" || *only == "scale" {
		scale(*capTime, *capMem)
	}
	if *only == "" || *only == "reclaim" {
		reclaim(*capTime, *capMem, *seeds)
	}
}

// runChild runs one simulation and prints its result as JSON, stopping
// it at capTime with the figures so far; it exits with exitMem if the heap
// passes capMem first.
func runChild(spec string, capTime time.Duration, capMem int64) {
	var p params
	if err := json.Unmarshal([]byte(spec), &p); err != nil {
		fmt.Fprintln(os.Stderr, "simbench:", err)
		os.Exit(2)
	}
	go func() {
		s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
		for range time.Tick(100 * time.Millisecond) {
			metrics.Read(s)
			if int64(s[0].Value.Uint64()) > capMem {
				os.Exit(exitMem)
			}
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), capTime)
	defer cancel()
	t0 := time.Now()
	r, err := simcluster.RunContext(ctx, p.config())
	res := result{Report: r, Wall: time.Since(t0)}
	switch {
	case ctx.Err() != nil:
		res.Over = "time"
	case err != nil:
		res.Err = err.Error()
	}
	json.NewEncoder(os.Stdout).Encode(res)
}

// run runs p in a child process on one core, within the caps. The child
// stops itself at capTime and reports how far it got; it is killed if it
// has not answered well after that.
func run(p params, capTime time.Duration, capMem int64) result {
	self, err := os.Executable()
	if err != nil {
		return result{Err: err.Error()}
	}
	spec, _ := json.Marshal(p)
	ctx, cancel := context.WithTimeout(context.Background(), capTime+time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, self, "-child", string(spec), "-child-cap", capTime.String(), "-mem", fmt.Sprint(capMem))
	cmd.Env = append(os.Environ(), "GOMAXPROCS=1")
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if ctx.Err() != nil {
		return result{Over: "time"}
	}
	var exit *exec.ExitError
	if errors.As(err, &exit) && exit.ExitCode() == exitMem {
		return result{Over: "mem"}
	}
	if err != nil {
		return result{Err: err.Error()}
	}
	var res result
	if err := json.Unmarshal(out, &res); err != nil {
		return result{Err: err.Error()}
	}
	res.CPU = cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
	return res
}

func scale(capTime time.Duration, capMem int64) {
	fmt.Println("Scheduler cost, no reclamation: 4 slots a worker, a tenth of the workers core; tasks of 1 min ± 30%, 2% stragglers ×5.")
	fmt.Println()
	fmt.Println("Step is the real time inside Scheduler.Step; process is the child's CPU time, simulator and GC included, which other load on the machine does not inflate.")
	fmt.Println()
	fmt.Println("| maps | reduces | workers | events | Step | per event | map-output heap | job (virtual) | process CPU |")
	fmt.Println("|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
	for _, m := range []int{1_000, 10_000, 100_000} {
		for _, r := range []int{1_000, 10_000} {
			for _, w := range []int{100, 1_000} {
				p := params{Maps: m, Reduces: r, Workers: w, Slots: 4, MapTime: time.Minute, ReduceTime: time.Minute, MapOutputBytes: 64 << 20, Seed: 1, Heap: true}
				res := run(p, capTime, capMem)
				row := fmt.Sprintf("| %s | %s | %s |", count(m), count(r), count(w))
				rep := res.Report
				switch {
				case res.Over == "time" && rep.Events > 0:
					// How far it got: the cost per event so far shows the growth.
					heap := "—"
					if rep.MapTableHeap != 0 {
						heap = mib(rep.MapTableHeap)
					}
					fmt.Printf("%s > %d | > %s | %s | %s | stopped at the cap with %d of %d maps done | %s |\n", row, rep.Events, secs(rep.SchedCPU),
						micros(rep.PerEvent()), heap, rep.MapsDone, m, secs(res.CPU))
				case res.Over == "time":
					fmt.Printf("%s — | > %v | — | — | — | > %v |\n", row, capTime, capTime)
				case res.Over == "mem":
					fmt.Printf("%s — | — | — | > %s | — | — |\n", row, gib(capMem))
				case res.Err != "":
					fmt.Printf("%s failed: %s |||||\n", row, strings.ReplaceAll(res.Err, "|", "/"))
				default:
					fmt.Printf("%s %d | %s | %s | %s | %s | %s |\n", row, rep.Events, secs(rep.SchedCPU), micros(rep.PerEvent()),
						mib(rep.MapTableHeap), rep.JobTime.Round(time.Second), secs(res.CPU))
				}
			}
		}
	}
	fmt.Println()
}

func reclaim(capTime time.Duration, capMem int64, seeds int) {
	base := params{Maps: 2_000, Reduces: 500, Workers: 50, Slots: 4, MapTime: 3 * time.Minute, ReduceTime: 2 * time.Minute, MapOutputBytes: 256 << 20}
	fmt.Printf("Spot reclamation: %d maps × %d reduces on %d workers (%d core), %d slots each; maps of %v, reduces of %v plus fetches, %s a map output, 100 MiB/s a fetch or copy; a reclaimed node is replaced 3 min later. Mean of %d seeds (the same reclamation times in every row).\n\n",
		base.Maps, base.Reduces, base.Workers, base.config().CoreWorkers, base.Slots, base.MapTime, base.ReduceTime, mib(base.MapOutputBytes), seeds)
	fmt.Println("| reclaimed /h | replicas | notice | job (virtual) | reclaimed | maps recomputed | stages recomputed | fetch failures | replica GiB | moved GiB | Step CPU |")
	fmt.Println("|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|")
	for _, rate := range []float64{0, 0.05, 0.20} {
		for _, replicas := range []int{0, 1} {
			notices := []time.Duration{0, 2 * time.Minute}
			if rate == 0 {
				notices = notices[:1]
			}
			for _, notice := range notices {
				var job, cpu time.Duration
				var reclaimed, recomputed, stages, ff int
				var replicaB, movedB int64
				bad := ""
				for seed := range seeds {
					p := base
					p.Rate, p.Replicas, p.Notice, p.Seed = rate, replicas, notice, uint64(seed+1)
					res := run(p, capTime, capMem)
					switch {
					case res.Over != "":
						bad = "> cap"
					case res.Err != "":
						bad = "failed: " + res.Err
					}
					r := res.Report
					job += r.JobTime
					cpu += r.SchedCPU
					reclaimed += r.Reclaimed
					recomputed += r.Recomputed
					stages += r.StagesRecomputed
					ff += r.FetchFailures
					replicaB += r.ReplicaBytes
					movedB += r.MovedBytes
				}
				n := float64(seeds)
				note := "none"
				if notice > 0 {
					note = notice.String()
				}
				if bad != "" {
					fmt.Printf("| %.0f%% | %d | %s | %s |||||||\n", rate*100, replicas, note, bad)
					continue
				}
				fmt.Printf("| %.0f%% | %d | %s | %s | %.1f | %.1f | %.1f | %.1f | %.0f | %.0f | %s |\n", rate*100, replicas, note,
					(job / time.Duration(seeds)).Round(time.Second), float64(reclaimed)/n, float64(recomputed)/n, float64(stages)/n, float64(ff)/n,
					float64(replicaB)/n/(1<<30), float64(movedB)/n/(1<<30), secs(cpu/time.Duration(seeds)))
			}
		}
	}
	fmt.Println()
}

func count(n int) string {
	if n >= 1000 && n%1000 == 0 {
		return fmt.Sprintf("%dk", n/1000)
	}
	return fmt.Sprint(n)
}

func secs(d time.Duration) string { return fmt.Sprintf("%.2f s", d.Seconds()) }

func micros(d time.Duration) string {
	return fmt.Sprintf("%.1f µs", float64(d)/float64(time.Microsecond))
}

func mib(n int64) string { return fmt.Sprintf("%.0f MiB", float64(n)/(1<<20)) }

func gib(n int64) string { return fmt.Sprintf("%.0f GiB", float64(n)/(1<<30)) }
