package objstore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
)

// S3Config bounds every S3 call. Endpoint, region and credentials are not
// here: they come from the standard AWS environment and config files
// (AWS_ENDPOINT_URL, AWS_REGION, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY,
// AWS_PROFILE, ~/.aws/config, ...), as every AWS tool reads them.
type S3Config struct {
	RequestTimeout time.Duration // deadline of one call with its retries, body included (default 2m)
	ReadTimeout    time.Duration // longest wait for the next bytes of a response (default 1m)
	ConnectTimeout time.Duration // TCP connect (default 10s)
	MaxAttempts    int           // tries of one request, the first included (default 5)
	MaxBackoff     time.Duration // longest pause between tries (default 5s)
	// Dial makes connections (nil: a net.Dialer with ConnectTimeout);
	// tests reach a server inside a network namespace with it.
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
}

// DefaultS3Config returns the defaults.
func DefaultS3Config() S3Config {
	return S3Config{
		RequestTimeout: 2 * time.Minute, // a 64 MiB ranged GET at 0.5 MB/s
		ReadTimeout:    time.Minute,     // S3 itself closes idle connections after 20s
		ConnectTimeout: 10 * time.Second,
		MaxAttempts:    5,               // the SDK's default is 3; S3 throttles with 503 SlowDown
		MaxBackoff:     5 * time.Second, // 5 tries then take under 20s of pauses
	}
}

// S3 is a Store on S3 or an S3-compatible server.
type S3 struct {
	c   *s3.Client
	cfg S3Config
}

var _ Store = (*S3)(nil)

// NewS3 makes an S3 store from the AWS environment. When an endpoint is
// set (AWS_ENDPOINT_URL, AWS_ENDPOINT_URL_S3 or a profile's endpoint_url)
// requests use path-style addressing (http://host/bucket/key), which every
// S3-compatible server accepts, so no other setting is needed; a region is
// then optional.
func NewS3(ctx context.Context, c S3Config) (*S3, error) {
	d := DefaultS3Config()
	if c.RequestTimeout <= 0 {
		c.RequestTimeout = d.RequestTimeout
	}
	if c.ReadTimeout <= 0 {
		c.ReadTimeout = d.ReadTimeout
	}
	if c.ConnectTimeout <= 0 {
		c.ConnectTimeout = d.ConnectTimeout
	}
	if c.MaxAttempts <= 0 {
		c.MaxAttempts = d.MaxAttempts
	}
	if c.MaxBackoff <= 0 {
		c.MaxBackoff = d.MaxBackoff
	}
	hc := awshttp.NewBuildableClient().
		WithDialerOptions(func(d *net.Dialer) { d.Timeout = c.ConnectTimeout }).
		WithTransportOptions(func(t *http.Transport) {
			t.ResponseHeaderTimeout = c.ReadTimeout
			t.TLSHandshakeTimeout = c.ConnectTimeout
			if c.Dial != nil {
				t.DialContext = c.Dial
			}
		}).
		WithReadTimeout(c.ReadTimeout)
	cfg, err := config.LoadDefaultConfig(ctx,
		config.WithHTTPClient(hc),
		config.WithRetryer(func() aws.Retryer {
			return retry.NewStandard(func(o *retry.StandardOptions) {
				o.MaxAttempts = c.MaxAttempts
				o.MaxBackoff = c.MaxBackoff
			})
		}),
		// Checksums are asked for explicitly (CRC32C) where Sluice wants
		// them; the SDK's defaults add some that S3-compatible servers
		// reject.
		config.WithRequestChecksumCalculation(aws.RequestChecksumCalculationWhenRequired),
		config.WithResponseChecksumValidation(aws.ResponseChecksumValidationWhenRequired),
	)
	if err != nil {
		return nil, fmt.Errorf("objstore: loading the AWS configuration: %w", err)
	}
	custom := cfg.BaseEndpoint != nil || os.Getenv("AWS_ENDPOINT_URL") != "" || os.Getenv("AWS_ENDPOINT_URL_S3") != ""
	if cfg.Region == "" {
		if !custom {
			return nil, errors.New("objstore: no AWS region: set AWS_REGION (or a profile's region), or AWS_ENDPOINT_URL for an S3-compatible server")
		}
		cfg.Region = "us-east-1" // S3-compatible servers ignore it, but SigV4 needs one
	}
	cl := s3.NewFromConfig(cfg, func(o *s3.Options) {
		o.UsePathStyle = custom
	})
	return &S3{c: cl, cfg: c}, nil
}

// call runs f under the request deadline.
func (s *S3) call(ctx context.Context, f func(ctx context.Context) error) error {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.RequestTimeout)
	defer cancel()
	return f(ctx)
}

