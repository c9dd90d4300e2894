package worker

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/sluicehq/sluice/internal/rpc"
)

// MaxForgetRanges bounds the ranges of a ForgetGraphsRequest: about 40 KiB
// of body, far under a route's default limit.
const MaxForgetRanges = 4096

// ForgetGraphsRequest tells a worker, or an application's executor, which
// lineages (graph numbers) the application's driver has forgotten: a
// worker removes their map outputs, an executor its rebuilt graphs and
// cached partitions. It lists every graph forgotten so far, not the last
// one, so one request also cleans what an earlier one missed (the worker
// was unreachable, or a map output moved in after it).
type ForgetGraphsRequest struct {
	App    string
	Graphs GraphRanges
}

// GraphRange is the graph numbers From to To, both included.
type GraphRange struct{ From, To int }

// GraphRanges is a set of graph numbers as sorted, disjoint, non-adjacent
// ranges: a driver's forgotten graphs, which are nearly all of the older
// ones, take a few ranges however long it runs.
type GraphRanges []GraphRange

// Has reports whether g is in the set.
func (rs GraphRanges) Has(g int) bool {
	i, _ := slices.BinarySearchFunc(rs, g, func(r GraphRange, g int) int {
		switch {
		case r.To < g:
			return -1
		case r.From > g:
			return 1
		}
		return 0
	})
	return i < len(rs) && rs[i].From <= g && g <= rs[i].To
}

// Add returns the set with g added, merging ranges that come to touch. It
// may modify rs in place.
func (rs GraphRanges) Add(g int) GraphRanges {
	i, _ := slices.BinarySearchFunc(rs, g, func(r GraphRange, g int) int {
		if r.To < g {
			return -1
		}
		return 1
	})
	// rs[i] is the first range that ends at or after g.
	switch {
	case i < len(rs) && rs[i].From <= g:
		return rs // already in
	case i > 0 && rs[i-1].To == g-1 && i < len(rs) && rs[i].From == g+1:
		rs[i-1].To = rs[i].To
		return slices.Delete(rs, i, i+1)
	case i > 0 && rs[i-1].To == g-1:
		rs[i-1].To = g
		return rs
	case i < len(rs) && rs[i].From == g+1:
		rs[i].From = g
		return rs
	}
	return slices.Insert(rs, i, GraphRange{g, g})
}

// check validates a set from the network: non-negative, sorted, disjoint
// and bounded, so that Has can search it.
func (rs GraphRanges) check() error {
	if len(rs) > MaxForgetRanges {
		return rpc.Errorf("too_large", "%v: %d graph ranges, over the %d a request may carry", ErrBadRequest, len(rs), MaxForgetRanges)
	}
	for i, r := range rs {
		if r.From < 0 || r.To < r.From || (i > 0 && r.From <= rs[i-1].To) {
			return rpc.Errorf("bad_request", "%v: graph range %d (%d to %d) is negative, empty or out of order", ErrBadRequest, i, r.From, r.To)
		}
	}
	return nil
}

func checkForget(req *ForgetGraphsRequest) error {
	if err := checkApp(req.App); err != nil {
		return err
	}
	return req.Graphs.check()
}

// removeGraphFiles removes, from an application's directory, the map
// outputs (MapOutputPaths) of the graphs in rs; a missing directory holds
// none.
func removeGraphFiles(appDir string, rs GraphRanges) error {
	dir := filepath.Join(appDir, "shuffle")
	ents, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	for _, e := range ents {
		if g, ok := graphOf(e.Name()); ok && rs.Has(g) {
			if rerr := os.Remove(filepath.Join(dir, e.Name())); rerr != nil && !errors.Is(rerr, os.ErrNotExist) && err == nil {
				err = rerr
			}
		}
	}
	return err
}

// graphOf reads the graph number of a map output's file name,
// g<graph>_s<shuffle>_m<map>.data or .index.
func graphOf(name string) (int, bool) {
	rest, ok := strings.CutPrefix(name, "g")
	if !ok {
		return 0, false
	}
	num, _, ok := strings.Cut(rest, "_")
	if !ok {
		return 0, false
	}
	g, err := strconv.Atoi(num)
	return g, err == nil && g >= 0
}

// forgetGraphs removes the map outputs of an application's forgotten
// graphs from this worker.
func (d *Daemon) forgetGraphs(req *ForgetGraphsRequest) error {
	if err := checkForget(req); err != nil {
		return err
	}
	return removeGraphFiles(filepath.Join(d.cfg.Dir, "apps", req.App), req.Graphs)
}

// ForgetGraphs drops the rebuilt lineages and cached partitions of the
// graphs in rs; their map outputs are the worker's to remove.
func (e *Executor) ForgetGraphs(rs GraphRanges) {
	e.mu.Lock()
	e.order = slices.DeleteFunc(e.order, func(g int) bool {
		if rs.Has(g) {
			delete(e.graphs, g)
			return true
		}
		return false
	})
	e.mu.Unlock()
	e.cache.dropGraphs(rs.Has)
}
