package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/spf13/pflag"

	"github.com/sluicehq/sluice/internal/trust"
)

const secretUsage = `usage: sluice secret new [FILE]       write a fresh cluster secret to FILE or standard output
       sluice secret rotate STEP FILE  change the secret of a running cluster, one step at a time

Every member (workers and drivers) takes the same file: --secret-file FILE
or SLUICE_SECRET_FILE=FILE. "sluice secret new > FILE" and
"sluice secret new FILE" both leave FILE with mode 0600; the second never
overwrites an existing file.

A file may hold several secrets, one per line: the first is the one a
member uses, and every line is accepted from peers. Rotation, with a
rolling restart of every member after each step (task workers can simply
be replaced):

  sluice secret rotate stage FILE    add a new secret as accepted (line 2)
  sluice secret rotate promote FILE  use it: move it to line 1
  sluice secret rotate retire FILE   drop every secret but line 1

Between steps every member accepts what every other member uses, so the
cluster stays whole throughout.
`

// runSecret is `sluice secret`.
func runSecret(args []string) int {
	fs := pflag.NewFlagSet("sluice secret", pflag.ContinueOnError)
	fs.Usage = func() { fmt.Fprint(fs.Output(), secretUsage) }
	if code, exit := parseFlags(fs, args); exit {
		return code
	}
	args = fs.Args()
	switch {
	case len(args) == 1 && args[0] == "new":
		// Redirected to a file: only its owner may read it.
		if st, err := os.Stdout.Stat(); err == nil && st.Mode().IsRegular() {
			if err := os.Stdout.Chmod(0o600); err != nil {
				fmt.Fprintf(os.Stderr, "sluice secret new: making standard output mode 0600: %v\n", err)
				return 1
			}
		}
		fmt.Println(trust.NewSecret())
		return 0
	case len(args) == 2 && args[0] == "new":
		if err := trust.WriteSecretFile(args[1], [][]byte{[]byte(trust.NewSecret())}, false); err != nil {
			fmt.Fprintf(os.Stderr, "sluice secret new: %v\n", err)
			return 1
		}
		return 0
	case len(args) == 3 && args[0] == "rotate":
		if err := rotate(args[1], args[2]); err != nil {
			fmt.Fprintf(os.Stderr, "sluice secret rotate: %v\n", err)
			return 1
		}
		return 0
	}
	fmt.Fprint(os.Stderr, secretUsage)
	return 2
}

// rotate performs one step of a secret rotation on the file at path.
func rotate(step, path string) error {
	secrets, err := trust.ReadSecretFile(path)
	if err != nil {
		if step == "stage" && errors.Is(err, os.ErrNotExist) {
			// A first secret: make the file, mode 0600.
			return trust.WriteSecretFile(path, [][]byte{[]byte(trust.NewSecret())}, false)
		}
		return err
	}
	switch step {
	case "stage":
		if len(secrets) > 1 {
			return fmt.Errorf("%s already holds %d secrets: finish the rotation in progress (promote, retire) first", path, len(secrets))
		}
		secrets = append(secrets, []byte(trust.NewSecret()))
		fmt.Fprintf(os.Stderr, "staged a new secret in %s; restart every member with it, then run: sluice secret rotate promote %s\n", path, path)
	case "promote":
		if len(secrets) < 2 {
			return fmt.Errorf("%s holds one secret: stage a new one first (sluice secret rotate stage %s)", path, path)
		}
		last := len(secrets) - 1
		secrets = append([][]byte{secrets[last]}, secrets[:last]...)
		fmt.Fprintf(os.Stderr, "promoted the new secret in %s; restart every member with it, then run: sluice secret rotate retire %s\n", path, path)
	case "retire":
		if len(secrets) < 2 {
			return fmt.Errorf("%s holds one secret: nothing to retire", path)
		}
		secrets = secrets[:1]
		fmt.Fprintf(os.Stderr, "retired the old secrets in %s; restart every member with it to finish\n", path)
	default:
		return fmt.Errorf("unknown step %q: stage, promote or retire", step)
	}
	return trust.WriteSecretFile(path, secrets, true)
}
