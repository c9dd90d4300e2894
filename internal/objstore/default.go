package objstore

import (
	"context"
	"os"
	"strings"
	"sync"
)

// envKeys are the variables a default store depends on: a change to any
// of them (a test pointing at a new server) makes a new client.
var envKeys = []string{"AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_REGION", "AWS_DEFAULT_REGION",
	"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE",
	"AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE"}

// The process's default store, made on first use. One client per process
// because the SDK client holds the connection pool and is safe for
// concurrent use; Sluice's rdd sources and sinks run in executors that
// have no other place to keep it.
var def struct {
	sync.Mutex
	env string
	st  Store
}

// Default returns the process's S3 store, configured from the AWS
// environment with DefaultS3Config.
func Default() (Store, error) {
	var b strings.Builder
	for _, k := range envKeys {
		b.WriteString(os.Getenv(k))
		b.WriteByte(0)
	}
	env := b.String()
	def.Lock()
	defer def.Unlock()
	if def.st != nil && def.env == env {
		return def.st, nil
	}
	st, err := NewS3(context.Background(), S3Config{})
	if err != nil {
		return nil, err
	}
	def.st, def.env = st, env
	return st, nil
}
