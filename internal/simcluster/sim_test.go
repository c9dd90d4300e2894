package simcluster

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"
)

// lossy returns the default job on a cluster whose task nodes are
// reclaimed fast enough that every run of a few virtual minutes loses
// some: 16 task nodes at 6 an hour each lose about 6 in the job.
func lossy(seed uint64) Config {
	cfg := DefaultConfig()
	cfg.Seed = seed
	cfg.ReclaimRate = 6
	return cfg
}

func run(t *testing.T, cfg Config) Report {
	t.Helper()
	r, err := Run(cfg)
	if err != nil {
		t.Fatalf("seed %d: %v\n%s", cfg.Seed, err, r)
	}
	if r.Delivered != cfg.Reduces {
		t.Fatalf("seed %d: %d of %d partitions delivered\n%s", cfg.Seed, r.Delivered, cfg.Reduces, r)
	}
	if r.Unexplained != 0 {
		t.Fatalf("seed %d: %d map tasks ran again although their output lived\n%s", cfg.Seed, r.Unexplained, r)
	}
	return r
}

const seeds = 4

func TestJobsFinishUnderReclamation(t *testing.T) {
	t.Parallel()
	for _, notice := range []time.Duration{0, 2 * time.Minute} {
		for _, replicas := range []int{0, 1} {
			reclaimed := 0
			for seed := range uint64(seeds) {
				cfg := lossy(seed)
				cfg.Notice, cfg.ShuffleReplicas = notice, replicas
				cfg.FetchFailureRate = 0.01
				r := run(t, cfg)
				reclaimed += r.Reclaimed
			}
			if reclaimed < seeds {
				t.Errorf("notice %v, replicas %d: %d nodes reclaimed in %d runs; the test means to lose several", notice, replicas, reclaimed, seeds)
			}
		}
	}
}

func TestSameSeedSameTrace(t *testing.T) {
	t.Parallel()
	for _, notice := range []time.Duration{0, 2 * time.Minute} {
		trace := func(seed uint64) (string, Report) {
			cfg := lossy(seed)
			cfg.Notice, cfg.FetchFailureRate = notice, 0.02
			var b bytes.Buffer
			cfg.Trace = &b
			r := run(t, cfg)
			return b.String(), r
		}
		first, r1 := trace(7)
		second, r2 := trace(7)
		if first != second {
			t.Fatalf("notice %v: the same seed gave two traces:\n%s", notice, firstDiff(first, second))
		}
		if r1.Deterministic() != r2.Deterministic() {
			t.Fatalf("notice %v: the same seed gave two reports:\n%s\n%s", notice, r1, r2)
		}
		if r1.Reclaimed == 0 || r1.FetchFailures == 0 || !strings.Contains(first, "WorkerRemoved") {
			t.Fatalf("notice %v: the scenario lost no worker or fetch; the trace proves little:\n%s", notice, r1)
		}
		if _, other := trace(8); other.TraceHash == r1.TraceHash {
			t.Fatalf("notice %v: seeds 7 and 8 gave the same trace", notice)
		}
	}
}

// firstDiff shows where two traces part.
func firstDiff(a, b string) string {
	al, bl := strings.Split(a, "\n"), strings.Split(b, "\n")
	for i := range min(len(al), len(bl)) {
		if al[i] != bl[i] {
			return "line " + al[i] + "\nversus " + bl[i]
		}
	}
	return "one trace is a prefix of the other"
}

// TestRecomputeOnlyLost: a map task runs again only when every copy of
// its output is gone or a fetch failure named it (run checks that through
// Unexplained), and the scheduler's count of recomputations is bounded by
// those losses.
func TestRecomputeOnlyLost(t *testing.T) {
	t.Parallel()
	recomputed := 0
	for seed := range uint64(seeds) {
		cfg := lossy(seed)
		cfg.FetchFailureRate = 0.02
		r := run(t, cfg)
		if r.Recomputed > r.OutputsLost+r.FetchFailures {
			t.Fatalf("seed %d: %d maps recomputed for %d outputs lost and %d fetch failures\n%s", seed, r.Recomputed, r.OutputsLost, r.FetchFailures, r)
		}
		recomputed += r.Recomputed
	}
	if recomputed == 0 {
		t.Fatal("nothing was recomputed: the scenario loses no output")
	}
}

