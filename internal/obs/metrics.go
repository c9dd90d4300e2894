package obs

import (
	"sync"

	"github.com/prometheus/client_golang/prometheus"
)

// Exporter turns a driver's events into Prometheus metrics, named after
// EMR's CloudWatch metrics where those exist:
//
//	IsIdle                        sluice_is_idle
//	MapTasksRunning               sluice_tasks_running{kind="map"}
//	MapTasksRemaining             sluice_tasks_remaining{kind="map"}
//	ReduceTasksRunning            sluice_tasks_running{kind="reduce"}
//	ReduceTasksRemaining          sluice_tasks_remaining{kind="reduce"}
//	CoreNodesRunning              sluice_workers{role="core",state="alive"}
//	TaskNodesRunning              sluice_workers{role="task",state="alive"}
//	MRLostNodes                   sluice_workers{state="lost"}
//	MRDecommissionedNodes         sluice_workers{state="decommissioned"}
//
// Map tasks are those of stages that write a shuffle; reduce tasks are
// those of a job's result stage.
type Exporter struct {
	mu      sync.Mutex
	jobs    int
	started map[int]int64 // running jobs' start, Unix ms
	stages  map[StageKey]*stageCount
	tasks   map[int64]string // running task → kind
	workers map[string][2]string

	idle         prometheus.Gauge
	running      *prometheus.GaugeVec
	remaining    *prometheus.GaugeVec
	workerGauge  *prometheus.GaugeVec
	lost         prometheus.Counter
	recomputed   prometheus.Counter
	resubmits    prometheus.Counter
	fetchFails   prometheus.Counter
	shuffleWrite prometheus.Counter
	shuffleRead  prometheus.Counter
	spill        prometheus.Counter
	jobSeconds   prometheus.Histogram
	taskSeconds  *prometheus.HistogramVec
}

type stageCount struct {
	kind string
	left int
	done map[int]bool
}

// NewExporter registers the driver's metrics with reg.
func NewExporter(reg prometheus.Registerer) *Exporter {
	f := func(c prometheus.Collector) { reg.MustRegister(c) }
	m := &Exporter{stages: map[StageKey]*stageCount{}, tasks: map[int64]string{}, workers: map[string][2]string{}, started: map[int]int64{}}
	m.idle = prometheus.NewGauge(prometheus.GaugeOpts{Name: "sluice_is_idle", Help: "1 while no job runs (EMR IsIdle)."})
	m.running = prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "sluice_tasks_running", Help: "Task attempts running, by kind (EMR MapTasksRunning, ReduceTasksRunning)."}, []string{"kind"})
	m.remaining = prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "sluice_tasks_remaining", Help: "Tasks of submitted stages not yet done, by kind (EMR MapTasksRemaining, ReduceTasksRemaining)."}, []string{"kind"})
	m.workerGauge = prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "sluice_workers", Help: "Workers by role and state: alive, draining, lost, decommissioned."}, []string{"role", "state"})
	m.lost = prometheus.NewCounter(prometheus.CounterOpts{Name: "sluice_tasks_lost_total", Help: "Task attempts lost with their worker or executor."})
	m.recomputed = prometheus.NewCounter(prometheus.CounterOpts{Name: "sluice_tasks_recomputed_total", Help: "Tasks run again to replace lost map outputs."})
	m.resubmits = prometheus.NewCounter(prometheus.CounterOpts{Name: "sluice_stage_resubmissions_total", Help: "Stages submitted again after a loss."})
	m.fetchFails = prometheus.NewCounter(prometheus.CounterOpts{Name: "sluice_fetch_failures_total", Help: "Failed fetches of map outputs."})
	m.shuffleWrite = prometheus.NewCounter(prometheus.CounterOpts{Name: "sluice_shuffle_bytes_written_total", Help: "Shuffle bytes written by successful map tasks."})
	m.shuffleRead = prometheus.NewCounter(prometheus.CounterOpts{Name: "sluice_shuffle_bytes_fetched_total", Help: "Shuffle bytes read by finished tasks."})
	m.spill = prometheus.NewCounter(prometheus.CounterOpts{Name: "sluice_spill_bytes_total", Help: "Bytes spilled to disk by tasks past their memory budget."})
	m.jobSeconds = prometheus.NewHistogram(prometheus.HistogramOpts{Name: "sluice_job_duration_seconds", Help: "Job durations.", Buckets: prometheus.ExponentialBuckets(0.1, 2, 16)})
	m.taskSeconds = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "sluice_task_duration_seconds", Help: "Task attempt durations, by kind.", Buckets: prometheus.ExponentialBuckets(0.01, 2, 16)}, []string{"kind"})
	for _, c := range []prometheus.Collector{m.idle, m.running, m.remaining, m.workerGauge, m.lost, m.recomputed, m.resubmits, m.fetchFails, m.shuffleWrite, m.shuffleRead, m.spill, m.jobSeconds, m.taskSeconds} {
		f(c)
	}
	m.idle.Set(1)
	for _, k := range []string{"map", "reduce"} {
		m.running.WithLabelValues(k)
		m.remaining.WithLabelValues(k)
		m.taskSeconds.WithLabelValues(k)
	}
	return m
}

