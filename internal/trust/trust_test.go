package trust

import (
	"bytes"
	"crypto/tls"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/fuzztest"
)

func secret(s string) []byte { return []byte(s + strings.Repeat("-", MinSecretLen)) }

func TestParseSecrets(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []string
		err  string
	}{
		{"0123456789abcdef\n", []string{"0123456789abcdef"}, ""},
		{"# comment\n\n  0123456789abcdef  \r\nfedcba9876543210\n", []string{"0123456789abcdef", "fedcba9876543210"}, ""},
		{"", nil, "holds no secret"},
		{"# only a comment\n", nil, "holds no secret"},
		{"short\n", nil, "line 1: a secret of 5 bytes is too short"},
		{"0123456789abcdef\n0123456789abcdef\n", nil, "line 2 repeats"},
	} {
		got, err := ParseSecrets("f", []byte(tc.in))
		if tc.err != "" {
			if !errors.Is(err, ErrBadSecret) || !strings.Contains(err.Error(), tc.err) || !strings.Contains(err.Error(), "f") {
				t.Errorf("%q: %v, want ErrBadSecret saying %q", tc.in, err, tc.err)
			}
			continue
		}
		if err != nil || len(got) != len(tc.want) {
			t.Fatalf("%q: %q, %v", tc.in, got, err)
		}
		for i := range got {
			if string(got[i]) != tc.want[i] {
				t.Errorf("%q: secret %d is %q, want %q", tc.in, i, got[i], tc.want[i])
			}
		}
	}
}

func FuzzParseSecrets(f *testing.F) {
	f.Add([]byte("0123456789abcdef\n# c\n\nfedcba9876543210"))
	f.Add([]byte("\x00\xff\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		defer fuzztest.Guard(t)()
		secrets, err := ParseSecrets("f", data)
		if err != nil {
			if !errors.Is(err, ErrBadSecret) {
				t.Fatalf("error %v does not wrap ErrBadSecret", err)
			}
			return
		}
		for _, s := range secrets {
			if len(s) < MinSecretLen || !bytes.Contains(data, s) || bytes.ContainsAny(s, "\n") {
				t.Fatalf("parsed %q from %q", s, data)
			}
		}
		if _, err := New(secrets, nil); err != nil {
			t.Fatalf("New of parsed secrets: %v", err)
		}
	})
}

// handshake runs a TLS handshake between a server and a client over a pipe.
func handshake(server, client *Creds) error {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	defer ln.Close()
	b, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		return err
	}
	defer b.Close()
	a, err := ln.Accept()
	if err != nil {
		return err
	}
	defer a.Close()
	deadline := time.Now().Add(10 * time.Second)
	a.SetDeadline(deadline)
	b.SetDeadline(deadline)
	errs := make(chan error, 1)
	go func() {
		s := tls.Server(a, server.ServerTLS())
		err := s.Handshake()
		if err == nil {
			// A TLS 1.3 server checks the client's certificate after the
			// client thinks the handshake is done: read to learn.
			s.Write([]byte{1})
		}
		a.Close()
		errs <- err
	}()
	c := tls.Client(b, client.ClientTLS())
	err = c.Handshake()
	if err == nil {
		_, err = c.Read(make([]byte, 1))
	}
	if serr := <-errs; serr != nil && err == nil {
		err = serr
	}
	return err
}

func TestHandshakes(t *testing.T) {
	mk := func(secrets ...[]byte) *Creds {
		c, err := New(secrets, nil)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	old, next := secret("old"), secret("next")
	for _, tc := range []struct {
		name           string
		server, client *Creds
		ok             bool
	}{
		{"same secret", mk(old), mk(old), true},
		{"different secrets", mk(old), mk(next), false},
		{"staged new with old", mk(old, next), mk(old), true},
		{"promoted with staged", mk(next, old), mk(old, next), true},
		// Hence the rolling restarts: promote only once every member staged.
		{"promoted with old only", mk(next, old), mk(old), false},
		{"retired with old", mk(next), mk(old), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, dir := range [][2]*Creds{{tc.server, tc.client}, {tc.client, tc.server}} {
				err := handshake(dir[0], dir[1])
				if (err == nil) != tc.ok {
					t.Errorf("handshake: %v, want ok=%v", err, tc.ok)
				}
			}
		})
	}
}

func TestDerivedCAIsStable(t *testing.T) {
	_, a, err := deriveCA(secret("x"))
	if err != nil {
		t.Fatal(err)
	}
	_, b, _ := deriveCA(secret("x"))
	_, c, _ := deriveCA(secret("y"))
	if !bytes.Equal(a.Raw, b.Raw) || bytes.Equal(a.Raw, c.Raw) || a.Subject.CommonName == c.Subject.CommonName {
		t.Fatal("the CA must be the same for the same secret and differ for another")
	}
}

func TestExportImport(t *testing.T) {
	c, _ := New([][]byte{secret("a"), secret("b")}, nil)
	d, err := Import(c.Export())
	if err != nil {
		t.Fatal(err)
	}
	if d.Fingerprint() != c.Fingerprint() || handshake(c, d) != nil {
		t.Fatal("imported credentials differ")
	}
	for _, bad := range []string{"", "{", `{"secrets":["zz"]}`, `{"secrets":[]}`, `{"secrets":["00"]}`} {
		if _, err := Import([]byte(bad)); !errors.Is(err, ErrBadSecret) {
			t.Errorf("Import(%q): %v, want ErrBadSecret", bad, err)
		}
	}
}

