package object

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
	"github.com/minio/minio-go/v7/pkg/s3utils"
)

// S3 is a Backend in a bucket of an S3-compatible object store (AWS S3,
// MinIO, Ceph RGW). A name maps to the key "<prefix>/<name>".
//
// S3 puts are atomic by nature: an object becomes visible whole or not at
// all, so no temporary names are needed. Requests that fail transiently
// (HTTP 5xx, 429, timeouts, connection resets) are retried with exponential
// backoff a bounded number of times; a Put re-sends its body from the start,
// so Put makes its reader re-readable first (a seekable reader is used as
// is, anything else is buffered in memory when small or spooled to a
// temporary file). A Get that breaks off mid-stream resumes with a ranged
// request. Other errors (AccessDenied, NoSuchBucket, InvalidAccessKeyId,
// SignatureDoesNotMatch, ...) fail at once; their message names the bucket,
// the key and the reason.
type S3 struct {
	client   *minio.Client
	bucket   string
	prefix   string // without leading or trailing slash; may be empty
	partSize uint64
	retries  int
	log      *slog.Logger
}

var (
	_ Backend    = (*S3)(nil)
	_ FilePutter = (*S3)(nil)
)

// S3Options configure an S3 backend. The zero value talks to AWS S3 with the
// credentials from the shared credentials file or the instance role.
type S3Options struct {
	// Endpoint is "http://host:port", "https://host" or a bare "host:port";
	// empty means AWS S3. A custom endpoint uses path-style addressing.
	Endpoint string
	// Region of the bucket; empty asks the server.
	Region string

	AccessKeyID     string
	SecretAccessKey string
	SessionToken    string

	// Insecure disables TLS. An endpoint with a scheme decides by itself
	// (http:// means insecure); Insecure only matters for a bare host.
	Insecure bool
	// PartSize is the size above which an upload goes multipart, and the
	// size of each part; 0 means 16 MiB, the minimum is 5 MiB.
	PartSize uint64
	// Retries is how often a transiently failed request is retried:
	// 0 means 10, a negative number means never.
	Retries int
	// Logger receives a warning for every failed HTTP attempt; nil discards.
	Logger *slog.Logger
	// Transport replaces the HTTP transport (tests, proxies).
	Transport http.RoundTripper
}

const (
	s3DefaultPartSize = 16 << 20
	s3MinPartSize     = 5 << 20
	s3DefaultRetries  = 10
	// a Put from a plain reader up to this size is buffered in memory
	// rather than spooled to a temporary file
	s3MaxMemorySpool = 1 << 20
	s3MaxKeyLen      = 1024
)

// S3OptionsFromEnv fills options from the usual AWS variables:
// AWS_ENDPOINT_URL_S3 or AWS_ENDPOINT_URL, AWS_REGION or AWS_DEFAULT_REGION,
// AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and AWS_SESSION_TOKEN. env is
// usually os.Getenv.
func S3OptionsFromEnv(env func(string) string) S3Options {
	opts := S3Options{
		Endpoint:        env("AWS_ENDPOINT_URL_S3"),
		Region:          env("AWS_REGION"),
		AccessKeyID:     env("AWS_ACCESS_KEY_ID"),
		SecretAccessKey: env("AWS_SECRET_ACCESS_KEY"),
		SessionToken:    env("AWS_SESSION_TOKEN"),
	}
	if opts.Endpoint == "" {
		opts.Endpoint = env("AWS_ENDPOINT_URL")
	}
	if opts.Region == "" {
		opts.Region = env("AWS_DEFAULT_REGION")
	}
	opts.Insecure = strings.HasPrefix(strings.ToLower(opts.Endpoint), "http://")
	return opts
}

