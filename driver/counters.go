package driver

// AddCounters adds a job's counters, by group and name (a mapreduce job's
// Hadoop-style counters), to the session's: the job summary
// (--job-summary) reports their sums over the session's jobs.
func (s *Session) AddCounters(c map[string]map[string]int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.counters == nil {
		s.counters = map[string]map[string]int64{}
	}
	for group, names := range c {
		g := s.counters[group]
		if g == nil {
			g = map[string]int64{}
			s.counters[group] = g
		}
		for name, n := range names {
			g[name] += n
		}
	}
}

// Counters returns a copy of the counters that jobs added with
// AddCounters.
func (s *Session) Counters() map[string]map[string]int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]map[string]int64, len(s.counters))
	for group, names := range s.counters {
		g := make(map[string]int64, len(names))
		for name, n := range names {
			g[name] = n
		}
		out[group] = g
	}
	return out
}
