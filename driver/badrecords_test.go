package driver

import (
	"strings"
	"testing"

	"github.com/spf13/pflag"

	"github.com/sluicehq/sluice/internal/task"
	"github.com/sluicehq/sluice/scheduler"
	"github.com/sluicehq/sluice/worker"
)

// TestIOFlags: --output-codec and --skip-bad-records reach the Config and
// the tasks' settings; a codec that cannot be written, or a negative
// count, is a usage error naming the flag.
func TestIOFlags(t *testing.T) {
	fs := pflag.NewFlagSet("x", pflag.ContinueOnError)
	read := Flags(fs)
	if err := fs.Parse([]string{"--output-codec", "zstd", "--skip-bad-records", "7"}); err != nil {
		t.Fatal(err)
	}
	cfg, err := read()
	if err != nil {
		t.Fatal(err)
	}
	s := &Session{cfg: cfg}
	if got := s.IOSettings(); got != (task.IOSettings{OutputCodec: "zstd", SkipBadRecords: 7}) {
		t.Errorf("IOSettings %+v", got)
	}
	for _, args := range [][]string{
		{"--output-codec", "bz2"}, {"--output-codec", "lz4"}, {"--skip-bad-records", "-1"},
	} {
		fs := pflag.NewFlagSet("x", pflag.ContinueOnError)
		read := Flags(fs)
		if err := fs.Parse(args); err != nil {
			t.Fatal(err)
		}
		if _, err := read(); err == nil || !strings.Contains(err.Error(), args[0]) {
			t.Errorf("%q: %v, want an error naming %s", args, err, args[0])
		}
	}
}

// TestBadRecordsCountOncePerPartition: a map task that runs again (its
// output was lost) reports its input's bad records again; the job counts
// them once. Failed attempts count nothing.
func TestBadRecordsCountOncePerPartition(t *testing.T) {
	var b badRecords
	done := func(id int64, status worker.TaskStatus, n int64) {
		b.ended(&worker.TaskResult{TaskID: id, Status: status, Metrics: task.Metrics{BadRecords: n, BadRecordSample: "f.json:3"}})
	}
	b.launched(scheduler.Task{ID: 1, Job: 1, Stage: 0, Partition: 0})
	b.launched(scheduler.Task{ID: 2, Job: 1, Stage: 0, Partition: 1})
	b.launched(scheduler.Task{ID: 3, Job: 1, Stage: 0, Partition: 1, Attempt: 1})
	done(1, worker.TaskSucceeded, 2)
	done(2, worker.TaskFailed, 5)
	done(3, worker.TaskSucceeded, 1)
	b.launched(scheduler.Task{ID: 4, Job: 1, Stage: 0, Partition: 0, Recomputed: true})
	done(4, worker.TaskSucceeded, 2)
	b.launched(scheduler.Task{ID: 5, Job: 2, Stage: 0, Partition: 0})
	done(5, worker.TaskSucceeded, 4)
	n, first := b.jobEnded(1)
	if n != 3 || first != "f.json:3" {
		t.Errorf("job 1: %d bad records (first %q), want 3", n, first)
	}
	if err := badRecordsError(n, 3, first); err != nil {
		t.Errorf("3 of 3 allowed: %v", err)
	}
	if err := badRecordsError(n, 2, first); err == nil || !strings.Contains(err.Error(), "--skip-bad-records 2") {
		t.Errorf("3 of 2 allowed: %v", err)
	}
	if n, _ := b.jobEnded(2); n != 4 {
		t.Errorf("job 2: %d, want 4", n)
	}
	if len(b.tasks) != 0 || len(b.jobs) != 0 {
		t.Errorf("state left: %d tasks, %d jobs", len(b.tasks), len(b.jobs))
	}
}