// ParseS3URL splits "s3://bucket/prefix" into bucket and prefix. The prefix
// may be empty and is returned without leading or trailing slashes.
func ParseS3URL(u string) (bucket, prefix string, err error) {
	const scheme = "s3://"
	if len(u) < len(scheme) || !strings.EqualFold(u[:len(scheme)], scheme) {
		return "", "", fmt.Errorf("object: %q is not an s3://bucket/prefix location", u)
	}
	bucket, prefix, _ = strings.Cut(u[len(scheme):], "/")
	if bucket == "" {
		return "", "", fmt.Errorf("object: %q names no bucket", u)
	}
	if err := s3utils.CheckValidBucketName(bucket); err != nil {
		return "", "", fmt.Errorf("object: %q: bad bucket name %q: %v", u, bucket, err)
	}
	prefix = strings.Trim(prefix, "/")
	if prefix != "" {
		for _, part := range strings.Split(prefix, "/") {
			if part == "" || part == "." || part == ".." {
				return "", "", fmt.Errorf("object: %q: bad prefix %q", u, prefix)
			}
		}
	}
	return bucket, prefix, nil
}

// NewS3 opens the bucket and prefix that location ("s3://bucket/prefix")
// names and checks that the bucket exists and can be listed: a missing
// bucket, wrong credentials or denied access fail here, at once.
func NewS3(ctx context.Context, location string, opts S3Options) (*S3, error) {
	bucket, prefix, err := ParseS3URL(location)
	if err != nil {
		return nil, err
	}
	host, secure, aws, err := s3Endpoint(opts.Endpoint, opts.Insecure)
	if err != nil {
		return nil, err
	}
	partSize := opts.PartSize
	if partSize == 0 {
		partSize = s3DefaultPartSize
	}
	if partSize < s3MinPartSize {
		return nil, fmt.Errorf("object: s3 part size %d is below the minimum of %d bytes", partSize, s3MinPartSize)
	}
	retries := opts.Retries
	if retries == 0 {
		retries = s3DefaultRetries
	}
	retries = max(retries, 0)
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}

	var creds *credentials.Credentials
	switch {
	case opts.AccessKeyID != "" || opts.SecretAccessKey != "":
		creds = credentials.NewStaticV4(opts.AccessKeyID, opts.SecretAccessKey, opts.SessionToken)
	case aws:
		creds = credentials.NewChainCredentials([]credentials.Provider{
			&credentials.FileAWSCredentials{},
			&credentials.IAM{},
		})
	default:
		creds = credentials.NewChainCredentials([]credentials.Provider{
			&credentials.FileAWSCredentials{},
		})
	}
	transport := opts.Transport
	if transport == nil {
		tr, err := minio.DefaultTransport(secure)
		if err != nil {
			return nil, fmt.Errorf("object: s3 transport: %w", err)
		}
		transport = tr
	}
	if opts.Logger != nil {
		transport = &s3LogTransport{next: transport, log: log}
	}
	mo := &minio.Options{
		Creds:      creds,
		Secure:     secure,
		Transport:  transport,
		Region:     opts.Region,
		MaxRetries: retries + 1, // minio counts attempts
	}
	if !aws {
		mo.BucketLookup = minio.BucketLookupPath
	}
	client, err := minio.New(host, mo)
	if err != nil {
		return nil, fmt.Errorf("object: s3 client for %s: %w", host, err)
	}
	s := &S3{
		client:   client,
		bucket:   bucket,
		prefix:   prefix,
		partSize: partSize,
		retries:  retries,
		log:      log,
	}
	if err := s.checkBucket(ctx); err != nil {
		return nil, err
	}
	log.Debug("s3 backend opened", "location", s.Location(), "endpoint", client.EndpointURL().String())
	return s, nil
}

// s3Endpoint returns the host to connect to, whether to use TLS, and whether
// the host is AWS S3.
func s3Endpoint(endpoint string, insecure bool) (host string, secure, aws bool, err error) {
	if endpoint == "" {
		return "s3.amazonaws.com", true, true, nil
	}
	if strings.Contains(endpoint, "://") {
		u, err := url.Parse(endpoint)
		if err != nil {
			return "", false, false, fmt.Errorf("object: bad s3 endpoint %q: %w", endpoint, err)
		}
		switch strings.ToLower(u.Scheme) {
		case "http":
			secure = false
		case "https":
			secure = true
		default:
			return "", false, false, fmt.Errorf("object: bad s3 endpoint %q: scheme must be http or https", endpoint)
		}
		if u.Host == "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.User != nil {
			return "", false, false, fmt.Errorf("object: bad s3 endpoint %q: want scheme://host[:port]", endpoint)
		}
		host = u.Host
	} else {
		host, secure = strings.TrimSuffix(endpoint, "/"), !insecure
		if host == "" || strings.ContainsAny(host, "/?#@") {
			return "", false, false, fmt.Errorf("object: bad s3 endpoint %q: want scheme://host[:port]", endpoint)
		}
	}
	return host, secure, s3utils.IsAmazonEndpoint(url.URL{Host: host}), nil
}

