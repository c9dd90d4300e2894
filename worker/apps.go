package worker

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/sluicehq/sluice/internal/rpc"
	"github.com/sluicehq/sluice/internal/trust"
)

// binPath is where the binary with a checked sha256 is cached.
func (d *Daemon) binPath(sha string) string {
	return filepath.Join(d.cfg.Dir, "bin", sha)
}

// putBinary streams a driver's binary to a temporary file, checks its
// size and sha256, and renames it into place, so a partial or altered
// upload never looks cached and never sits in memory.
func (d *Daemon) putBinary(req *UploadBinaryRequest, payload io.Reader) error {
	if err := checkSHA(req.SHA256); err != nil {
		return err
	}
	if req.Size < 0 || req.Size > d.cfg.MaxBinary {
		return rpc.Errorf("too_large", "worker: a binary of %d bytes is over this worker's limit of %d", req.Size, d.cfg.MaxBinary)
	}
	path := d.binPath(req.SHA256)
	f, err := os.CreateTemp(filepath.Dir(path), ".upload-*")
	if err != nil {
		return err
	}
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(f, h), io.LimitReader(payload, req.Size+1))
	if err == nil && n != req.Size {
		err = fmt.Errorf("worker: uploaded binary has %d bytes, not the %d announced", n, req.Size)
	}
	if err == nil && hex.EncodeToString(h.Sum(nil)) != req.SHA256 {
		err = fmt.Errorf("worker: uploaded binary does not match its sha256 %s", req.SHA256)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(f.Name(), 0o755)
	}
	if err == nil {
		err = os.Rename(f.Name(), path)
	}
	if err != nil {
		os.Remove(f.Name())
	}
	return err
}

// startApp starts the executor of an application, once, and returns its
// address.
func (d *Daemon) startApp(ctx context.Context, req *StartExecutorRequest) (string, error) {
	if err := checkApp(req.App); err != nil {
		return "", err
	}
	if err := checkSHA(req.SHA256); err != nil {
		return "", err
	}
	if err := checkExecEnv(req.Args, req.Env); err != nil {
		return "", err
	}
	bin := d.binPath(req.SHA256)
	if _, err := os.Stat(bin); err != nil {
		return "", fmt.Errorf("worker: no binary %s: upload it first", req.SHA256)
	}
	if err := checkBinary(bin, req.SHA256); err != nil {
		d.log.Warn("refusing to run a cached binary", "err", err)
		os.Remove(bin) // the driver uploads it again
		return "", err
	}
	d.mu.Lock()
	if d.draining {
		d.mu.Unlock()
		return "", fmt.Errorf("worker: %s is draining and takes no new applications", d.cfg.Name)
	}
	if d.stopping {
		// An executor started now would outlive stopAll and hold shutdown.
		d.mu.Unlock()
		return "", fmt.Errorf("worker: %s is stopping", d.cfg.Name)
	}
	a := d.apps[req.App]
	if a != nil && req.Replace != "" && a.addr == req.Replace {
		// The driver found this executor frozen: kill it (SIGKILL stops a
		// stopped process too) and start another in its place.
		d.mu.Unlock()
		d.log.Warn("replacing an executor its driver found frozen", "app", a.id)
		d.stop(a, 0)
		d.mu.Lock()
		if d.apps[req.App] == a {
			delete(d.apps, req.App)
		}
		a = d.apps[req.App]
	}
	if a == nil {
		a = &app{id: req.App, dir: filepath.Join(d.cfg.Dir, "apps", req.App), ready: make(chan struct{}), done: make(chan struct{})}
		d.apps[req.App] = a
		d.wg.Add(1)
		go d.runExecutor(a, bin, req)
	}
	d.mu.Unlock()
	select {
	case <-a.ready:
		return a.addr, a.err
	case <-ctx.Done():
		return "", ctx.Err()
	}
}

