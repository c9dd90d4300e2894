package worker

// The RPC methods of the cluster. Workers serve the first five (and
// MethodStatus), executors RunTask, and drivers CanCommit.
const (
	MethodHasBinary     = "HasBinary"
	MethodUploadBinary  = "UploadBinary"
	MethodStartExecutor = "StartExecutor"
	MethodStopApp       = "StopApp"
	MethodFetch         = "FetchShuffle"
	MethodRunTask       = "RunTask"
	MethodCanCommit     = "CanCommit"
	MethodFetchFile     = "FetchMapOutputFile"
	MethodPullMapOutput = "PullMapOutput"
	MethodDrained       = "Drained"
	MethodWorkerLost    = "WorkerLost"
	MethodHeartbeat     = "Heartbeat"
	MethodForgetGraphs  = "ForgetGraphs"   // served by workers (map outputs) and executors (graphs, cache)
	MethodUnpersist     = "Unpersist"      // served by executors: drop a node's persisted partitions
	MethodBroadcast     = "FetchBroadcast" // served by drivers: a broadcast value, to an executor
)

// BroadcastRequest asks the driver for the encoded value of a broadcast
// variable (rdd.Broadcast), once per executor.
type BroadcastRequest struct {
	App string
	ID  string
}

// BroadcastResponse carries a broadcast value, at most rdd.MaxBroadcast
// bytes; the executor checks it against the handle's digest.
type BroadcastResponse struct{ Data []byte }

// HeartbeatResponse is an executor's answer to the driver's heartbeat: the
// tasks it runs and how far each has read.
type HeartbeatResponse struct {
	Tasks []TaskProgress
}

// TaskProgress is how far a running task has got.
type TaskProgress struct {
	TaskID  int64
	Records int64 // shuffle records read so far
}

// WorkerLostRequest tells an executor that the driver declared a worker
// lost: its fetches from that worker fail at once.
type WorkerLostRequest struct{ Worker string }

// FetchFileRequest asks for a whole map output file, to copy it.
type FetchFileRequest struct {
	App                 string
	Graph, Shuffle, Map int
	Index               bool // the index file; the data file otherwise
}

// PullMapOutputRequest asks a worker (a core node) to copy a map output
// from the worker at From, which holds it, into its own storage.
type PullMapOutputRequest struct {
	App                 string
	Graph, Shuffle, Map int
	From                string // RPC address of the holder
}

// DrainedRequest tells a draining worker that a driver has moved what it
// needed off it; once every application's driver said so, it leaves.
type DrainedRequest struct{ App string }

// HasBinaryRequest asks whether a worker caches a binary.
type HasBinaryRequest struct{ SHA256 string }

// HasBinaryResponse answers HasBinaryRequest.
type HasBinaryResponse struct{ Have bool }

// UploadBinaryRequest precedes a driver's binary, streamed as an upload's
// payload: its sha256 names it, and Size bytes follow.
type UploadBinaryRequest struct {
	SHA256 string
	Size   int64
}

// Empty is the response of calls that return nothing.
type Empty struct{}

// StartExecutorRequest asks a worker to start an application's executor:
// the driver's binary, run in executor mode.
type StartExecutorRequest struct {
	App            string
	SHA256         string
	Driver         string // the driver's RPC address, for commit requests
	Codec          string
	TaskMemory     int64
	CacheMemory    int64
	CacheDisk      int64
	RegistryDigest string // the driver's task.RegistryDigest, checked by the executor
	// Replace is the address of this application's executor that the
	// driver found frozen (no heartbeat): the worker kills it and starts
	// another. Its map outputs stay, in the application's directory.
	Replace string
	// WorkDir is the driver's working directory. The executor runs there
	// when the worker has it (same machine or a shared file system), so
	// relative input paths mean what they mean to the driver.
	WorkDir string
	// Args are the driver's command-line arguments (os.Args[1:]) and Env
	// its environment (os.Environ, without the cluster secret's variables):
	// the executor starts with exactly these, plus the worker's SLUICE_
	// executor variables, so flags and variables read anywhere in the
	// program hold the values they hold in the driver. Together at most
	// MaxExecEnv bytes.
	Args []string
	Env  []string
}

// MaxExecEnv bounds the command-line arguments and environment a driver
// gives its executors, counted as the kernel counts them (each string and
// its terminating NUL): under Linux's 2 MiB for both, with room for the
// worker's own variables.
const MaxExecEnv = 1 << 20

// ExecEnvSize is the size of args and env as MaxExecEnv counts it.
func ExecEnvSize(args, env []string) int {
	n := 0
	for _, s := range args {
		n += len(s) + 1
	}
	for _, s := range env {
		n += len(s) + 1
	}
	return n
}

// StartExecutorResponse gives the executor's RPC address.
type StartExecutorResponse struct {
	Addr  string
	Slots int
}

// StopAppRequest ends an application on a worker: its executor stops and
// its files go.
type StopAppRequest struct{ App string }

// FetchRequest asks for one reduce partition of one map output; the
// response streams its blocks.
type FetchRequest struct {
	App                       string
	Graph, Shuffle, Map, Part int
}

// CanCommitRequest asks the driver whether an attempt may commit.
type CanCommitRequest struct {
	App                  string
	Stage, Part, Attempt int
}

// CanCommitResponse answers CanCommitRequest.
type CanCommitResponse struct{ OK bool }
