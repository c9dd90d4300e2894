package web

import (
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/sluicehq/sluice/internal/browser"
	"github.com/sluicehq/sluice/internal/obs"
)

// The UI in a real Chromium: the job page draws the DAG, the stage page
// lists the tasks, both follow the running job without a reload, and no
// request leaves the server.
func TestUIInChromium(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a browser")
	}
	b := browser.Start(t, 60*time.Second)
	s := obs.NewStore(0)
	seq := int64(0)
	apply := func(e obs.Event) {
		seq++
		e.V, e.Seq, e.Time = obs.Version, seq, time.Now().UnixMilli()
		s.Apply(e)
	}
	apply(obs.Event{Kind: obs.AppStart, App: &obs.App{ID: "app-9", Name: "wordcount"}})
	apply(obs.Event{Kind: obs.WorkerAdded, Worker: &obs.Worker{Name: "core-1", Role: "core", Slots: 2}})
	apply(obs.Event{Kind: obs.JobStart, Job: &obs.Job{ID: 0, Name: "SaveAsTextFile at main.go:40", Stages: []int{0, 1}}})
	apply(obs.Event{Kind: obs.StageSubmitted, Stage: &obs.Stage{ID: 0, Job: 0, Kind: "map", Tasks: 6, Name: "TextFile at main.go:31 FlatMap at main.go:32"}})
	apply(obs.Event{Kind: obs.StageSubmitted, Stage: &obs.Stage{ID: 1, Job: 0, Kind: "result", Tasks: 2, Parents: []int{0}, Name: "ReduceByKey at main.go:35"}})
	finish := func(from, to int) {
		for p := from; p < to; p++ {
			apply(obs.Event{Kind: obs.TaskStart, Task: &obs.Task{ID: int64(p), Stage: 0, Partition: p, Worker: "core-1", Role: "core"}})
			apply(obs.Event{Kind: obs.TaskEnd, Task: &obs.Task{ID: int64(p), Stage: 0, Partition: p, Worker: "core-1", Role: "core", Status: obs.Succeeded,
				Metrics: obs.Metrics{Duration: int64(1000 + p), RecordsIn: 4242}}})
		}
	}
	finish(0, 3)
	srv := httptest.NewServer(Handler(oneApp{s}))
	defer srv.Close()

	err := chromedp.Do(b.Ctx,
		chromedp.Navigate(srv.URL+"/#/app/app-9/job/0"),
		chromedp.WaitVisible(chromedp.CSS(`#dag svg g.stage`)),
	)
	if err != nil {
		t.Fatal(err)
	}
	dag, err := chromedp.Run(b.Ctx, chromedp.OuterHTML(chromedp.CSS(`#dag`)))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Count(dag, `class="stage"`) != 2 || !strings.Contains(dag, "3/6") || !strings.Contains(dag, "main.go:32") {
		t.Fatalf("DAG: %s", dag)
	}
	// The job moves on; the open page follows.
	finish(3, 6)
	if err := chromedp.Do(b.Ctx, chromedp.WaitVisible(chromedp.Search(`//*[@id="dag"]//*[contains(text(), "6/6")]`))); err != nil {
		t.Fatalf("the DAG did not follow the job: %v", err)
	}
	err = chromedp.Do(b.Ctx,
		chromedp.Navigate(srv.URL+"/#/app/app-9/stage/0/0"),
		chromedp.WaitVisible(chromedp.CSS(`#tasks tbody tr`)),
	)
	if err != nil {
		t.Fatal(err)
	}
	rows, err := chromedp.Run(b.Ctx, chromedp.Evaluate[int](`document.querySelectorAll("#tasks tbody tr").length`))
	if err != nil {
		t.Fatal(err)
	}
	table, err := chromedp.Run(b.Ctx, chromedp.OuterHTML(chromedp.CSS(`#tasks`)))
	if err != nil {
		t.Fatal(err)
	}
	if rows != 6 || !strings.Contains(table, "4,242") || !strings.Contains(table, "core-1") {
		t.Fatalf("%d task rows: %s", rows, table)
	}
	summary, err := chromedp.Run(b.Ctx, chromedp.OuterHTML(chromedp.CSS(`#summary`)))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(summary, "1.0 s") || !strings.Contains(summary, "median") {
		t.Errorf("summary: %s", summary)
	}
	err = chromedp.Do(b.Ctx, chromedp.Navigate(srv.URL+"/#/app/app-9"), chromedp.WaitVisible(chromedp.CSS(`#counters`)))
	if err != nil {
		t.Fatal(err)
	}
	counters, err := chromedp.Run(b.Ctx, chromedp.OuterHTML(chromedp.CSS(`#counters`)))
	if err != nil || !strings.Contains(counters, "<td>tasks launched</td><td>6</td>") {
		t.Errorf("counters: %v\n%s", err, counters)
	}
	if len(b.Requests()) < 5 {
		t.Errorf("the browser made %d requests: the recorder misses them", len(b.Requests()))
	}
	for _, u := range b.Requests() {
		if !strings.HasPrefix(u, srv.URL+"/") {
			t.Errorf("request outside the server: %s", u)
		}
	}
}
