package worker_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/rpc"
	"github.com/sluicehq/sluice/internal/trust"
	"github.com/sluicehq/sluice/worker"

	"github.com/sluicehq/sluice/internal/task"
)

// dumpTo names a file where this test binary, started as an executor,
// writes the arguments and environment it was started with.
const dumpTo = "WORKER_TEST_DUMP"

func TestMain(m *testing.M) {
	// A daemon in a test starts this binary as its executors.
	if worker.IsExecutor() {
		if os.Getenv(sayHello) == "1" {
			// As a program may, in main before driver.Main.
			fmt.Println("hello from main")
		}
		if f := os.Getenv(dumpTo); f != "" {
			b, _ := json.Marshal(started{Args: os.Args[1:], Env: os.Environ(), PID: os.Getpid()})
			os.WriteFile(f, b, 0o644)
		}
		os.Exit(worker.RunExecutor())
	}
	os.Exit(m.Run())
}

// sayHello, set to 1, has this test binary print a line on stdout before
// it serves as an executor.
const sayHello = "WORKER_TEST_SAY_HELLO"

type started struct {
	Args, Env []string
	PID       int
}

// daemon starts a worker daemon in this process on loopback and returns
// an RPC client that holds its secret and its RPC address.
func daemon(t *testing.T) (*rpc.Client, string) {
	t.Helper()
	d := startDaemon(t, "w1", newCreds(t), nil)
	return d.client, d.Addr()
}

// uploadSelf gives the daemon this test binary as a driver binary.
func uploadSelf(t *testing.T, client *rpc.Client, addr string) string {
	t.Helper()
	bin, err := os.ReadFile(os.Args[0])
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(bin)
	sha := hex.EncodeToString(sum[:])
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := rpc.Upload[worker.UploadBinaryRequest, worker.Empty](ctx, client, addr, worker.MethodUploadBinary,
		&worker.UploadBinaryRequest{SHA256: sha, Size: int64(len(bin))}, bytes.NewReader(bin), int64(len(bin))); err != nil {
		t.Fatal(err)
	}
	return sha
}

func startRequest(sha string, args, env []string) *worker.StartExecutorRequest {
	return &worker.StartExecutorRequest{
		App: "app-1", SHA256: sha, Driver: "127.0.0.1:1", Codec: "s2", TaskMemory: 1 << 20,
		RegistryDigest: task.RegistryDigest(), Args: args, Env: env,
	}
}

// An executor starts with the driver's arguments and environment: not the
// worker's, and never with the secret's variables or the driver's idea of
// the executor's own variables; its credentials still come on fd 3.
func TestExecutorStartsWithTheDriversArgsAndEnvironment(t *testing.T) {
	t.Setenv("WORKER_ONLY", "the worker's own") // the daemon runs in this process
	client, addr := daemon(t)
	sha := uploadSelf(t, client, addr)
	dump := filepath.Join(t.TempDir(), "started.json")
	args := []string{"--min-len", "6", "two words", "", "--join=127.0.0.1:7946"}
	env := []string{
		"DRIVER_ONLY=the driver's", dumpTo + "=" + dump, "PATH=" + os.Getenv("PATH"),
		trust.EnvSecret + "=leaked", trust.EnvSecretFile + "=/leaked",
		worker.EnvExecutor + "=0", "SLUICE_CREDS_FD=9", "SLUICE_INSECURE=1",
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := rpc.Call[worker.StartExecutorRequest, worker.StartExecutorResponse](ctx, client, addr, worker.MethodStartExecutor, startRequest(sha, args, env)); err != nil {
		t.Fatalf("starting an executor: %v", err)
	}
	b, err := os.ReadFile(dump)
	if err != nil {
		t.Fatal(err)
	}
	var got started
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got.Args, args) {
		t.Errorf("executor arguments %q, want the driver's %q", got.Args, args)
	}
	vars := map[string][]string{}
	for _, kv := range got.Env {
		k, v, _ := strings.Cut(kv, "=")
		vars[k] = append(vars[k], v)
	}
	for k, want := range map[string][]string{
		"DRIVER_ONLY": {"the driver's"}, worker.EnvExecutor: {"1"}, "SLUICE_CREDS_FD": {"3"},
		"WORKER_ONLY": nil, trust.EnvSecret: nil, trust.EnvSecretFile: nil, "SLUICE_INSECURE": nil,
	} {
		if !slices.Equal(vars[k], want) {
			t.Errorf("executor environment: %s=%q, want %q", k, vars[k], want)
		}
	}

	// The executor stops with its application.
	pid := got.PID
	if _, err := rpc.Call[worker.StopAppRequest, worker.Empty](ctx, client, addr, worker.MethodStopApp, &worker.StopAppRequest{App: "app-1"}); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
		t.Errorf("executor %d still there after StopApp: %v", pid, err)
	}
}

// Arguments and environments an executor cannot be started with are
// refused with a code that says why.
func TestStartExecutorRefusesBadArgsAndEnvironment(t *testing.T) {
	client, addr := daemon(t)
	sha := uploadSelf(t, client, addr)
	big := strings.Repeat("x", worker.MaxExecEnv/2)
	for _, tc := range []struct {
		name      string
		args, env []string
		code      string
	}{
		{"over MaxExecEnv", []string{big}, []string{"V=" + big}, "too_large"},
		{"a NUL in an argument", []string{"a\x00b"}, nil, "bad_request"},
		{"a variable without =", nil, []string{"NOVALUE"}, "bad_request"},
		{"a variable without a name", nil, []string{"=x"}, "bad_request"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			_, err := rpc.Call[worker.StartExecutorRequest, worker.StartExecutorResponse](ctx, client, addr, worker.MethodStartExecutor, startRequest(sha, tc.args, tc.env))
			var re *rpc.RemoteError
			if !errors.As(err, &re) || re.Code != tc.code {
				t.Fatalf("StartExecutor: %v; want code %q", err, tc.code)
			}
		})
	}
}

// A program's main runs in its executors up to driver.Main; a line it
// prints on stdout there does not stop the worker from finding the line
// the executor prints once it serves.
func TestExecutorThatPrintsBeforeServing(t *testing.T) {
	client, addr := daemon(t)
	sha := uploadSelf(t, client, addr)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	resp, err := rpc.Call[worker.StartExecutorRequest, worker.StartExecutorResponse](ctx, client, addr, worker.MethodStartExecutor,
		startRequest(sha, nil, []string{sayHello + "=1"}))
	if err != nil || resp.Addr == "" {
		t.Fatalf("starting an executor that prints first: %+v, %v", resp, err)
	}
}
