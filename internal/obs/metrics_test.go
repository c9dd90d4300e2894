package obs

import (
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// scrape reads reg's exposition as a Prometheus server would and returns
// each sample as "name{label=value,...}" → value.
func scrape(t *testing.T, reg *prometheus.Registry) map[string]float64 {
	t.Helper()
	rec := httptest.NewRecorder()
	promhttp.HandlerFor(reg, promhttp.HandlerOpts{}).ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(strings.NewReader(rec.Body.String()))
	if err != nil {
		t.Fatalf("exposition does not parse: %v\n%s", err, rec.Body)
	}
	out := map[string]float64{}
	for name, f := range fams {
		for _, m := range f.Metric {
			var labels []string
			for _, l := range m.Label {
				labels = append(labels, l.GetName()+"="+l.GetValue())
			}
			key := name
			if len(labels) > 0 {
				key += "{" + strings.Join(labels, ",") + "}"
			}
			switch f.GetType() {
			case dto.MetricType_GAUGE:
				out[key] = m.Gauge.GetValue()
			case dto.MetricType_COUNTER:
				out[key] = m.Counter.GetValue()
			case dto.MetricType_HISTOGRAM:
				out[key+"_count"] = float64(m.Histogram.GetSampleCount())
			}
		}
	}
	return out
}

func TestExporter(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := NewExporter(reg)
	evs := app(4)
	want := func(at string, exp map[string]float64) {
		t.Helper()
		got := scrape(t, reg)
		for k, v := range exp {
			if got[k] != v {
				t.Errorf("%s: %s = %v, want %v", at, k, got[k], v)
			}
		}
	}
	want("before", map[string]float64{"sluice_is_idle": 1, "sluice_tasks_running{kind=map}": 0})
	// Up to the second map task's start: one map task done, one running.
	i := 0
	for ; evs[i].Kind != TaskStart || evs[i].Task.Partition != 1; i++ {
		m.Observe(evs[i])
	}
	m.Observe(evs[i])
	want("mid-map", map[string]float64{
		"sluice_is_idle": 0, "sluice_tasks_running{kind=map}": 1, "sluice_tasks_remaining{kind=map}": 3,
		"sluice_workers{role=core,state=alive}": 1, "sluice_workers{role=task,state=alive}": 1,
	})
	for i++; i < len(evs); i++ {
		m.Observe(evs[i])
	}
	want("after", map[string]float64{
		"sluice_is_idle": 1, "sluice_tasks_running{kind=map}": 0, "sluice_tasks_running{kind=reduce}": 0,
		"sluice_tasks_remaining{kind=map}": 0, "sluice_tasks_remaining{kind=reduce}": 0,
		"sluice_tasks_lost_total": 1, "sluice_shuffle_bytes_written_total": 10_000,
		// w2 was lost, then came back.
		"sluice_workers{role=task,state=lost}": 1, "sluice_workers{role=task,state=alive}": 1,
		"sluice_task_duration_seconds{kind=map}_count": 4, "sluice_task_duration_seconds{kind=reduce}_count": 2,
		"sluice_job_duration_seconds_count": 1,
	})
}