// total runs seeds of cfg changed by set and sums the recomputed maps.
func total(t *testing.T, set func(*Config)) (recomputed, lost int) {
	for seed := range uint64(seeds) {
		cfg := lossy(seed)
		set(&cfg)
		r := run(t, cfg)
		recomputed += r.Recomputed
		lost += r.OutputsLost
	}
	return recomputed, lost
}

func TestReplicasRecomputeLess(t *testing.T) {
	t.Parallel()
	without, _ := total(t, func(*Config) {})
	with, lost := total(t, func(c *Config) { c.ShuffleReplicas = 1 })
	if without == 0 {
		t.Fatal("without replicas nothing was recomputed: the scenario loses no output")
	}
	t.Logf("maps recomputed in %d runs: %d without replicas, %d with", seeds, without, with)
	if with >= without {
		t.Fatalf("%d maps recomputed with replicas, %d without", with, without)
	}
	if with > lost {
		t.Fatalf("with replicas, %d maps recomputed for %d outputs lost", with, lost)
	}
}

func TestDrainRecomputesLess(t *testing.T) {
	t.Parallel()
	sudden, _ := total(t, func(*Config) {})
	drained, _ := total(t, func(c *Config) { c.Notice = 2 * time.Minute })
	if sudden == 0 {
		t.Fatal("sudden losses recomputed nothing: the scenario loses no output")
	}
	t.Logf("maps recomputed in %d runs: %d on sudden losses, %d with notice", seeds, sudden, drained)
	if drained >= sudden {
		t.Fatalf("%d maps recomputed with notice, %d without", drained, sudden)
	}
}

func TestFetchFailuresAreRecomputed(t *testing.T) {
	t.Parallel()
	cfg := DefaultConfig()
	cfg.FetchFailureRate = 0.2
	r := run(t, cfg)
	if r.FetchFailures == 0 || r.Recomputed == 0 || r.Reclaimed != 0 {
		t.Fatalf("fetch failures without losses: want some recomputed\n%s", r)
	}
	if r.ResultLaunched <= cfg.Reduces {
		t.Fatalf("no reduce task ran again after its fetch failure\n%s", r)
	}
}

func TestReplicaAndDrainBytes(t *testing.T) {
	t.Parallel()
	cfg := lossy(1)
	cfg.ShuffleReplicas, cfg.Notice = 1, 2*time.Minute
	r := run(t, cfg)
	// Every map output written on a task node is copied once, so the
	// replica bytes are those outputs' sizes: between half and all of
	// the shuffle (16 task nodes of 20).
	all := int64(cfg.Maps) * cfg.MapOutputBytes
	if r.ReplicaBytes < all/2 || r.ReplicaBytes > all*3/2 {
		t.Fatalf("%d replica bytes for a shuffle of about %d", r.ReplicaBytes, all)
	}
	if r.Moved == 0 || r.MovedBytes == 0 {
		t.Fatalf("drains moved nothing\n%s", r)
	}
}

func TestInvalidConfig(t *testing.T) {
	t.Parallel()
	cfg := DefaultConfig()
	cfg.Maps, cfg.ShuffleReplicas = 0, 2
	_, err := Run(cfg)
	if !errors.Is(err, ErrInvalidConfig) || !strings.Contains(err.Error(), "Maps 0") || !strings.Contains(err.Error(), "ShuffleReplicas 2") {
		t.Fatalf("got %v; want ErrInvalidConfig naming Maps and ShuffleReplicas", err)
	}
}

func TestStuckRunEnds(t *testing.T) {
	t.Parallel()
	cfg := DefaultConfig()
	cfg.MaxEvents = 100
	_, err := Run(cfg)
	if !errors.Is(err, ErrNoEnd) {
		t.Fatalf("got %v; want ErrNoEnd after 100 events", err)
	}
}