// wrap turns an SDK error into one that names the URL and what failed,
// wrapping ErrNotExist for a missing object, bucket or upload.
func wrap(op, u string, err error) error {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		switch ae.ErrorCode() {
		case "NoSuchKey", "NotFound", "NoSuchUpload", "NoSuchBucket":
			return fmt.Errorf("objstore: %s %s: %w (%s)", op, u, ErrNotExist, ae.ErrorCode())
		case "PreconditionFailed":
			return fmt.Errorf("objstore: %s %s: %w", op, u, ErrChanged)
		}
	}
	return fmt.Errorf("objstore: %s %s: %w", op, u, err)
}

// Stat implements Store.
func (s *S3) Stat(ctx context.Context, u string) (Info, error) {
	b, k, err := Split(u)
	if err != nil {
		return Info{}, err
	}
	var out *s3.HeadObjectOutput
	err = s.call(ctx, func(ctx context.Context) (err error) {
		out, err = s.c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &b, Key: &k})
		return err
	})
	if err != nil {
		return Info{}, wrap("stat", u, err)
	}
	return Info{URL: u, Size: aws.ToInt64(out.ContentLength), ModTime: aws.ToTime(out.LastModified), ETag: aws.ToString(out.ETag)}, nil
}

// List implements Store.
func (s *S3) List(ctx context.Context, prefix string, limit int) ([]Info, error) {
	b, k, err := Split(prefix)
	if err != nil {
		return nil, err
	}
	if limit <= 0 {
		limit = DefaultListLimit
	}
	var infos []Info
	p := s3.NewListObjectsV2Paginator(s.c, &s3.ListObjectsV2Input{Bucket: &b, Prefix: &k})
	for p.HasMorePages() {
		var page *s3.ListObjectsV2Output
		err := s.call(ctx, func(ctx context.Context) (err error) {
			page, err = p.NextPage(ctx)
			return err
		})
		if err != nil {
			return nil, wrap("list", prefix, err)
		}
		for _, o := range page.Contents {
			if len(infos) == limit {
				return nil, fmt.Errorf("%w: list %s: more than %d objects", ErrTooMany, prefix, limit)
			}
			infos = append(infos, Info{URL: Join(b, aws.ToString(o.Key)), Size: aws.ToInt64(o.Size), ModTime: aws.ToTime(o.LastModified), ETag: aws.ToString(o.ETag)})
		}
	}
	return infos, nil // ListObjectsV2 returns keys in UTF-8 binary order
}

// Read implements Store.
func (s *S3) Read(ctx context.Context, u string, off, n int64, etag string) (io.ReadCloser, Info, error) {
	b, k, err := Split(u)
	if err != nil {
		return nil, Info{}, err
	}
	if off < 0 || n <= 0 {
		return nil, Info{}, fmt.Errorf("objstore: read %s: bad range %d+%d", u, off, n)
	}
	in := &s3.GetObjectInput{Bucket: &b, Key: &k, Range: aws.String(fmt.Sprintf("bytes=%d-%d", off, off+n-1))}
	if etag != "" {
		in.IfMatch = &etag
	}
	// The deadline covers the body too: it is cancelled by Close.
	cctx, cancel := context.WithTimeout(ctx, s.cfg.RequestTimeout)
	out, err := s.c.GetObject(cctx, in)
	if err != nil {
		cancel()
		return nil, Info{}, wrap("read", u, err)
	}
	info := Info{URL: u, ModTime: aws.ToTime(out.LastModified), ETag: aws.ToString(out.ETag)}
	info.Size, err = totalSize(aws.ToString(out.ContentRange))
	if err == nil && aws.ToInt64(out.ContentLength) > n {
		err = fmt.Errorf("asked for %d bytes, the server sends %d", n, aws.ToInt64(out.ContentLength))
	}
	if err != nil {
		out.Body.Close()
		cancel()
		return nil, Info{}, fmt.Errorf("objstore: read %s: %w", u, err)
	}
	return &cancelBody{ReadCloser: out.Body, cancel: cancel}, info, nil
}

// totalSize parses the size after the "/" of a Content-Range header
// ("bytes 0-99/1234").
func totalSize(cr string) (int64, error) {
	_, after, ok := strings.Cut(cr, "/")
	if !ok {
		return 0, fmt.Errorf("no object size in Content-Range %q", cr)
	}
	n, err := strconv.ParseInt(after, 10, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("bad Content-Range %q", cr)
	}
	return n, nil
}

type cancelBody struct {
	io.ReadCloser
	cancel context.CancelFunc
}

func (c *cancelBody) Close() error {
	err := c.ReadCloser.Close()
	c.cancel()
	return err
}

// Put implements Store.
func (s *S3) Put(ctx context.Context, u string, data []byte) error {
	b, k, err := Split(u)
	if err != nil {
		return err
	}
	err = s.call(ctx, func(ctx context.Context) error {
		_, err := s.c.PutObject(ctx, &s3.PutObjectInput{Bucket: &b, Key: &k, Body: bytesReader(data),
			ContentLength: aws.Int64(int64(len(data))), ChecksumAlgorithm: types.ChecksumAlgorithmCrc32c})
		return err
	})
	if err != nil {
		return wrap("put", u, err)
	}
	return nil
}