// checkBucket lists at most one key, which fails with the server's reason
// (unlike a HEAD request, whose error has no body).
func (s *S3) checkBucket(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	opts := minio.ListObjectsOptions{Prefix: s.keyPrefix(), MaxKeys: 1}
	for obj := range s.client.ListObjectsIter(ctx, s.bucket, opts) {
		if obj.Err != nil {
			return s.fail("open", "", s.keyPrefix(), obj.Err)
		}
		break
	}
	return ctx.Err()
}

// Location returns "s3://bucket/prefix".
func (s *S3) Location() string {
	if s.prefix == "" {
		return "s3://" + s.bucket
	}
	return "s3://" + s.bucket + "/" + s.prefix
}

func (s *S3) keyPrefix() string {
	if s.prefix == "" {
		return ""
	}
	return s.prefix + "/"
}

// key maps a backend name to its object key, refusing the names that the
// local backend refuses too.
func (s *S3) key(name string) (string, error) {
	bad := name == "" || strings.HasPrefix(name, "/") || strings.Contains(name, "\\")
	for part := range strings.SplitSeq(name, "/") {
		bad = bad || part == "" || part == "." || part == ".."
	}
	key := s.keyPrefix() + name
	if bad || len(key) > s3MaxKeyLen {
		return "", fmt.Errorf("object: bad backend name %q", name)
	}
	return key, nil
}

// where describes a key for messages.
func (s *S3) where(key string) string {
	return fmt.Sprintf("bucket %q key %q", s.bucket, key)
}

// fail turns a client error into silo's: a missing key wraps ErrNotFound,
// anything else names the operation, the bucket, the key and the reason.
func (s *S3) fail(op, name, key string, err error) error {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("object: s3 %s %s: %w", op, s.where(key), err)
	}
	var resp minio.ErrorResponse
	if !errors.As(err, &resp) || resp.Code == "" {
		if s3Transient(err) {
			return fmt.Errorf("object: s3 %s %s: gave up after %d retries: %w", op, s.where(key), s.retries, err)
		}
		return fmt.Errorf("object: s3 %s %s: %w", op, s.where(key), err)
	}
	switch resp.Code {
	case minio.NoSuchKey, "NotFound":
		if name != "" {
			return fmt.Errorf("%s in %s: %w", name, s.Location(), ErrNotFound)
		}
	}
	reason := resp.Code
	switch {
	case resp.StatusCode != 0 && resp.Code == http.StatusText(resp.StatusCode):
		reason = fmt.Sprintf("HTTP %d", resp.StatusCode)
	case resp.StatusCode != 0 && strings.HasPrefix(resp.Code, strconv.Itoa(resp.StatusCode)):
		// an error without a body (HEAD): the code is the status line
		reason = "HTTP " + resp.Code
	case resp.StatusCode != 0:
		reason = fmt.Sprintf("%s (HTTP %d)", resp.Code, resp.StatusCode)
	}
	switch resp.Code {
	case minio.NoSuchBucket:
		reason += ", the bucket does not exist"
	case minio.AccessDenied, "InvalidAccessKeyId", "SignatureDoesNotMatch", "InvalidToken", "ExpiredToken", "AllAccessDisabled":
		reason += ", check the credentials and the bucket's permissions"
	}
	if s3Transient(err) {
		reason += fmt.Sprintf(", gave up after %d retries", s.retries)
	}
	return fmt.Errorf("object: s3 %s %s: %s: %w", op, s.where(key), reason, err)
}

