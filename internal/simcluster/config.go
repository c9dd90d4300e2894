package simcluster

import (
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/sluicehq/sluice/scheduler"
)

// ErrInvalidConfig is wrapped by the error Run returns for a Config it
// cannot use.
var ErrInvalidConfig = errors.New("simcluster: invalid config")

// ErrNoEnd is wrapped by the error of a run that reached MaxEvents or
// MaxTime before its job ended: the scheduler is stuck or looping.
var ErrNoEnd = errors.New("simcluster: the job did not end")

// Config describes a simulated cluster and the job it runs: Maps map tasks
// writing one shuffle that Reduces result tasks read.
type Config struct {
	Seed uint64 // every random draw comes from it

	Maps, Reduces int

	CoreWorkers int // never reclaimed; they hold replicas and drained outputs
	TaskWorkers int // spot nodes: reclaimed at ReclaimRate
	Slots       int // task slots per worker

	// MapTime and ReduceTime are mean compute times of one task, without
	// its fetches. A duration is MapTime × a log-normal factor of mean 1
	// and shape Spread; with chance StragglerRate it is StragglerFactor
	// times that.
	MapTime, ReduceTime time.Duration
	Spread              float64
	StragglerRate       float64
	StragglerFactor     float64

	// MapOutputBytes is the mean size of one map task's output, over all
	// its reduce partitions; each partition's share varies by ±50%.
	MapOutputBytes int64
	// Bandwidth is the bytes per second one task reads from other workers,
	// and one copy (replica, drain) moves.
	Bandwidth int64
	// FetchLatency is paid once per other worker a task reads from.
	FetchLatency time.Duration
	// FetchFailureRate is the chance that an attempt which reads a shuffle
	// fails to fetch one map output from a live worker (a reset
	// connection, a corrupt block): the scheduler unregisters the output
	// and recomputes it.
	FetchFailureRate float64

	// ReclaimRate is the fraction of task nodes reclaimed per hour: each
	// task node lives an exponential time of mean 1/ReclaimRate hours.
	ReclaimRate float64
	// Notice is the warning before a reclamation (AWS gives 2 minutes):
	// the worker drains, as on SIGTERM. 0 is a sudden loss.
	Notice time.Duration
	// DrainTimeout is how long a draining worker waits for its drivers to
	// move its outputs before it leaves anyway (worker.Config's).
	DrainTimeout time.Duration
	// ShuffleReplicas 1 copies every map output written on a task node to
	// a core node before the task counts as done (--shuffle-replicas 1).
	ShuffleReplicas int
	// ReplaceAfter is how long after a task node goes a new one joins (a
	// fleet keeping its target capacity); 0 never replaces.
	ReplaceAfter time.Duration

	// DetectAfter is how long membership takes to declare a silent node
	// failed: the driver's WorkerRemoved comes that long after the loss.
	DetectAfter time.Duration
	// GossipDelay is how long a worker's change of state (draining, left)
	// takes to reach the driver.
	GossipDelay time.Duration
	// HeartbeatTimeout is the driver's --heartbeat-timeout: an executor
	// that answers no heartbeat for longer is frozen (clusterpolicy.Frozen).
	// Heartbeats go every clusterpolicy.HeartbeatInterval of it, to the
	// executors named in Freezes and Flaps only: a healthy executor answers
	// every beat, and neither rule can fire on it.
	HeartbeatTimeout time.Duration
	// ExecutorStart is how long a worker takes to start an executor in
	// place of a frozen one.
	ExecutorStart time.Duration
	// Freezes and Flaps make executors misbehave while their workers
	// still gossip: membership sees nothing, only heartbeats do.
	Freezes []Freeze
	Flaps   []Flap

	// KillDelay is how long a killed attempt takes to report.
	KillDelay time.Duration
	// TickEvery is the period of scheduler.Tick events.
	TickEvery time.Duration

	// Scheduler configures the scheduler under test.
	Scheduler scheduler.Config

	// Trace, when set, receives every event stepped and the actions it
	// returned, one per line. Report.TraceHash is set either way when
	// Hash is true or Trace is set.
	Trace io.Writer
	Hash  bool
	// MeasureHeap, when true, measures the heap the map-output table takes
	// (Report.MapTableHeap); it runs the garbage collector twice.
	MeasureHeap bool

	MaxEvents int           // Step calls before the run gives up
	MaxTime   time.Duration // virtual time before the run gives up
}

// Freeze stops the executor of Worker (a name, such as "task-0003") at At:
// a stopped or wedged process. It answers no heartbeat and finishes no
// task; its worker still gossips and serves the map outputs written
// there.
type Freeze struct {
	Worker string
	At     time.Duration
}

// Flap makes the executor of Worker miss heartbeats from From until Until:
// in each Period it answers none for the first Down (a lossy link, a
// node suspected and refuting). Only heartbeats are lost: the calls of
// its tasks are not cut.
type Flap struct {
	Worker       string
	From, Until  time.Duration
	Period, Down time.Duration
}

