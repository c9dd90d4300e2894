package obs

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// Progress draws one line on a terminal while jobs run:
//
//	[job 3] stage 2/3 · tasks 120/400 · 35.2 tasks/s · ETA 8s · workers 4 alive, 1 lost
//
// redrawn at most every Every, and erased when the job ends. It is fed
// the driver's events; give it a terminal only (see IsTerminal).
type Progress struct {
	w     io.Writer
	every time.Duration

	mu      sync.Mutex
	jobs    map[int]*jobProgress
	stages  map[StageKey]*stageProgress
	alive   map[string]bool
	lost    int
	drawn   int64 // ms of the last draw
	showing bool
}

type jobProgress struct {
	id, stages, doneStages int
	tasks, done            int // over every stage attempt submitted
	start                  int64
}

type stageProgress struct {
	job   int
	parts map[int]bool // partitions done
}

// NewProgress draws on w at most every every (200 ms when 0).
func NewProgress(w io.Writer, every time.Duration) *Progress {
	if every <= 0 {
		every = 200 * time.Millisecond
	}
	return &Progress{w: w, every: every, jobs: map[int]*jobProgress{}, stages: map[StageKey]*stageProgress{}, alive: map[string]bool{}}
}

// Observe updates the line with one event.
func (p *Progress) Observe(e Event) {
	p.mu.Lock()
	defer p.mu.Unlock()
	force := false
	switch e.Kind {
	case JobStart:
		p.jobs[e.Job.ID] = &jobProgress{id: e.Job.ID, stages: len(e.Job.Stages), start: e.Time}
		force = true
	case JobEnd:
		delete(p.jobs, e.Job.ID)
		for k, st := range p.stages {
			if st.job == e.Job.ID {
				delete(p.stages, k)
			}
		}
		if len(p.jobs) == 0 {
			p.erase()
			return
		}
	case StageSubmitted, StageResubmitted:
		p.stages[StageKey{e.Stage.ID, e.Stage.Attempt}] = &stageProgress{job: e.Stage.Job, parts: map[int]bool{}}
		if j := p.jobs[e.Stage.Job]; j != nil {
			j.tasks += e.Stage.Tasks
		}
	case StageCompleted:
		k := StageKey{e.Stage.ID, e.Stage.Attempt}
		if st, ok := p.stages[k]; ok {
			if j := p.jobs[st.job]; j != nil && e.Stage.Status == Succeeded {
				j.doneStages++
			}
			delete(p.stages, k)
		}
	case TaskEnd:
		if st, ok := p.stages[StageKey{e.Task.Stage, e.Task.StageTry}]; ok && e.Task.Status == Succeeded && !st.parts[e.Task.Partition] {
			st.parts[e.Task.Partition] = true
			if j := p.jobs[st.job]; j != nil {
				j.done++
			}
		}
	case WorkerAdded:
		p.alive[e.Worker.Name] = true
	case WorkerLost, WorkerGone:
		if p.alive[e.Worker.Name] {
			delete(p.alive, e.Worker.Name)
			p.lost++
		}
	}
	if len(p.jobs) > 0 && (force || e.Time-p.drawn >= p.every.Milliseconds()) {
		p.draw(e.Time)
	}
}

// Line renders the progress of the newest running job at now (Unix ms).
func (p *Progress) line(now int64) string {
	var j *jobProgress
	for _, c := range p.jobs {
		if j == nil || c.id > j.id {
			j = c
		}
	}
	if j == nil {
		return ""
	}
	done, total := j.done, j.tasks
	var b strings.Builder
	fmt.Fprintf(&b, "[job %d] stage %d/%d · tasks %d/%d", j.id, min(j.doneStages+1, max(j.stages, 1)), max(j.stages, 1), done, total)
	if secs := float64(now-j.start) / 1000; secs > 0 && done > 0 {
		rate := float64(done) / secs
		eta := time.Duration(float64(total-done) / rate * float64(time.Second)).Round(time.Second)
		fmt.Fprintf(&b, " · %.1f tasks/s · ETA %s", rate, eta)
	}
	if len(p.alive) > 0 || p.lost > 0 {
		fmt.Fprintf(&b, " · workers %d alive", len(p.alive))
		if p.lost > 0 {
			fmt.Fprintf(&b, ", %d lost", p.lost)
		}
	}
	return b.String()
}

func (p *Progress) draw(now int64) {
	p.drawn = now
	p.showing = true
	fmt.Fprintf(p.w, "\r%s\x1b[K", p.line(now))
}

func (p *Progress) erase() {
	if p.showing {
		fmt.Fprint(p.w, "\r\x1b[K")
		p.showing = false
	}
}

// IsTerminal reports whether f is a terminal: only then is a progress
// line drawn.
func IsTerminal(f *os.File) bool {
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}
