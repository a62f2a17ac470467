package media

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/singleflight"
)

// Options configure the service.
type Options struct {
	// ServerName is the authority of the mxc:// URIs we hand out.
	ServerName string
	// MaxUploadBytes caps one upload (media.max_upload_bytes).
	MaxUploadBytes int64
	// LegacyUnauthenticated serves the deprecated unauthenticated
	// /_matrix/media/{v3,r0}/download and /thumbnail endpoints.
	LegacyUnauthenticated bool
	// FreezeLegacyAfter, when not zero, freezes those endpoints: media
	// uploaded at or after it is only served by the authenticated ones.
	FreezeLegacyAfter time.Time
	// MaxPendingUploads bounds a user's unexpired pending /create IDs.
	MaxPendingUploads int
	// PendingExpiry is how long a /create ID waits for its content.
	PendingExpiry time.Duration
	// MaxWait caps a download's timeout_ms.
	MaxWait time.Duration
	// Thumbnails bounds image decoding.
	Thumbnails ThumbnailLimits
	// Remote fetches other servers' media and RemoteCache keeps it; with
	// either nil, remote media is not found.
	Remote      RemoteSource
	RemoteCache RemoteCache
	// RemoteFetchTimeout bounds one fetch of remote media, from waiting
	// for a slot to the last byte stored.
	RemoteFetchTimeout time.Duration
	// MaxConcurrentFetches bounds the remote fetches running at once.
	MaxConcurrentFetches int
	Log                  *slog.Logger
}

// ThumbnailLimits keep decoding bounded so that a decompression bomb is
// an error rather than an out-of-memory.
type ThumbnailLimits struct {
	MaxSide   int   // either dimension
	MaxPixels int64 // width*height
	// MaxDecodeBytes bounds the decoded image's memory, which depends on
	// its colour model (1 byte a pixel for grey, 8 for 16-bit RGBA).
	MaxDecodeBytes int64
	DecodeTimeout  time.Duration // reading and decoding the original
	Concurrency    int           // decodes at once
}

// Defaults for the zero Options fields.
const (
	DefaultMaxPendingUploads = 10
	DefaultPendingExpiry     = 24 * time.Hour
	DefaultMaxWait           = 60 * time.Second
	DefaultMaxSide           = 16384
	DefaultMaxPixels         = 32_000_000
	DefaultMaxDecodeBytes    = 128 << 20
	DefaultDecodeTimeout     = 10 * time.Second
	DefaultConcurrency       = 2
)

// Service is the content repository.
type Service struct {
	opts  Options
	meta  MetadataStore
	blobs Store

	waitMu   sync.Mutex
	uploaded chan struct{} // closed and replaced on each async upload

	decodeSem chan struct{}
	fetchSem  chan struct{} // remote fetches running
	flight    singleflight.Group
}

// NewService builds the repository over its database and content stores.
func NewService(meta MetadataStore, blobs Store, opts Options) *Service {
	if opts.MaxPendingUploads <= 0 {
		opts.MaxPendingUploads = DefaultMaxPendingUploads
	}
	if opts.PendingExpiry <= 0 {
		opts.PendingExpiry = DefaultPendingExpiry
	}
	if opts.MaxWait <= 0 {
		opts.MaxWait = DefaultMaxWait
	}
	t := &opts.Thumbnails
	if t.MaxSide <= 0 {
		t.MaxSide = DefaultMaxSide
	}
	if t.MaxPixels <= 0 {
		t.MaxPixels = DefaultMaxPixels
	}
	if t.MaxDecodeBytes <= 0 {
		t.MaxDecodeBytes = DefaultMaxDecodeBytes
	}
	if t.DecodeTimeout <= 0 {
		t.DecodeTimeout = DefaultDecodeTimeout
	}
	if t.Concurrency <= 0 {
		t.Concurrency = DefaultConcurrency
	}
	if opts.RemoteFetchTimeout <= 0 {
		opts.RemoteFetchTimeout = DefaultRemoteFetchTimeout
	}
	if opts.MaxConcurrentFetches <= 0 {
		opts.MaxConcurrentFetches = DefaultMaxConcurrentFetches
	}
	if opts.Log == nil {
		opts.Log = slog.Default()
	}
	return &Service{
		opts:      opts,
		meta:      meta,
		blobs:     loggedStore{Store: blobs, log: opts.Log},
		uploaded:  make(chan struct{}),
		decodeSem: make(chan struct{}, t.Concurrency),
		fetchSem:  make(chan struct{}, opts.MaxConcurrentFetches),
	}
}

