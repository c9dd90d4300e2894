package driver

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"runtime"
	"time"

	"github.com/spf13/pflag"

	"github.com/sluicehq/sluice/scheduler"

	"github.com/sluicehq/sluice/internal/block"
	"github.com/sluicehq/sluice/internal/obs"
	"github.com/sluicehq/sluice/internal/trust"
	"github.com/sluicehq/sluice/internal/units"
)

// Config configures a Session.
type Config struct {
	Parallelism int   // task slots in local mode
	Memory      int64 // per-task buffer budget before spilling to disk; with the slots it sets the process's Go memory limit (see package doc)
	CacheMemory int64 // bytes of cached partitions per executor (--cache-memory), evicted least recently used first
	CacheDisk   int64 // bytes of partitions persisted on disk per executor (--cache-disk): DiskOnly, MemoryAndDisk
	// CheckpointDir is where reliable checkpoints (RDD.Checkpoint) are
	// written (--checkpoint-dir): a directory that the driver and every
	// worker see at the same path. Session.SetCheckpointDir changes it.
	CheckpointDir string
	ShuffleCodec  block.Codec  // compression of shuffle and spill files
	LocalDir      string       // parent of the session's scratch directory
	Logger        *slog.Logger // nil discards
	// LocalCluster, when above 0, runs local mode's tasks in that many
	// executor processes of this program, each started by a worker daemon
	// in this process exactly as `sluice worker` starts one, over the same
	// RPC: what does not cross to executors shows on one machine.
	// Parallelism slots are shared among them, at least one each.
	LocalCluster int

	// Cluster mode, when Join is set.
	Join        []string      // gossip addresses of cluster members
	Listen      string        // the driver's own gossip address; empty: loopback for a loopback cluster, else all interfaces, port 0
	MinWorkers  int           // workers that must be ready before jobs run
	Wait        time.Duration // how long to wait for them
	TaskTimeout time.Duration // the longest one task attempt may run
	// HeartbeatTimeout is how long an executor may leave the driver's
	// heartbeats unanswered before it counts as frozen: its tasks are lost
	// and its worker replaces it.
	HeartbeatTimeout time.Duration
	// SecretFile is the cluster secret's file (--secret-file; empty:
	// $SLUICE_SECRET_FILE, then $SLUICE_SECRET, then on loopback the
	// per-user development secret: see trust.Resolve).
	SecretFile  string
	TLSFiles    *trust.TLSFiles // --tls-cert, --tls-key, --tls-ca: an operator's CA instead of the derived one
	Insecure    bool            // --insecure: join a cluster that runs without a secret
	Speculation bool            // launch copies of stragglers (Spark's multiplier 3, quantile 0.9)
	// SchedulerMode is how jobs run at once from several goroutines share
	// slots (--scheduler-mode): scheduler.FIFO or scheduler.FAIR, with
	// Pools (--scheduler-pool) as FAIR's pools; see WithPool.
	SchedulerMode scheduler.Mode
	Pools         map[string]scheduler.Pool
	// ShuffleReplicas, when 1, copies every map output written on a task
	// worker to a core worker before the map task counts as done.
	ShuffleReplicas int

	// UI is where the web UI and /metrics are served (--ui HOST:PORT):
	// "" serves them at DefaultUI in cluster mode and not in local mode;
	// "off" never. A busy port moves up to the next free one.
	UI string
	// UIPublic allows a --ui address other than loopback (the UI has no
	// login).
	UIPublic bool
	// EventLog, when set, is the directory under which the application
	// writes its event log (--event-log), for `sluice history`; an
	// s3://bucket/prefix puts it in object storage.
	EventLog string
	// Summary prints each job's summary on stderr when it ends.
	Summary bool
	// Progress draws a progress line on stderr while jobs run (on by
	// default when stderr is a terminal).
	Progress bool

	// OutputCodec compresses the part files of SaveAs actions
	// (--output-codec): gzip, zstd, snappy or none; "" is each format's
	// default (none; snappy pages for Parquet).
	OutputCodec string
	// SkipBadRecords is how many malformed input records (JSON lines,
	// CSV rows, Parquet rows) a job may skip, counted in the job summary
	// (--skip-bad-records); 0: the first one fails the job.
	SkipBadRecords int64
}

// DefaultConfig returns the settings a driver program starts from.
func DefaultConfig() Config {
	return Config{
		Parallelism:  runtime.NumCPU(), // one slot per core
		Memory:       256 << 20,        // per task: with a map-side combiner this holds millions of distinct keys
		CacheMemory:  512 << 20,        // serialized partitions
		CacheDisk:    10 << 30,         // a tenth of a typical 100 GiB worker volume, leaving the rest to shuffle files
		ShuffleCodec: block.S2,         // fastest here by measurement: see BENCHMARKS.md
		LocalDir:     "",               // the system's temporary directory
		MinWorkers:   1,                // a cluster job needs somewhere to run
		Wait:         30 * time.Second, // workers started together with the driver are up well within this
		TaskTimeout:  time.Hour,        // far above a healthy task on a 32 MiB split; ends a hung call

		HeartbeatTimeout: 10 * time.Second, // five missed beats: a GC pause or a busy host takes well under a second
	}
}

