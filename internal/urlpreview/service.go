// Package urlpreview answers GET /media/preview_url: it fetches a page
// through the outbound client, reads its Open Graph properties (or its
// title and description), stores its image as local media so clients
// load it by mxc:// URI, and keeps the answer in the database for a
// while so that a link many clients show is fetched once.
package urlpreview

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"golang.org/x/sync/singleflight"

	"foyer/internal/media"
)

// Cache keeps previews by URL; the implementation is internal/storage's
// URLPreviewStore, tested on SQLite and PostgreSQL.
type Cache interface {
	// GetURLPreview returns the preview of url that has not expired at
	// now, or ErrNotCached.
	GetURLPreview(ctx context.Context, url string, now int64) ([]byte, error)
	// PutURLPreview keeps a preview, replacing the URL's older one.
	PutURLPreview(ctx context.Context, p Cached) error
}

// Cached is a preview as the cache keeps it.
type Cached struct {
	URL       string
	OpenGraph []byte // the JSON answer
	FetchedTS int64
	ExpiresTS int64
}

// ErrNotCached: the cache has no live preview of the URL.
var ErrNotCached = errors.New("no cached preview")

// HTTPDoer sends a request: the outbound client, whose address checks,
// redirect rules and bounds every fetch here goes through.
type HTTPDoer interface {
	Do(req *http.Request) (*http.Response, error)
}

// Options bound the previews.
type Options struct {
	MaxPageBytes  int64
	MaxImageBytes int64
	// Timeout bounds one preview, the page and its image together.
	Timeout  time.Duration
	CacheFor time.Duration
	Log      *slog.Logger
}

// Service makes and caches previews.
type Service struct {
	opts   Options
	http   HTTPDoer
	media  *media.Service
	cache  Cache
	flight singleflight.Group
	now    func() time.Time
}

// New builds the service. Images are stored as local media through m.
func New(client HTTPDoer, m *media.Service, cache Cache, opts Options) *Service {
	if opts.Log == nil {
		opts.Log = slog.Default()
	}
	return &Service{opts: opts, http: client, media: m, cache: cache, now: time.Now}
}

// Timeout is how long a preview may take to fetch.
func (s *Service) Timeout() time.Duration { return s.opts.Timeout }

// Kind sorts the errors of Preview for the HTTP layer.
type Kind int

const (
	// InvalidURL: the url parameter is not an http(s) URL we may fetch.
	InvalidURL Kind = iota
	// Refused: the URL names, by address, a host outside the public
	// internet (outbound.allow_private_addresses is off).
	Refused
	// TooLarge: the page or image is over its size limit.
	TooLarge
	// Failed: the fetch failed, timed out or the server answered an error.
	Failed
)

// Error is a preview that could not be made.
type Error struct {
	Kind   Kind
	Reason string
	Err    error // the cause, for the log
}

func (e *Error) Error() string {
	if e.Err != nil {
		return e.Reason + ": " + e.Err.Error()
	}
	return e.Reason
}

func (e *Error) Unwrap() error { return e.Err }

// maxURLBytes bounds the url parameter; real links are far shorter.
const maxURLBytes = 8192

// ParseURL checks the url parameter: an absolute http or https URL with a
// host and no credentials. The fragment is dropped: it never reaches the
// server, so it makes no other preview.
func ParseURL(raw string) (*url.URL, error) {
	if len(raw) > maxURLBytes {
		return nil, &Error{Kind: InvalidURL, Reason: fmt.Sprintf("url is longer than %d bytes", maxURLBytes)}
	}
	u, err := url.Parse(raw)
	if err != nil {
		return nil, &Error{Kind: InvalidURL, Reason: "url is not a valid URL"}
	}
	u.Scheme = strings.ToLower(u.Scheme)
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, &Error{Kind: InvalidURL, Reason: "only http and https URLs can be previewed"}
	}
	if u.Hostname() == "" {
		return nil, &Error{Kind: InvalidURL, Reason: "url has no host"}
	}
	if u.User != nil {
		return nil, &Error{Kind: InvalidURL, Reason: "url must not carry a user name or password"}
	}
	u.Fragment, u.RawFragment = "", ""
	return u, nil
}

// Preview returns the preview of rawURL as a JSON object, from the cache
// when it holds one, else fetched for userID (who owns the image stored).
// beforeFetch, when not nil, is asked first whether a fetch may be made
// (the guests' rate limit); its error is returned as it is. Concurrent
// requests for one URL share one fetch.
func (s *Service) Preview(ctx context.Context, userID, rawURL string, beforeFetch func() error) (json.RawMessage, error) {
	u, err := ParseURL(rawURL)
	if err != nil {
		return nil, err
	}
	key := u.String()
	og, err := s.cache.GetURLPreview(ctx, key, s.now().UnixMilli())
	if err == nil {
		return og, nil
	}
	if !errors.Is(err, ErrNotCached) {
		return nil, err
	}
	if beforeFetch != nil {
		if err := beforeFetch(); err != nil {
			return nil, err
		}
	}
	done := s.flight.DoChan(key, func() (any, error) {
		// The fetch is shared: one caller going away must not end it
		// for the others.
		fetchCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.opts.Timeout)
		defer cancel()
		return s.fetchAndCache(fetchCtx, userID, u)
	})
	select {
	case res := <-done:
		if res.Err != nil {
			return nil, res.Err
		}
		return res.Val.(json.RawMessage), nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (s *Service) fetchAndCache(ctx context.Context, userID string, u *url.URL) (json.RawMessage, error) {
	fetched := s.now()
	og, err := s.build(ctx, userID, u)
	if err != nil {
		return nil, err
	}
	body, err := json.Marshal(og)
	if err != nil {
		return nil, err
	}
	err = s.cache.PutURLPreview(ctx, Cached{
		URL:       u.String(),
		OpenGraph: body,
		FetchedTS: fetched.UnixMilli(),
		ExpiresTS: fetched.Add(s.opts.CacheFor).UnixMilli(),
	})
	if err != nil {
		// The preview is good; only the next request will fetch again.
		s.opts.Log.WarnContext(ctx, "url preview: caching failed", "url", u.Redacted(), "err", err)
	}
	return body, nil
}
