package objstore_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/objstore"
)

// awsEnv sets a clean AWS environment for the test: these keys and
// endpoint, no profile or files of the machine's.
func awsEnv(t *testing.T, endpoint string) {
	t.Setenv("AWS_ENDPOINT_URL", endpoint)
	t.Setenv("AWS_ENDPOINT_URL_S3", "")
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIDTEST")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "secret")
	t.Setenv("AWS_SESSION_TOKEN", "")
	t.Setenv("AWS_REGION", "")
	t.Setenv("AWS_DEFAULT_REGION", "")
	t.Setenv("AWS_PROFILE", "")
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(t.TempDir(), "none"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(t.TempDir(), "none"))
}

// TestEndpointMeansPathStyle is the contract S3-compatible servers rely
// on: with AWS_ENDPOINT_URL set, requests go to that host with the bucket
// in the path, signed, and no region is needed.
func TestEndpointMeansPathStyle(t *testing.T) {
	var mu sync.Mutex
	var host, path, auth string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		host, path, auth = r.Host, r.URL.Path, r.Header.Get("Authorization")
		mu.Unlock()
		w.Header().Set("Content-Length", "3")
		w.Header().Set("ETag", `"abc"`)
		w.Header().Set("Last-Modified", "Mon, 30 Nov 2026 08:00:00 GMT")
	}))
	defer srv.Close()
	awsEnv(t, srv.URL)
	st, err := objstore.NewS3(context.Background(), objstore.S3Config{})
	if err != nil {
		t.Fatal(err)
	}
	info, err := st.Stat(context.Background(), "s3://my-bucket/dir/key.txt")
	if err != nil || info.Size != 3 {
		t.Fatalf("stat: %+v %v", info, err)
	}
	mu.Lock()
	defer mu.Unlock()
	if host != strings.TrimPrefix(srv.URL, "http://") || path != "/my-bucket/dir/key.txt" {
		t.Fatalf("request to host %q path %q; want path-style %s/my-bucket/dir/key.txt", host, path, srv.URL)
	}
	if !strings.Contains(auth, "AWS4-HMAC-SHA256 Credential=AKIDTEST/") || !strings.Contains(auth, "/us-east-1/s3/") {
		t.Fatalf("authorization %q: want SigV4 with the environment's key", auth)
	}
}

// TestNoRegionNoEndpoint: without a region or an endpoint, the error
// says what to set.
func TestNoRegionNoEndpoint(t *testing.T) {
	awsEnv(t, "")
	_, err := objstore.NewS3(context.Background(), objstore.S3Config{})
	if err == nil || !strings.Contains(err.Error(), "AWS_REGION") {
		t.Fatalf("no region: %v", err)
	}
}

// TestCallsAreBounded: a server that always asks to retry is tried
// MaxAttempts times; one that never answers fails the call at its
// deadline.
func TestCallsAreBounded(t *testing.T) {
	var tries atomic.Int32
	busy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tries.Add(1)
		w.WriteHeader(http.StatusServiceUnavailable)
		w.Write([]byte(`<Error><Code>SlowDown</Code><Message>slow down</Message></Error>`))
	}))
	defer busy.Close()
	awsEnv(t, busy.URL)
	st, err := objstore.NewS3(context.Background(), objstore.S3Config{MaxAttempts: 3, MaxBackoff: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Stat(context.Background(), "s3://b/k"); err == nil {
		t.Fatal("a server that always answers 503: no error")
	}
	if n := tries.Load(); n != 3 {
		t.Fatalf("%d tries, want MaxAttempts (3)", n)
	}

	release := make(chan struct{})
	hung := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer hung.Close()
	defer close(release)
	awsEnv(t, hung.URL)
	st, err = objstore.NewS3(context.Background(), objstore.S3Config{RequestTimeout: 300 * time.Millisecond, MaxAttempts: 2})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, err = st.Stat(context.Background(), "s3://b/k")
	if took := time.Since(start); err == nil || took > 10*time.Second {
		t.Fatalf("a server that never answers: %v after %v; want an error at the 300ms deadline", err, took)
	}
}
