package driver

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/sluicehq/sluice/internal/obs"
	"github.com/sluicehq/sluice/internal/obs/web"
	"github.com/sluicehq/sluice/internal/task"
	"github.com/sluicehq/sluice/internal/trust"
	"github.com/sluicehq/sluice/scheduler"
	"github.com/sluicehq/sluice/worker"
)

// DefaultUI is where a cluster-mode driver serves its UI unless told
// otherwise (--ui): the next port up when it is taken, as Spark does.
const DefaultUI = "127.0.0.1:4040"

// uiPortTries bounds the ports tried from a busy --ui port up, before
// any free port.
const uiPortTries = 16

// observer tells what the session does: it turns the loop's events and
// the scheduler's actions into obs events for the UI, the metrics, the
// event log and the progress line. Only the loop calls it, except for
// the read-only UI server.
type observer struct {
	rec     *obs.Recorder
	app     string
	srv     *http.Server
	url     string
	summary io.Writer // job summaries; nil: none

	tasks  map[int64]taskSeen     // running attempts
	stages map[int]obs.StageKey   // each submitted stage's attempt, until it completes
	roles  map[string]string      // workers' roles
	jobs   map[int]*jobSeen       // active jobs
	names  map[int]map[int]string // per job: stage names, from its lineage
}

type taskSeen struct {
	t      obs.Task
	launch time.Time
}

type jobSeen struct {
	started bool
	name    string
	start   time.Time
	graph   map[int]obs.Stage // its stages, by id
}

// newObserver returns an observer that records into memory only, until
// start.
func newObserver(stderr *os.File) *observer {
	o := &observer{
		tasks: map[int64]taskSeen{}, stages: map[int]obs.StageKey{}, roles: map[string]string{},
		jobs: map[int]*jobSeen{}, names: map[int]map[int]string{},
		app: newAppID(time.Now()),
	}
	o.rec = obs.NewRecorder(nil, func(err error) { fmt.Fprintf(stderr, "sluice: %v\n", err) })
	return o
}

// start begins what cfg asks for, once the session's backend is up: the
// event log, the UI server, the progress line.
func (o *observer) start(cfg Config, mode string, b backend, stderr *os.File) error {
	name := strings.TrimSuffix(filepath.Base(os.Args[0]), ".test")
	if cfg.EventLog != "" {
		lw, err := obs.CreateLog(cfg.EventLog, obs.App{ID: o.app, Name: name}, obs.LogOptions{})
		if err != nil {
			return fmt.Errorf("--event-log: %w", err)
		}
		o.rec.Log = lw
	}
	if cfg.Summary {
		o.summary = stderr
	}
	if cfg.Progress {
		o.rec.Progress = obs.NewProgress(stderr, 0)
	}
	addr := cfg.UI
	if addr == "" && mode == "cluster" {
		addr = DefaultUI
	}
	if addr != "" && addr != "off" {
		if err := o.serve(addr, cfg.UIPublic, b); err != nil {
			if o.rec.Log != nil {
				o.rec.Log.Close(obs.Failed, time.Now())
				o.rec.Log = nil
			}
			return err
		}
		fmt.Fprintf(stderr, "sluice: UI at %s\n", o.url)
	}
	o.rec.Emit(obs.Event{Kind: obs.AppStart, App: &obs.App{ID: o.app, Name: name, Mode: mode}})
	return nil
}

// newAppID names an application as Spark does: app-TIME-RANDOM. Its
// workers know it by this name too.
func newAppID(now time.Time) string {
	var b [6]byte
	rand.Read(b[:])
	return "app-" + now.UTC().Format("20060102T150405") + "-" + hex.EncodeToString(b[:])
}