// s3Transient reports whether err is of the kind the client retries.
func s3Transient(err error) bool {
	var resp minio.ErrorResponse
	if errors.As(err, &resp) && resp.StatusCode != 0 {
		c := resp.StatusCode
		return c >= 500 || c == http.StatusTooManyRequests || c == http.StatusRequestTimeout
	}
	var ne net.Error
	var ue *url.Error
	return errors.As(err, &ne) || errors.As(err, &ue) || errors.Is(err, io.ErrUnexpectedEOF)
}

func s3IsNotFound(err error) bool {
	var resp minio.ErrorResponse
	return errors.As(err, &resp) && (resp.Code == minio.NoSuchKey || resp.Code == "NotFound")
}

// stat returns the object's info; a missing key is (false, nil).
func (s *S3) stat(ctx context.Context, key string) (minio.ObjectInfo, bool, error) {
	info, err := s.client.StatObject(ctx, s.bucket, key, minio.StatObjectOptions{})
	if err != nil {
		if s3IsNotFound(err) {
			return info, false, nil
		}
		return info, false, err
	}
	return info, true, nil
}

// Put uploads size bytes from r unless name exists already.
func (s *S3) Put(ctx context.Context, name string, r io.Reader, size int64) error {
	key, err := s.key(name)
	if err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("object: s3 put %s: %w", s.where(key), err)
	}
	if size < 0 {
		return fmt.Errorf("object: s3 put %s: negative size %d", s.where(key), size)
	}
	if _, ok, err := s.stat(ctx, key); err != nil {
		return s.fail("put", "", key, err)
	} else if ok {
		return nil
	}
	body, done, err := s3Rereadable(r, size)
	if err != nil {
		return fmt.Errorf("object: s3 put %s: %w", s.where(key), err)
	}
	defer done()
	info, err := s.client.PutObject(ctx, s.bucket, key, body, size, s.putOptions(size))
	if err != nil {
		return s.fail("put", "", key, err)
	}
	return s.verify(ctx, key, info.Size, size)
}

// Create uploads size bytes from r under name only when no object has
// that name: the request carries "If-None-Match: *", so the bucket itself
// refuses a second writer (412), and reports whether this call created
// it. A server that does not know the condition (501) gives
// errors.ErrUnsupported. A conflict with a concurrent conditional write
// (409) is tried again.
func (s *S3) Create(ctx context.Context, name string, r io.Reader, size int64) (bool, error) {
	key, err := s.key(name)
	if err != nil {
		return false, err
	}
	body, done, err := s3Rereadable(r, size)
	if err != nil {
		return false, fmt.Errorf("object: s3 put %s: %w", s.where(key), err)
	}
	defer done()
	opts := s.putOptions(size)
	opts.SetMatchETagExcept("*")
	for try := 0; ; try++ {
		if sk, ok := body.(io.Seeker); !ok {
			return false, fmt.Errorf("object: s3 put %s: the body cannot be sent again", s.where(key))
		} else if _, err := sk.Seek(0, io.SeekStart); err != nil {
			return false, fmt.Errorf("object: s3 put %s: %w", s.where(key), err)
		}
		info, err := s.client.PutObject(ctx, s.bucket, key, body, size, opts)
		if err == nil {
			return true, s.verify(ctx, key, info.Size, size)
		}
		resp := minio.ToErrorResponse(err)
		switch {
		case resp.StatusCode == http.StatusPreconditionFailed || resp.Code == "PreconditionFailed":
			return false, nil
		case resp.StatusCode == http.StatusNotImplemented || resp.Code == "NotImplemented":
			return false, fmt.Errorf("object: s3 put %s: conditional write: %w", s.where(key), errors.ErrUnsupported)
		case resp.StatusCode == http.StatusConflict && try < 5:
			select {
			case <-ctx.Done():
				return false, fmt.Errorf("object: s3 put %s: %w", s.where(key), ctx.Err())
			case <-time.After(100 * time.Millisecond):
			}
		default:
			return false, s.fail("put", "", key, err)
		}
	}
}

