package web

import (
	"cmp"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/sluicehq/sluice/internal/obs"
)

// History is a Source over a directory of event logs, as `sluice history`
// serves it. It keeps at most Keep applications loaded, the most recently
// asked for; an application still running is reloaded when its log has
// grown and Refresh has passed.
type History struct {
	dir     string
	keep    int
	refresh time.Duration

	mu     sync.Mutex
	loaded []*loadedApp // most recently used last
}

type loadedApp struct {
	id   string
	s    *obs.Store
	seq  int64
	at   time.Time
	done bool
}

// NewHistory serves the logs under dir, keeping up to keep applications
// in memory (at least 1).
func NewHistory(dir string, keep int) *History {
	return &History{dir: dir, keep: max(keep, 1), refresh: time.Second}
}

// Apps lists every application with a readable status, newest first.
func (h *History) Apps() []AppInfo {
	ents, _ := os.ReadDir(h.dir)
	now := time.Now()
	var out []AppInfo
	for _, e := range ents {
		if !e.IsDir() || obs.CheckAppID(e.Name()) != nil {
			continue
		}
		st, err := obs.ReadStatus(filepath.Join(h.dir, e.Name()), now)
		if err != nil {
			continue
		}
		out = append(out, AppInfo{ID: st.App, Name: st.Name, Status: st.Status, Crashed: st.Crashed, Start: st.Start, End: st.End, Completed: st.Status != obs.Running})
	}
	slices.SortFunc(out, func(a, b AppInfo) int { return cmp.Or(cmp.Compare(b.Start, a.Start), cmp.Compare(a.ID, b.ID)) })
	return out
}

// App loads (or returns the loaded) state of one application.
func (h *History) App(id string) (*obs.Store, error) {
	if err := obs.CheckAppID(id); err != nil {
		return nil, ErrNoApp
	}
	dir := filepath.Join(h.dir, id)
	h.mu.Lock()
	defer h.mu.Unlock()
	i := slices.IndexFunc(h.loaded, func(a *loadedApp) bool { return a.id == id })
	if i >= 0 {
		a := h.loaded[i]
		h.loaded = append(slices.Delete(h.loaded, i, i+1), a)
		if a.done || time.Since(a.at) < h.refresh {
			return a.s, nil
		}
		if st, err := obs.ReadStatus(dir, time.Now()); err == nil && st.Seq == a.seq && st.Status == obs.Running {
			a.at = time.Now()
			return a.s, nil
		}
		h.loaded = h.loaded[:len(h.loaded)-1]
	}
	if _, err := os.Stat(filepath.Join(dir, "status.json")); err != nil {
		return nil, ErrNoApp
	}
	s, st, err := obs.Load(dir, 0)
	if err != nil {
		return nil, err
	}
	if len(h.loaded) == h.keep {
		h.loaded = slices.Delete(h.loaded, 0, 1)
	}
	h.loaded = append(h.loaded, &loadedApp{id: id, s: s, seq: st.Seq, at: time.Now(), done: st.Status != obs.Running})
	return s, nil
}
