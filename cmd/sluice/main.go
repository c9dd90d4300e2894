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
//	sluice history    serve the UI of applications from their event logs
package main

import (
	"errors"
	"fmt"
	"os"
	"runtime"

	"github.com/spf13/pflag"

	"github.com/sluicehq/sluice/internal/version"
)

const usage = `usage: sluice COMMAND

commands:
  worker     run a worker daemon: --listen, --join, --role core|task, --slots, --dir
  up         start a local cluster on loopback: --core N --task M [--dir DIR]
  chaos      run a driver command under seeded task-node kills and compare with a fault-free run
  secret     make a cluster secret (sluice secret new > FILE) or rotate one
  history    serve the UI and API of applications from their event logs: --dir DIR [--listen HOST:PORT]
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
		if len(args) > 1 && (args[1] == "--help" || args[1] == "-h") {
			fmt.Print("usage: sluice version\n\nPrints the version of sluice, the Go version that built it, and the platform.\n")
			return 0
		}
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
	case "history":
		return runHistory(args[1:])
	case "help", "--help", "-h":
		fmt.Print(usage)
		return 0
	}
	fmt.Fprintf(os.Stderr, "sluice: unknown command %q\n%s", args[0], usage)
	return 2
}

// parseFlags parses a command's flags, with fs made ContinueOnError.
// --help and -h print fs.Usage, which writes to fs.Output(), on stdout: it
// is what was asked for. exit says whether the command should return code
// now: 0 after --help, 2 after a mistake, printed as one line on stderr.
func parseFlags(fs *pflag.FlagSet, args []string) (code int, exit bool) {
	fs.SetOutput(os.Stdout)
	err := fs.Parse(args)
	fs.SetOutput(os.Stderr)
	switch {
	case errors.Is(err, pflag.ErrHelp):
		return 0, true
	case err != nil:
		fmt.Fprintf(os.Stderr, "%s: %v (see %s --help)\n", fs.Name(), err, fs.Name())
		return 2, true
	}
	return 0, false
}
