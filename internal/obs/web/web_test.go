package web

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/obs"
)

type oneApp struct{ s *obs.Store }

func (o oneApp) Apps() []AppInfo {
	a := o.s.App()
	return []AppInfo{{ID: a.ID, Name: a.Name, Status: a.Status, Start: a.Start, End: a.End}}
}

func (o oneApp) App(id string) (*obs.Store, error) {
	if id != o.s.App().ID {
		return nil, ErrNoApp
	}
	return o.s, nil
}

// store holds an application with a map stage of n tasks feeding a
// result stage.
func store(n int) *obs.Store {
	s := obs.NewStore(0)
	seq := int64(0)
	apply := func(e obs.Event) {
		seq++
		e.V, e.Seq, e.Time = obs.Version, seq, 1000+seq
		s.Apply(e)
	}
	apply(obs.Event{Kind: obs.AppStart, App: &obs.App{ID: "app-7", Name: "wc"}})
	apply(obs.Event{Kind: obs.WorkerAdded, Worker: &obs.Worker{Name: "w1", Role: "core", Slots: 2}})
	apply(obs.Event{Kind: obs.JobStart, Job: &obs.Job{ID: 3, Name: "Collect at main.go:9", Stages: []int{4, 5}}})
	apply(obs.Event{Kind: obs.StageSubmitted, Stage: &obs.Stage{ID: 4, Job: 3, Kind: "map", Tasks: n, Name: "TextFile at main.go:7 <b>"}})
	for p := range n {
		apply(obs.Event{Kind: obs.TaskStart, Task: &obs.Task{ID: int64(p), Stage: 4, Partition: p, Worker: "w1"}})
		apply(obs.Event{Kind: obs.TaskEnd, Task: &obs.Task{ID: int64(p), Stage: 4, Partition: p, Worker: "w1", Status: obs.Succeeded, Metrics: obs.Metrics{Duration: int64(100 * (p + 1))}}})
	}
	apply(obs.Event{Kind: obs.StageCompleted, Stage: &obs.Stage{ID: 4, Status: obs.Succeeded}})
	apply(obs.Event{Kind: obs.StageSubmitted, Stage: &obs.Stage{ID: 5, Job: 3, Kind: "result", Tasks: 1, Parents: []int{4}}})
	return s
}

func get(t *testing.T, srv *httptest.Server, path string, code int) string {
	t.Helper()
	r, err := http.Get(srv.URL + path)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Body.Close()
	b, _ := io.ReadAll(r.Body)
	if r.StatusCode != code {
		t.Fatalf("GET %s: %d %s, want %d", path, r.StatusCode, b, code)
	}
	if code == 200 && !strings.Contains(r.Header.Get("Content-Security-Policy"), "default-src 'self'") {
		t.Errorf("GET %s: no content security policy", path)
	}
	return string(b)
}

func TestAPI(t *testing.T) {
	srv := httptest.NewServer(Handler(oneApp{store(5)}))
	defer srv.Close()
	var apps []AppInfo
	json.Unmarshal([]byte(get(t, srv, "/api/v1/applications", 200)), &apps)
	if len(apps) != 1 || apps[0].ID != "app-7" || apps[0].Status != obs.Running {
		t.Fatalf("applications: %+v", apps)
	}
	var jobs []obs.JobState
	json.Unmarshal([]byte(get(t, srv, "/api/v1/applications/app-7/jobs", 200)), &jobs)
	if len(jobs) != 1 || jobs[0].ID != 3 {
		t.Fatalf("jobs: %+v", jobs)
	}
	var st obs.StageInfo
	json.Unmarshal([]byte(get(t, srv, "/api/v1/applications/app-7/stages/4/0", 200)), &st)
	if st.Done != 5 || st.Tasks != 5 {
		t.Fatalf("stage: %+v", st)
	}
	var sum struct {
		Quantiles []float64
		Metrics   map[string][]int64
	}
	json.Unmarshal([]byte(get(t, srv, "/api/v1/applications/app-7/stages/4/0/taskSummary?quantiles=0,0.5,1", 200)), &sum)
	if got := sum.Metrics["durationMs"]; len(got) != 3 || got[0] != 100 || got[1] != 300 || got[2] != 500 {
		t.Fatalf("summary: %+v", sum)
	}
	var tasks []obs.TaskRow
	json.Unmarshal([]byte(get(t, srv, "/api/v1/applications/app-7/stages/4/0/taskList?offset=1&length=2&sortBy=-durationMs", 200)), &tasks)
	if len(tasks) != 2 || tasks[0].Duration != 400 || tasks[1].Duration != 300 {
		t.Fatalf("task list: %+v", tasks)
	}
	var workers []obs.WorkerRow
	json.Unmarshal([]byte(get(t, srv, "/api/v1/applications/app-7/executors", 200)), &workers)
	if len(workers) != 1 || workers[0].Completed != 5 {
		t.Fatalf("executors: %+v", workers)
	}
	svg := get(t, srv, "/api/v1/applications/app-7/jobs/3/dag.svg", 200)
	if strings.Count(svg, `class="stage"`) != 2 || strings.Count(svg, `class="edge"`) != 1 || strings.Contains(svg, "<b>") {
		t.Errorf("dag: %s", svg)
	}
	if page := get(t, srv, "/", 200); !strings.Contains(page, "/static/app.js") {
		t.Errorf("index: %s", page)
	}
	get(t, srv, "/static/app.js", 200)
}

