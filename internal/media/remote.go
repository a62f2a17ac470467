package media

import (
	"context"
	"errors"
	"fmt"
	"mime"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"foyer/internal/federationclient"
)

// RemoteSource fetches other servers' media over federation:
// *federationclient.Client.
type RemoteSource interface {
	DownloadMedia(ctx context.Context, origin, mediaID string, limit int64, timeout time.Duration) (*federationclient.Media, error)
	ThumbnailMedia(ctx context.Context, origin, mediaID string, size federationclient.ThumbnailSize, limit int64, timeout time.Duration) (*federationclient.Media, error)
}

// RemoteCache is the database side of other servers' media kept here.
// The implementation is internal/storage's MediaStore.
type RemoteCache interface {
	// GetRemoteMedia returns ErrNotFound when the media is not cached.
	GetRemoteMedia(ctx context.Context, origin, mediaID string) (Record, error)
	// InsertRemoteMedia keeps the first row when two race.
	InsertRemoteMedia(ctx context.Context, r Record) error
	GetRemoteThumbnail(ctx context.Context, origin, mediaID string, width, height int, method string) (Thumbnail, error)
	InsertRemoteThumbnail(ctx context.Context, t Thumbnail) error
}

// Errors of fetching remote media.
var (
	// ErrRemoteUnavailable: the origin could not be reached, timed out, or
	// answered with an error other than "not found".
	ErrRemoteUnavailable = errors.New("failed to fetch remote media")
	// ErrRemoteTooLarge: the remote content is larger than our upload limit.
	ErrRemoteTooLarge = errors.New("remote media is larger than this server accepts")
	// ErrRemoteForbidden: federation with the origin is not permitted here.
	ErrRemoteForbidden = errors.New("federation with this server is not permitted")
)

// Defaults of the remote fetching options.
const (
	DefaultRemoteFetchTimeout   = 60 * time.Second
	DefaultMaxConcurrentFetches = 8
)

// IsLocal reports whether origin is this server.
func (s *Service) IsLocal(origin string) bool { return origin == s.opts.ServerName }

// RemoteFetchTimeout bounds one fetch of remote media, waiting for a
// fetch slot included.
func (s *Service) RemoteFetchTimeout() time.Duration { return s.opts.RemoteFetchTimeout }

// GetRemote returns other servers' media from the cache or, when fetch is
// true and it is not cached, fetches it from origin, stores the whole
// content and then its row (so a cut-off fetch leaves nothing), and
// returns it. Concurrent requests for one item share one fetch, which
// runs to its end even if the first asker leaves.
func (s *Service) GetRemote(ctx context.Context, origin, mediaID string, fetch bool) (Record, error) {
	if s.IsLocal(origin) || !ValidMediaID(mediaID) || s.opts.RemoteCache == nil {
		return Record{}, ErrNotFound
	}
	rec, err := s.opts.RemoteCache.GetRemoteMedia(ctx, origin, mediaID)
	if !errors.Is(err, ErrNotFound) {
		return rec, err
	}
	if !fetch || s.opts.Remote == nil {
		return Record{}, ErrNotFound
	}
	v, err := s.shared(ctx, "download "+origin+"/"+mediaID, func(ctx context.Context) (any, error) {
		return s.fetchRemote(ctx, origin, mediaID)
	})
	if err != nil {
		return Record{}, err
	}
	return v.(Record), nil
}