// runExecutor starts and waits for an executor process. It keeps its OS
// thread locked: Pdeathsig fires when the thread that started the child
// exits, and the child must die with the worker, not with a thread.
func (d *Daemon) runExecutor(a *app, bin string, req *StartExecutorRequest) {
	defer d.wg.Done()
	runtime.LockOSThread()
	defer close(a.done)
	fail := func(err error) {
		// Forgotten before StartExecutor returns the error, so the next
		// request starts a new executor and Status never lists this one.
		d.mu.Lock()
		if d.apps[a.id] == a {
			delete(d.apps, a.id)
		}
		d.mu.Unlock()
		a.err = err
		close(a.ready)
	}
	if err := os.MkdirAll(a.dir, 0o755); err != nil {
		fail(err)
		return
	}
	cmd, out, err := d.startProcess(a, bin, req)
	if err != nil {
		fail(fmt.Errorf("worker: starting executor: %w", err))
		return
	}
	d.mu.Lock()
	a.cmd = cmd
	d.mu.Unlock()
	d.log.Info("executor started", "app", a.id, "pid", cmd.Process.Pid)

	// The executor says on stdout whether it serves. The program's main
	// runs up to driver.Main first and may print before that: its lines,
	// like any after, are relayed to stderr.
	lines := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		told := false
		for sc.Scan() {
			line := sc.Text()
			if !told && (strings.HasPrefix(line, listeningPrefix) || strings.HasPrefix(line, failedPrefix)) {
				lines <- line
				told = true
				continue
			}
			fmt.Fprintf(os.Stderr, "executor %s: %s\n", a.id, line)
		}
		if !told {
			close(lines)
		}
		io.Copy(io.Discard, out)
	}()
	timer := time.NewTimer(d.cfg.StartTimeout)
	select {
	case line, ok := <-lines:
		timer.Stop()
		addr, found := strings.CutPrefix(line, listeningPrefix)
		switch reason, failed := strings.CutPrefix(line, failedPrefix); {
		case ok && found:
			a.addr = addr
			close(a.ready)
		case ok && failed:
			cmd.Process.Kill()
			fail(fmt.Errorf("worker: executor for %s refused to start: %s", a.id, reason))
		default:
			cmd.Process.Kill()
			fail(fmt.Errorf("worker: executor for %s exited before serving (see the worker's log)", a.id))
		}
	case <-timer.C:
		cmd.Process.Kill()
		fail(fmt.Errorf("worker: executor for %s did not start within %v", a.id, d.cfg.StartTimeout))
	}
	err = cmd.Wait()
	d.log.Info("executor exited", "app", a.id, "err", err)
	d.mu.Lock()
	if d.apps[a.id] == a {
		delete(d.apps, a.id)
	}
	d.mu.Unlock()
}

// startProcess starts an executor process and returns it with its
// standard output. Starting is retried while the binary is "text file
// busy": a process forked meanwhile from this one (another executor
// starting) holds, until it execs, a copy of the descriptor that an upload
// of this binary wrote with (golang.org/issue/22315). Within one worker
// process that takes two applications starting at once; --local-cluster,
// with several daemons in one process, meets it often.
func (d *Daemon) startProcess(a *app, bin string, req *StartExecutorRequest) (*exec.Cmd, io.ReadCloser, error) {
	host, _, _ := net.SplitHostPort(d.addr)
	for try := 1; ; try++ {
		// The driver's arguments and environment, not the worker's: the
		// executor runs the driver's program, whose flags and variables
		// must hold what they hold in the driver.
		cmd := exec.Command(bin, req.Args...)
		cmd.Dir = a.dir
		if st, err := os.Stat(req.WorkDir); err == nil && st.IsDir() && filepath.IsAbs(req.WorkDir) {
			cmd.Dir = req.WorkDir
		}
		cmd.Env = append(UserEnv(req.Env),
			EnvExecutor+"=1", envApp+"="+req.App, envDir+"="+a.dir, envDriver+"="+req.Driver,
			envWorker+"="+d.node.Name(), envHost+"="+host, envCodec+"="+req.Codec,
			envTaskMemory+"="+strconv.FormatInt(req.TaskMemory, 10), envCacheMemory+"="+strconv.FormatInt(req.CacheMemory, 10),
			envCacheDisk+"="+strconv.FormatInt(req.CacheDisk, 10), envSlots+"="+strconv.Itoa(d.cfg.Slots),
			envRegistryDigest+"="+req.RegistryDigest)
		cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
		// The credentials go through a pipe, never the environment or the
		// command line, where other processes could see them.
		credsRead, err := d.passCreds(cmd)
		if err != nil {
			return nil, nil, err
		}
		cmd.Stderr = os.Stderr
		out, err := cmd.StdoutPipe()
		if err == nil {
			err = cmd.Start()
		}
		credsRead.Close() // the child has its copy
		if err == nil {
			return cmd, out, nil
		}
		if !errors.Is(err, syscall.ETXTBSY) || try == 10 {
			return nil, nil, err
		}
		time.Sleep(time.Duration(try) * 10 * time.Millisecond) // the forked process execs within moments
	}
}

