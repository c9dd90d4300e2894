// Command sluice is Sluice's command-line tool.
//
//	sluice version    print the version
//
//	sluice worker     run a worker daemon (see sluice worker --help)
//	sluice up         start a local cluster of workers on loopback
//	sluice chaos      run a driver command under seeded task-node kills and
//	                  compare its output with a fault-free run's
//
//	sluice secret     make a cluster secret, rotate one
package main

import (
	"fmt"
	"os"
	"runtime"

	"github.com/sluicehq/sluice/internal/version"
)

const usage = `usage: sluice COMMAND

commands:
  worker     run a worker daemon: --listen, --join, --role core|task, --slots, --dir
  up         start a local cluster on loopback: --core N --task M [--dir DIR]
  chaos      run a driver command under seeded task-node kills and compare with a fault-free run
  secret     make a cluster secret (sluice secret new > FILE) or rotate one
  version    print the version of sluice
`

func main() {
	os.Exit(run(os.Args[1:]))
}

func run(args []string) int {
	if len(args) == 0 {
		fmt.Fprint(os.Stderr, usage)
		return 2
	}
	switch args[0] {
	case "version", "--version", "-v":
		fmt.Printf("sluice %s %s %s/%s\n", version.String(), runtime.Version(), runtime.GOOS, runtime.GOARCH)
		return 0
	case "worker":
		return runWorker(args[1:])
	case "up":
		return runUp(args[1:])
	case "chaos":
		return runChaos(args[1:])
	case "secret":
		return runSecret(args[1:])
	case "help", "--help", "-h":
		fmt.Print(usage)
		return 0
	}
	fmt.Fprintf(os.Stderr, "sluice: unknown command %q\n%s", args[0], usage)
	return 2
}
