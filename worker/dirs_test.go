package worker

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// TestPrivateDir: a worker refuses a --dir that another user owns or that
// others can write into, since it runs the binaries it caches there.
func TestPrivateDir(t *testing.T) {
	base := t.TempDir()
	if err := privateDir(filepath.Join(base, "fresh")); err != nil {
		t.Fatalf("a fresh directory: %v", err)
	}
	loose := filepath.Join(base, "loose")
	os.MkdirAll(filepath.Join(loose, "bin"), 0o755)
	os.Chmod(filepath.Join(loose, "bin"), 0o777)
	if err := privateDir(loose); !errors.Is(err, ErrUnsafeDir) {
		t.Errorf("a bin directory others can write: %v, want ErrUnsafeDir", err)
	}
	if os.Geteuid() == 0 {
		theirs := filepath.Join(base, "theirs")
		os.MkdirAll(theirs, 0o755)
		os.Chown(theirs, 4242, 4242)
		if err := privateDir(theirs); !errors.Is(err, ErrUnsafeDir) {
			t.Errorf("a directory of uid 4242: %v, want ErrUnsafeDir", err)
		}
	}
	os.MkdirAll(filepath.Join(base, "elsewhere"), 0o700)
	os.Remove(filepath.Join(base, "fresh", "apps"))
	os.Symlink(filepath.Join(base, "elsewhere"), filepath.Join(base, "fresh", "apps"))
	if err := privateDir(filepath.Join(base, "fresh")); !errors.Is(err, ErrUnsafeDir) {
		t.Errorf("apps as a symbolic link: %v, want ErrUnsafeDir", err)
	}
}

// TestCheckBinary: a cached binary that changed since its upload, or that
// others can write, does not run.
func TestCheckBinary(t *testing.T) {
	dir := t.TempDir()
	data := []byte("#!/bin/sh\necho ok\n")
	sum := sha256.Sum256(data)
	sha := hex.EncodeToString(sum[:])
	p := filepath.Join(dir, sha)
	os.WriteFile(p, data, 0o755)
	if err := checkBinary(p, sha); err != nil {
		t.Fatalf("the uploaded binary: %v", err)
	}
	os.WriteFile(p, []byte("#!/bin/sh\nid\n"), 0o755)
	if err := checkBinary(p, sha); !errors.Is(err, ErrUnsafeDir) {
		t.Errorf("a replaced binary: %v, want ErrUnsafeDir", err)
	}
	os.WriteFile(p, data, 0o755)
	os.Chmod(p, 0o777)
	if err := checkBinary(p, sha); !errors.Is(err, ErrUnsafeDir) {
		t.Errorf("a binary others can write: %v, want ErrUnsafeDir", err)
	}
}
