package trust

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
)

// The environment variables that carry a secret to Sluice processes.
const (
	EnvSecretFile = "SLUICE_SECRET_FILE" // the path of a secret file, as --secret-file
	EnvSecret     = "SLUICE_SECRET"      // the secret itself; kept for compatibility
)

// Options say where a member's secret comes from and where it listens.
type Options struct {
	SecretFile string    // --secret-file; empty: $SLUICE_SECRET_FILE
	TLS        *TLSFiles // --tls-cert, --tls-key, --tls-ca; nil when none was given
	Insecure   bool      // --insecure: run without a secret if none is given
	// Addrs are the addresses the member listens on, advertises or joins.
	// When every one is on loopback and no secret is given, the per-user
	// development secret is used; otherwise a secret is required.
	Addrs []string
	// Getenv reads the environment; nil means os.Getenv.
	Getenv func(string) string
}

// Source says where a member's credentials came from, for its start log.
type Source int

// The sources of credentials.
const (
	FromFile     Source = iota + 1 // --secret-file or $SLUICE_SECRET_FILE
	FromEnv                        // $SLUICE_SECRET
	FromDev                        // the per-user development secret, on loopback
	FromInsecure                   // nothing: --insecure
)

// ErrNoSecret is wrapped by Resolve's error for a member that is not on
// loopback and has neither a secret nor --insecure.
var ErrNoSecret = errors.New("no cluster secret")

// Resolve finds a member's credentials: a secret file, then $SLUICE_SECRET,
// then, with --insecure, none at all; else, on loopback only, the per-user
// development secret. It returns nil Creds for FromInsecure.
func Resolve(o Options) (*Creds, Source, error) {
	getenv := o.Getenv
	if getenv == nil {
		getenv = os.Getenv
	}
	file, flag := o.SecretFile, "--secret-file"
	if file == "" {
		file, flag = getenv(EnvSecretFile), EnvSecretFile
	}
	if file != "" {
		secrets, err := ReadSecretFile(file)
		if err != nil {
			return nil, 0, fmt.Errorf("%s: %w", flag, err)
		}
		c, err := New(secrets, o.TLS)
		return c, FromFile, err
	}
	if s := getenv(EnvSecret); s != "" {
		secrets, err := ParseSecrets("$"+EnvSecret, []byte(s))
		if err != nil {
			return nil, 0, err
		}
		c, err := New(secrets, o.TLS)
		return c, FromEnv, err
	}
	if o.TLS != nil {
		return nil, 0, fmt.Errorf("trust: --tls-cert, --tls-key and --tls-ca need --secret-file as well: the secret keys gossip")
	}
	if o.Insecure {
		return nil, FromInsecure, nil
	}
	for _, a := range o.Addrs {
		if !IsLoopback(a) {
			return nil, 0, fmt.Errorf("%w: %s is not a loopback address: give the cluster secret with --secret-file FILE (make one with `sluice secret new > FILE` and give every member the same file), or --insecure to let anyone who can reach this host run code through the cluster", ErrNoSecret, a)
		}
	}
	path, err := DevSecretFile()
	if err != nil {
		return nil, 0, fmt.Errorf("%w: %v; give --secret-file FILE instead", ErrNoSecret, err)
	}
	secrets, err := loadOrCreate(path)
	if err != nil {
		return nil, 0, fmt.Errorf("%w: the development secret: %v; give --secret-file FILE instead", ErrNoSecret, err)
	}
	c, err := New(secrets, nil)
	return c, FromDev, err
}

// IsLoopback reports whether addr (host:port or host) is a loopback
// address: 127.0.0.0/8, ::1 or localhost. A wildcard is not.
func IsLoopback(addr string) bool {
	host := addr
	if h, _, err := net.SplitHostPort(addr); err == nil {
		host = h
	}
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// DevSecretFile is the per-user development secret: sluice/dev-secret in
// the user's configuration directory ($XDG_CONFIG_HOME or ~/.config). A
// worker and a driver on loopback with no secret given both use it, so a
// local cluster needs no setup, and other users of the machine, who cannot
// read the file (mode 0600), cannot use the cluster.
func DevSecretFile() (string, error) {
	dir, err := os.UserConfigDir()
	if err != nil {
		return "", err
	}
	return filepath.Join(dir, "sluice", "dev-secret"), nil
}

// loadOrCreate reads the secret file at path, making it with a fresh secret
// first if it does not exist. Concurrent callers agree on one secret.
//
// The file and its directory must be this user's and private: a secret
// someone else could read would let them use the cluster, and one they
// could write, or a link they placed, would be a secret they chose.
func loadOrCreate(path string) ([][]byte, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, err
	}
	if err := private(filepath.Dir(path), true); err != nil {
		return nil, err
	}
	s, err := readSecretFile(path, syscall.O_NOFOLLOW)
	if errors.Is(err, os.ErrNotExist) {
		if err := WriteSecretFile(path, [][]byte{[]byte(NewSecret())}, false); err != nil && !errors.Is(err, os.ErrExist) {
			return nil, err
		}
		s, err = readSecretFile(path, syscall.O_NOFOLLOW)
	}
	if err != nil {
		return nil, err
	}
	if err := private(path, false); err != nil {
		return nil, err
	}
	return s, nil
}

// private checks that path (a link is not followed) belongs to this user
// and that no one else can read a file, or write a directory.
func private(path string, dir bool) error {
	st, err := os.Lstat(path)
	if err != nil {
		return err
	}
	var uid = -1
	if sys, ok := st.Sys().(*syscall.Stat_t); ok {
		uid = int(sys.Uid)
	}
	mask := os.FileMode(0o077)
	if dir {
		mask = 0o022
	}
	switch {
	case dir != st.IsDir() || (!dir && !st.Mode().IsRegular()):
		return fmt.Errorf("%s is not a plain %s (a link or a special file): remove it", path, map[bool]string{true: "directory", false: "file"}[dir])
	case uid >= 0 && uid != os.Geteuid():
		return fmt.Errorf("%s belongs to uid %d, not to this user (%d): remove it", path, uid, os.Geteuid())
	case st.Mode().Perm()&mask != 0:
		return fmt.Errorf("%s has mode %04o: others can reach the secret; remove it (a new one is made) or chmod %04o it", path, st.Mode().Perm(), st.Mode().Perm()&^mask)
	}
	return nil
}

// Describe says in a sentence what a member started with, for its log.
func Describe(src Source, c *Creds, file string) string {
	switch src {
	case FromFile:
		return fmt.Sprintf("cluster secret %s from the secret file: gossip encrypted, RPC over mutual TLS 1.3", c.Fingerprint())
	case FromEnv:
		return fmt.Sprintf("cluster secret %s from $%s: gossip encrypted, RPC over mutual TLS 1.3", c.Fingerprint(), EnvSecret)
	case FromDev:
		return fmt.Sprintf("no secret given: on loopback, using the development secret %s in %s (mode 0600): any process of this user can run code through this cluster, other users cannot", c.Fingerprint(), file)
	case FromInsecure:
		return "--insecure: no cluster secret; gossip and RPC are neither authenticated nor encrypted, and anyone who can reach this member can run code through it"
	}
	return ""
}
