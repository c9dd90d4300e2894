package driver_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/sluicehq/sluice/driver"
	"github.com/sluicehq/sluice/internal/browser"
	"github.com/sluicehq/sluice/internal/clustertest"
	"github.com/sluicehq/sluice/internal/loopback"
	"github.com/sluicehq/sluice/internal/obs"
	"github.com/sluicehq/sluice/rdd"
)

type gateArgs struct {
	N, Parts int
	Gate     string // a file each map task waits for (a minute at most)
}

// gatedJob runs until the test creates the gate file: a job the test can
// look at while it runs.
var gatedJob = rdd.Func(func(a gateArgs) *rdd.RDD[rdd.Pair[int, int]] {
	data := make([]int, a.N)
	for i := range data {
		data[i] = i
	}
	slow := rdd.Map(rdd.Parallelize(data, rdd.Partitions(a.Parts)), func(x int) int {
		for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
			if _, err := os.Stat(a.Gate); err == nil {
				break
			}
		}
		return x
	})
	pairs := rdd.Map(slow, func(x int) rdd.Pair[int, int] { return rdd.KV(x%3, x) })
	return rdd.ReduceByKey(pairs, func(a, b int) int { return a + b }, rdd.Partitions(2))
})

// metrics scrapes url's /metrics as Prometheus would: "name{k=v,...}" → value.
func metrics(t *testing.T, url string) map[string]float64 {
	t.Helper()
	resp, err := http.Get(url + "metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("/metrics does not parse: %v", err)
	}
	out := map[string]float64{}
	for name, f := range fams {
		for _, m := range f.Metric {
			key := name
			for _, l := range m.Label {
				key += fmt.Sprintf("{%s=%s}", l.GetName(), l.GetValue())
			}
			if g := m.GetGauge(); g != nil {
				out[key] = g.GetValue()
			} else if c := m.GetCounter(); c != nil {
				out[key] = c.GetValue()
			}
		}
	}
	return out
}

func getJSON(t *testing.T, url string, v any) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s: %d %s", url, resp.StatusCode, b)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
}

