package worker

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"github.com/sluicehq/sluice/internal/block"
	"github.com/sluicehq/sluice/internal/memlimit"
	"github.com/sluicehq/sluice/internal/rpc"
	"github.com/sluicehq/sluice/internal/trust"
	"github.com/sluicehq/sluice/rdd"

	"github.com/sluicehq/sluice/internal/task"
)

// The environment a worker gives an executor process. EnvExecutor puts a
// driver binary into executor mode (see IsExecutor).
const (
	EnvExecutor       = "SLUICE_EXECUTOR"
	envApp            = "SLUICE_APP"
	envDir            = "SLUICE_DIR"
	envDriver         = "SLUICE_DRIVER"
	envWorker         = "SLUICE_WORKER_NAME"
	envHost           = "SLUICE_HOST"
	envCodec          = "SLUICE_CODEC"
	envTaskMemory     = "SLUICE_TASK_MEMORY"
	envCacheMemory    = "SLUICE_CACHE_MEMORY"
	envCacheDisk      = "SLUICE_CACHE_DISK"
	envSlots          = "SLUICE_SLOTS" // the worker's task slots: the executor's memory limit counts them
	envRegistryDigest = "SLUICE_REGISTRY_DIGEST"
	envCredsFD        = "SLUICE_CREDS_FD" // the descriptor the worker's credentials arrive on
	envInsecure       = "SLUICE_INSECURE" // "1": the worker has no credentials (--insecure)
)

// executorVars are the variables a worker sets for an executor; UserEnv
// drops them from the driver's environment, so only the worker sets them.
var executorVars = []string{EnvExecutor, envApp, envDir, envDriver, envWorker, envHost, envCodec,
	envTaskMemory, envCacheMemory, envCacheDisk, envSlots, envRegistryDigest, envCredsFD, envInsecure}

// maxCreds bounds what an executor reads from its credentials pipe.
const maxCreds = 1 << 20

// listeningPrefix starts the line an executor prints on stdout once it
// serves, followed by its address. Lines before it are the program's.
const listeningPrefix = "SLUICE_EXECUTOR_LISTENING "

// failedPrefix starts the line an executor prints when it cannot start.
const failedPrefix = "SLUICE_EXECUTOR_FAILED "

// IsExecutor reports whether a worker started this process as an executor.
func IsExecutor() bool { return os.Getenv(EnvExecutor) == "1" }

// RunExecutor serves tasks until the worker stops this process, and returns
// the exit status. driver.Main calls it when IsExecutor.
func RunExecutor() int {
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})).With("app", os.Getenv(envApp))
	if err := runExecutor(log); err != nil {
		// The worker reads this stdout line and relays the reason to
		// the driver.
		fmt.Printf("%s%v\n", failedPrefix, err)
		fmt.Fprintf(os.Stderr, "sluice executor: %v\n", err)
		return 1
	}
	return 0
}

