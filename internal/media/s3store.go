package media

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// S3Options locate a bucket of an S3-compatible object store.
type S3Options struct {
	// Endpoint is the store's base URL, http:// or https://, such as
	// https://s3.eu-west-1.amazonaws.com or http://127.0.0.1:9000.
	Endpoint string
	Bucket   string
	// Region is the bucket's region; empty lets the client ask the store.
	Region          string
	AccessKeyID     string
	SecretAccessKey string
	// Prefix is put before every object key ("foyer/" keeps the media in
	// one folder of a shared bucket).
	Prefix string
	// PathStyle addresses the bucket as endpoint/bucket rather than as
	// bucket.endpoint (MinIO and most self-hosted stores want it).
	PathStyle bool
	// RootCAs, when not nil, are the CAs trusted for the endpoint's
	// certificate; nil trusts the system's.
	RootCAs *x509.CertPool
	// SpoolDir is a local directory where an upload is written, and
	// hashed, before it is sent: its key is its SHA-256, known only at
	// the end, and a known length lets the store take it in one piece.
	SpoolDir string
}

// S3 timeouts: the operator's store, near and normally quick. A request's
// whole length is bounded by its context (the upload or download timeout).
const (
	s3DialTimeout     = 10 * time.Second
	s3ResponseTimeout = 60 * time.Second
	s3CheckTimeout    = 15 * time.Second
	// s3MaxRetries bounds the client's retries of a failed request, so
	// that a store that is down answers the client soon.
	s3MaxRetries = 3
)

// S3Store keeps content in a bucket as <prefix>ab/cd/<sha256>. An object
// appears whole or not at all (a PUT, or a multipart upload, is atomic),
// so a failed upload leaves nothing visible; its spool file is removed.
type S3Store struct {
	client   *minio.Client
	core     minio.Core
	bucket   string
	prefix   string
	spoolDir string
}

var _ Store = (*S3Store)(nil)

// NewS3Store connects to the bucket and checks that it is there and
// readable with the credentials given; a server should not start without
// its media.
func NewS3Store(ctx context.Context, opts S3Options) (*S3Store, error) {
	u, err := url.Parse(opts.Endpoint)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("the S3 endpoint %q is not an http(s) URL", opts.Endpoint)
	}
	if err := prepareTempDir(opts.SpoolDir); err != nil {
		return nil, fmt.Errorf("preparing the media spool directory: %w", err)
	}
	lookup := minio.BucketLookupAuto
	if opts.PathStyle {
		lookup = minio.BucketLookupPath
	}
	client, err := minio.New(u.Host, &minio.Options{
		Creds:        credentials.NewStaticV4(opts.AccessKeyID, opts.SecretAccessKey, ""),
		Secure:       u.Scheme == "https",
		Transport:    s3Transport(opts.RootCAs),
		Region:       opts.Region,
		BucketLookup: lookup,
		MaxRetries:   s3MaxRetries,
	})
	if err != nil {
		return nil, fmt.Errorf("the S3 client: %w", err)
	}
	s := &S3Store{
		client:   client,
		core:     minio.Core{Client: client},
		bucket:   opts.Bucket,
		prefix:   normalizeS3Prefix(opts.Prefix),
		spoolDir: opts.SpoolDir,
	}
	cctx, cancel := context.WithTimeout(ctx, s3CheckTimeout)
	defer cancel()
	exists, err := client.BucketExists(cctx, opts.Bucket)
	if err != nil {
		return nil, fmt.Errorf("the media bucket %q at %s cannot be reached: %w", opts.Bucket, opts.Endpoint, err)
	}
	if !exists {
		return nil, fmt.Errorf("the media bucket %q does not exist at %s: create it first", opts.Bucket, opts.Endpoint)
	}
	return s, nil
}

func s3Transport(roots *x509.CertPool) http.RoundTripper {
	dialer := &net.Dialer{Timeout: s3DialTimeout, KeepAlive: 30 * time.Second}
	return &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           dialer.DialContext,
		TLSClientConfig:       &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12},
		TLSHandshakeTimeout:   s3DialTimeout,
		ResponseHeaderTimeout: s3ResponseTimeout,
		ExpectContinueTimeout: time.Second,
		IdleConnTimeout:       90 * time.Second,
		MaxIdleConnsPerHost:   16,
		// Ranges must reach the client as stored.
		DisableCompression: true,
	}
}

func (s *S3Store) key(sha string) string {
	return s.prefix + sha[0:2] + "/" + sha[2:4] + "/" + sha
}