// await polls cond until it holds or a deadline passes.
func await(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); !cond(); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// A cluster job seen as it runs: /metrics shows its running map tasks and
// not idle, the UI in Chromium draws its DAG and lists its tasks on the
// workers, no request leaves 127.0.0.1; after it, idle and nothing left;
// the event log says the application succeeded.
func TestClusterUI(t *testing.T) {
	if testing.Short() {
		t.Skip("starts worker processes and a browser")
	}
	b := browser.Start(t, 2*time.Minute)
	c := clustertest.Start(t, sluice(t), clustertest.Options{Core: 1, Task: 1})
	cfg := driver.DefaultConfig()
	cfg.LocalDir = t.TempDir()
	cfg.Join, cfg.MinWorkers, cfg.Wait = []string{c.Join}, len(c.Workers), time.Minute
	cfg.UI, cfg.EventLog = "127.0.0.1:0", t.TempDir()
	s, err := driver.NewSession(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	url := s.UIURL()
	if !strings.HasPrefix(url, "http://127.0.0.1:") {
		t.Fatalf("UI at %q", url)
	}
	if m := metrics(t, url); m["sluice_is_idle"] != 1 {
		t.Errorf("before the job: sluice_is_idle %v", m["sluice_is_idle"])
	}
	gate := filepath.Join(t.TempDir(), "gate")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	done := make(chan error, 1)
	go func() {
		got, err := rdd.Collect(ctx, s, gatedJob.Invoke(gateArgs{N: 30, Parts: 4, Gate: gate}))
		sum := 0
		for _, p := range got {
			sum += p.Value
		}
		if err == nil && sum != 435 {
			err = fmt.Errorf("sum %d, want 435", sum)
		}
		done <- err
	}()
	var m map[string]float64
	defer func() {
		if t.Failed() {
			resp, err := http.Get(url + "api/v1/applications/" + s.AppID() + "/stages")
			if err == nil {
				b, _ := io.ReadAll(resp.Body)
				t.Logf("stages: %s\nmetrics: %v", b, m)
			}
		}
	}()
	await(t, "running map tasks in /metrics", func() bool {
		m = metrics(t, url)
		return m["sluice_tasks_running{kind=map}"] > 0
	})
	if m["sluice_is_idle"] != 0 || m["sluice_tasks_remaining{kind=map}"] != 4 || m["sluice_workers{role=core}{state=alive}"] != 1 || m["sluice_workers{role=task}{state=alive}"] != 1 {
		t.Errorf("during the job: %v", m)
	}

	app := s.AppID()
	var jobs []obs.JobState
	getJSON(t, url+"api/v1/applications/"+app+"/jobs", &jobs)
	if len(jobs) != 1 || jobs[0].Status != obs.Running || !strings.HasPrefix(jobs[0].Name, "Collect at ui_test.go:") {
		t.Fatalf("jobs: %+v", jobs)
	}
	job := jobs[0]
	err = chromedp.Do(b.Ctx,
		chromedp.Navigate(fmt.Sprintf("%s#/app/%s/job/%d", url, app, job.ID)),
		chromedp.WaitVisible(chromedp.CSS(`#dag svg g.stage`)),
	)
	if err != nil {
		t.Fatal(err)
	}
	dag, err := chromedp.Run(b.Ctx, chromedp.OuterHTML(chromedp.CSS(`#dag`)))
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(dag, `class="stage"`); n != 2 || !strings.Contains(dag, "ui_test.go:") || !strings.Contains(dag, "0/4") {
		t.Errorf("the DAG of a 2-stage job with 4 map tasks running: %d stages:\n%s", n, dag)
	}
	mapStage := job.Graph[len(job.Graph)-1].ID
	err = chromedp.Do(b.Ctx,
		chromedp.Navigate(fmt.Sprintf("%s#/app/%s/stage/%d/0", url, app, mapStage)),
		chromedp.WaitVisible(chromedp.CSS(`#tasks tbody tr`)),
	)
	if err != nil {
		t.Fatal(err)
	}
	tasks, err := chromedp.Run(b.Ctx, chromedp.OuterHTML(chromedp.CSS(`#tasks`)))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Count(tasks, "RUNNING") < 1 || (!strings.Contains(tasks, ">core<") && !strings.Contains(tasks, ">task<")) {
		t.Errorf("task table of the running map stage:\n%s", tasks)
	}

	if err := os.WriteFile(gate, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	// The open page follows the job to its end without a reload.
	if err := chromedp.Do(b.Ctx, chromedp.WaitVisible(chromedp.Search(`//*[@id="tasks"]//td[contains(., "SUCCEEDED")]`))); err != nil {
		t.Errorf("the task table did not follow the job: %v", err)
	}
	await(t, "idle after the job", func() bool {
		m = metrics(t, url)
		return m["sluice_is_idle"] == 1
	})
	for _, k := range []string{"sluice_tasks_running{kind=map}", "sluice_tasks_running{kind=reduce}", "sluice_tasks_remaining{kind=map}", "sluice_tasks_remaining{kind=reduce}"} {
		if m[k] != 0 {
			t.Errorf("after the job: %s = %v", k, m[k])
		}
	}
	for _, u := range b.Requests() {
		if !strings.HasPrefix(u, url) {
			t.Errorf("a request left the UI: %s", u)
		}
	}
	// The tasks' measurements: the map tasks wrote shuffle records, the
	// reduce tasks read them.
	var stages []obs.StageInfo
	getJSON(t, url+"api/v1/applications/"+app+"/stages", &stages)
	var written, read int64
	for _, st := range stages {
		var rows []obs.TaskRow
		getJSON(t, fmt.Sprintf("%sapi/v1/applications/%s/stages/%d/%d/taskList?length=100", url, app, st.ID, st.Attempt), &rows)
		for _, r := range rows {
			if r.Status == obs.Succeeded {
				written += r.RecordsOut
				read += r.RecordsIn
			}
		}
		if st.Kind == "result" && st.Totals.ShuffleRead == 0 {
			t.Errorf("reduce stage read no shuffle bytes: %+v", st)
		}
	}
	if written == 0 || read == 0 {
		t.Errorf("shuffle records written %d, read %d", written, read)
	}
	// Every worker's goroutines, through the driver's UI and the cluster's
	// mutual TLS, linked from the workers page.
	var workers []obs.WorkerRow
	getJSON(t, url+"api/v1/applications/"+app+"/executors", &workers)
	for _, w := range workers {
		resp, err := http.Get(url + "debug/workers/" + w.Name + "/pprof/goroutine?debug=2")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.Contains(string(b), "goroutine ") {
			t.Errorf("worker %s goroutines: %d %.200s", w.Name, resp.StatusCode, b)
		}
	}
	if resp, err := http.Get(url + "debug/workers/nosuch/pprof/"); err == nil {
		resp.Body.Close()
		if resp.StatusCode != http.StatusNotFound {
			t.Errorf("an unknown worker's profiles: %d", resp.StatusCode)
		}
	}
	err = chromedp.Do(b.Ctx,
		chromedp.Navigate(fmt.Sprintf("%s#/app/%s/workers", url, app)),
		chromedp.WaitVisible(chromedp.CSS(`#workers a[href*="/pprof/goroutine"]`)),
	)
	if err != nil {
		t.Errorf("the workers page links no goroutine dumps: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	st, err := obs.ReadStatus(filepath.Join(cfg.EventLog, app), time.Now())
	if err != nil || st.Status != obs.Succeeded {
		t.Errorf("event log status %+v %v", st, err)
	}
}

// gatedProgram runs gatedJob with the gate file $GATE: a driver program
// that runs until the test opens the gate, or is killed.
func gatedProgram() {
	driver.Main(func(ctx context.Context, s *driver.Session) error {
		_, err := rdd.Collect(ctx, s, gatedJob.Invoke(gateArgs{N: 30, Parts: 4, Gate: os.Getenv("GATE")}))
		return err
	})
}

// sluice history shows, from the event logs alone after the drivers have
// exited, a finished application as succeeded and a killed driver's as
// failed (crashed), never as still running.
func TestHistoryShowsFinishedAndKilledApps(t *testing.T) {
	if testing.Short() {
		t.Skip("starts driver and history processes")
	}
	logs, open := t.TempDir(), filepath.Join(t.TempDir(), "open")
	if err := os.WriteFile(open, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if r := runProgram(t, "gated", []string{"GATE=" + open}, "--event-log", logs); r.code != 0 {
		t.Fatalf("finished driver: exit %d\n%s", r.code, r.stderr)
	}
	// A driver killed mid-job: the test waits for its log, then SIGKILL.
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	killed := exec.CommandContext(ctx, os.Args[0], "--event-log", logs)
	killed.Env = append(os.Environ(), asProgram+"=gated", "GATE="+filepath.Join(t.TempDir(), "never"))
	killed.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := killed.Start(); err != nil {
		t.Fatal(err)
	}
	defer killed.Process.Kill()
	await(t, "the second application's log", func() bool {
		st, _ := filepath.Glob(filepath.Join(logs, "*", "status.json"))
		return len(st) == 2
	})
	if err := killed.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	killed.Wait()

	addr, err := loopback.FreeAddr()
	if err != nil {
		t.Fatal(err)
	}
	hist := exec.CommandContext(ctx, sluice(t), "history", "--dir", logs, "--listen", addr)
	hist.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	var herr strings.Builder
	hist.Stderr = &herr
	if err := hist.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		hist.Process.Kill()
		hist.Wait()
	}()
	url := "http://" + addr + "/api/v1/applications"
	var apps []struct {
		ID      string
		Status  obs.Status
		Crashed bool
	}
	await(t, "sluice history to answer", func() bool {
		resp, err := http.Get(url)
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	})
	getJSON(t, url, &apps)
	var statuses []string
	for _, a := range apps {
		statuses = append(statuses, fmt.Sprintf("%s crashed=%v", a.Status, a.Crashed))
		if a.Status != obs.Succeeded {
			continue
		}
		var jobs []obs.JobState
		getJSON(t, url+"/"+a.ID+"/jobs", &jobs)
		if len(jobs) != 1 || jobs[0].Status != obs.Succeeded || !strings.HasPrefix(jobs[0].Name, "Collect at ui_test.go:") {
			t.Errorf("the finished application's jobs: %+v", jobs)
		}
	}
	slices.Sort(statuses)
	if got := strings.Join(statuses, ", "); got != "FAILED crashed=true, SUCCEEDED crashed=false" {
		t.Errorf("applications: %s\n%s", got, herr.String())
	}
}