// serve starts the UI and /metrics on addr, or the next free port above
// it. A non-loopback address needs public: the UI has no login.
func (o *observer) serve(addr string, public bool, b backend) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return usageError{fmt.Errorf("--ui %q: want HOST:PORT or off", addr)}
	}
	if !trust.IsLoopback(addr) && !public {
		return usageError{fmt.Errorf("--ui %s is not loopback: the UI has no login; reach it through a tunnel (ssh -L), or add --ui-public to serve it there anyway", addr)}
	}
	p, err := strconv.Atoi(port)
	if err != nil || p < 0 || p > 65535 {
		return usageError{fmt.Errorf("--ui %q: bad port", addr)}
	}
	// The port asked for, the next ones up, then any: a busy machine
	// (many drivers, tests) must not cost a job its UI, let alone the job.
	var ln net.Listener
	for i := range uiPortTries + 1 {
		try := p + i
		if i == uiPortTries || try > 65535 {
			try = 0
		}
		if ln, err = net.Listen("tcp", net.JoinHostPort(host, strconv.Itoa(try))); err == nil || try == 0 {
			break
		}
	}
	if err != nil {
		return fmt.Errorf("--ui %s: %w", addr, err)
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	o.rec.Exporter = obs.NewExporter(reg)
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{MaxRequestsInFlight: 4, Timeout: 10 * time.Second}))
	live := liveApp{s: o.rec.Store}
	if !public {
		// Profiles only where the UI is this machine's alone.
		mux.HandleFunc("GET /debug/pprof/", pprof.Index)
		if d, ok := b.(workerDebug); ok {
			live.profiles = true
			mux.HandleFunc("GET /debug/workers/{name}/pprof/{rest...}", func(w http.ResponseWriter, r *http.Request) {
				rest := r.PathValue("rest")
				if !validProfile.MatchString(rest) {
					http.Error(w, "bad profile name", http.StatusBadRequest)
					return
				}
				pq := worker.PprofPath + rest
				if r.URL.RawQuery != "" {
					pq += "?" + r.URL.RawQuery
				}
				d.debugGet(r.Context(), r.PathValue("name"), pq, w)
			})
		}
	}
	mux.Handle("/", web.Handler(live))
	o.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 30 * time.Second, WriteTimeout: time.Minute, IdleTimeout: 2 * time.Minute, MaxHeaderBytes: 64 << 10}
	o.url = "http://" + ln.Addr().String() + "/"
	go o.srv.Serve(ln)
	return nil
}

// workerDebug is a backend that reaches its workers' profiles.
type workerDebug interface {
	debugGet(ctx context.Context, name, pathQuery string, w http.ResponseWriter)
}

// validProfile is what may follow a worker's /debug/pprof/ in a link.
var validProfile = regexp.MustCompile(`^[A-Za-z0-9_-]{0,32}$`)

// liveApp is the UI's source in a driver: its one application.
type liveApp struct {
	s        *obs.Store
	profiles bool
}

func (l liveApp) WorkerProfiles() bool { return l.profiles }

func (l liveApp) Apps() []web.AppInfo {
	a := l.s.App()
	return []web.AppInfo{{ID: a.ID, Name: a.Name, Status: a.Status, Start: a.Start, End: a.End, Completed: a.Status != obs.Running}}
}

func (l liveApp) App(id string) (*obs.Store, error) {
	if id != l.s.App().ID {
		return nil, web.ErrNoApp
	}
	return l.s, nil
}

// tick flushes the event log on its heartbeat.
func (o *observer) tick() { o.rec.Tick() }

// submitted notes a job the loop is about to submit.
func (o *observer) submitted(jr *jobRun) {
	name := jr.job.Name
	if name == "" {
		name = fmt.Sprintf("job %d", jr.id)
	}
	o.jobs[jr.id] = &jobSeen{name: name, start: time.Now()}
	o.names[jr.id] = stageNames(jr.job.Graph.Nodes())
}

// maxStageName bounds a stage's name in bytes: a lineage that unions a
// dataset with itself again and again would double it at every level.
const maxStageName = 400

// stageNames names each node by the operations of its pipeline, parents
// first, each with the user's call site: "TextFile main.go:30 → FlatMap
// main.go:31". A stage is named by its last node.
func stageNames(nodes []task.NodeInfo) map[int]string {
	byID := map[int]task.NodeInfo{}
	for _, n := range nodes {
		byID[n.ID] = n
	}
	// Nodes come parents first, so each name is built from its narrow
	// parents' names once: a lineage that reuses a dataset (a diamond)
	// costs no more than one that does not.
	names := map[int]string{}
	for _, n := range nodes {
		own := n.Name
		if n.Site != "" {
			own += " " + n.Site
		}
		var narrow []string
		for _, d := range n.Deps {
			if d.Shuffle == 0 {
				narrow = append(narrow, names[d.Parent])
			}
		}
		if len(narrow) > 0 {
			own = strings.Join(narrow, " + ") + " → " + own
		}
		if len(own) > maxStageName { // keep the operations nearest the stage's end
			cut := len(own) - maxStageName
			for cut < len(own) && !utf8.RuneStart(own[cut]) {
				cut++
			}
			own = "… " + own[cut:]
		}
		names[n.ID] = own
	}
	return names
}

