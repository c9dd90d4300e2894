package worker_test

import (
	"context"
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/rpc"
	"github.com/sluicehq/sluice/internal/trust"
	"github.com/sluicehq/sluice/worker"
)

// GraphRanges against a plain set: random additions, every membership.
func TestGraphRangesAgainstASet(t *testing.T) {
	rng := rand.New(rand.NewPCG(10, 1))
	for round := range 200 {
		var rs worker.GraphRanges
		set := map[int]bool{}
		for range rng.IntN(100) {
			g := rng.IntN(60)
			rs = rs.Add(g)
			set[g] = true
		}
		for g := -1; g <= 61; g++ {
			if rs.Has(g) != set[g] {
				t.Fatalf("round %d: Has(%d) = %v, want %v (ranges %v)", round, g, rs.Has(g), set[g], rs)
			}
		}
		for i, r := range rs {
			if r.To < r.From || (i > 0 && r.From <= rs[i-1].To+1) {
				t.Fatalf("round %d: ranges %v are not sorted, disjoint and merged", round, rs)
			}
		}
	}
	// A driver forgets graphs roughly in order: a long run is one range.
	var rs worker.GraphRanges
	for g := 1000; g >= 1; g-- {
		if g != 500 {
			rs = rs.Add(g)
		}
	}
	if want := (worker.GraphRanges{{1, 499}, {501, 1000}}); !slices.Equal(rs, want) {
		t.Fatalf("ranges %v, want %v", rs, want)
	}
}

// daemonIn starts a worker daemon in this process with its --dir at dir
// and returns a client that holds its secret, the daemon's RPC address
// and the daemon's credentials.
func daemonIn(t *testing.T, dir string) (*rpc.Client, string, *trust.Creds) {
	t.Helper()
	creds := newCreds(t)
	d := startDaemon(t, "w1", creds, func(c *worker.DaemonConfig) { c.Dir = dir })
	return d.client, d.Addr(), creds
}