// PutNew uploads a file under a name no other writer uses: no request
// asks first whether it exists. The object is then checked as Put checks
// it, and its info returned.
func (s *S3) PutNew(ctx context.Context, name string, r io.Reader, size int64) (FileInfo, error) {
	key, err := s.key(name)
	if err != nil {
		return FileInfo{}, err
	}
	if err := ctx.Err(); err != nil {
		return FileInfo{}, fmt.Errorf("object: s3 put %s: %w", s.where(key), err)
	}
	body, done, err := s3Rereadable(r, size)
	if err != nil {
		return FileInfo{}, fmt.Errorf("object: s3 put %s: %w", s.where(key), err)
	}
	defer done()
	info, err := s.client.PutObject(ctx, s.bucket, key, body, size, s.putOptions(size))
	if err != nil {
		return FileInfo{}, s.fail("put", "", key, err)
	}
	if info.Size != size {
		return FileInfo{}, fmt.Errorf("object: s3 put %s: sent %d bytes, want %d", s.where(key), info.Size, size)
	}
	st, ok, err := s.stat(ctx, key)
	if err != nil {
		return FileInfo{}, s.fail("put", "", key, err)
	}
	if !ok {
		return FileInfo{}, fmt.Errorf("object: s3 put %s: uploaded object is not visible", s.where(key))
	}
	if st.Size != size {
		return FileInfo{}, fmt.Errorf("object: s3 put %s: %w: bucket holds %d bytes, want %d", s.where(key), ErrCorrupt, st.Size, size)
	}
	return FileInfo{Name: name, Size: st.Size, ModTime: st.LastModified}, nil
}

// PutFile uploads the local file at path unless name exists already. The
// file is consumed: it is removed afterwards, whether the upload succeeded
// or not.
func (s *S3) PutFile(ctx context.Context, name, path string) (err error) {
	defer os.Remove(path)
	key, err := s.key(name)
	if err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("object: s3 put %s: %w", s.where(key), err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("object: s3 put %s: %w", s.where(key), err)
	}
	if _, ok, err := s.stat(ctx, key); err != nil {
		return s.fail("put", "", key, err)
	} else if ok {
		return nil
	}
	info, err := s.client.FPutObject(ctx, s.bucket, key, path, s.putOptions(fi.Size()))
	if err != nil {
		return s.fail("put", "", key, err)
	}
	return s.verify(ctx, key, info.Size, fi.Size())
}

func (s *S3) putOptions(size int64) minio.PutObjectOptions {
	return minio.PutObjectOptions{
		PartSize:    s.partSize,
		ContentType: "application/octet-stream",
		// minio-go's streaming (aws-chunked) signature over plain HTTP is
		// not understood by every S3-compatible server and sends an empty
		// body without a Content-Length; silo checks every pack against its
		// id and verifies the stored size, so the payload goes unsigned
		DisableContentSha256: true,
	}
}

// verify checks that the bucket holds as many bytes as were sent.
func (s *S3) verify(ctx context.Context, key string, sent, want int64) error {
	if sent != want {
		return fmt.Errorf("object: s3 put %s: sent %d bytes, want %d", s.where(key), sent, want)
	}
	info, ok, err := s.stat(ctx, key)
	if err != nil {
		return s.fail("put", "", key, err)
	}
	if !ok {
		return fmt.Errorf("object: s3 put %s: uploaded object is not visible", s.where(key))
	}
	if info.Size != want {
		return fmt.Errorf("object: s3 put %s: %w: bucket holds %d bytes, want %d", s.where(key), ErrCorrupt, info.Size, want)
	}
	return nil
}