// member notes a change of a worker.
func (o *observer) member(m memberChange) {
	switch {
	case m.flapping || m.disk:
	case m.draining:
		o.rec.Emit(obs.Event{Kind: obs.WorkerDraining, Worker: &obs.Worker{Name: m.worker}})
	case m.slots > 0:
		if m.role != "" {
			o.roles[m.worker] = m.role
		}
		o.rec.Emit(obs.Event{Kind: obs.WorkerAdded, Worker: &obs.Worker{Name: m.worker, Role: o.roles[m.worker], Slots: m.slots}})
	default:
		kind := obs.WorkerLost
		if m.left {
			kind = obs.WorkerGone
		}
		o.rec.Emit(obs.Event{Kind: kind, Worker: &obs.Worker{Name: m.worker, Reason: m.reason}})
		delete(o.roles, m.worker)
	}
}

// acted notes the scheduler's actions.
func (o *observer) acted(acts []scheduler.Action) {
	for _, a := range acts {
		switch a := a.(type) {
		case scheduler.JobStages:
			o.jobStarted(a.Job, a.Stages)
		case scheduler.StageSubmitted:
			o.jobStarted(a.Job, nil)
			key := obs.StageKey{ID: a.Stage, Attempt: a.Attempt}
			o.stages[a.Stage] = key
			kind := obs.StageSubmitted
			if a.Attempt > 0 {
				kind = obs.StageResubmitted
			}
			st := &obs.Stage{ID: a.Stage, Attempt: a.Attempt, Job: a.Job, Tasks: a.Tasks}
			if j := o.jobs[a.Job]; j != nil {
				g := j.graph[a.Stage]
				st.Name, st.Kind, st.Parents = g.Name, g.Kind, g.Parents
			}
			o.rec.Emit(obs.Event{Kind: kind, Stage: st})
		case scheduler.StageCompleted:
			delete(o.stages, a.Stage)
			st := &obs.Stage{ID: a.Stage, Attempt: a.Attempt, Status: obs.Succeeded}
			if a.Err != nil {
				st.Status, st.Error = obs.Failed, a.Err.Error()
			}
			o.rec.Emit(obs.Event{Kind: obs.StageCompleted, Stage: st})
		case scheduler.LaunchTask:
			t := obs.Task{
				ID: a.Task.ID, Stage: a.Task.Stage, StageTry: o.stages[a.Task.Stage].Attempt, Partition: a.Task.Partition, Attempt: a.Task.Attempt,
				Worker: a.Worker, Role: o.roles[a.Worker], Speculative: a.Task.Speculative, Recomputed: a.Task.Recomputed,
			}
			o.tasks[a.Task.ID] = taskSeen{t: t, launch: time.Now()}
			o.rec.Emit(obs.Event{Kind: obs.TaskStart, Task: &t})
		}
	}
}

// jobStarted emits a job's start once, with its DAG when known.
func (o *observer) jobStarted(id int, stages []scheduler.StageInfo) {
	j := o.jobs[id]
	if j == nil || j.started {
		return
	}
	j.started = true
	job := &obs.Job{ID: id, Name: j.name}
	names := o.names[id]
	j.graph = map[int]obs.Stage{}
	for _, st := range stages {
		kind := "map"
		if st.Kind == scheduler.ResultTask {
			kind = "result"
		}
		job.Stages = append(job.Stages, st.ID)
		g := obs.Stage{ID: st.ID, Job: id, Name: names[st.Node], Kind: kind, Tasks: st.Tasks, Available: st.Done, Parents: st.Parents}
		job.Graph = append(job.Graph, g)
		j.graph[st.ID] = g
	}
	o.rec.Emit(obs.Event{Kind: obs.JobStart, Job: job})
}

