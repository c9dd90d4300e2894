// Package web serves an application's state: the UI pages, the JSON API
// under /api/v1 (Spark's paths where they fit) and the DAG pictures. The
// live driver and the history server serve the same handler over
// different Sources, so they cannot differ.
package web

import (
	"cmp"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/sluicehq/sluice/internal/obs"
)

// Source gives the applications to show.
type Source interface {
	// Apps lists the applications, newest first.
	Apps() []AppInfo
	// App returns one application's state; ErrNoApp when unknown.
	App(id string) (*obs.Store, error)
}

// Debugger is a Source whose server also serves each worker's Go
// profiles at /debug/workers/{name}/pprof/ (a live driver's): the UI links
// to them.
type Debugger interface {
	WorkerProfiles() bool
}

// ErrNoApp is returned by a Source for an id it does not know.
var ErrNoApp = errors.New("no such application")

// AppInfo is an entry of /api/v1/applications.
type AppInfo struct {
	ID        string     `json:"id"`
	Name      string     `json:"name"`
	Status    obs.Status `json:"status"`
	Crashed   bool       `json:"crashed,omitempty"`
	Start     int64      `json:"startTime"`
	End       int64      `json:"endTime,omitempty"`
	Completed bool       `json:"completed"`
}

// MaxTaskPage bounds taskList's length.
const MaxTaskPage = 1000

//go:embed static
var static embed.FS

// Handler serves the UI and the API of src.
func Handler(src Source) http.Handler {
	h := &handler{src: src}
	mux := http.NewServeMux()
	sub, _ := fs.Sub(static, "static")
	mux.Handle("GET /static/", http.StripPrefix("/static/", http.FileServerFS(sub)))
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		b, _ := static.ReadFile("static/index.html")
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Write(b)
	})
	api := "GET /api/v1/applications"
	mux.HandleFunc(api, h.apps)
	mux.HandleFunc(api+"/{app}", h.app(h.appInfo))
	mux.HandleFunc(api+"/{app}/jobs", h.app(h.jobs))
	mux.HandleFunc(api+"/{app}/jobs/{job}", h.app(h.job))
	mux.HandleFunc(api+"/{app}/jobs/{job}/dag.svg", h.app(h.dag))
	mux.HandleFunc(api+"/{app}/stages", h.app(h.stages))
	mux.HandleFunc(api+"/{app}/stages/{stage}", h.app(h.stageAttempts))
	mux.HandleFunc(api+"/{app}/stages/{stage}/{attempt}", h.app(h.stage))
	mux.HandleFunc(api+"/{app}/stages/{stage}/{attempt}/taskSummary", h.app(h.taskSummary))
	mux.HandleFunc(api+"/{app}/stages/{stage}/{attempt}/taskList", h.app(h.taskList))
	mux.HandleFunc(api+"/{app}/executors", h.app(h.executors))
	mux.HandleFunc(api+"/{app}/timeline", h.app(h.timeline))
	mux.HandleFunc(api+"/{app}/counters", h.app(h.counters))
	return secure(mux)
}

// secure sets the headers every answer carries: nothing is loaded from
// anywhere but this origin, and no page can be framed elsewhere.
func secure(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; connect-src 'self'; frame-ancestors 'none'")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		next.ServeHTTP(w, r)
	})
}

type handler struct{ src Source }

type appHandler func(w http.ResponseWriter, r *http.Request, s *obs.Store) error

// httpError is an error with the status it answers with.
type httpError struct {
	code int
	msg  string
}

func (e httpError) Error() string { return e.msg }

func notFound(format string, a ...any) error {
	return httpError{http.StatusNotFound, fmt.Sprintf(format, a...)}
}

func badRequest(format string, a ...any) error {
	return httpError{http.StatusBadRequest, fmt.Sprintf(format, a...)}
}