func TestResolve(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "secret")
	if err := WriteSecretFile(file, [][]byte{[]byte(NewSecret())}, false); err != nil {
		t.Fatal(err)
	}
	if err := WriteSecretFile(file, [][]byte{[]byte(NewSecret())}, false); !errors.Is(err, os.ErrExist) {
		t.Errorf("writing over a secret file: %v, want ErrExist", err)
	}
	if st, _ := os.Stat(file); st.Mode().Perm() != 0o600 {
		t.Errorf("secret file mode %v, want 0600", st.Mode().Perm())
	}
	env := map[string]string{"XDG_CONFIG_HOME": dir}
	t.Setenv("XDG_CONFIG_HOME", dir)
	getenv := func(k string) string { return env[k] }
	for _, tc := range []struct {
		name string
		o    Options
		env  map[string]string
		src  Source
		err  string
	}{
		{"file on a host address", Options{SecretFile: file, Addrs: []string{"10.0.0.1:7946"}}, nil, FromFile, ""},
		{"file from the environment", Options{Addrs: []string{"10.0.0.1:7946"}}, map[string]string{EnvSecretFile: file}, FromFile, ""},
		{"secret in the environment", Options{Addrs: []string{"10.0.0.1:7946"}}, map[string]string{EnvSecret: NewSecret()}, FromEnv, ""},
		{"nothing on loopback", Options{Addrs: []string{"127.0.0.1:7946", "localhost:1", "[::1]:2"}}, nil, FromDev, ""},
		{"nothing on a host address", Options{Addrs: []string{"127.0.0.1:7946", "10.0.0.1:7946"}}, nil, 0, "10.0.0.1:7946 is not a loopback address"},
		{"nothing on a wildcard", Options{Addrs: []string{"0.0.0.0:7946"}}, nil, 0, "--secret-file"},
		{"insecure on a host address", Options{Insecure: true, Addrs: []string{"10.0.0.1:7946"}}, nil, FromInsecure, ""},
		{"missing file", Options{SecretFile: filepath.Join(dir, "nope")}, nil, 0, "--secret-file"},
		{"short secret in the environment", Options{}, map[string]string{EnvSecret: "short"}, 0, "too short"},
		{"TLS files without a secret", Options{TLS: &TLSFiles{Cert: "a", Key: "b", CA: "c"}, Insecure: true}, nil, 0, "need --secret-file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env = map[string]string{"XDG_CONFIG_HOME": dir}
			for k, v := range tc.env {
				env[k] = v
			}
			tc.o.Getenv = getenv
			c, src, err := Resolve(tc.o)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err %v, want one saying %q", err, tc.err)
				}
				return
			}
			if err != nil || src != tc.src || (c == nil) != (src == FromInsecure) {
				t.Fatalf("%v, %v, %v; want source %v", c, src, err, tc.src)
			}
		})
	}
	// Two resolutions on loopback agree on the development secret, mode 0600.
	a, _, _ := Resolve(Options{Addrs: []string{"127.0.0.1:1"}, Getenv: getenv})
	b, _, _ := Resolve(Options{Addrs: []string{"127.0.0.1:2"}, Getenv: getenv})
	if a.Fingerprint() != b.Fingerprint() {
		t.Error("two members on loopback got different development secrets")
	}
	dev, _ := DevSecretFile()
	if st, err := os.Stat(dev); err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("development secret %s: %v, %v; want mode 0600", dev, st, err)
	}
}

// TestDevSecretMustBePrivate: the development secret is used only when it
// is this user's own, private file: not readable by others, not a link,
// not a FIFO (which must not hang the reader either).
func TestDevSecretMustBePrivate(t *testing.T) {
	for _, tc := range []struct {
		name  string
		setup func(dir, file string)
	}{
		{"readable by others", func(dir, file string) { os.WriteFile(file, []byte(NewSecret()+"\n"), 0o644) }},
		{"directory writable by others", func(dir, file string) { os.Chmod(dir, 0o777) }},
		{"a link", func(dir, file string) {
			other := filepath.Join(filepath.Dir(dir), "other")
			os.WriteFile(other, []byte(NewSecret()+"\n"), 0o600)
			os.Symlink(other, file)
		}},
		{"a FIFO", func(dir, file string) { syscall.Mkfifo(file, 0o600) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			home := t.TempDir()
			dir := filepath.Join(home, "sluice")
			os.MkdirAll(dir, 0o700)
			tc.setup(dir, filepath.Join(dir, "dev-secret"))
			getenv := func(k string) string { return map[string]string{"XDG_CONFIG_HOME": home}[k] }
			t.Setenv("XDG_CONFIG_HOME", home)
			done := make(chan error, 1)
			go func() {
				_, _, err := Resolve(Options{Addrs: []string{"127.0.0.1:1"}, Getenv: getenv})
				done <- err
			}()
			select {
			case err := <-done:
				if err == nil {
					t.Fatal("an unsafe development secret was used")
				}
			case <-time.After(10 * time.Second):
				t.Fatal("resolving hung")
			}
		})
	}
	if os.Geteuid() == 0 {
		home := t.TempDir()
		dir := filepath.Join(home, "sluice")
		os.MkdirAll(dir, 0o700)
		file := filepath.Join(dir, "dev-secret")
		os.WriteFile(file, []byte(NewSecret()+"\n"), 0o600)
		os.Chown(file, 4242, 4242)
		t.Setenv("XDG_CONFIG_HOME", home)
		if _, _, err := Resolve(Options{Addrs: []string{"127.0.0.1:1"}}); err == nil {
			t.Error("a development secret owned by another user was used")
		}
	}
}