// MaxUploadBytes is the upload cap, as /media/config reports it.
func (s *Service) MaxUploadBytes() int64 { return s.opts.MaxUploadBytes }

// ServerName is the origin of local media.
func (s *Service) ServerName() string { return s.opts.ServerName }

// MaxWait caps how long a download waits for pending content.
func (s *Service) MaxWait() time.Duration { return s.opts.MaxWait }

// NormalizeContentType returns a valid media type for what a client sent,
// application/octet-stream when it is empty or unparseable.
func NormalizeContentType(ct string) string {
	ct = strings.TrimSpace(ct)
	if ct == "" || len(ct) > 255 {
		return "application/octet-stream"
	}
	mt, params, err := mime.ParseMediaType(ct)
	if err != nil {
		return "application/octet-stream"
	}
	if out := mime.FormatMediaType(mt, params); out != "" {
		return out
	}
	return "application/octet-stream"
}

// CapReader reads r and fails with over once more than limit bytes are
// read (ErrTooLarge for uploads), reading at most one byte past it.
func CapReader(r io.Reader, limit int64, over error) io.Reader {
	return &capReader{r: r, left: limit, over: over}
}

type capReader struct {
	r    io.Reader
	left int64
	over error
}

func (c *capReader) Read(p []byte) (int, error) {
	if int64(len(p)) > c.left+1 {
		p = p[:c.left+1]
	}
	n, err := c.r.Read(p)
	c.left -= int64(n)
	if c.left < 0 {
		return 0, c.over
	}
	return n, err
}

// store puts body into the content store under the upload cap.
func (s *Service) store(ctx context.Context, body io.Reader) (string, int64, error) {
	var r io.Reader = body
	if s.opts.MaxUploadBytes > 0 {
		r = CapReader(body, s.opts.MaxUploadBytes, ErrTooLarge)
	}
	sha, size, err := s.blobs.Put(ctx, r)
	if errors.Is(err, ErrTooLarge) {
		return "", 0, ErrTooLarge
	}
	return sha, size, err
}

// Upload stores body as new media of userID. The content is stored
// before the row that names it, so an upload cut off midway leaves
// nothing behind.
func (s *Service) Upload(ctx context.Context, userID, contentType, filename string, body io.Reader) (Record, error) {
	sha, size, err := s.store(ctx, body)
	if err != nil {
		return Record{}, err
	}
	now := time.Now().UnixMilli()
	rec := Record{
		Origin:      s.opts.ServerName,
		UserID:      userID,
		ContentType: NormalizeContentType(contentType),
		UploadName:  filename,
		SHA256:      sha,
		Size:        size,
		CreatedTS:   now,
		UploadedTS:  now,
	}
	if err := s.insertWithNewID(ctx, &rec); err != nil {
		// The content stays: it may be shared with other media, and
		// content without a row is only unreferenced disk space.
		return Record{}, err
	}
	return rec, nil
}

func (s *Service) insertWithNewID(ctx context.Context, rec *Record) error {
	for range 5 {
		rec.MediaID = NewMediaID()
		err := s.meta.InsertMedia(ctx, *rec)
		if !errors.Is(err, ErrIDTaken) {
			return err
		}
	}
	return errors.New("could not find a free media ID")
}

// Create makes a media ID whose content userID uploads later.
func (s *Service) Create(ctx context.Context, userID string) (Record, error) {
	now := time.Now()
	n, err := s.meta.CountPending(ctx, userID, now.UnixMilli())
	if err != nil {
		return Record{}, err
	}
	if n >= s.opts.MaxPendingUploads {
		return Record{}, ErrTooManyPending
	}
	rec := Record{
		Origin:    s.opts.ServerName,
		UserID:    userID,
		CreatedTS: now.UnixMilli(),
		ExpiresTS: now.Add(s.opts.PendingExpiry).UnixMilli(),
	}
	if err := s.insertWithNewID(ctx, &rec); err != nil {
		return Record{}, err
	}
	return rec, nil
}

