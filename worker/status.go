package worker

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"

	"github.com/sluicehq/sluice/internal/rpc"
)

// MethodStatus is the worker's Status route: what it gossips, its
// executors and what it holds on disk, for operators and process tests
// that assert on structured data rather than log text.
const MethodStatus = "Status"

// maxStatusRequest bounds a Status request: it carries nothing.
const maxStatusRequest = 1 << 10

// StatusRequest asks a worker for its Status.
type StatusRequest struct{}

// Status is a worker's state. Apps are sorted by ID.
type Status struct {
	Name    string      `json:"name"`
	Role    string      `json:"role"`
	State   string      `json:"state"` // StateAlive or StateDraining
	Slots   int         `json:"slots"`
	Version string      `json:"version"`
	Gossip  string      `json:"gossip"`
	RPC     string      `json:"rpc"`
	PID     int         `json:"pid"`
	Disk    DiskStatus  `json:"disk"`
	Apps    []AppStatus `json:"apps"`
}

// DiskStatus is the worker's --dir as the low-disk check sees it.
type DiskStatus struct {
	Dir     string `json:"dir"`
	Free    int64  `json:"free"`     // bytes free for this user; -1 when unknown
	MinFree int64  `json:"min_free"` // MinFreeDisk
	Low     bool   `json:"low"`      // gossiped: taking no new map tasks
}

// AppStatus is one application on a worker.
type AppStatus struct {
	ID string `json:"id"`
	// Executor is the executor's RPC address and PID, empty and 0 while it
	// starts.
	Executor string `json:"executor"`
	PID      int    `json:"pid"`
	Drained  bool   `json:"drained"` // its driver moved what it needed off this draining worker
	// MapOutputs and MapOutputBytes count the complete map outputs (an
	// index with its data file) in the application's directory.
	MapOutputs     int   `json:"map_outputs"`
	MapOutputBytes int64 `json:"map_output_bytes"`
}

// Status returns the daemon's state; Run must have started serving.
func (d *Daemon) Status() Status {
	m := d.meta()
	st := Status{
		Name: d.cfg.Name, Role: m.Role, State: m.State, Slots: m.Slots, Version: m.Version,
		RPC: d.addr, PID: os.Getpid(), Apps: []AppStatus{},
		Disk: DiskStatus{Dir: d.cfg.Dir, Free: freeBytes(d.cfg.Dir), MinFree: d.cfg.MinFreeDisk, Low: m.LowDisk},
	}
	if d.node != nil {
		st.Name, st.Gossip = d.node.Name(), d.node.Addr()
	}
	d.mu.Lock()
	for _, a := range d.apps {
		as := AppStatus{ID: a.id, Drained: a.drained}
		select {
		case <-a.ready:
			as.Executor = a.addr
		default:
		}
		if a.cmd != nil {
			as.PID = a.cmd.Process.Pid
		}
		st.Apps = append(st.Apps, as)
	}
	d.mu.Unlock()
	for i := range st.Apps {
		st.Apps[i].MapOutputs, st.Apps[i].MapOutputBytes = mapOutputs(filepath.Join(d.cfg.Dir, "apps", st.Apps[i].ID))
	}
	slices.SortFunc(st.Apps, func(a, b AppStatus) int { return strings.Compare(a.ID, b.ID) })
	return st
}

// mapOutputs counts the complete map outputs under an application's
// directory and the bytes of their data files.
func mapOutputs(dir string) (n int, size int64) {
	ents, err := os.ReadDir(filepath.Join(dir, "shuffle"))
	if err != nil {
		return 0, 0
	}
	for _, e := range ents {
		base, ok := strings.CutSuffix(e.Name(), ".index")
		if !ok {
			continue
		}
		if st, err := os.Stat(filepath.Join(dir, "shuffle", base+".data")); err == nil {
			n++
			size += st.Size()
		}
	}
	return n, size
}

// freeBytes is the space free for this user on the file system of dir; -1
// when it cannot be measured.
func freeBytes(dir string) int64 {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return -1
	}
	return int64(st.Bavail) * st.Bsize
}

// addressFile is the file in a worker's --dir that says, once it serves,
// where: its name, PID, gossip and RPC addresses. A process that starts
// `sluice worker` reads it to reach the worker's Status route.
const addressFile = "worker.json"

// Address is what a worker writes to worker.json in its --dir once it
// serves.
type Address struct {
	Name   string `json:"name"`
	PID    int    `json:"pid"`
	Gossip string `json:"gossip"`
	RPC    string `json:"rpc"`
}

// maxAddressFile bounds what ReadAddress reads.
const maxAddressFile = 64 << 10

// writeAddress writes worker.json through a temporary file, so a reader
// never sees half of it.
func (d *Daemon) writeAddress() error {
	b, err := json.Marshal(Address{Name: d.node.Name(), PID: os.Getpid(), Gossip: d.node.Addr(), RPC: d.addr})
	if err != nil {
		return err
	}
	f, err := os.CreateTemp(d.cfg.Dir, ".worker-*.json")
	if err != nil {
		return err
	}
	_, err = f.Write(b)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), filepath.Join(d.cfg.Dir, addressFile))
	}
	if err != nil {
		os.Remove(f.Name())
	}
	return err
}

// ErrNoAddress is returned by ReadAddress for a worker that has not
// written its address yet (it is starting, or not a worker's --dir).
var ErrNoAddress = errors.New("worker: no worker.json in the directory yet")

// ReadAddress reads the address a worker with --dir dir wrote once it
// served. A worker that started again over the same directory overwrites
// it: compare PID with the process's.
func ReadAddress(dir string) (Address, error) {
	var a Address
	f, err := os.Open(filepath.Join(dir, addressFile))
	if errors.Is(err, os.ErrNotExist) {
		return a, ErrNoAddress
	}
	if err != nil {
		return a, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxAddressFile+1))
	if err != nil {
		return a, err
	}
	if len(b) > maxAddressFile {
		return a, errors.New("worker: worker.json is over 64 KiB: not a worker's")
	}
	err = json.Unmarshal(b, &a)
	return a, err
}

func (d *Daemon) registerStatus(srv *rpc.Server) {
	rpc.Handle(srv, MethodStatus, func(ctx context.Context, _ *StatusRequest) (*Status, error) {
		st := d.Status()
		return &st, nil
	}, rpc.Limit(maxStatusRequest))
}