func (c *Config) validate() error {
	if c.Parallelism < 1 {
		return fmt.Errorf("--parallelism must be at least 1, not %d", c.Parallelism)
	}
	if c.Memory < 64<<10 {
		return fmt.Errorf("--memory must be at least 64KiB, not %s", units.FormatBytes(c.Memory))
	}
	if c.LocalCluster < 0 || c.LocalCluster > maxLocalCluster {
		return fmt.Errorf("--local-cluster must be from 1 to %d executor processes, not %d", maxLocalCluster, c.LocalCluster)
	}
	if c.LocalCluster > 0 && len(c.Join) > 0 {
		return errors.New("--local-cluster and --join are exclusive: --local-cluster starts a cluster of its own")
	}
	if len(c.Join) > 0 && c.MinWorkers < 1 {
		return fmt.Errorf("--min-workers must be at least 1, not %d", c.MinWorkers)
	}
	if c.ShuffleReplicas < 0 || c.ShuffleReplicas > 1 {
		return fmt.Errorf("--shuffle-replicas must be 0 or 1, not %d", c.ShuffleReplicas)
	}
	if c.CacheMemory < 0 {
		return fmt.Errorf("--cache-memory must not be negative, not %d", c.CacheMemory)
	}
	if len(c.Pools) > 0 && c.SchedulerMode != scheduler.FAIR {
		return errors.New("--scheduler-pool sets FAIR pools: add --scheduler-mode fair")
	}
	if c.CacheDisk < 0 {
		return fmt.Errorf("--cache-disk must not be negative, not %d", c.CacheDisk)
	}
	if err := validateIO(c); err != nil {
		return err
	}
	return nil
}

// maxLocalCluster bounds --local-cluster: each executor is a process with
// a copy of the binary on disk.
const maxLocalCluster = 64