// passCreds gives an executor the worker's credentials through a pipe on
// its file descriptor 3, and returns the read end for the caller to close
// once the executor started.
func (d *Daemon) passCreds(cmd *exec.Cmd) (*os.File, error) {
	if d.cfg.Creds == nil {
		cmd.Env = append(cmd.Env, envInsecure+"=1")
		return os.Open(os.DevNull)
	}
	r, w, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	// A few hundred bytes: the pipe's buffer takes them without a reader.
	_, err = w.Write(d.cfg.Creds.Export())
	if cerr := w.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		r.Close()
		return nil, err
	}
	cmd.ExtraFiles = []*os.File{r}
	cmd.Env = append(cmd.Env, envCredsFD+"=3")
	return r, nil
}

// UserEnv returns env without Sluice's own cluster variables: those that
// carry the cluster secret (executors get credentials through a pipe, and
// user code they run must not find the secret in its environment) and
// those a worker gives an executor, which only the worker may set.
func UserEnv(env []string) []string {
	return slices.DeleteFunc(slices.Clone(env), func(kv string) bool {
		k, _, _ := strings.Cut(kv, "=")
		return k == trust.EnvSecret || k == trust.EnvSecretFile || slices.Contains(executorVars, k)
	})
}

// checkExecEnv refuses arguments and an environment that an executor
// cannot be started with: over MaxExecEnv, a NUL byte, a variable that is
// not NAME=VALUE.
func checkExecEnv(args, env []string) error {
	if n := ExecEnvSize(args, env); n > MaxExecEnv {
		return rpc.Errorf("too_large", "worker: the driver's command line and environment are %d bytes, over the %d an executor is started with", n, MaxExecEnv)
	}
	for _, s := range args {
		if strings.IndexByte(s, 0) >= 0 {
			return rpc.Errorf("bad_request", "%v: an argument holds a NUL byte", ErrBadRequest)
		}
	}
	for _, kv := range env {
		if k, _, ok := strings.Cut(kv, "="); !ok || k == "" || strings.IndexByte(kv, 0) >= 0 {
			return rpc.Errorf("bad_request", "%v: environment entry %q is not NAME=VALUE", ErrBadRequest, truncateID(kv))
		}
	}
	return nil
}

// stopApp stops an application's executor and removes its files.
func (d *Daemon) stopApp(id string) {
	d.mu.Lock()
	a := d.apps[id]
	delete(d.apps, id)
	d.mu.Unlock()
	if a != nil {
		d.stop(a, 5*time.Second)
	}
	// Also when the executor had already exited (crashed): its files go.
	if checkApp(id) == nil {
		os.RemoveAll(filepath.Join(d.cfg.Dir, "apps", id))
	}
}

// stop ends an executor with its process group (so processes user code
// started go too) and waits for it: SIGTERM and grace to finish, then
// SIGKILL; with no grace, SIGKILL at once, which also ends a stopped
// process.
func (d *Daemon) stop(a *app, grace time.Duration) {
	<-a.ready
	d.mu.Lock()
	cmd := a.cmd
	d.mu.Unlock()
	if cmd == nil {
		return
	}
	group := -cmd.Process.Pid
	if grace > 0 {
		syscall.Kill(group, syscall.SIGTERM)
		select {
		case <-a.done:
			return
		case <-time.After(grace):
		}
	}
	syscall.Kill(group, syscall.SIGKILL)
	<-a.done
}

func (d *Daemon) stopAll() {
	d.mu.Lock()
	ids := make([]string, 0, len(d.apps))
	for id := range d.apps {
		ids = append(ids, id)
	}
	d.mu.Unlock()
	for _, id := range ids {
		d.stopApp(id)
	}
}

// removeStaleApps removes the application directories an earlier run of
// this worker left (it was killed, so it could not stop them): their
// executors died with it, and drivers count a restarted worker as lost,
// so its old map outputs serve no one and would fill the disk.
func (d *Daemon) removeStaleApps() {
	dir := filepath.Join(d.cfg.Dir, "apps")
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		if err := os.RemoveAll(filepath.Join(dir, e.Name())); err != nil {
			d.log.Warn("removing an earlier run's application files", "app", e.Name(), "err", err)
		}
	}
}