// Delete implements Store.
func (s *S3) Delete(ctx context.Context, u string) error {
	b, k, err := Split(u)
	if err != nil {
		return err
	}
	err = s.call(ctx, func(ctx context.Context) error {
		_, err := s.c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &b, Key: &k})
		return err
	})
	if err != nil && !errors.Is(wrap("", "", err), ErrNotExist) {
		return wrap("delete", u, err)
	}
	return nil
}

// CreateUpload implements Store.
func (s *S3) CreateUpload(ctx context.Context, u string) (string, error) {
	b, k, err := Split(u)
	if err != nil {
		return "", err
	}
	var out *s3.CreateMultipartUploadOutput
	err = s.call(ctx, func(ctx context.Context) (err error) {
		out, err = s.c.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: &b, Key: &k,
			ChecksumAlgorithm: types.ChecksumAlgorithmCrc32c})
		return err
	})
	if err != nil {
		return "", wrap("begin upload to", u, err)
	}
	if aws.ToString(out.UploadId) == "" {
		return "", fmt.Errorf("objstore: begin upload to %s: the server returned no upload id", u)
	}
	return *out.UploadId, nil
}

// UploadPart implements Store.
func (s *S3) UploadPart(ctx context.Context, u, id string, n int32, data []byte) (Part, error) {
	b, k, err := Split(u)
	if err != nil {
		return Part{}, err
	}
	var out *s3.UploadPartOutput
	err = s.call(ctx, func(ctx context.Context) (err error) {
		out, err = s.c.UploadPart(ctx, &s3.UploadPartInput{Bucket: &b, Key: &k, UploadId: &id, PartNumber: &n,
			Body: bytesReader(data), ContentLength: aws.Int64(int64(len(data))), ChecksumAlgorithm: types.ChecksumAlgorithmCrc32c})
		return err
	})
	if err != nil {
		return Part{}, wrap(fmt.Sprintf("upload part %d to", n), u, err)
	}
	return Part{Number: n, ETag: aws.ToString(out.ETag), Size: int64(len(data)), Checksum: aws.ToString(out.ChecksumCRC32C)}, nil
}

// CompleteUpload implements Store.
func (s *S3) CompleteUpload(ctx context.Context, u, id string, parts []Part) error {
	b, k, err := Split(u)
	if err != nil {
		return err
	}
	cp := make([]types.CompletedPart, len(parts))
	for i, p := range parts {
		cp[i] = types.CompletedPart{PartNumber: aws.Int32(p.Number), ETag: aws.String(p.ETag)}
		if p.Checksum != "" {
			cp[i].ChecksumCRC32C = aws.String(p.Checksum)
		}
	}
	err = s.call(ctx, func(ctx context.Context) error {
		_, err := s.c.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: &b, Key: &k, UploadId: &id,
			MultipartUpload: &types.CompletedMultipartUpload{Parts: cp}})
		return err
	})
	if err != nil {
		return wrap("complete upload to", u, err)
	}
	return nil
}

// AbortUpload implements Store.
func (s *S3) AbortUpload(ctx context.Context, u, id string) error {
	b, k, err := Split(u)
	if err != nil {
		return err
	}
	err = s.call(ctx, func(ctx context.Context) error {
		_, err := s.c.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{Bucket: &b, Key: &k, UploadId: &id})
		return err
	})
	if err != nil && !errors.Is(wrap("", "", err), ErrNotExist) {
		return wrap("abort upload to", u, err)
	}
	return nil
}

// ListUploads implements Store.
func (s *S3) ListUploads(ctx context.Context, prefix string, limit int) ([]Upload, error) {
	b, k, err := Split(prefix)
	if err != nil {
		return nil, err
	}
	if limit <= 0 {
		limit = DefaultListLimit
	}
	var ups []Upload
	in := &s3.ListMultipartUploadsInput{Bucket: &b, Prefix: &k}
	for {
		var out *s3.ListMultipartUploadsOutput
		err := s.call(ctx, func(ctx context.Context) (err error) {
			out, err = s.c.ListMultipartUploads(ctx, in)
			return err
		})
		if err != nil {
			return nil, wrap("list uploads under", prefix, err)
		}
		for _, up := range out.Uploads {
			if len(ups) == limit {
				return nil, fmt.Errorf("%w: list uploads under %s: more than %d", ErrTooMany, prefix, limit)
			}
			ups = append(ups, Upload{URL: Join(b, aws.ToString(up.Key)), ID: aws.ToString(up.UploadId), Initiated: aws.ToTime(up.Initiated)})
		}
		if !aws.ToBool(out.IsTruncated) {
			return ups, nil
		}
		if aws.ToString(out.NextKeyMarker) == aws.ToString(in.KeyMarker) && aws.ToString(out.NextUploadIdMarker) == aws.ToString(in.UploadIdMarker) {
			return nil, fmt.Errorf("objstore: list uploads under %s: the server's listing does not advance", prefix)
		}
		in.KeyMarker, in.UploadIdMarker = out.NextKeyMarker, out.NextUploadIdMarker
	}
}