// DefaultConfig returns a small cluster and job: 200 map × 50 reduce tasks
// on 4 core and 16 task workers with 2 slots each, a few minutes of
// virtual time, no reclamation.
func DefaultConfig() Config {
	return Config{
		Seed:            1,
		Maps:            200,
		Reduces:         50,
		CoreWorkers:     4,
		TaskWorkers:     16,
		Slots:           2,
		MapTime:         20 * time.Second, // a 128 MiB split read and parsed
		ReduceTime:      20 * time.Second,
		Spread:          0.3,       // most tasks within ±30% of the mean
		StragglerRate:   0.02,      // one task in fifty
		StragglerFactor: 5,         // a slow disk or a noisy neighbour
		MapOutputBytes:  64 << 20,  // half the split, after combining
		Bandwidth:       100 << 20, // a task's share of a 10 Gbit/s NIC
		FetchLatency:    2 * time.Millisecond,

		ReclaimRate:     0,
		Notice:          0,
		DrainTimeout:    90 * time.Second, // worker.DefaultConfig: under the two minutes of a spot notice
		ShuffleReplicas: 0,
		ReplaceAfter:    3 * time.Minute, // a spot request filled and a worker started

		DetectAfter: 3 * time.Second, // membership.DefaultConfig declares a silent node failed in 2–3.5 s
		GossipDelay: 200 * time.Millisecond,
		KillDelay:   10 * time.Millisecond,

		HeartbeatTimeout: 10 * time.Second, // driver.DefaultConfig
		ExecutorStart:    time.Second,      // the binary is there: a process started and registered

		TickEvery: 500 * time.Millisecond, // the driver's tick in cluster mode

		Scheduler: scheduler.DefaultConfig(),

		MaxEvents: 50_000_000,
		MaxTime:   72 * time.Hour,
	}
}

func (c *Config) validate() error {
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("%w: "+format, append([]any{ErrInvalidConfig}, args...)...))
	}
	if c.Maps < 1 || c.Reduces < 1 {
		bad("Maps %d and Reduces %d must be at least 1", c.Maps, c.Reduces)
	}
	if c.CoreWorkers < 0 || c.TaskWorkers < 0 || c.CoreWorkers+c.TaskWorkers < 1 {
		bad("CoreWorkers %d and TaskWorkers %d: need at least one worker", c.CoreWorkers, c.TaskWorkers)
	}
	if c.Slots < 1 {
		bad("Slots %d must be at least 1", c.Slots)
	}
	if c.MapTime <= 0 || c.ReduceTime <= 0 {
		bad("MapTime %v and ReduceTime %v must be positive", c.MapTime, c.ReduceTime)
	}
	if c.Spread < 0 || c.StragglerRate < 0 || c.StragglerRate > 1 || (c.StragglerRate > 0 && c.StragglerFactor < 1) {
		bad("Spread %v, StragglerRate %v, StragglerFactor %v: need Spread ≥ 0, StragglerRate in [0,1], StragglerFactor ≥ 1", c.Spread, c.StragglerRate, c.StragglerFactor)
	}
	if c.MapOutputBytes < 0 || c.Bandwidth <= 0 || c.FetchLatency < 0 {
		bad("MapOutputBytes %d ≥ 0, Bandwidth %d > 0, FetchLatency %v ≥ 0", c.MapOutputBytes, c.Bandwidth, c.FetchLatency)
	}
	if c.FetchFailureRate < 0 || c.FetchFailureRate >= 1 || c.ReclaimRate < 0 {
		bad("FetchFailureRate %v must be in [0,1) and ReclaimRate %v ≥ 0", c.FetchFailureRate, c.ReclaimRate)
	}
	if c.ShuffleReplicas < 0 || c.ShuffleReplicas > 1 {
		bad("ShuffleReplicas %d must be 0 or 1, as --shuffle-replicas", c.ShuffleReplicas)
	}
	if c.Notice < 0 || c.DrainTimeout < 0 || c.ReplaceAfter < 0 || c.DetectAfter < 0 || c.GossipDelay < 0 || c.KillDelay < 0 {
		bad("Notice, DrainTimeout, ReplaceAfter, DetectAfter, GossipDelay and KillDelay must not be negative")
	}
	if (len(c.Freezes) > 0 || len(c.Flaps) > 0) && (c.HeartbeatTimeout <= 0 || c.ExecutorStart < 0) {
		bad("HeartbeatTimeout %v must be positive and ExecutorStart %v not negative to simulate Freezes and Flaps", c.HeartbeatTimeout, c.ExecutorStart)
	}
	for _, f := range c.Freezes {
		if f.At < 0 {
			bad("Freeze of %s at %v: must not be negative", f.Worker, f.At)
		}
	}
	for _, f := range c.Flaps {
		if f.Period <= 0 || f.Down <= 0 || f.Down >= f.Period || f.From < 0 || f.Until < f.From {
			bad("Flap of %s: need 0 < Down %v < Period %v and 0 ≤ From %v ≤ Until %v", f.Worker, f.Down, f.Period, f.From, f.Until)
		}
	}
	if c.TickEvery <= 0 || c.MaxEvents < 1 || c.MaxTime <= 0 {
		bad("TickEvery %v, MaxEvents %d and MaxTime %v must be positive", c.TickEvery, c.MaxEvents, c.MaxTime)
	}
	return errors.Join(errs...)
}