// s3Rereadable returns a reader of exactly size bytes from r that the client
// can seek back to re-send; done releases what it used. A reader that holds
// fewer or more than size bytes is an error.
func s3Rereadable(r io.Reader, size int64) (body io.Reader, done func(), err error) {
	nop := func() {}
	if ra, ok := r.(io.ReaderAt); ok {
		if sk, ok := r.(io.Seeker); ok {
			cur, err := sk.Seek(0, io.SeekCurrent)
			if err != nil {
				return nil, nil, err
			}
			end, err := sk.Seek(0, io.SeekEnd)
			if err != nil {
				return nil, nil, err
			}
			if _, err := sk.Seek(cur, io.SeekStart); err != nil {
				return nil, nil, err
			}
			if end-cur != size {
				return nil, nil, fmt.Errorf("reader holds %d bytes, want %d", end-cur, size)
			}
			return io.NewSectionReader(ra, cur, size), nop, nil
		}
	}
	if size <= s3MaxMemorySpool {
		buf := make([]byte, size)
		if n, err := io.ReadFull(r, buf); err != nil {
			if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
				return nil, nil, fmt.Errorf("reader holds %d bytes, want %d", n, size)
			}
			return nil, nil, fmt.Errorf("read: %w", err)
		}
		var one [1]byte
		if n, err := io.ReadFull(r, one[:]); n > 0 {
			return nil, nil, fmt.Errorf("reader holds more than %d bytes", size)
		} else if !errors.Is(err, io.EOF) {
			return nil, nil, fmt.Errorf("read: %w", err)
		}
		return bytes.NewReader(buf), nop, nil
	}
	f, err := os.CreateTemp("", "silo-s3-put-*")
	if err != nil {
		return nil, nil, fmt.Errorf("spool: %w", err)
	}
	done = func() {
		f.Close()
		os.Remove(f.Name())
	}
	n, err := io.Copy(f, io.LimitReader(r, size+1))
	switch {
	case err != nil:
		err = fmt.Errorf("read: %w", err)
	case n < size:
		err = fmt.Errorf("reader holds %d bytes, want %d", n, size)
	case n > size:
		err = fmt.Errorf("reader holds more than %d bytes", size)
	}
	if err != nil {
		done()
		return nil, nil, err
	}
	return io.NewSectionReader(f, 0, size), done, nil
}

// Get opens name at offset with a ranged GET; length < 0 reads to the end.
func (s *S3) Get(ctx context.Context, name string, offset, length int64) (io.ReadCloser, error) {
	key, err := s.key(name)
	if err != nil {
		return nil, err
	}
	if offset < 0 {
		return nil, fmt.Errorf("object: s3 get %s: negative offset %d", s.where(key), offset)
	}
	if length == 0 {
		if _, err := s.Stat(ctx, name); err != nil {
			return nil, err
		}
		return io.NopCloser(bytes.NewReader(nil)), nil
	}
	r := &s3Reader{s: s, ctx: ctx, name: name, key: key, pos: offset, left: length}
	if err := r.open(); err != nil {
		var resp minio.ErrorResponse
		if errors.As(err, &resp) && (resp.Code == "InvalidRange" || resp.StatusCode == http.StatusRequestedRangeNotSatisfiable) {
			// S3 refuses a range that starts at or after the end; that
			// reads as empty, as from a file
			fi, serr := s.Stat(ctx, name)
			if serr != nil {
				return nil, serr
			}
			if offset >= fi.Size {
				return io.NopCloser(bytes.NewReader(nil)), nil
			}
		}
		return nil, s.fail("get", name, key, err)
	}
	return r, nil
}

// s3Reader reads an object from pos, reopening at the current position
// when the stream breaks off.
type s3Reader struct {
	s       *S3
	ctx     context.Context
	name    string
	key     string
	body    io.ReadCloser
	pos     int64 // offset of the next byte
	left    int64 // bytes still to come; < 0 until the first response says
	resumes int
}

func (r *s3Reader) open() error {
	var opts minio.GetObjectOptions
	var err error
	switch {
	case r.left > 0:
		err = opts.SetRange(r.pos, r.pos+r.left-1)
	case r.pos > 0:
		err = opts.SetRange(r.pos, 0)
	}
	if err != nil {
		return err
	}
	body, info, _, err := minio.Core{Client: r.s.client}.GetObject(r.ctx, r.s.bucket, r.key, opts)
	if err != nil {
		return err
	}
	r.body = body
	if info.Size >= 0 && (r.left < 0 || info.Size < r.left) {
		// the object is shorter than the range asked for
		r.left = info.Size
	}
	return nil
}