// Flags registers the flags that every driver program shares on fs and
// returns a function that reads them into a Config once fs is parsed.
func Flags(fs *pflag.FlagSet) func() (Config, error) {
	def := DefaultConfig()
	// 0 stands for the default, so that pflag does not print a second,
	// machine-dependent "(default N)" after "(default: cores)".
	parallelism := fs.Int("parallelism", 0, "task slots in local mode (default: cores)")
	localCluster := fs.Int("local-cluster", 0, "run local mode's tasks in N executor processes of this program, started as a cluster's workers start them, to find on one machine what does not reach executors")
	memory := fs.String("memory", units.FormatBytes(def.Memory), "per-task memory for buffers before spilling to disk; a process running N tasks keeps its Go heap near N x this + 24MiB and its peak RSS within N x this + 64MiB (unless GOMEMLIMIT is set)")
	cacheMemory := fs.String("cache-memory", units.FormatBytes(def.CacheMemory), "per executor: cached partitions held in memory; past it the least recently used are evicted (0: no caching)")
	cacheDisk := fs.String("cache-disk", units.FormatBytes(def.CacheDisk), "per executor: partitions persisted on local disk (DiskOnly, MemoryAndDisk); past it they are not kept and are recomputed when read (0: none on disk)")
	checkpointDir := fs.String("checkpoint-dir", "", "directory for RDD checkpoints, seen at the same path by the driver and every worker (a shared file system)")
	codec := fs.String("shuffle-codec", def.ShuffleCodec.String(), "shuffle compression: s2, snappy, zstd or none")
	localDir := fs.String("local-dir", "", "directory for shuffle and spill files (default: under the temp dir; removed at exit)")
	join := fs.StringSlice("join", nil, "run on the cluster that this member belongs to (HOST:PORT[,HOST:PORT...])")
	listen := fs.String("listen", "", "the driver's gossip address in cluster mode (default: loopback for a loopback cluster, else all interfaces; port 0)")
	minWorkers := fs.Int("min-workers", def.MinWorkers, "cluster mode: workers that must be ready before jobs run")
	wait := fs.Duration("wait", def.Wait, "cluster mode: how long to wait for --min-workers")
	taskTimeout := fs.Duration("task-timeout", def.TaskTimeout, "cluster mode: the longest one task attempt may run")
	heartbeat := fs.Duration("heartbeat-timeout", def.HeartbeatTimeout, "cluster mode: an executor that answers no heartbeat for this long is frozen: its tasks run elsewhere and its worker replaces it")
	replicas := fs.Int("shuffle-replicas", 0, "cluster mode: 1 copies each map output written on a task worker to a core worker, so losing the task worker costs no recomputation")
	secretFile := fs.String("secret-file", "", "cluster mode: the cluster secret's file, as the workers have it (default: $SLUICE_SECRET_FILE; on loopback, the per-user development secret)")
	tlsCert := fs.String("tls-cert", "", "cluster mode: this driver's certificate (PEM), from the operator's CA (with --tls-key and --tls-ca)")
	tlsKey := fs.String("tls-key", "", "cluster mode: the key of --tls-cert (PEM)")
	tlsCA := fs.String("tls-ca", "", "cluster mode: the operator's CA certificates (PEM) that peers' certificates must chain to")
	insecure := fs.Bool("insecure", false, "cluster mode: join a cluster whose workers run --insecure, without a secret")
	speculation := fs.Bool("speculation", false, "launch copies of straggling tasks (past 3x the median duration once 90% of a stage finished)")
	schedMode := fs.String("scheduler-mode", "fifo", "how jobs run at once from several goroutines share slots: fifo (first submitted first) or fair (pools share by weight; see driver.WithPool)")
	pools := fs.StringArray("scheduler-pool", nil, "a FAIR pool, NAME:weight=W,minshare=M (repeatable; unnamed pools get weight 1, minshare 0)")
	ui := fs.String("ui", "", "serve the web UI and /metrics on HOST:PORT, or off (default: "+DefaultUI+" in cluster mode, off in local mode; a busy port moves up)")
	uiPublic := fs.Bool("ui-public", false, "allow a --ui address other than loopback: the UI has no login")
	eventLog := fs.String("event-log", "", "write the application's event log under this directory (or s3://bucket/prefix), for sluice history")
	summary := fs.Bool("summary", false, "print a summary of each job on stderr when it ends (also with -v)")
	progress := fs.Bool("progress", false, "draw a progress line on stderr while jobs run (default: when stderr is a terminal)")
	outputCodec := fs.String("output-codec", "", "compress the part files that SaveAs actions write: gzip, zstd, snappy or none (default: none; snappy pages for Parquet)")
	skipBad := fs.Int64("skip-bad-records", 0, "skip up to N malformed input records (JSON lines, CSV rows, Parquet rows) in a job, counted in the job summary; past N the job fails (default 0: the first fails it)")
	return func() (Config, error) {
		cfg := def
		if fs.Changed("parallelism") {
			cfg.Parallelism = *parallelism
		}
		cfg.LocalCluster = *localCluster
		cfg.LocalDir = *localDir
		cfg.CheckpointDir = *checkpointDir
		cfg.Join, cfg.Listen, cfg.MinWorkers, cfg.Wait, cfg.TaskTimeout = *join, *listen, *minWorkers, *wait, *taskTimeout
		cfg.Speculation, cfg.ShuffleReplicas = *speculation, *replicas
		cfg.HeartbeatTimeout = *heartbeat
		cfg.UI, cfg.UIPublic, cfg.EventLog, cfg.Summary = *ui, *uiPublic, *eventLog, *summary
		cfg.OutputCodec, cfg.SkipBadRecords = *outputCodec, *skipBad
		if fs.Changed("progress") {
			cfg.Progress = *progress
		} else {
			cfg.Progress = obs.IsTerminal(os.Stderr)
		}
		cfg.SecretFile, cfg.Insecure = *secretFile, *insecure
		if *tlsCert != "" || *tlsKey != "" || *tlsCA != "" {
			cfg.TLSFiles = &trust.TLSFiles{Cert: *tlsCert, Key: *tlsKey, CA: *tlsCA}
		}
		var err error
		if cfg.Memory, err = units.ParseBytes(*memory); err != nil {
			return cfg, fmt.Errorf("--memory: %w", err)
		}
		if cfg.CacheMemory, err = units.ParseBytes(*cacheMemory); err != nil {
			return cfg, fmt.Errorf("--cache-memory: %w", err)
		}
		if cfg.CacheDisk, err = units.ParseBytes(*cacheDisk); err != nil {
			return cfg, fmt.Errorf("--cache-disk: %w", err)
		}
		if cfg.SchedulerMode, err = scheduler.ParseMode(*schedMode); err != nil {
			return cfg, fmt.Errorf("--scheduler-mode: %w", err)
		}
		for _, v := range *pools {
			name, p, err := parsePool(v)
			if err != nil {
				return cfg, err
			}
			if cfg.Pools == nil {
				cfg.Pools = map[string]scheduler.Pool{}
			}
			cfg.Pools[name] = p
		}
		if cfg.ShuffleCodec, err = block.ParseCodec(*codec); err != nil {
			return cfg, fmt.Errorf("--shuffle-codec: %w", err)
		}
		return cfg, cfg.validate()
	}
}