// shared runs fn once for every concurrent caller with the same key,
// detached from the callers' cancellation and bounded by the remote fetch
// timeout; a caller that leaves stops waiting, not the fetch.
func (s *Service) shared(ctx context.Context, key string, fn func(context.Context) (any, error)) (any, error) {
	detached := context.WithoutCancel(ctx)
	ch := s.flight.DoChan(key, func() (any, error) {
		fctx, cancel := context.WithTimeout(detached, s.opts.RemoteFetchTimeout)
		defer cancel()
		select {
		case s.fetchSem <- struct{}{}:
		case <-fctx.Done():
			return nil, fmt.Errorf("%w: no fetch slot became free in time", ErrRemoteUnavailable)
		}
		defer func() { <-s.fetchSem }()
		return fn(fctx)
	})
	select {
	case res := <-ch:
		return res.Val, res.Err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (s *Service) fetchRemote(ctx context.Context, origin, mediaID string) (Record, error) {
	// A fetch that just finished (here or in another process) may have
	// stored it already.
	if rec, err := s.opts.RemoteCache.GetRemoteMedia(ctx, origin, mediaID); !errors.Is(err, ErrNotFound) {
		return rec, err
	}
	m, err := s.opts.Remote.DownloadMedia(ctx, origin, mediaID, s.opts.MaxUploadBytes, s.opts.RemoteFetchTimeout)
	if err != nil {
		return Record{}, s.remoteError(origin, mediaID, err)
	}
	defer m.Body.Close()
	sha, size, err := s.store(ctx, m.Body)
	if err != nil {
		return Record{}, s.remoteError(origin, mediaID, err)
	}
	now := time.Now().UnixMilli()
	rec := Record{
		Origin:      origin,
		MediaID:     mediaID,
		ContentType: NormalizeContentType(m.ContentType),
		UploadName:  DispositionFilename(m.Disposition),
		SHA256:      sha,
		Size:        size,
		CreatedTS:   now,
		UploadedTS:  now,
	}
	if err := s.opts.RemoteCache.InsertRemoteMedia(ctx, rec); err != nil {
		return Record{}, err
	}
	// The row that won a race with another process is the one served.
	return s.opts.RemoteCache.GetRemoteMedia(ctx, origin, mediaID)
}

// remoteError sorts a failed fetch into the errors the HTTP layer knows,
// as the reference server does: the origin's 404 is ours, content over
// the limit is "too large", anything else is a failed fetch.
func (s *Service) remoteError(origin, mediaID string, err error) error {
	e, answered := federationclient.RemoteError(err)
	switch {
	case answered && e.Status == 404:
		return ErrNotFound
	case errors.Is(err, federationclient.ErrTooLarge), errors.Is(err, ErrTooLarge):
		return ErrRemoteTooLarge
	case errors.Is(err, federationclient.ErrNotPermitted):
		return ErrRemoteForbidden
	case errors.Is(err, ErrStoreUnavailable):
		// Ours, not the origin's: the store's error says so.
		return err
	}
	s.opts.Log.Warn("fetching remote media failed", "mxc", "mxc://"+origin+"/"+mediaID, "err", err)
	// %v, not %w: the origin's cut-off answer must not read as our
	// client's cut-off upload.
	return fmt.Errorf("%w: %v", ErrRemoteUnavailable, err)
}

// DispositionFilename is the filename of a Content-Disposition, when it
// is one we would accept at upload; "" otherwise.
func DispositionFilename(disposition string) string {
	if disposition == "" {
		return ""
	}
	_, params, err := mime.ParseMediaType(disposition)
	if err != nil {
		return ""
	}
	name := params["filename"]
	if len(name) > 255 || !utf8.ValidString(name) || strings.ContainsFunc(name, unicode.IsControl) {
		return ""
	}
	return name
}

// remoteThumbnailTypes are the thumbnail content types accepted from
// another server: static images a client can show.
var remoteThumbnailTypes = map[string]bool{
	"image/jpeg": true, "image/png": true, "image/gif": true, "image/webp": true,
}

// requestBox is the standard box a remote thumbnail is asked for and
// cached by: the smallest that covers w x h, or the largest there is.
func requestBox(w, h int, method string) Box {
	if method == "crop" {
		for _, b := range StandardBoxes {
			if b.Method == "crop" && b.Width >= w && b.Height >= h {
				return b
			}
		}
	}
	var last Box
	for _, b := range StandardBoxes {
		if b.Method != "scale" {
			continue
		}
		last = b
		if b.Width >= w && b.Height >= h {
			return b
		}
	}
	return last
}

// RemoteThumbnail answers a thumbnail request for other servers' media.
// When the original is cached, the local path makes the thumbnail from
// it. Otherwise a thumbnail cached from the origin serves, or one is
// fetched from the origin (always static: "animated" is only a
// preference); when the origin has none to give, the original is fetched
// and the local path makes one. fetch false serves only what is cached.
func (s *Service) RemoteThumbnail(ctx context.Context, origin, mediaID string, w, h int, method string, animated, fetch bool) (Served, error) {
	if s.IsLocal(origin) || !ValidMediaID(mediaID) || s.opts.RemoteCache == nil {
		return Served{}, ErrNotFound
	}
	rec, err := s.opts.RemoteCache.GetRemoteMedia(ctx, origin, mediaID)
	if err == nil {
		return s.servedThumbnail(ctx, rec, w, h, method, animated)
	}
	if !errors.Is(err, ErrNotFound) {
		return Served{}, err
	}
	box := requestBox(w, h, method)
	if t, err := s.opts.RemoteCache.GetRemoteThumbnail(ctx, origin, mediaID, box.Width, box.Height, box.Method); err == nil {
		if tb, err := s.blobs.Open(ctx, t.SHA256); err == nil {
			return Served{Blob: tb, ContentType: t.ContentType, SHA256: t.SHA256, ModifiedTS: t.CreatedTS}, nil
		}
	} else if !errors.Is(err, ErrNotFound) {
		return Served{}, err
	}
	if !fetch || s.opts.Remote == nil {
		return Served{}, ErrNotFound
	}
	key := fmt.Sprintf("thumbnail %s/%s/%dx%d/%s", origin, mediaID, box.Width, box.Height, box.Method)
	v, err := s.shared(ctx, key, func(ctx context.Context) (any, error) {
		return s.fetchRemoteThumbnail(ctx, origin, mediaID, box)
	})
	if errors.Is(err, errNoRemoteThumbnail) {
		rec, err := s.GetRemote(ctx, origin, mediaID, true)
		if err != nil {
			return Served{}, err
		}
		return s.servedThumbnail(ctx, rec, w, h, method, animated)
	}
	if err != nil {
		return Served{}, err
	}
	t := v.(Thumbnail)
	tb, err := s.blobs.Open(ctx, t.SHA256)
	if err != nil {
		return Served{}, err
	}
	return Served{Blob: tb, ContentType: t.ContentType, SHA256: t.SHA256, ModifiedTS: t.CreatedTS}, nil
}

func (s *Service) servedThumbnail(ctx context.Context, rec Record, w, h int, method string, animated bool) (Served, error) {
	served, err := s.Thumbnail(ctx, rec, w, h, method, animated)
	served.ModifiedTS = rec.UploadedTS
	return served, err
}

// errNoRemoteThumbnail: the origin answered but gave no usable thumbnail
// (an error, or content that is not an image); the original may still do.
var errNoRemoteThumbnail = errors.New("the origin gave no thumbnail")

func (s *Service) fetchRemoteThumbnail(ctx context.Context, origin, mediaID string, box Box) (Thumbnail, error) {
	size := federationclient.ThumbnailSize{Width: box.Width, Height: box.Height, Method: box.Method}
	m, err := s.opts.Remote.ThumbnailMedia(ctx, origin, mediaID, size, s.opts.MaxUploadBytes, s.opts.RemoteFetchTimeout)
	if _, answered := federationclient.RemoteError(err); answered || errors.Is(err, federationclient.ErrBadMediaAnswer) {
		return Thumbnail{}, errNoRemoteThumbnail
	}
	if err != nil {
		return Thumbnail{}, s.remoteError(origin, mediaID, err)
	}
	defer m.Body.Close()
	mt, _, _ := mime.ParseMediaType(m.ContentType)
	if !remoteThumbnailTypes[mt] {
		return Thumbnail{}, errNoRemoteThumbnail
	}
	sha, size64, err := s.store(ctx, m.Body)
	if err != nil {
		return Thumbnail{}, s.remoteError(origin, mediaID, err)
	}
	t := Thumbnail{
		Origin: origin, MediaID: mediaID,
		Width: box.Width, Height: box.Height, Method: box.Method,
		ContentType: mt, SHA256: sha, Size: size64,
		CreatedTS: time.Now().UnixMilli(),
	}
	if err := s.opts.RemoteCache.InsertRemoteThumbnail(ctx, t); err != nil {
		return Thumbnail{}, err
	}
	return t, nil
}
