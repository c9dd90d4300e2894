package scheduler

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
)

// Mode is how concurrent jobs share slots.
type Mode uint8

// The scheduling modes.
const (
	// FIFO launches queued tasks in the order they were queued: the tasks
	// of a job submitted first run first, and a later job's tasks take
	// only the slots it leaves. (A stage that becomes runnable later,
	// such as the reduce stage of the first job, queues behind what is
	// already queued.)
	FIFO Mode = iota
	// FAIR shares slots among pools as Spark's fair scheduler does: a
	// pool below its MinShare of running tasks goes first, then the pool
	// with the fewest running tasks per unit of Weight. Within a pool,
	// FIFO. Every job runs in a pool (JobSubmitted.Pool), so a short job
	// submitted while a long one runs starts at once.
	FAIR
)

// ParseMode reads "fifo" or "fair".
func ParseMode(s string) (Mode, error) {
	switch strings.ToLower(s) {
	case "fifo":
		return FIFO, nil
	case "fair":
		return FAIR, nil
	}
	return FIFO, fmt.Errorf("scheduler: mode %q: want fifo or fair", s)
}

func (m Mode) String() string {
	if m == FAIR {
		return "fair"
	}
	return "fifo"
}

// DefaultPool is the pool of a job that names none.
const DefaultPool = "default"

// Pool is a FAIR pool's share of the slots, as in Spark's
// fairscheduler.xml.
type Pool struct {
	// Weight is the pool's share relative to other pools: a pool of
	// weight 2 gets twice the running tasks of a pool of weight 1 when
	// both have tasks waiting. At least 1.
	Weight int
	// MinShare is the running tasks the pool gets before any pool at or
	// above its own MinShare, when it has tasks waiting.
	MinShare int
}

// pool is a FAIR pool's state: its queued attempts and its running count.
type pool struct {
	name       string
	cfg        Pool
	configured bool // named in Config.Pools: kept when idle
	running    int
	q          queues
}

// poolShare is what fair ordering looks at of a pool.
type poolShare struct {
	Name             string
	Running          int
	Weight, MinShare int
}

// fairCompare orders pools as Spark's FairSchedulingAlgorithm does: a
// needy pool (running below its MinShare) before one that is not; two
// needy pools by running/MinShare; others by running/Weight; ties by name
// so that the same state always gives the same order.
func fairCompare(a, b poolShare) int {
	aNeedy, bNeedy := a.Running < a.MinShare, b.Running < b.MinShare
	switch {
	case aNeedy && !bNeedy:
		return -1
	case !aNeedy && bNeedy:
		return 1
	case aNeedy && bNeedy:
		// a.Running/a.MinShare vs b.Running/b.MinShare, exactly.
		if c := cmp.Compare(a.Running*max(b.MinShare, 1), b.Running*max(a.MinShare, 1)); c != 0 {
			return c
		}
	default:
		if c := cmp.Compare(a.Running*max(b.Weight, 1), b.Running*max(a.Weight, 1)); c != 0 {
			return c
		}
	}
	return strings.Compare(a.Name, b.Name)
}

// fairOrder returns the pools with queued attempts in the order FAIR
// offers them a slot, and forgets pools that are idle and not configured,
// so the pools a long-running driver holds stay bounded by those in use.
func (s *Scheduler) fairOrder() []*pool {
	var ps []*pool
	for name, p := range s.pools {
		if p.q.empty() {
			if p.running == 0 && !p.configured {
				delete(s.pools, name)
			}
			continue
		}
		ps = append(ps, p)
	}
	slices.SortFunc(ps, func(a, b *pool) int { return fairCompare(a.share(), b.share()) })
	return ps
}

func (p *pool) share() poolShare {
	return poolShare{Name: p.name, Running: p.running, Weight: p.cfg.Weight, MinShare: p.cfg.MinShare}
}

// poolNamed returns the pool of that name, made with the default settings
// (weight 1, no minimum) when the configuration does not name it, as
// Spark does.
func (s *Scheduler) poolNamed(name string) *pool {
	if name == "" {
		name = DefaultPool
	}
	if p := s.pools[name]; p != nil {
		return p
	}
	p := &pool{name: name, cfg: Pool{Weight: 1}}
	if c, ok := s.cfg.Pools[name]; ok {
		p.cfg, p.configured = c, true
		p.cfg.Weight = max(p.cfg.Weight, 1)
	}
	s.pools[name] = p
	return p
}

// queueFor returns the queues an attempt of st goes to: in FAIR mode its
// pool's, the pool of the earliest job that needs the stage.
func (s *Scheduler) queueFor(st *stage) (*queues, *pool) {
	if s.cfg.Mode != FAIR {
		return &s.q, nil
	}
	name := ""
	if j := s.jobs[firstJob(st)]; j != nil {
		name = j.pool
	}
	p := s.poolNamed(name)
	return &p.q, p
}

// Pools describes the FAIR pools in use: name, running attempts and
// queued ones, by name. Empty in FIFO mode.
func (s *Scheduler) Pools() []PoolStatus {
	out := make([]PoolStatus, 0, len(s.pools))
	for _, p := range s.pools {
		out = append(out, PoolStatus{Name: p.name, Running: p.running, Queued: p.q.len(), Pool: p.cfg})
	}
	slices.SortFunc(out, func(a, b PoolStatus) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// PoolStatus is a FAIR pool's settings and load.
type PoolStatus struct {
	Name            string
	Running, Queued int
	Pool
}
