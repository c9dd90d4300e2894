package worker

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"

	"github.com/sluicehq/sluice/internal/rpc"
	"github.com/sluicehq/sluice/shuffle"
)

// fetch streams one reduce partition of a map output this worker holds.
func (d *Daemon) fetch(ctx context.Context, req *FetchRequest, w io.Writer) error {
	if err := checkOutput(req.App, req.Graph, req.Shuffle, req.Map, req.Part); err != nil {
		return err
	}
	data, index := MapOutputPaths(filepath.Join(d.cfg.Dir, "apps", req.App), req.Graph, req.Shuffle, req.Map)
	offsets, err := shuffle.ReadIndex(index)
	if err != nil {
		return err
	}
	if req.Part < 0 || req.Part+1 >= len(offsets) {
		return fmt.Errorf("worker: partition %d out of range", req.Part)
	}
	f, err := os.Open(data)
	if err != nil {
		return err
	}
	defer f.Close()
	n, err := io.Copy(w, io.NewSectionReader(f, offsets[req.Part], offsets[req.Part+1]-offsets[req.Part]))
	d.served.Add(n)
	return err
}

// fetchFile streams a whole map output file, for copying it elsewhere.
func (d *Daemon) fetchFile(ctx context.Context, req *FetchFileRequest, w io.Writer) error {
	if err := checkOutput(req.App, req.Graph, req.Shuffle, req.Map); err != nil {
		return err
	}
	data, index := MapOutputPaths(filepath.Join(d.cfg.Dir, "apps", req.App), req.Graph, req.Shuffle, req.Map)
	path := data
	if req.Index {
		path = index
	}
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = io.Copy(w, f)
	return err
}

// pull copies a map output from another worker into this one's storage:
// data, then index, each through a temporary file renamed into place, the
// index last, so a reader never sees a partial output.
func (d *Daemon) pull(ctx context.Context, req *PullMapOutputRequest) error {
	if err := checkOutput(req.App, req.Graph, req.Shuffle, req.Map); err != nil {
		return err
	}
	if _, _, err := net.SplitHostPort(req.From); err != nil {
		return rpc.Errorf("bad_request", "%v: From %q is not host:port", ErrBadRequest, truncateID(req.From))
	}
	data, index := MapOutputPaths(filepath.Join(d.cfg.Dir, "apps", req.App), req.Graph, req.Shuffle, req.Map)
	if err := os.MkdirAll(filepath.Dir(data), 0o755); err != nil {
		return err
	}
	copyFile := func(dst string, isIndex bool) (int64, error) {
		rc, err := d.client.Stream(ctx, req.From, MethodFetchFile, &FetchFileRequest{App: req.App, Graph: req.Graph, Shuffle: req.Shuffle, Map: req.Map, Index: isIndex})
		if err != nil {
			return 0, err
		}
		defer rc.Close()
		f, err := os.CreateTemp(filepath.Dir(dst), ".pull-*")
		if err != nil {
			return 0, err
		}
		n, err := io.Copy(f, rc)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err == nil {
			err = os.Rename(f.Name(), dst)
		}
		if err != nil {
			os.Remove(f.Name())
		}
		return n, err
	}
	size, err := copyFile(data, false)
	if err != nil {
		return fmt.Errorf("worker: copying map output from %s: %w", req.From, err)
	}
	if _, err := copyFile(index, true); err != nil {
		return fmt.Errorf("worker: copying map output index from %s: %w", req.From, err)
	}
	offsets, err := shuffle.ReadIndex(index)
	if err != nil || offsets[len(offsets)-1] != size {
		os.Remove(index)
		return fmt.Errorf("worker: copied map output from %s does not match its index (%d bytes): %v", req.From, size, err)
	}
	return nil
}
