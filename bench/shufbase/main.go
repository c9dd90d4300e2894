package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"runtime/pprof"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "shufbase:", err)
		os.Exit(1)
	}
}

func run() error {
	cfg := defaultConfig()
	job := flag.String("job", "", "groupbykey, join or distinct")
	output := flag.String("output", "", "directory for the part files (required)")
	flag.IntVar(&cfg.workers, "workers", cfg.workers, "goroutines, and partitions of the output")
	cpuProfile := flag.String("cpuprofile", "", "write a Go CPU profile to this file")
	flag.Usage = func() {
		fmt.Fprintln(flag.CommandLine.Output(), "usage: shufbase --job groupbykey|distinct --output DIR FILE...\n       shufbase --job join --output DIR LEFT RIGHT")
		flag.PrintDefaults()
	}
	flag.Parse()
	if *output == "" {
		flag.Usage()
		return errors.New("--output is required")
	}
	if cfg.workers < 1 {
		return fmt.Errorf("--workers %d: must be at least 1", cfg.workers)
	}
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			return err
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer func() {
			pprof.StopCPUProfile()
			f.Close()
		}()
	}
	return runJob(*job, flag.Args(), cfg, *output)
}

// runJob runs job on the input files, writing part files into dir.
func runJob(job string, paths []string, cfg config, dir string) error {
	if len(paths) == 0 {
		return errors.New("no input files")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	switch job {
	case "groupbykey":
		return groupByKey(paths, cfg, dir)
	case "distinct":
		return distinct(paths, cfg, dir)
	case "join":
		if len(paths) != 2 {
			return fmt.Errorf("join: want two input files, LEFT and RIGHT, not %d", len(paths))
		}
		return join(paths[0], paths[1], cfg, dir)
	}
	return fmt.Errorf("--job %q: want groupbykey, join or distinct", job)
}
