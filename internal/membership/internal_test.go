package membership

import (
	"bytes"
	"log"
	"log/slog"
	"strings"
	"testing"
	"time"
)

func TestFailedSetRoundRobinAndExpiry(t *testing.T) {
	f := newFailedSet()
	t0 := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	f.add("b", "10.0.0.2:7946", t0)
	f.add("a", "10.0.0.1:7946", t0)
	f.add("c", "10.0.0.3:7946", t0.Add(time.Minute))
	var got []string
	for range 4 {
		name, addr, ok := f.next(t0.Add(time.Minute), 10*time.Minute)
		if !ok {
			t.Fatal("next found nothing")
		}
		got = append(got, name+"@"+addr)
	}
	want := "a@10.0.0.1:7946 b@10.0.0.2:7946 c@10.0.0.3:7946 a@10.0.0.1:7946"
	if strings.Join(got, " ") != want {
		t.Errorf("round robin = %v, want %s", got, want)
	}
	f.forget("c")
	// a and b have been failed longer than the timeout: forgotten.
	if name, _, ok := f.next(t0.Add(11*time.Minute), 10*time.Minute); ok {
		t.Errorf("next after expiry = %s, want none", name)
	}
	if len(f.m) != 0 {
		t.Errorf("%d members remembered after expiry and forget, want 0", len(f.m))
	}
}

func TestLogWriterLevels(t *testing.T) {
	var buf bytes.Buffer
	l := log.New(newLogWriter(slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))), "", 0)
	l.Printf("[DEBUG] memberlist: stream from 10.0.0.2")
	l.Printf("[WARN] memberlist: refuting")
	l.Printf("[ERR] memberlist: failed")
	l.Printf("no level")
	out := buf.String()
	for _, want := range []string{
		`level=DEBUG msg="memberlist: stream from 10.0.0.2"`,
		`level=WARN msg="memberlist: refuting"`,
		`level=ERROR msg="memberlist: failed"`,
		`level=INFO msg="no level"`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("log output lacks %s:\n%s", want, out)
		}
	}
}

// TestLogWriterLimitsPeerComplaints: a peer without the key sends many
// packets; its refusals are logged once a minute, in words that say why.
func TestLogWriterLimitsPeerComplaints(t *testing.T) {
	var buf bytes.Buffer
	l := log.New(newLogWriter(slog.New(slog.NewTextHandler(&buf, nil))), "", 0)
	for range 100 {
		l.Printf("[ERR] memberlist: Decrypt packet failed: No installed keys could decrypt the message from=10.0.0.9:7946")
		l.Printf("[ERR] memberlist: failed to receive: encryption is configured but remote state is not encrypted from=10.0.0.9:40000")
	}
	l.Printf("[ERR] memberlist: Decrypt packet failed: No installed keys could decrypt the message from=10.0.0.10:7946")
	out := buf.String()
	if n := strings.Count(out, "\n"); n != 2 {
		t.Fatalf("%d lines for 201 refusals from 2 peers, want 2:\n%s", n, out)
	}
	if !strings.Contains(out, "without the cluster secret") || !strings.Contains(out, "remote=10.0.0.9") || !strings.Contains(out, "remote=10.0.0.10") {
		t.Errorf("log does not say which peer was refused and why:\n%s", out)
	}
}