// jobEnded emits a job's end, and its summary when asked.
func (o *observer) jobEnded(id int, err error) {
	j := o.jobs[id]
	if j == nil {
		return
	}
	o.jobStarted(id, nil)
	delete(o.jobs, id)
	delete(o.names, id)
	job := &obs.Job{ID: id, Status: obs.Succeeded}
	if err != nil {
		job.Status, job.Error = obs.Failed, err.Error()
		if errors.Is(err, context.Canceled) || errors.Is(err, ErrClosed) {
			job.Status = obs.Killed
		}
	}
	o.rec.Emit(obs.Event{Kind: obs.JobEnd, Job: job})
	if o.summary != nil {
		fmt.Fprintln(o.summary, o.rec.Store.JobSummary(id))
		if line := accumulatorLine(); line != "" {
			fmt.Fprintln(o.summary, line)
		}
	}
}

// accumulatorLine is the job summary's line of accumulator values, each
// cut to 100 bytes; empty when the program has none.
func accumulatorLine() string {
	vals := task.AccumulatorValues()
	if len(vals) == 0 {
		return ""
	}
	parts := make([]string, len(vals))
	for i, v := range vals {
		s := fmt.Sprintf("%v", v.Value)
		if len(s) > 100 {
			s = s[:100] + "..."
		}
		parts[i] = fmt.Sprintf("%s=%s", v.Name, s)
	}
	return "  accumulators: " + strings.Join(parts, "; ")
}

// taskEnded notes an attempt's end, as the loop turned it into ev.
func (o *observer) taskEnded(r *worker.TaskResult, ev scheduler.Event) {
	seen, ok := o.tasks[r.TaskID]
	if !ok {
		return
	}
	delete(o.tasks, r.TaskID)
	t := seen.t
	t.Duration = time.Since(seen.launch).Milliseconds()
	t.SpilledChunks, t.SpillBytes = r.Metrics.Spills, r.Metrics.SpillBytes
	t.BytesIn = r.Metrics.InputBytes + r.Metrics.ShuffleReadBytes
	t.BytesOut = int64(len(r.Result))
	t.RecordsIn, t.RecordsOut = r.Metrics.RecordsIn, r.Metrics.RecordsOut
	t.ShuffleRead, t.FetchWait = r.Metrics.ShuffleReadBytes, r.Metrics.FetchWait.Milliseconds()
	if r.Metrics.RunTime > 0 {
		t.SchedDelay = max(t.Duration-r.Metrics.RunTime.Milliseconds(), 0)
	}
	switch e := ev.(type) {
	case scheduler.TaskSucceeded:
		t.Status = obs.Succeeded
		if r.MapStatus != nil {
			for _, n := range r.MapStatus.Sizes {
				t.ShuffleWrite += n
			}
		}
		t.BytesOut += t.ShuffleWrite
	case scheduler.FetchFailed:
		t.Status, t.Error = obs.Failed, "fetch failed: "+e.Err
		o.rec.Emit(obs.Event{Kind: obs.FetchFailed, Fetch: &obs.Fetch{Task: r.TaskID, Stage: t.Stage, Shuffle: e.Shuffle, Map: e.Map, Worker: e.Worker, Error: e.Err}})
	case scheduler.TaskFailed:
		t.Status = obs.Failed
		if e.Lost {
			t.Status = obs.Lost
		}
		if e.Err != nil {
			t.Error = e.Err.Error()
		}
	}
	o.rec.Emit(obs.Event{Kind: obs.TaskEnd, Task: &t})
}

// close ends the application with err's outcome and stops the UI.
func (o *observer) close(err error) error {
	status := obs.Succeeded
	if err != nil {
		status = obs.Failed
	}
	lerr := o.rec.Close(status, err)
	if o.srv != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		o.srv.Shutdown(ctx)
	}
	return lerr
}

// UIURL returns the address of the session's web UI, or "" when it serves
// none (Spark's uiWebUrl).
func (s *Session) UIURL() string { return s.obs.url }

// AppID returns the application's id: its name in the UI, the metrics
// and the event log (Spark's applicationId).
func (s *Session) AppID() string { return s.obs.app }