// writeOutputs writes the data and index files of map outputs (graph,
// shuffle, map) into an application's directory on a worker.
func writeOutputs(t *testing.T, appDir string, outs ...[3]int) {
	t.Helper()
	for _, o := range outs {
		data, index := worker.MapOutputPaths(appDir, o[0], o[1], o[2])
		if err := os.MkdirAll(filepath.Dir(data), 0o755); err != nil {
			t.Fatal(err)
		}
		for _, f := range []string{data, index} {
			if err := os.WriteFile(f, []byte("x"), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
}

func filesIn(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	return names
}

// ForgetGraphs removes the map outputs of exactly the graphs it names, of
// exactly the application it names.
func TestForgetGraphsRemovesTheirMapOutputs(t *testing.T) {
	dir := t.TempDir()
	client, addr, _ := daemonIn(t, dir)
	app, other := filepath.Join(dir, "apps", "app-1"), filepath.Join(dir, "apps", "app-2")
	writeOutputs(t, app, [3]int{1, 0, 0}, [3]int{2, 1, 3}, [3]int{3, 0, 0}, [3]int{12, 0, 1}, [3]int{21, 0, 0})
	writeOutputs(t, other, [3]int{1, 0, 0})
	if err := os.WriteFile(filepath.Join(app, "shuffle", "notes.txt"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := rpc.Call[worker.ForgetGraphsRequest, worker.Empty](ctx, client, addr, worker.MethodForgetGraphs,
		&worker.ForgetGraphsRequest{App: "app-1", Graphs: worker.GraphRanges{{1, 2}, {12, 12}}}); err != nil {
		t.Fatal(err)
	}
	want := []string{"g21_s0_m0.data", "g21_s0_m0.index", "g3_s0_m0.data", "g3_s0_m0.index", "notes.txt"}
	if got := filesIn(t, filepath.Join(app, "shuffle")); !slices.Equal(got, want) {
		t.Fatalf("after forgetting graphs 1, 2 and 12: %v, want %v", got, want)
	}
	if got := filesIn(t, filepath.Join(other, "shuffle")); len(got) != 2 {
		t.Fatalf("another application's outputs: %v, want both files kept", got)
	}
	// An application with no files here yet: nothing to do, no error.
	if _, err := rpc.Call[worker.ForgetGraphsRequest, worker.Empty](ctx, client, addr, worker.MethodForgetGraphs,
		&worker.ForgetGraphsRequest{App: "app-3", Graphs: worker.GraphRanges{{1, 5}}}); err != nil {
		t.Fatal(err)
	}
}

// Hostile requests to ForgetGraphs: without the secret, with ids that are
// not names, with ranges a search cannot trust, with too many ranges or a
// body over the limit. Each is refused, and no file goes.
func TestForgetGraphsRefusesHostileRequests(t *testing.T) {
	dir := t.TempDir()
	client, addr, _ := daemonIn(t, dir)
	app := filepath.Join(dir, "apps", "app-1")
	writeOutputs(t, app, [3]int{1, 0, 0})
	// What "." and ".." as an app would reach.
	escapes := []string{filepath.Join(dir, "apps", "shuffle", "g1_s0_m0.data"), filepath.Join(dir, "shuffle", "g1_s0_m0.data")}
	for _, f := range escapes {
		if err := os.MkdirAll(filepath.Dir(f), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(f, nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	all := worker.GraphRanges{{0, 1 << 30}}
	many := make(worker.GraphRanges, worker.MaxForgetRanges+1)
	for i := range many {
		many[i] = worker.GraphRange{From: 2 * i, To: 2 * i}
	}
	huge := make(worker.GraphRanges, 200_000) // over 1 MiB of body
	for i := range huge {
		huge[i] = worker.GraphRange{From: 1 << 30, To: 1 << 30}
	}
	for _, tc := range []struct {
		name string
		req  worker.ForgetGraphsRequest
		code string
	}{
		{"app ..", worker.ForgetGraphsRequest{App: "..", Graphs: all}, "bad_request"},
		{"app .", worker.ForgetGraphsRequest{App: ".", Graphs: all}, "bad_request"},
		{"app with a separator", worker.ForgetGraphsRequest{App: "app-1/../app-1", Graphs: all}, "bad_request"},
		{"empty app", worker.ForgetGraphsRequest{Graphs: all}, "bad_request"},
		{"negative graph", worker.ForgetGraphsRequest{App: "app-1", Graphs: worker.GraphRanges{{-5, 1}}}, "bad_request"},
		{"range backwards", worker.ForgetGraphsRequest{App: "app-1", Graphs: worker.GraphRanges{{2, 1}}}, "bad_request"},
		{"ranges out of order", worker.ForgetGraphsRequest{App: "app-1", Graphs: worker.GraphRanges{{5, 6}, {1, 1}}}, "bad_request"},
		{"ranges overlapping", worker.ForgetGraphsRequest{App: "app-1", Graphs: worker.GraphRanges{{0, 3}, {3, 4}}}, "bad_request"},
		{"too many ranges", worker.ForgetGraphsRequest{App: "app-1", Graphs: many}, "too_large"},
	} {
		_, err := rpc.Call[worker.ForgetGraphsRequest, worker.Empty](ctx, client, addr, worker.MethodForgetGraphs, &tc.req)
		var re *rpc.RemoteError
		if !errors.As(err, &re) || re.Code != tc.code {
			t.Errorf("%s: %v; want code %q", tc.name, err, tc.code)
		}
	}
	if _, err := rpc.Call[worker.ForgetGraphsRequest, worker.Empty](ctx, client, addr, worker.MethodForgetGraphs,
		&worker.ForgetGraphsRequest{App: "app-1", Graphs: huge}); !errors.Is(err, rpc.ErrTooLarge) {
		t.Errorf("a body over the route's limit: %v, want ErrTooLarge", err)
	}
	other, err := trust.New([][]byte{[]byte(trust.NewSecret())}, nil)
	if err != nil {
		t.Fatal(err)
	}
	for name, tlsc := range map[string]*rpc.Client{
		"no credentials": rpc.NewClient(rpc.ClientConfig{}),
		"a wrong secret": rpc.NewClient(rpc.ClientConfig{TLS: other.ClientTLS()}),
	} {
		_, err := rpc.Call[worker.ForgetGraphsRequest, worker.Empty](ctx, tlsc, addr, worker.MethodForgetGraphs,
			&worker.ForgetGraphsRequest{App: "app-1", Graphs: all})
		if !errors.Is(err, rpc.ErrUnauthorized) && !errors.Is(err, rpc.ErrUnavailable) {
			t.Errorf("%s: %v, want a refusal", name, err)
		}
		tlsc.Close()
	}
	if got := filesIn(t, filepath.Join(app, "shuffle")); len(got) != 2 {
		t.Fatalf("hostile requests removed map outputs: %v left", got)
	}
	for _, f := range escapes {
		if _, err := os.Stat(f); err != nil {
			t.Fatalf("a hostile request removed a file outside the application's directory: %v", err)
		}
	}
}

// A worker restarted after it was killed removes what its earlier run
// left: no driver reads those map outputs again.
func TestRestartedWorkerRemovesStaleApps(t *testing.T) {
	dir := t.TempDir()
	for _, d := range []string{dir, filepath.Join(dir, "apps")} {
		if err := os.Mkdir(d, 0o700); err != nil && !errors.Is(err, os.ErrExist) {
			t.Fatal(err)
		}
	}
	writeOutputs(t, filepath.Join(dir, "apps", "app-old"), [3]int{1, 0, 0})
	daemonIn(t, dir)
	if got := filesIn(t, filepath.Join(dir, "apps")); len(got) != 0 {
		t.Fatalf("a restarted worker kept %v", got)
	}
}