func kindOf(stageKind string) string {
	if stageKind == "map" {
		return "map"
	}
	return "reduce"
}

// Observe updates the metrics with one event.
func (m *Exporter) Observe(e Event) {
	m.mu.Lock()
	defer m.mu.Unlock()
	switch e.Kind {
	case JobStart:
		m.jobs++
		m.idle.Set(0)
		m.started[e.Job.ID] = e.Time
	case JobEnd:
		m.jobs = max(m.jobs-1, 0)
		if m.jobs == 0 {
			m.idle.Set(1)
		}
		if t, ok := m.started[e.Job.ID]; ok {
			m.jobSeconds.Observe(float64(e.Time-t) / 1000)
			delete(m.started, e.Job.ID)
		}
	case StageSubmitted, StageResubmitted:
		k := StageKey{e.Stage.ID, e.Stage.Attempt}
		if _, ok := m.stages[k]; ok {
			return
		}
		sc := &stageCount{kind: kindOf(e.Stage.Kind), left: e.Stage.Tasks, done: map[int]bool{}}
		m.stages[k] = sc
		m.remaining.WithLabelValues(sc.kind).Add(float64(sc.left))
		if e.Kind == StageResubmitted {
			m.resubmits.Inc()
		}
	case StageCompleted:
		k := StageKey{e.Stage.ID, e.Stage.Attempt}
		if sc, ok := m.stages[k]; ok {
			m.remaining.WithLabelValues(sc.kind).Sub(float64(sc.left))
			delete(m.stages, k)
		}
	case TaskStart:
		kind := "reduce"
		if sc, ok := m.stages[StageKey{e.Task.Stage, e.Task.StageTry}]; ok {
			kind = sc.kind
		}
		m.tasks[e.Task.ID] = kind
		m.running.WithLabelValues(kind).Inc()
		if e.Task.Recomputed {
			m.recomputed.Inc()
		}
	case TaskEnd:
		kind, ok := m.tasks[e.Task.ID]
		if !ok {
			return
		}
		delete(m.tasks, e.Task.ID)
		m.running.WithLabelValues(kind).Dec()
		m.taskSeconds.WithLabelValues(kind).Observe(float64(e.Task.Duration) / 1000)
		m.shuffleRead.Add(float64(e.Task.ShuffleRead))
		m.spill.Add(float64(e.Task.SpillBytes))
		switch e.Task.Status {
		case Lost:
			m.lost.Inc()
		case Succeeded:
			m.shuffleWrite.Add(float64(e.Task.ShuffleWrite))
			if sc, ok := m.stages[StageKey{e.Task.Stage, e.Task.StageTry}]; ok && !sc.done[e.Task.Partition] && sc.left > 0 {
				sc.done[e.Task.Partition] = true
				sc.left--
				m.remaining.WithLabelValues(sc.kind).Dec()
			}
		}
	case FetchFailed:
		m.fetchFails.Inc()
	case WorkerAdded:
		m.setWorker(e.Worker.Name, e.Worker.Role, "alive")
	case WorkerDraining:
		m.setWorker(e.Worker.Name, "", "draining")
	case WorkerLost:
		m.setWorker(e.Worker.Name, "", "lost")
	case WorkerGone:
		m.setWorker(e.Worker.Name, "", "decommissioned")
	}
}

// setWorker moves a worker between states. Lost and decommissioned
// workers are counted, not remembered.
func (m *Exporter) setWorker(name, role, state string) {
	old, ok := m.workers[name]
	if ok {
		m.workerGauge.WithLabelValues(old[0], old[1]).Dec()
		role = old[0]
	} else if state != "alive" {
		return
	}
	m.workerGauge.WithLabelValues(role, state).Inc()
	if state == "lost" || state == "decommissioned" {
		delete(m.workers, name)
	} else {
		m.workers[name] = [2]string{role, state}
	}
}