func (h *handler) app(f appHandler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		id := r.PathValue("app")
		err := obs.CheckAppID(id)
		var s *obs.Store
		if err == nil {
			s, err = h.src.App(id)
			if errors.Is(err, ErrNoApp) {
				err = notFound("no application %q", id)
			}
		} else {
			err = badRequest("%v", err)
		}
		if err == nil {
			err = f(w, r, s)
		}
		if err != nil {
			var he httpError
			if !errors.As(err, &he) {
				he = httpError{http.StatusInternalServerError, err.Error()}
			}
			http.Error(w, he.msg, he.code)
		}
	}
}

func writeJSON(w http.ResponseWriter, v any) error {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func (h *handler) apps(w http.ResponseWriter, r *http.Request) {
	apps := h.src.Apps()
	if apps == nil {
		apps = []AppInfo{}
	}
	writeJSON(w, apps)
}

func (h *handler) appInfo(w http.ResponseWriter, r *http.Request, s *obs.Store) error {
	a := s.App()
	d, ok := h.src.(Debugger)
	return writeJSON(w, struct {
		obs.AppState
		Seq      int64 `json:"seq"`
		Profiles bool  `json:"workerProfiles,omitempty"`
	}{a, s.Seq(), ok && d.WorkerProfiles()})
}

func (h *handler) jobs(w http.ResponseWriter, r *http.Request, s *obs.Store) error {
	return writeJSON(w, s.Jobs())
}

func intParam(r *http.Request, name string) (int, error) {
	v, err := strconv.Atoi(r.PathValue(name))
	if err != nil || v < 0 {
		return 0, badRequest("%s %q: want a number", name, r.PathValue(name))
	}
	return v, nil
}

// jobOf returns the job the request's {job} names.
func jobOf(r *http.Request, s *obs.Store) (obs.JobState, error) {
	id, err := intParam(r, "job")
	if err != nil {
		return obs.JobState{}, err
	}
	j, ok := s.Job(id)
	if !ok {
		return j, notFound("no job %d", id)
	}
	return j, nil
}

func (h *handler) job(w http.ResponseWriter, r *http.Request, s *obs.Store) error {
	j, err := jobOf(r, s)
	if err != nil {
		return err
	}
	return writeJSON(w, j)
}

func (h *handler) stages(w http.ResponseWriter, r *http.Request, s *obs.Store) error {
	return writeJSON(w, s.Stages())
}

func (h *handler) stageAttempts(w http.ResponseWriter, r *http.Request, s *obs.Store) error {
	id, err := intParam(r, "stage")
	if err != nil {
		return err
	}
	var out []obs.StageInfo
	for _, st := range s.Stages() {
		if st.ID == id {
			out = append(out, st)
		}
	}
	if len(out) == 0 {
		return notFound("no stage %d", id)
	}
	return writeJSON(w, out)
}

func (h *handler) stageOf(r *http.Request, s *obs.Store) (obs.StageInfo, error) {
	id, err := intParam(r, "stage")
	if err != nil {
		return obs.StageInfo{}, err
	}
	at, err := intParam(r, "attempt")
	if err != nil {
		return obs.StageInfo{}, err
	}
	st, ok := s.Stage(id, at)
	if !ok {
		return st, notFound("no stage %d attempt %d", id, at)
	}
	return st, nil
}

func (h *handler) stage(w http.ResponseWriter, r *http.Request, s *obs.Store) error {
	st, err := h.stageOf(r, s)
	if err != nil {
		return err
	}
	return writeJSON(w, st)
}

// DefaultQuantiles are taskSummary's quantiles when none are asked for.
var DefaultQuantiles = []float64{0, 0.25, 0.5, 0.75, 1}

func (h *handler) taskSummary(w http.ResponseWriter, r *http.Request, s *obs.Store) error {
	st, err := h.stageOf(r, s)
	if err != nil {
		return err
	}
	qs := DefaultQuantiles
	if v := r.URL.Query().Get("quantiles"); v != "" {
		qs = nil
		for f := range strings.SplitSeq(v, ",") {
			q, err := strconv.ParseFloat(f, 64)
			if err != nil || q < 0 || q > 1 || len(qs) == 100 {
				return badRequest("quantiles %q: want up to 100 numbers in [0, 1], separated by commas", v)
			}
			qs = append(qs, q)
		}
	}
	return writeJSON(w, struct {
		Quantiles []float64          `json:"quantiles"`
		Metrics   map[string][]int64 `json:"metrics"`
	}{qs, obs.Quantiles(st.Rows, qs)})
}

// taskSorts are taskList's sortBy keys; a leading '-' reverses.
var taskSorts = map[string]func(a, b *obs.TaskRow) int{
	"id":         func(a, b *obs.TaskRow) int { return cmp.Compare(a.ID, b.ID) },
	"partition":  func(a, b *obs.TaskRow) int { return cmp.Compare(a.Partition, b.Partition) },
	"launch":     func(a, b *obs.TaskRow) int { return cmp.Compare(a.Launch, b.Launch) },
	"durationMs": func(a, b *obs.TaskRow) int { return cmp.Compare(a.Duration, b.Duration) },
	"status":     func(a, b *obs.TaskRow) int { return cmp.Compare(a.Status, b.Status) },
	"worker":     func(a, b *obs.TaskRow) int { return cmp.Compare(a.Worker, b.Worker) },
}

func (h *handler) taskList(w http.ResponseWriter, r *http.Request, s *obs.Store) error {
	st, err := h.stageOf(r, s)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	offset, length := 0, 20
	if v := q.Get("offset"); v != "" {
		if offset, err = strconv.Atoi(v); err != nil || offset < 0 {
			return badRequest("offset %q: want a number ≥ 0", v)
		}
	}
	if v := q.Get("length"); v != "" {
		if length, err = strconv.Atoi(v); err != nil || length < 1 || length > MaxTaskPage {
			return badRequest("length %q: want 1 to %d", v, MaxTaskPage)
		}
	}
	tasks := st.Rows
	if v := q.Get("sortBy"); v != "" {
		key, desc := strings.CutPrefix(v, "-")
		f, ok := taskSorts[key]
		if !ok {
			return badRequest("sortBy %q: want one of id, partition, launch, durationMs, status, worker, with '-' to reverse", v)
		}
		slices.SortStableFunc(tasks, func(a, b obs.TaskRow) int {
			if desc {
				return f(&b, &a)
			}
			return f(&a, &b)
		})
	}
	offset = min(offset, len(tasks))
	return writeJSON(w, tasks[offset:min(offset+length, len(tasks))])
}

func (h *handler) executors(w http.ResponseWriter, r *http.Request, s *obs.Store) error {
	return writeJSON(w, s.Workers())
}

func (h *handler) counters(w http.ResponseWriter, r *http.Request, s *obs.Store) error {
	return writeJSON(w, s.Counters())
}

func (h *handler) timeline(w http.ResponseWriter, r *http.Request, s *obs.Store) error {
	return writeJSON(w, s.Timeline())
}

func (h *handler) dag(w http.ResponseWriter, r *http.Request, s *obs.Store) error {
	j, err := jobOf(r, s)
	if err != nil {
		return err
	}
	// Every stage of the job's graph, as its latest attempt when it ran:
	// one that has not started shows as pending, one whose output an
	// earlier job left as skipped.
	var stages []obs.StageInfo
	ran := map[int]bool{}
	for _, st := range s.Stages() {
		if st.Job == j.ID || slices.Contains(j.Stages, st.ID) {
			stages = append(stages, st)
			ran[st.ID] = true
		}
	}
	for _, g := range j.Graph {
		if !ran[g.ID] {
			st := obs.StageInfo{Stage: g, Done: g.Available}
			st.Status = obs.Pending
			if g.Available == g.Tasks {
				st.Status = obs.Skipped
			}
			stages = append(stages, st)
		}
	}
	w.Header().Set("Content-Type", "image/svg+xml")
	w.Header().Set("Cache-Control", "no-store")
	_, err = w.Write(DAG(stages))
	return err
}
