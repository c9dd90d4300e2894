package worker_test

import (
	"crypto/tls"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/internal/loopback"
	"github.com/sluicehq/sluice/worker"
)

func scrape(t *testing.T, c *http.Client, url string) (int, string) {
	t.Helper()
	resp, err := c.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// A worker's /metrics: over plain HTTP on --metrics (loopback), and on
// its RPC port only with the cluster's certificates.
func TestWorkerMetrics(t *testing.T) {
	creds := newCreds(t)
	addr, err := loopback.FreeAddr()
	if err != nil {
		t.Fatal(err)
	}
	d := startDaemon(t, "w1", creds, func(c *worker.DaemonConfig) { c.Role, c.Slots, c.Metrics = worker.RoleTask, 3, addr })
	code, body := scrape(t, http.DefaultClient, "http://"+addr+worker.MetricsPath)
	for _, want := range []string{`sluice_worker_slots{role="task"} 3`, `sluice_worker_tasks_running{role="task"} 0`, `sluice_worker_shuffle_bytes_served_total{role="task"} 0`, "sluice_worker_disk_free_bytes", `sluice_worker_disk_used_bytes{role="task"} 0`, "go_goroutines"} {
		if code != 200 || !strings.Contains(body, want) {
			t.Fatalf("--metrics: %d, no %q in\n%s", code, want, body)
		}
	}
	tlsClient := &http.Client{Transport: &http.Transport{TLSClientConfig: creds.ClientTLS()}}
	if code, body := scrape(t, tlsClient, "https://"+d.Addr()+worker.MetricsPath); code != 200 || !strings.Contains(body, `sluice_worker_slots{role="task"} 3`) {
		t.Fatalf("RPC port /metrics with the cluster's certificate: %d\n%s", code, body)
	}
	anon := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	if resp, err := anon.Get("https://" + d.Addr() + worker.MetricsPath); err == nil {
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode == 200 || strings.Contains(string(b), "sluice_worker") {
			t.Fatalf("RPC port /metrics without a certificate: %d %s", resp.StatusCode, b)
		}
	}
	other := &http.Client{Transport: &http.Transport{TLSClientConfig: newCreds(t).ClientTLS()}}
	if resp, err := other.Get("https://" + d.Addr() + worker.MetricsPath); err == nil {
		resp.Body.Close()
		t.Fatalf("RPC port /metrics with another cluster's certificate: %d", resp.StatusCode)
	}
	// Plain HTTP off loopback needs --insecure.
	cfg := worker.DefaultDaemonConfig()
	cfg.Role, cfg.Slots, cfg.Dir, cfg.Creds, cfg.Metrics = worker.RoleCore, 1, t.TempDir(), creds, "10.9.8.7:9100"
	if _, err := worker.NewDaemon(cfg); err == nil || !strings.Contains(err.Error(), "--metrics") {
		t.Errorf("--metrics off loopback without --insecure: %v", err)
	}
}
