package driver

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/sluicehq/sluice/internal/task"
)

// EnvJobSummary names a file for the job summary, as --job-summary does,
// when that flag is not given: for tools like sluice chaos that run a
// driver command without changing its arguments.
const EnvJobSummary = "SLUICE_JOB_SUMMARY"

// Summary is what a driver program writes with --job-summary FILE when it
// ends: its outcome and counts as JSON, for scripts (sluice chaos) and
// process tests to read instead of its log.
type Summary struct {
	OK               bool             `json:"ok"`
	Error            string           `json:"error,omitempty"`
	App              string           `json:"app,omitempty"` // cluster mode: the application id
	Tasks            int64            `json:"tasks"`         // attempts that ended
	TasksFailed      int64            `json:"tasks_failed"`
	TasksRecomputed  int64            `json:"tasks_recomputed"`
	StagesRecomputed int64            `json:"stages_recomputed"`
	Speculated       int64            `json:"speculated"`
	Spills           int64            `json:"spills"`
	ShuffleBytes     int64            `json:"shuffle_bytes"`
	TasksByWorker    map[string]int64 `json:"tasks_by_worker"` // attempts that succeeded
	BroadcastFetches int64            `json:"broadcast_fetches"`
	// Accumulators are the driver's values of the program's accumulators
	// (rdd.NewInt64Accumulator, ...), by name, as JSON.
	Accumulators map[string]json.RawMessage `json:"accumulators,omitempty"`
	Cluster      *ClusterSummary            `json:"cluster,omitempty"`
	// Counters are mapreduce jobs' counters by group and name, summed.
	Counters map[string]map[string]int64 `json:"counters,omitempty"`

	// BadRecordsSkipped counts the malformed input records skipped
	// under --skip-bad-records; FirstBadRecord names the first one's file
	// and line.
	BadRecordsSkipped int64  `json:"bad_records_skipped"`
	FirstBadRecord    string `json:"first_bad_record,omitempty"`
	// PeakRSS is the driver process's peak resident memory in bytes
	// (VmHWM on Linux; 0 where unknown). In local mode the tasks run in
	// this process: --memory × --parallelism plus a fixed overhead bounds
	// it (see --memory).
	PeakRSS int64 `json:"peak_rss_bytes"`
}

// ClusterSummary counts what happened to a cluster's workers and
// executors during a session.
type ClusterSummary struct {
	WorkersReady       int `json:"workers_ready"`       // times a worker's executor became ready for the first time
	WorkersLost        int `json:"workers_lost"`        // workers withdrawn after they were ready
	WorkersDrained     int `json:"workers_drained"`     // draining workers whose map outputs were moved off
	ExecutorsRestarted int `json:"executors_restarted"` // executors that refused a task and were started again
	ExecutorsReplaced  int `json:"executors_replaced"`  // frozen executors (no heartbeat) replaced
	OutputsMoved       int `json:"outputs_moved"`       // map outputs moved off draining workers
	OutputsReplicated  int `json:"outputs_replicated"`  // map outputs copied to a core worker (--shuffle-replicas)
}

// summary is the session's Summary once it has closed, err being how the
// program ended.
func (s *Session) summary(err error) Summary {
	m := s.Metrics()
	sum := Summary{
		OK: err == nil, Tasks: m.Tasks, TasksFailed: m.TasksFailed, TasksRecomputed: m.TasksRecomputed,
		StagesRecomputed: m.StagesRecomputed, Speculated: m.Speculated, Spills: m.Spills, ShuffleBytes: m.ShuffleBytes,
		TasksByWorker: m.TasksByWorker, BroadcastFetches: m.BroadcastFetches, Accumulators: accumulatorValues(),
		Counters: s.Counters(), BadRecordsSkipped: m.BadRecords, FirstBadRecord: m.FirstBadRecord,
		PeakRSS: peakRSS(),
	}
	if sum.TasksByWorker == nil {
		sum.TasksByWorker = map[string]int64{}
	}
	if err != nil {
		sum.Error = err.Error()
	}
	var c *cluster
	switch b := s.backend.(type) {
	case *cluster:
		c = b
	case *localCluster:
		c = b.cluster
	}
	if c != nil {
		c.mu.Lock()
		cs := c.counts
		c.mu.Unlock()
		sum.App, sum.Cluster = c.app, &cs
	}
	return sum
}

// accumulatorValues returns every registered accumulator's value by name
// (a repeated name gets its registration's number after it), each as
// JSON, or as the JSON string of its %v form when it has none.
func accumulatorValues() map[string]json.RawMessage {
	vals := task.AccumulatorValues()
	if len(vals) == 0 {
		return nil
	}
	out := make(map[string]json.RawMessage, len(vals))
	for i, v := range vals {
		name := v.Name
		if _, dup := out[name]; dup {
			name = fmt.Sprintf("%s#%d", name, i+1)
		}
		b, err := json.Marshal(v.Value)
		if err != nil {
			b, _ = json.Marshal(fmt.Sprintf("%v", v.Value))
		}
		out[name] = b
	}
	return out
}

// writeSummary writes sum to path through a temporary file, so a reader
// never sees half of it.
func writeSummary(path string, sum Summary) error {
	b, err := json.MarshalIndent(sum, "", "  ")
	if err != nil {
		return err
	}
	f, err := os.CreateTemp(filepath.Dir(path), ".summary-*")
	if err != nil {
		return err
	}
	_, err = f.Write(append(b, '\n'))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), path)
	}
	if err != nil {
		os.Remove(f.Name())
	}
	return err
}

// peakRSS returns this process's peak resident memory from
// /proc/self/status: the high-water mark of its address space since it
// started (exec), unlike getrusage's maxrss, which also counts the
// parent's memory that the process shared before its exec.
func peakRSS() int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err != nil {
				return 0
			}
			return kb << 10
		}
	}
	return 0
}
