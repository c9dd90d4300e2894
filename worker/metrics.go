package worker

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/sluicehq/sluice/internal/rpc"
)

// MetricsPath is where a worker serves its Prometheus metrics: on its RPC
// port (mutual TLS, as every route there) and on --metrics HOST:PORT.
const MetricsPath = "/metrics"

// metricsTimeout bounds the heartbeat calls a scrape makes to count the
// tasks each executor runs.
const metricsTimeout = time.Second

// daemonCollector reads a worker's state when Prometheus scrapes it.
type daemonCollector struct {
	d                                          *Daemon
	slots, running, apps, diskFree, mapOutputs *prometheus.Desc
	low, served, used                          *prometheus.Desc
}

func newDaemonCollector(d *Daemon) *daemonCollector {
	labels := prometheus.Labels{"role": d.cfg.Role}
	return &daemonCollector{
		d:          d,
		slots:      prometheus.NewDesc("sluice_worker_slots", "Task slots this worker offers.", nil, labels),
		running:    prometheus.NewDesc("sluice_worker_tasks_running", "Tasks its executors run now.", nil, labels),
		apps:       prometheus.NewDesc("sluice_worker_applications", "Applications (drivers) with an executor here.", nil, labels),
		diskFree:   prometheus.NewDesc("sluice_worker_disk_free_bytes", "Bytes free in the worker's --dir.", nil, labels),
		mapOutputs: prometheus.NewDesc("sluice_worker_shuffle_bytes_held", "Bytes of map outputs held for fetching.", nil, labels),
		low:        prometheus.NewDesc("sluice_worker_disk_low", "1 while free disk is under --min-free-disk: no new map tasks.", nil, labels),
		served:     prometheus.NewDesc("sluice_worker_shuffle_bytes_served_total", "Shuffle bytes sent to fetching tasks.", nil, labels),
		used:       prometheus.NewDesc("sluice_worker_disk_used_bytes", "Bytes the worker keeps in --dir: map outputs and cached driver binaries.", nil, labels),
	}
}

func (c *daemonCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.slots, c.running, c.apps, c.diskFree, c.mapOutputs, c.low, c.served, c.used} {
		ch <- d
	}
}

func (c *daemonCollector) Collect(ch chan<- prometheus.Metric) {
	st := c.d.Status()
	var held int64
	for _, a := range st.Apps {
		held += a.MapOutputBytes
	}
	low := 0.0
	if st.Disk.Low {
		low = 1
	}
	ch <- prometheus.MustNewConstMetric(c.slots, prometheus.GaugeValue, float64(st.Slots))
	ch <- prometheus.MustNewConstMetric(c.running, prometheus.GaugeValue, float64(c.d.runningTasks(st)))
	ch <- prometheus.MustNewConstMetric(c.apps, prometheus.GaugeValue, float64(len(st.Apps)))
	ch <- prometheus.MustNewConstMetric(c.diskFree, prometheus.GaugeValue, float64(st.Disk.Free))
	ch <- prometheus.MustNewConstMetric(c.mapOutputs, prometheus.GaugeValue, float64(held))
	ch <- prometheus.MustNewConstMetric(c.low, prometheus.GaugeValue, low)
	ch <- prometheus.MustNewConstMetric(c.served, prometheus.CounterValue, float64(c.d.served.Load()))
	ch <- prometheus.MustNewConstMetric(c.used, prometheus.GaugeValue, float64(held+dirBytes(filepath.Join(c.d.cfg.Dir, "bin"))))
}

// runningTasks asks each executor, at once and briefly, how many tasks it
// runs; one that does not answer in time counts none.
func (d *Daemon) runningTasks(st Status) int {
	ctx, cancel := context.WithTimeout(context.Background(), metricsTimeout)
	defer cancel()
	var mu sync.Mutex
	var wg sync.WaitGroup
	n := 0
	for _, a := range st.Apps {
		if a.Executor == "" {
			continue
		}
		wg.Go(func() {
			resp, err := rpc.Call[Empty, HeartbeatResponse](ctx, d.client, a.Executor, MethodHeartbeat, &Empty{})
			if err == nil {
				mu.Lock()
				n += len(resp.Tasks)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return n
}

// metricsHandler serves the worker's metrics, with the Go runtime's.
func (d *Daemon) metricsHandler() http.Handler {
	reg := prometheus.NewRegistry()
	reg.MustRegister(newDaemonCollector(d), collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{MaxRequestsInFlight: 2, Timeout: 10 * time.Second})
}

// serveMetrics serves GET /metrics on --metrics until stop.
func (d *Daemon) serveMetrics() (stop func(), err error) {
	ln, err := net.Listen("tcp", d.cfg.Metrics)
	if err != nil {
		return nil, fmt.Errorf("--metrics %s: %w", d.cfg.Metrics, err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET "+MetricsPath, d.metricsHandler())
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 10 * time.Second, WriteTimeout: 30 * time.Second, IdleTimeout: time.Minute, MaxHeaderBytes: 16 << 10}
	done := make(chan struct{})
	go func() {
		defer close(done)
		srv.Serve(ln)
	}()
	d.log.Info("metrics", "addr", "http://"+ln.Addr().String()+MetricsPath)
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
		<-done
	}, nil
}

// PprofPath is where a worker serves Go's profiles (net/http/pprof's
// index and named profiles: goroutine, heap, allocs, …), on its RPC port
// behind mutual TLS; a driver's UI links to them through itself.
const PprofPath = "/debug/pprof/"

func pprofHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+PprofPath, pprof.Index)
	return mux
}

// dirBytes sums the sizes of the files directly in dir.
func dirBytes(dir string) int64 {
	ents, _ := os.ReadDir(dir)
	var n int64
	for _, e := range ents {
		if fi, err := e.Info(); err == nil && fi.Mode().IsRegular() {
			n += fi.Size()
		}
	}
	return n
}
