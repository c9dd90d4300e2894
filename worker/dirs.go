package worker

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"syscall"
)

// ErrUnsafeDir is wrapped by the error for a --dir that another user could
// write into: a worker runs the binaries it finds there.
var ErrUnsafeDir = errors.New("worker: unsafe --dir")

// privateDir makes dir (and its bin and apps directories) if need be, mode
// 0700, and checks that each is a directory this process's user owns that
// no one else can write into. A worker executes what it caches under bin,
// so a directory someone else controls would let them run code as this
// user.
func privateDir(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("--dir: %w", err)
	}
	for _, d := range []string{dir, filepath.Join(dir, "bin"), filepath.Join(dir, "apps")} {
		if err := os.Mkdir(d, 0o700); err != nil && !errors.Is(err, os.ErrExist) {
			return fmt.Errorf("--dir: %w", err)
		}
		if err := ownedPrivately(d, true); err != nil {
			return err
		}
	}
	return nil
}

// ownedPrivately checks that path (not followed if a link) is owned by
// this process's user and writable by no one else; a directory must be a
// directory, anything else a regular file.
func ownedPrivately(path string, dir bool) error {
	st, err := os.Lstat(path)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrUnsafeDir, err)
	}
	sys, ok := st.Sys().(*syscall.Stat_t)
	switch {
	case dir && !st.IsDir(), !dir && !st.Mode().IsRegular():
		return fmt.Errorf("%w: %s is a %v, not a plain %s", ErrUnsafeDir, path, st.Mode().Type(), map[bool]string{true: "directory", false: "file"}[dir])
	case ok && int(sys.Uid) != os.Geteuid():
		return fmt.Errorf("%w: %s belongs to uid %d, not this worker's %d: a worker runs binaries from its --dir, so give it a directory of its own", ErrUnsafeDir, path, sys.Uid, os.Geteuid())
	case st.Mode().Perm()&0o022 != 0:
		return fmt.Errorf("%w: %s has mode %04o: others can write into it, and a worker runs binaries from its --dir (chmod go-w %s)", ErrUnsafeDir, path, st.Mode().Perm(), path)
	}
	return nil
}

// checkBinary checks, just before it runs, that a cached binary is a file
// this user owns and no one else can write, and that it still has the
// sha256 it is cached under: what runs is what the driver uploaded.
func checkBinary(path, sha string) error {
	if err := ownedPrivately(path, false); err != nil {
		return err
	}
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return err
	}
	if hex.EncodeToString(h.Sum(nil)) != sha {
		return fmt.Errorf("%w: the cached binary %s no longer has its sha256: refusing to run it", ErrUnsafeDir, path)
	}
	return nil
}
