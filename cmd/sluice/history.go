package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/pflag"

	"github.com/sluicehq/sluice/internal/objstore"
	"github.com/sluicehq/sluice/internal/obs"
	"github.com/sluicehq/sluice/internal/obs/web"
	"github.com/sluicehq/sluice/internal/trust"
)

// runHistory serves the UI and API of the applications whose event logs
// are under --dir: finished, running, and crashed ones.
func runHistory(args []string) int {
	fs := pflag.NewFlagSet("sluice history", pflag.ContinueOnError)
	dir := fs.String("dir", "", "the event-log directory that drivers write with --event-log (required); an s3:// one is copied down once, at start")
	listen := fs.String("listen", "127.0.0.1:18080", "HOST:PORT to serve the UI and /api/v1 on")
	keep := fs.Int("keep", 8, "applications kept loaded in memory at once")
	insecure := fs.Bool("insecure", false, "serve on an address other than loopback: the UI has no login, so anyone who reaches it reads every application's logs")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: sluice history --dir DIR [--listen HOST:PORT]\n\nServes the Sluice UI and JSON API for the applications logged under DIR.\n\n%s", fs.FlagUsages())
	}
	if code, exit := parseFlags(fs, args); exit {
		return code
	}
	if *dir == "" {
		fmt.Fprintln(os.Stderr, "sluice history: --dir is required (the directory drivers write with --event-log)")
		return 2
	}
	if objstore.IsURL(*dir) {
		local, err := copyLogs(*dir)
		if err != nil {
			fmt.Fprintf(os.Stderr, "sluice history: --dir %s: %v\n", *dir, err)
			return 1
		}
		defer os.RemoveAll(local)
		fmt.Fprintf(os.Stderr, "sluice history: serving a copy of %s taken at %s (restart to refresh)\n", *dir, time.Now().UTC().Format(time.RFC3339))
		*dir = local
	}
	if fi, err := os.Stat(*dir); err != nil || !fi.IsDir() {
		fmt.Fprintf(os.Stderr, "sluice history: --dir %s: not a directory\n", *dir)
		return 2
	}
	if !trust.IsLoopback(*listen) && !*insecure {
		fmt.Fprintf(os.Stderr, "sluice history: --listen %s is not loopback: the UI has no login; add --insecure to serve it there anyway\n", *listen)
		return 2
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		fmt.Fprintf(os.Stderr, "sluice history: --listen %s: %v\n", *listen, err)
		return 1
	}
	srv := &http.Server{
		Handler:           web.Handler(web.NewHistory(*dir, *keep)),
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
	}
	fmt.Fprintf(os.Stderr, "sluice history: serving %s at http://%s/\n", *dir, ln.Addr())
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		shut, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(shut)
	}()
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		fmt.Fprintf(os.Stderr, "sluice history: %v\n", err)
		return 1
	}
	return 0
}

// copyLogs copies the event logs under an s3:// directory into a new
// temporary directory, within objectCheckTimeout.
func copyLogs(prefix string) (string, error) {
	st, err := objstore.Default()
	if err != nil {
		return "", err
	}
	local, err := os.MkdirTemp("", "sluice-history-")
	if err != nil {
		return "", err
	}
	ctx, cancel := context.WithTimeout(context.Background(), objectCheckTimeout)
	defer cancel()
	if _, err := obs.CopyLogs(ctx, st, prefix, local); err != nil {
		os.RemoveAll(local)
		return "", err
	}
	return local, nil
}
