package driver

import (
	"fmt"

	"github.com/sluicehq/sluice/internal/compress"
	"github.com/sluicehq/sluice/internal/task"
	"github.com/sluicehq/sluice/scheduler"
	"github.com/sluicehq/sluice/worker"
)

// How the file settings reach the format code: driver flags
// (--output-codec, --skip-bad-records) fill Config; the Session sends
// them with every task (worker.TaskSpec.IO), and the executor puts them in
// the task's task.Context.IO, where rdd's readers and writers find them.
// SaveAs actions resolve the codec in the driver (Session.IOSettings), so
// every task of a job writes the same one and the job commit knows the
// part files' names.

// IOSettings returns the session's settings for input and output files,
// which rdd's SaveAs actions read.
func (s *Session) IOSettings() task.IOSettings {
	return task.IOSettings{SkipBadRecords: s.cfg.SkipBadRecords, OutputCodec: s.cfg.OutputCodec}
}

func validateIO(c *Config) error {
	if c.SkipBadRecords < 0 {
		return fmt.Errorf("--skip-bad-records must not be negative, not %d", c.SkipBadRecords)
	}
	codec, err := compress.Parse(c.OutputCodec)
	if err != nil || !codec.CanWrite() {
		return fmt.Errorf("--output-codec must be gzip, zstd, snappy or none, not %q", c.OutputCodec)
	}
	return nil
}

// badRecords counts the malformed records that jobs' tasks skipped
// (--skip-bad-records). A task reports its count with its success; each
// (stage, partition) counts once per job, its latest success, so a map
// task that runs again after a lost worker does not count its input's
// bad records twice. Owned by the loop goroutine.
type badRecords struct {
	tasks map[int64]scheduler.Task // launched, not yet ended
	jobs  map[int]*jobBadRecords
}

type jobBadRecords struct {
	parts map[[2]int]int64 // (stage, partition) → records skipped
	first string           // the first bad record's error
}

func (b *badRecords) launched(t scheduler.Task) {
	if b.tasks == nil {
		b.tasks = map[int64]scheduler.Task{}
	}
	b.tasks[t.ID] = t
}

// ended records a task's outcome.
func (b *badRecords) ended(r *worker.TaskResult) {
	t, ok := b.tasks[r.TaskID]
	if !ok {
		return
	}
	delete(b.tasks, r.TaskID)
	if r.Status != worker.TaskSucceeded {
		return
	}
	j := b.jobs[t.Job]
	if r.Metrics.BadRecords == 0 && (j == nil || j.parts[[2]int{t.Stage, t.Partition}] == 0) {
		return
	}
	if b.jobs == nil {
		b.jobs = map[int]*jobBadRecords{}
	}
	if j == nil {
		j = &jobBadRecords{parts: map[[2]int]int64{}}
		b.jobs[t.Job] = j
	}
	j.parts[[2]int{t.Stage, t.Partition}] = r.Metrics.BadRecords
	if j.first == "" {
		j.first = r.Metrics.BadRecordSample
	}
}

// jobEnded forgets job and returns the records its tasks skipped and the
// first one's error.
func (b *badRecords) jobEnded(job int) (n int64, first string) {
	for id, t := range b.tasks {
		if t.Job == job {
			delete(b.tasks, id)
		}
	}
	j := b.jobs[job]
	if j == nil {
		return 0, ""
	}
	delete(b.jobs, job)
	for _, c := range j.parts {
		n += c
	}
	return n, j.first
}

// badRecordsError fails a job whose tasks skipped more than limit
// records between them.
func badRecordsError(n, limit int64, first string) error {
	if n <= limit {
		return nil
	}
	return fmt.Errorf("driver: the job's tasks skipped %d bad records, more than --skip-bad-records %d allows; the first: %s", n, limit, first)
}
