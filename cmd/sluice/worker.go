package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/spf13/pflag"

	"github.com/sluicehq/sluice/internal/membership"
	"github.com/sluicehq/sluice/internal/trust"
	"github.com/sluicehq/sluice/internal/units"
	"github.com/sluicehq/sluice/internal/version"
	"github.com/sluicehq/sluice/worker"
)

// runWorker is `sluice worker`: a daemon that joins the cluster and runs
// tasks until SIGINT or SIGTERM.
func runWorker(args []string) int {
	def := worker.DefaultDaemonConfig()
	fs := pflag.NewFlagSet("sluice worker", pflag.ContinueOnError)
	listen := fs.String("listen", def.Listen, "gossip address (TCP and UDP), HOST:PORT")
	advertise := fs.String("advertise", "", "gossip address other members use, HOST:PORT (for NAT and containers)")
	join := fs.StringSlice("join", nil, "members to join, HOST:PORT[,HOST:PORT...]; none starts a new cluster")
	role := fs.String("role", def.Role, "core (runs tasks, keeps data) or task (runs tasks, may vanish)")
	// 0 stands for the default, so that pflag does not print a second,
	// machine-dependent "(default N)" after "(default: cores)".
	slots := fs.Int("slots", 0, "task slots (default: cores)")
	drainTimeout := fs.Duration("drain-timeout", def.DrainTimeout, "on SIGTERM, how long to let drivers finish running tasks and move map outputs off before leaving")
	dir := fs.String("dir", "", "directory for shuffle files and cached binaries, owned by this user and writable by no one else (default: sluice/worker-PORT in the user cache directory, ~/.cache)")
	name := fs.String("name", "", "member name (default: the gossip address)")
	verbose := fs.BoolP("verbose", "v", false, "log debug events")
	minFreeDisk := fs.String("min-free-disk", units.FormatBytes(def.MinFreeDisk), "below this much free space in --dir, take no new map tasks (0: no check)")
	metrics := fs.String("metrics", "", "also serve GET /metrics over plain HTTP on HOST:PORT, for a scraper without the cluster's certificates (loopback unless --insecure; the RPC port serves /metrics behind mutual TLS)")
	maxBinary := fs.String("max-binary", units.FormatBytes(def.MaxBinary), "the largest driver binary this worker accepts")
	secretFile := fs.String("secret-file", "", "the cluster secret's file, the same on every member (default: $SLUICE_SECRET_FILE; make one with `sluice secret new > FILE`)")
	insecure := fs.Bool("insecure", false, "run without a cluster secret on a non-loopback address: anyone who can reach this worker can run code through it")
	tlsCert := fs.String("tls-cert", "", "this worker's certificate (PEM) from the operator's CA, instead of one derived from the secret (with --tls-key and --tls-ca)")
	tlsKey := fs.String("tls-key", "", "the key of --tls-cert (PEM)")
	tlsCA := fs.String("tls-ca", "", "the operator's CA certificates (PEM) that peers' certificates must chain to")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: sluice worker [flags]\n\nRuns a worker daemon that joins a Sluice cluster and runs tasks until SIGINT or SIGTERM (SIGTERM drains first).\n\nflags:\n%s", fs.FlagUsages())
	}
	if code, exit := parseFlags(fs, args); exit {
		return code
	}
	// Host names are not looked up: a seed's name may resolve only once
	// it runs (a Kubernetes headless Service lists ready pods only), and
	// joining retries for a while.
	if err := membership.CheckAddrs(context.Background(), *join, func(context.Context, string) ([]string, error) { return nil, nil }); err != nil {
		for _, e := range err.(interface{ Unwrap() []error }).Unwrap() {
			fmt.Fprintf(os.Stderr, "sluice worker: --join %v\n", e)
		}
		return 2
	}
	level := slog.LevelInfo
	if *verbose {
		level = slog.LevelDebug
	}
	cfg := def
	cfg.Listen, cfg.Advertise, cfg.Join, cfg.Role, cfg.Name = *listen, *advertise, *join, *role, *name
	if fs.Changed("slots") {
		cfg.Slots = *slots
	}
	cfg.Dir, cfg.DrainTimeout = *dir, *drainTimeout
	if cfg.Dir == "" {
		// Per user, never a name others can guess in a shared /tmp: a
		// worker runs the binaries it caches there.
		_, port, _ := net.SplitHostPort(cfg.Listen)
		base, err := os.UserCacheDir()
		if err != nil {
			fmt.Fprintf(os.Stderr, "sluice worker: no --dir, and no cache directory for a default: %v; give --dir\n", err)
			return 2
		}
		cfg.Dir = filepath.Join(base, "sluice", "worker-"+port)
	}
	// Executors of drivers in other directories must find it.
	if abs, err := filepath.Abs(cfg.Dir); err == nil {
		cfg.Dir = abs
	}
	var err error
	if cfg.MaxBinary, err = units.ParseBytes(*maxBinary); err != nil || cfg.MaxBinary <= 0 {
		fmt.Fprintf(os.Stderr, "sluice worker: --max-binary %q: want a positive size such as 512MiB\n", *maxBinary)
		return 2
	}
	cfg.Metrics = *metrics
	if cfg.MinFreeDisk, err = units.ParseBytes(*minFreeDisk); err != nil || cfg.MinFreeDisk < 0 {
		fmt.Fprintf(os.Stderr, "sluice worker: --min-free-disk %q: want a size such as 512MiB, or 0\n", *minFreeDisk)
		return 2
	}
	cfg.Version = version.Version
	cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	var tlsFiles *trust.TLSFiles
	if *tlsCert != "" || *tlsKey != "" || *tlsCA != "" {
		tlsFiles = &trust.TLSFiles{Cert: *tlsCert, Key: *tlsKey, CA: *tlsCA}
	}
	addrs := append([]string{cfg.Listen}, cfg.Join...)
	if cfg.Advertise != "" {
		addrs = append(addrs, cfg.Advertise)
	}
	creds, src, err := trust.Resolve(trust.Options{SecretFile: *secretFile, TLS: tlsFiles, Insecure: *insecure, Addrs: addrs})
	if err != nil {
		fmt.Fprintf(os.Stderr, "sluice worker: %v\n", err)
		return 2
	}
	cfg.Creds, cfg.Insecure = creds, src == trust.FromInsecure
	devFile, _ := trust.DevSecretFile()
	switch src {
	case trust.FromInsecure, trust.FromDev:
		cfg.Logger.Warn(trust.Describe(src, creds, devFile))
	default:
		cfg.Logger.Info(trust.Describe(src, creds, devFile))
	}
	if f := *secretFile; f != "" {
		if loose := trust.LooseMode(f); loose != "" {
			cfg.Logger.Warn(loose)
		}
	}
	d, err := worker.NewDaemon(cfg)
	if err != nil {
		fmt.Fprintf(os.Stderr, "sluice worker: %v\n", err)
		return 2
	}
	// SIGTERM is a spot interruption notice: drain, then leave. A second
	// SIGTERM, or SIGINT, stops at once.
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	defer signal.Stop(sigs)
	go func() {
		terms := 0
		for sig := range sigs {
			if sig == syscall.SIGTERM && terms == 0 {
				terms++
				d.Drain()
				continue
			}
			stop()
			return
		}
	}()
	if err := d.Run(ctx); err != nil {
		fmt.Fprintf(os.Stderr, "sluice worker: %v\n", err)
		return 1
	}
	return 0
}