// Put implements Store.
func (s *S3Store) Put(ctx context.Context, r io.Reader) (string, int64, error) {
	f, err := os.CreateTemp(s.spoolDir, "upload-*")
	if err != nil {
		return "", 0, unavailable(err)
	}
	defer func() {
		f.Close()
		_ = os.Remove(f.Name())
	}()
	h := sha256.New()
	size, err := copyCtx(ctx, io.MultiWriter(f, h), r)
	if err != nil {
		return "", 0, storeOrReadError(ctx, err)
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return "", 0, unavailable(err)
	}
	sha := hex.EncodeToString(h.Sum(nil))
	key := s.key(sha)
	if _, err := s.client.StatObject(ctx, s.bucket, key, minio.StatObjectOptions{}); err == nil {
		// Identical content is already stored: keep the one copy.
		return sha, size, nil
	} else if !isNoSuchKey(err) {
		return "", 0, s.failure(ctx, err)
	}
	_, err = s.client.PutObject(ctx, s.bucket, key, f, size, minio.PutObjectOptions{
		ContentType: "application/octet-stream",
		// Over plain http the client would otherwise sign the body in
		// aws-chunked pieces, which not every S3-compatible store takes
		// (an empty body goes without a length; parts get stored with
		// their chunk headers). The request itself stays signed.
		DisableContentSha256: true,
	})
	if err != nil {
		return "", 0, s.failure(ctx, err)
	}
	return sha, size, nil
}

// failure is an error of a request to the store: the caller's ended
// context as it is, anything else the store's.
func (s *S3Store) failure(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return unavailable(err)
}

func isNoSuchKey(err error) bool {
	resp := minio.ToErrorResponse(err)
	return resp.Code == minio.NoSuchKey || resp.StatusCode == http.StatusNotFound && resp.Code != minio.NoSuchBucket
}

// Open implements Store. Only the object's size is asked for here; its
// bytes are fetched on the first read, from the offset last sought, so a
// range costs only what it serves.
func (s *S3Store) Open(ctx context.Context, sha string) (Blob, error) {
	if !validSHA(sha) {
		return nil, ErrBlobNotFound
	}
	key := s.key(sha)
	info, err := s.client.StatObject(ctx, s.bucket, key, minio.StatObjectOptions{})
	if isNoSuchKey(err) {
		return nil, ErrBlobNotFound
	}
	if err != nil {
		return nil, s.failure(ctx, err)
	}
	return &s3Blob{ctx: ctx, store: s, key: key, size: info.Size}, nil
}

// Delete implements Store.
func (s *S3Store) Delete(ctx context.Context, sha string) error {
	if !validSHA(sha) {
		return nil
	}
	err := s.client.RemoveObject(ctx, s.bucket, s.key(sha), minio.RemoveObjectOptions{})
	if err != nil && !isNoSuchKey(err) {
		return s.failure(ctx, err)
	}
	return nil
}

// s3Blob reads an object from offset, opening a ranged GET when a read
// follows a seek elsewhere.
type s3Blob struct {
	ctx    context.Context
	store  *S3Store
	key    string
	size   int64
	offset int64
	body   io.ReadCloser
}

func (b *s3Blob) Size() int64 { return b.size }

func (b *s3Blob) Read(p []byte) (int, error) {
	if b.offset >= b.size {
		return 0, io.EOF
	}
	if b.body == nil {
		opts := minio.GetObjectOptions{}
		if b.offset > 0 {
			if err := opts.SetRange(b.offset, 0); err != nil {
				return 0, err
			}
		}
		body, _, _, err := b.store.core.GetObject(b.ctx, b.store.bucket, b.key, opts)
		if err != nil {
			return 0, b.store.failure(b.ctx, err)
		}
		b.body = body
	}
	if left := b.size - b.offset; int64(len(p)) > left {
		p = p[:left]
	}
	n, err := b.body.Read(p)
	b.offset += int64(n)
	if errors.Is(err, io.EOF) && b.offset < b.size {
		err = unavailable(io.ErrUnexpectedEOF)
	}
	return n, err
}

func (b *s3Blob) Seek(offset int64, whence int) (int64, error) {
	var next int64
	switch whence {
	case io.SeekStart:
		next = offset
	case io.SeekCurrent:
		next = b.offset + offset
	case io.SeekEnd:
		next = b.size + offset
	default:
		return b.offset, errors.New("seek: invalid whence")
	}
	if next < 0 {
		return b.offset, errors.New("seek: negative position")
	}
	if next != b.offset && b.body != nil {
		b.body.Close()
		b.body = nil
	}
	b.offset = next
	return next, nil
}

func (b *s3Blob) Close() error {
	if b.body != nil {
		err := b.body.Close()
		b.body = nil
		return err
	}
	return nil
}

// normalizeS3Prefix makes a prefix end in one slash unless it is empty.
func normalizeS3Prefix(p string) string {
	p = strings.Trim(p, "/")
	if p == "" {
		return ""
	}
	return p + "/"
}