func runExecutor(log *slog.Logger) error {
	if want, have := os.Getenv(envRegistryDigest), task.RegistryDigest(); want != have {
		return fmt.Errorf("the Func registry of this binary (%s) differs from the driver's (%s): run the same binary", have, want)
	}
	codec, err := block.ParseCodec(os.Getenv(envCodec))
	if err != nil {
		return err
	}
	taskMem, _ := strconv.ParseInt(os.Getenv(envTaskMemory), 10, 64)
	cacheMem, _ := strconv.ParseInt(os.Getenv(envCacheMemory), 10, 64)
	cacheDisk, _ := strconv.ParseInt(os.Getenv(envCacheDisk), 10, 64)
	slots, _ := strconv.Atoi(os.Getenv(envSlots))
	if slots > 0 {
		// At most slots tasks run here at once, each within taskMem of
		// buffers: the Go heap is held to that (see internal/memlimit).
		defer memlimit.Set(slots, cmp.Or(taskMem, task.DefaultMemory))()
	}
	creds, err := executorCreds()
	if err != nil {
		return err
	}
	app, driver := os.Getenv(envApp), os.Getenv(envDriver)

	ccfg, scfg := rpc.ClientConfig{Logger: log}, rpc.ServerConfig{Logger: log, ShutdownTimeout: time.Second}
	if creds != nil {
		ccfg.TLS, scfg.TLS = creds.ClientTLS(), creds.ServerTLS()
	}
	client := rpc.NewClient(ccfg)
	defer client.Close()
	// Broadcast values come from the driver, each once, when a task
	// first asks for it.
	task.SetBroadcastFetcher(func(ctx context.Context, id string) ([]byte, error) {
		resp, err := rpc.Call[BroadcastRequest, BroadcastResponse](ctx, client, driver, MethodBroadcast, &BroadcastRequest{App: app, ID: id})
		if re := (*rpc.RemoteError)(nil); errors.As(err, &re) && re.Code == "not_found" {
			return nil, rdd.Permanent(err) // asking again would not find it
		}
		if err != nil {
			return nil, err
		}
		return resp.Data, nil
	})
	ex, err := NewExecutor(ExecutorConfig{
		Name: os.Getenv(envWorker), Dir: os.Getenv(envDir), Codec: codec,
		TaskMemory: taskMem, CacheMemory: cacheMem, CacheDisk: cacheDisk,
		Committer: driverCommitter{client: client, driver: driver, app: app},
		Fetcher:   &rpcFetcher{client: client}, App: app, Logger: log,
	})
	if err != nil {
		return err
	}
	// On SIGTERM running tasks are lost anyway: stop them after a moment.
	srv := rpc.NewServer(scfg)
	rpc.Handle(srv, MethodRunTask, func(ctx context.Context, spec *TaskSpec) (*TaskResult, error) {
		res := ex.Run(ctx, spec)
		return &res, nil
	}, rpc.Limit(MaxTaskSpec))
	rpc.Handle(srv, MethodHeartbeat, func(ctx context.Context, _ *Empty) (*HeartbeatResponse, error) {
		return &HeartbeatResponse{Tasks: ex.Progress()}, nil
	})
	rpc.Handle(srv, MethodWorkerLost, func(ctx context.Context, req *WorkerLostRequest) (*Empty, error) {
		ex.WorkerLost(req.Worker)
		return &Empty{}, nil
	})
	rpc.Handle(srv, MethodForgetGraphs, func(ctx context.Context, req *ForgetGraphsRequest) (*Empty, error) {
		if err := checkForget(req); err != nil {
			return nil, err
		}
		if req.App != app {
			return nil, rpc.Errorf("bad_request", "%v: graphs of application %s sent to an executor of %s", ErrBadRequest, req.App, app)
		}
		ex.ForgetGraphs(req.Graphs)
		return &Empty{}, nil
	})
	rpc.Handle(srv, MethodUnpersist, func(ctx context.Context, req *UnpersistRequest) (*Empty, error) {
		if err := checkApp(req.App); err != nil {
			return nil, err
		}
		if req.App != app {
			return nil, rpc.Errorf("bad_request", "%v: a node of application %s sent to an executor of %s", ErrBadRequest, req.App, app)
		}
		ex.Unpersist(req.Graph, req.Node)
		return &Empty{}, nil
	})
	ln, err := rpc.Listen(os.Getenv(envHost) + ":0")
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	fmt.Printf("%s%s\n", listeningPrefix, ln.Addr())
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ctx, ln) }()
	select {
	case err := <-served:
		return err
	case <-ctx.Done():
	}
	// A task stuck in user code that ignores its context would hold Serve
	// forever; the process exits instead, which ends it.
	select {
	case err := <-served:
		return err
	case <-time.After(2 * time.Second):
		return nil
	}
}

// executorCreds reads the credentials the worker passed on a pipe; nil
// when the worker runs --insecure.
func executorCreds() (*trust.Creds, error) {
	if os.Getenv(envInsecure) == "1" {
		return nil, nil
	}
	fd, err := strconv.Atoi(os.Getenv(envCredsFD))
	if err != nil || fd < 3 {
		return nil, fmt.Errorf("no credentials from the worker (%s=%q): executors are started by `sluice worker`", envCredsFD, os.Getenv(envCredsFD))
	}
	f := os.NewFile(uintptr(fd), "credentials")
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxCreds))
	if err != nil {
		return nil, fmt.Errorf("reading credentials from the worker: %w", err)
	}
	return trust.Import(b)
}

// driverCommitter asks the driver over RPC whether an attempt may commit.
type driverCommitter struct {
	client      *rpc.Client
	driver, app string
}

func (c driverCommitter) CanCommit(ctx context.Context, stage, part, attempt int) (bool, error) {
	resp, err := rpc.Call[CanCommitRequest, CanCommitResponse](ctx, c.client, c.driver, MethodCanCommit,
		&CanCommitRequest{App: c.app, Stage: stage, Part: part, Attempt: attempt})
	if err != nil {
		return false, err
	}
	return resp.OK, nil
}

// rpcFetcher streams map outputs from the workers that hold them, with an
// idle timeout that follows the transfer rates it observes.
type rpcFetcher struct {
	client *rpc.Client
	rate   rateEstimate
}

func (f *rpcFetcher) Fetch(ctx context.Context, addr string, req FetchRequest) (io.ReadCloser, error) {
	rc, err := f.client.StreamIdle(ctx, addr, MethodFetch, &req, f.rate.idle())
	if err != nil {
		return nil, err
	}
	return &measured{ReadCloser: rc, rate: &f.rate, start: time.Now()}, nil
}