func (r *s3Reader) Read(p []byte) (int, error) {
	for {
		if r.left == 0 {
			return 0, io.EOF
		}
		if r.body == nil {
			if err := r.open(); err != nil {
				return 0, r.s.fail("get", r.name, r.key, err)
			}
		}
		if r.left > 0 && int64(len(p)) > r.left {
			p = p[:r.left]
		}
		n, err := r.body.Read(p)
		r.pos += int64(n)
		if r.left > 0 {
			r.left -= int64(n)
		}
		if err == io.EOF && r.left > 0 {
			err = io.ErrUnexpectedEOF
		}
		if err == nil || err == io.EOF {
			return n, err
		}
		if r.ctx.Err() != nil || r.resumes >= r.s.retries {
			return n, r.s.fail("get", r.name, r.key, err)
		}
		// the stream broke off: resume where it stopped
		r.resumes++
		r.s.log.Warn("s3 download broke off, resuming", "bucket", r.s.bucket, "key", r.key, "offset", r.pos, "err", err)
		r.body.Close()
		r.body = nil
		if n > 0 {
			return n, nil
		}
		select {
		case <-time.After(min(100*time.Millisecond<<r.resumes, 2*time.Second)):
		case <-r.ctx.Done():
			return 0, r.s.fail("get", r.name, r.key, r.ctx.Err())
		}
	}
}

func (r *s3Reader) Close() error {
	if r.body == nil {
		return nil
	}
	err := r.body.Close()
	r.body = nil
	r.left = 0
	return err
}

// Stat returns the object's size and modification time.
func (s *S3) Stat(ctx context.Context, name string) (FileInfo, error) {
	key, err := s.key(name)
	if err != nil {
		return FileInfo{}, err
	}
	info, err := s.client.StatObject(ctx, s.bucket, key, minio.StatObjectOptions{})
	if err != nil {
		return FileInfo{}, s.fail("stat", name, key, err)
	}
	return FileInfo{Name: name, Size: info.Size, ModTime: info.LastModified}, nil
}

// List calls fn for every object under the backend's prefix whose name
// starts with prefix.
func (s *S3) List(ctx context.Context, prefix string, fn func(FileInfo) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	kp := s.keyPrefix()
	opts := minio.ListObjectsOptions{Prefix: kp + prefix, Recursive: true}
	for obj := range s.client.ListObjectsIter(ctx, s.bucket, opts) {
		if obj.Err != nil {
			return s.fail("list", "", kp+prefix, obj.Err)
		}
		name, ok := strings.CutPrefix(obj.Key, kp)
		if !ok || name == "" || strings.HasSuffix(name, "/") {
			continue // folder markers made by other tools
		}
		if err := fn(FileInfo{Name: name, Size: obj.Size, ModTime: obj.LastModified}); err != nil {
			return err
		}
	}
	return nil
}

// Delete removes name; a missing name is ErrNotFound.
func (s *S3) Delete(ctx context.Context, name string) error {
	key, err := s.key(name)
	if err != nil {
		return err
	}
	if _, ok, err := s.stat(ctx, key); err != nil {
		return s.fail("delete", name, key, err)
	} else if !ok {
		return fmt.Errorf("%s in %s: %w", name, s.Location(), ErrNotFound)
	}
	if err := s.client.RemoveObject(ctx, s.bucket, key, minio.RemoveObjectOptions{}); err != nil {
		return s.fail("delete", name, key, err)
	}
	return nil
}

// s3LogTransport logs failed HTTP attempts, which the client retries.
type s3LogTransport struct {
	next http.RoundTripper
	log  *slog.Logger
}

func (t *s3LogTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.next.RoundTrip(req)
	switch {
	case err != nil && req.Context().Err() == nil:
		t.log.Warn("s3 request failed", "method", req.Method, "path", req.URL.Path, "err", err)
	case err == nil && (resp.StatusCode >= 500 || resp.StatusCode == http.StatusTooManyRequests):
		t.log.Warn("s3 request failed", "method", req.Method, "path", req.URL.Path, "status", resp.StatusCode)
	}
	return resp, err
}
