package trust

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strings"
	"syscall"
)

// ErrBadSecret is wrapped by every error about a secret's content.
var ErrBadSecret = errors.New("trust: bad cluster secret")

// MinSecretLen is the shortest secret accepted, in bytes. A secret from
// NewSecret is 64 hex digits.
const MinSecretLen = 16

// maxSecretFile bounds what ReadSecretFile reads: a secret file holds a few
// lines.
const maxSecretFile = 64 << 10

// NewSecret returns a fresh secret: 32 random bytes as 64 hex digits.
func NewSecret() string {
	var b [32]byte
	rand.Read(b[:]) // never fails (crypto/rand)
	return hex.EncodeToString(b[:])
}

// ParseSecrets parses the content of a secret file: one secret per line,
// the one in use first; blank lines and lines starting with # are skipped,
// and surrounding white space is not part of a secret. name is the file's
// name, for errors.
func ParseSecrets(name string, data []byte) ([][]byte, error) {
	var out [][]byte
	for i, line := range bytes.Split(data, []byte("\n")) {
		line = bytes.TrimSpace(line)
		if len(line) == 0 || line[0] == '#' {
			continue
		}
		if len(line) < MinSecretLen {
			return nil, fmt.Errorf("%w: %s line %d: a secret of %d bytes is too short (at least %d; make one with `sluice secret new`)",
				ErrBadSecret, name, i+1, len(line), MinSecretLen)
		}
		for _, s := range out {
			if bytes.Equal(s, line) {
				return nil, fmt.Errorf("%w: %s line %d repeats an earlier secret", ErrBadSecret, name, i+1)
			}
		}
		out = append(out, bytes.Clone(line))
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%w: %s holds no secret (make one with `sluice secret new > %s`)", ErrBadSecret, name, name)
	}
	return out, nil
}

// ReadSecretFile reads and parses a secret file.
func ReadSecretFile(path string) ([][]byte, error) {
	return readSecretFile(path, 0)
}

// readSecretFile reads a secret file, opened with extra flags. Opening
// does not block (O_NONBLOCK): a FIFO at the path is refused below, not
// waited on.
func readSecretFile(path string, flags int) ([][]byte, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK|flags, 0)
	if err != nil {
		return nil, fmt.Errorf("trust: secret file: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("trust: secret file: %w", err)
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("%w: %s is not a regular file", ErrBadSecret, path)
	}
	if st.Size() > maxSecretFile {
		return nil, fmt.Errorf("%w: %s is %d bytes, more than a secret file holds (%d at most)", ErrBadSecret, path, st.Size(), maxSecretFile)
	}
	data := make([]byte, st.Size())
	if _, err := f.ReadAt(data, 0); err != nil && st.Size() > 0 {
		return nil, fmt.Errorf("trust: secret file: %w", err)
	}
	return ParseSecrets(path, data)
}

// LooseMode reports whether a secret file can be read by users other than
// its owner, with a sentence saying what to do; "" when it cannot.
func LooseMode(path string) string {
	st, err := os.Stat(path)
	if err != nil || st.Mode().Perm()&0o077 == 0 {
		return ""
	}
	return fmt.Sprintf("%s has mode %04o: other users can read the cluster secret (chmod 600 %s)", path, st.Mode().Perm(), path)
}

// WriteSecretFile writes secrets to path, one per line, with mode 0600,
// through a temporary file renamed into place so that a reader never sees
// half a file. It refuses to replace an existing file unless replace.
func WriteSecretFile(path string, secrets [][]byte, replace bool) error {
	if !replace {
		if _, err := os.Lstat(path); err == nil {
			return fmt.Errorf("trust: %s exists: not overwriting it: %w", path, os.ErrExist)
		}
	}
	var b strings.Builder
	for _, s := range secrets {
		if bytes.ContainsAny(s, "\r\n") || len(bytes.TrimSpace(s)) != len(s) || len(s) < MinSecretLen {
			return fmt.Errorf("%w: cannot write a secret of %d bytes with white space at its ends or inside lines", ErrBadSecret, len(s))
		}
		b.Write(s)
		b.WriteByte('\n')
	}
	dir, base := splitPath(path)
	f, err := os.CreateTemp(dir, "."+base+".tmp-*")
	if err != nil {
		return fmt.Errorf("trust: %w", err)
	}
	tmp := f.Name()
	_, err = f.WriteString(b.String())
	if err == nil {
		err = f.Chmod(0o600)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil && !replace {
		// Link fails if path appeared meanwhile: never overwrite unasked.
		err = os.Link(tmp, path)
		os.Remove(tmp)
	} else if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("trust: writing %s: %w", path, err)
	}
	return nil
}

func splitPath(path string) (dir, base string) {
	i := strings.LastIndexByte(path, '/')
	if i < 0 {
		return ".", path
	}
	if i == 0 {
		return "/", path[1:]
	}
	return path[:i], path[i+1:]
}
