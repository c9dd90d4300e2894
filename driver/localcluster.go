package driver

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"time"

	"github.com/sluicehq/sluice/internal/trust"
	"github.com/sluicehq/sluice/internal/version"
	"github.com/sluicehq/sluice/worker"
)

// localCluster is --local-cluster N: N worker daemons in this process, on
// loopback, and the cluster backend that drives them. Each daemon starts
// its executor from this program's binary, uploaded to it, as a child
// process with the driver's arguments and environment, exactly as
// `sluice worker` does; tasks, commits and shuffle fetches go over the
// same mutual-TLS RPC. So a program meets, on one machine, every
// difference between its driver and its executors. The package's tests
// use it too, with task workers and workers that come and go.
type localCluster struct {
	*cluster
	s       *Session
	creds   *trust.Creds
	join    []string // the first daemon's gossip address
	daemons []*runningDaemon
}

// runningDaemon is a daemon whose Run returns on ran once stop is called.
type runningDaemon struct {
	d    *worker.Daemon
	stop context.CancelFunc
	ran  chan error
}

func newLocalCluster(s *Session) (*localCluster, error) {
	n := s.cfg.LocalCluster
	roles := make([]string, n)
	for i := range roles {
		roles[i] = worker.RoleCore
	}
	return startLocalCluster(s, roles, max(1, s.cfg.Parallelism/n), n)
}

// startLocalCluster starts a daemon of each role with slots each, then
// the cluster backend, which waits for minWorkers of them.
func startLocalCluster(s *Session, roles []string, slots, minWorkers int) (*localCluster, error) {
	// A secret of the session's own: no file to make, and no other process
	// can reach these executors.
	creds, err := trust.New([][]byte{[]byte(trust.NewSecret())}, nil)
	if err != nil {
		return nil, fmt.Errorf("driver: --local-cluster: %w", err)
	}
	lc := &localCluster{s: s, creds: creds}
	for _, role := range roles {
		if _, err := lc.startDaemon(role, slots); err != nil {
			lc.stopDaemons()
			return nil, err
		}
	}
	if lc.cluster, err = newCluster(s, clusterOpts{join: lc.join, minWorkers: minWorkers, minFlag: "--local-cluster", creds: creds}); err != nil {
		lc.stopDaemons()
		return nil, err
	}
	return lc, nil
}

// startDaemon starts one more daemon, named local-N, joining the first,
// and waits until it serves.
func (lc *localCluster) startDaemon(role string, slots int) (*runningDaemon, error) {
	s := lc.s
	cfg := worker.DefaultDaemonConfig()
	cfg.Name = fmt.Sprintf("local-%d", len(lc.daemons)+1)
	cfg.Listen = "127.0.0.1:0"
	cfg.Join = lc.join
	cfg.Role = role
	cfg.Slots = slots
	cfg.Dir = filepath.Join(s.dir, "local-cluster", cfg.Name)
	cfg.Creds = lc.creds
	cfg.Version = version.Version
	cfg.Logger = s.log
	d, err := worker.NewDaemon(cfg)
	if err != nil {
		return nil, fmt.Errorf("driver: --local-cluster: %w", err)
	}
	ctx, stop := context.WithCancel(context.Background())
	rd := &runningDaemon{d: d, stop: stop, ran: make(chan error, 1)}
	go func() { rd.ran <- d.Run(ctx) }()
	select {
	case <-d.Ready():
	case err := <-rd.ran:
		stop()
		return nil, fmt.Errorf("driver: --local-cluster: worker %s: %v", cfg.Name, err)
	case <-time.After(s.cfg.Wait):
		stop()
		<-rd.ran
		return nil, fmt.Errorf("driver: --local-cluster: worker %s did not start within --wait %v", cfg.Name, s.cfg.Wait)
	}
	lc.daemons = append(lc.daemons, rd)
	if lc.join == nil {
		lc.join = []string{d.GossipAddr()}
	}
	return rd, nil
}

// close ends the application, whose executors the daemons stop by their
// PIDs (and the processes those started, by process group), then stops
// the daemons and waits for them.
func (lc *localCluster) close() {
	lc.cluster.close()
	lc.stopDaemons()
}

// stopDaemons stops the daemons one at a time, the last started first:
// a daemon leaving the cluster waits until another member has heard, so
// daemons stopped all at once would each wait for peers already gone.
func (lc *localCluster) stopDaemons() {
	for _, d := range slices.Backward(lc.daemons) {
		d.stop()
		err := <-d.ran
		d.ran <- err // a test may have stopped it already, or read it
	}
	lc.daemons = nil
}