func TestAPIRejects(t *testing.T) {
	srv := httptest.NewServer(Handler(oneApp{store(2)}))
	defer srv.Close()
	for path, code := range map[string]int{
		"/api/v1/applications/nope/jobs":                                404,
		"/api/v1/applications/..%2f..%2fetc/jobs":                       400,
		"/api/v1/applications/app-7/jobs/x":                             400,
		"/api/v1/applications/app-7/jobs/99":                            404,
		"/api/v1/applications/app-7/stages/4/7":                         404,
		"/api/v1/applications/app-7/stages/4/0/taskList?length=0":       400,
		"/api/v1/applications/app-7/stages/4/0/taskList?length=1001":    400,
		"/api/v1/applications/app-7/stages/4/0/taskList?offset=-1":      400,
		"/api/v1/applications/app-7/stages/4/0/taskList?sortBy=x":       400,
		"/api/v1/applications/app-7/stages/4/0/taskSummary?quantiles=2": 400,
		"/api/v1/applications/app-7/stages/-1/0":                        400,
	} {
		get(t, srv, path, code)
	}
	r, err := http.Post(srv.URL+"/api/v1/applications", "text/plain", nil)
	if err != nil {
		t.Fatal(err)
	}
	r.Body.Close()
	if r.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST: %d", r.StatusCode)
	}
}

// The history server shows a finished application and a crashed one
// from their logs, and keeps only as many loaded as asked.
func TestHistory(t *testing.T) {
	dir := t.TempDir()
	for _, id := range []string{"done", "crashed"} {
		w, err := obs.CreateLog(dir, obs.App{ID: id, Name: id}, obs.LogOptions{Heartbeat: 10 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		w.Write(obs.Event{Time: 1, Kind: obs.AppStart, App: &obs.App{ID: id, Name: id}})
		w.Write(obs.Event{Time: 2, Kind: obs.JobStart, Job: &obs.Job{ID: 0}})
		if id == "done" {
			w.Write(obs.Event{Time: 3, Kind: obs.JobEnd, Job: &obs.Job{ID: 0, Status: obs.Succeeded}})
			w.Write(obs.Event{Time: 4, Kind: obs.AppEnd, App: &obs.App{Status: obs.Succeeded}})
			if err := w.Close(obs.Succeeded, time.Now()); err != nil {
				t.Fatal(err)
			}
		} else if err := w.Beat(time.Now(), true); err != nil {
			t.Fatal(err)
		}
	}
	h := NewHistory(dir, 1)
	srv := httptest.NewServer(Handler(h))
	defer srv.Close()
	// Poll until the crashed driver's heartbeat is three intervals old.
	deadline := time.Now().Add(10 * time.Second)
	var apps []AppInfo
	for {
		apps = nil
		json.Unmarshal([]byte(get(t, srv, "/api/v1/applications", 200)), &apps)
		if len(apps) == 2 && apps[0].Status != obs.Running && apps[1].Status != obs.Running || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	got := map[string]obs.Status{}
	for _, a := range apps {
		got[a.ID] = a.Status
	}
	if got["done"] != obs.Succeeded || got["crashed"] != obs.Failed {
		t.Fatalf("applications: %+v", apps)
	}
	var info obs.AppState
	json.Unmarshal([]byte(get(t, srv, "/api/v1/applications/crashed", 200)), &info)
	if info.Status != obs.Failed || !info.Crashed {
		t.Errorf("crashed app: %+v", info)
	}
	var jobs []obs.JobState
	json.Unmarshal([]byte(get(t, srv, "/api/v1/applications/done/jobs", 200)), &jobs)
	if len(jobs) != 1 || jobs[0].Status != obs.Succeeded {
		t.Errorf("done jobs: %+v", jobs)
	}
	if len(h.loaded) != 1 {
		t.Errorf("%d applications loaded, want at most 1", len(h.loaded))
	}
	get(t, srv, "/api/v1/applications/missing/jobs", 404)
}