// UploadTo supplies the content of a media ID made by Create.
func (s *Service) UploadTo(ctx context.Context, userID, origin, mediaID, contentType, filename string, body io.Reader) error {
	if origin != s.opts.ServerName || !ValidMediaID(mediaID) {
		return ErrNotFound
	}
	rec, err := s.meta.GetMedia(ctx, origin, mediaID)
	if err != nil {
		return err
	}
	if rec.UserID != userID {
		return ErrForbidden
	}
	if rec.Uploaded() {
		return ErrAlreadyUploaded
	}
	if rec.expired(time.Now()) {
		return ErrNotFound
	}
	sha, size, err := s.store(ctx, body)
	if err != nil {
		return err
	}
	rec.ContentType = NormalizeContentType(contentType)
	rec.UploadName = filename
	rec.SHA256 = sha
	rec.Size = size
	rec.UploadedTS = time.Now().UnixMilli()
	if err := s.meta.CompletePending(ctx, rec); err != nil {
		return err
	}
	s.notify()
	return nil
}

func (r Record) expired(now time.Time) bool {
	return !r.Uploaded() && r.ExpiresTS != 0 && now.UnixMilli() >= r.ExpiresTS
}

// Get returns the record of uploaded media, waiting up to wait for
// content that is still pending; then ErrNotYetUploaded. Only local media
// is served here: other servers' media is GetRemote's.
func (s *Service) Get(ctx context.Context, origin, mediaID string, wait time.Duration) (Record, error) {
	if origin != s.opts.ServerName || !ValidMediaID(mediaID) {
		return Record{}, ErrNotFound
	}
	wait = min(max(wait, 0), s.opts.MaxWait)
	deadline := time.NewTimer(wait)
	defer deadline.Stop()
	poll := time.NewTicker(time.Second) // in case of another process
	defer poll.Stop()
	for {
		ch := s.uploadedSignal()
		rec, err := s.meta.GetMedia(ctx, origin, mediaID)
		if err != nil {
			return Record{}, err
		}
		if rec.Uploaded() {
			return rec, nil
		}
		if rec.expired(time.Now()) {
			return Record{}, ErrNotFound
		}
		select {
		case <-ch:
		case <-poll.C:
		case <-deadline.C:
			return Record{}, ErrNotYetUploaded
		case <-ctx.Done():
			return Record{}, ctx.Err()
		}
	}
}

// uploadedSignal returns a channel closed when the next asynchronous
// upload completes; waiters then look at the database again.
func (s *Service) uploadedSignal() <-chan struct{} {
	s.waitMu.Lock()
	defer s.waitMu.Unlock()
	return s.uploaded
}

func (s *Service) notify() {
	s.waitMu.Lock()
	defer s.waitMu.Unlock()
	close(s.uploaded)
	s.uploaded = make(chan struct{})
}

// Open opens the content of an uploaded record.
func (s *Service) Open(ctx context.Context, rec Record) (Blob, error) {
	b, err := s.blobs.Open(ctx, rec.SHA256)
	if err != nil {
		return nil, fmt.Errorf("opening the content of %s: %w", rec.MXC(), err)
	}
	return b, nil
}

// LegacyServes reports whether the deprecated unauthenticated endpoints
// may serve rec (see Options.FreezeLegacyAfter).
func (s *Service) LegacyServes(rec Record) bool {
	if !s.opts.LegacyUnauthenticated {
		return false
	}
	return s.opts.FreezeLegacyAfter.IsZero() || rec.UploadedTS < s.opts.FreezeLegacyAfter.UnixMilli()
}

// LegacyEnabled reports whether the deprecated endpoints serve anything.
func (s *Service) LegacyEnabled() bool { return s.opts.LegacyUnauthenticated }
