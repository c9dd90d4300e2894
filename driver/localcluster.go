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
// difference between its driver and its executors.
type localCluster struct {
	*cluster
	daemons []runningDaemon
}

// runningDaemon is a daemon whose Run returns on ran once stop is called.
type runningDaemon struct {
	stop context.CancelFunc
	ran  chan error
}

func newLocalCluster(s *Session) (*localCluster, error) {
	n := s.cfg.LocalCluster
	// A secret of the session's own: no file to make, and no other process
	// can reach these executors.
	creds, err := trust.New([][]byte{[]byte(trust.NewSecret())}, nil)
	if err != nil {
		return nil, fmt.Errorf("driver: --local-cluster: %w", err)
	}
	lc := &localCluster{}
	var join []string
	for i := range n {
		cfg := worker.DefaultDaemonConfig()
		cfg.Name = fmt.Sprintf("local-%d", i+1)
		cfg.Listen = "127.0.0.1:0"
		cfg.Join = join
		cfg.Role = worker.RoleCore
		cfg.Slots = max(1, s.cfg.Parallelism/n)
		cfg.Dir = filepath.Join(s.dir, "local-cluster", cfg.Name)
		cfg.Creds = creds
		cfg.Version = version.Version
		cfg.Logger = s.log
		d, err := worker.NewDaemon(cfg)
		if err != nil {
			lc.stopDaemons()
			return nil, fmt.Errorf("driver: --local-cluster: %w", err)
		}
		ctx, stop := context.WithCancel(context.Background())
		ran := make(chan error, 1)
		go func() { ran <- d.Run(ctx) }()
		select {
		case <-d.Ready():
			lc.daemons = append(lc.daemons, runningDaemon{stop, ran})
		case err := <-ran:
			stop()
			lc.stopDaemons()
			return nil, fmt.Errorf("driver: --local-cluster: worker %s: %v", cfg.Name, err)
		case <-time.After(s.cfg.Wait):
			stop()
			<-ran
			lc.stopDaemons()
			return nil, fmt.Errorf("driver: --local-cluster: worker %s did not start within --wait %v", cfg.Name, s.cfg.Wait)
		}
		if join == nil {
			join = []string{d.GossipAddr()}
		}
	}
	if lc.cluster, err = newCluster(s, clusterOpts{join: join, minWorkers: n, minFlag: "--local-cluster", creds: creds}); err != nil {
		lc.stopDaemons()
		return nil, err
	}
	return lc, nil
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
		<-d.ran
	}
	lc.daemons = nil
}
