package federationclient

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"foyer/internal/outbound"
)

// Media is content another server serves, streamed: the caller reads Body
// (which fails with ErrTooLarge beyond the limit it asked for) and closes
// it, which ends the request.
type Media struct {
	ContentType string
	// Disposition is the Content-Disposition the server gave, may be "".
	Disposition string
	Body        io.ReadCloser
}

// ThumbnailSize is what a thumbnail request asks for.
type ThumbnailSize struct {
	Width, Height int
	Method        string // crop or scale
	Animated      bool
}

// ErrBadMediaAnswer is a media answer that is not what the spec says: not
// multipart/mixed, parts missing or malformed, a Location that is not an
// http(s) URL or does not answer 200.
var ErrBadMediaAnswer = errors.New("the remote server's media answer is malformed")

// Bounds on what a media answer may hold besides the content.
const (
	// maxMediaOverhead is the preamble, both parts' headers and the JSON
	// metadata part together.
	maxMediaOverhead = 64 << 10
	maxMetadataBytes = 16 << 10
)

// DownloadMedia fetches mxc://origin/mediaID from origin with the
// authenticated federation endpoint, falling back to the deprecated
// /_matrix/media/v3/download (allow_remote=false) when origin does not
// know the endpoint (404 M_UNRECOGNIZED), as the spec says. The content
// is streamed, at most limit bytes; timeout bounds the whole fetch, from
// the request to the last byte read.
func (c *Client) DownloadMedia(ctx context.Context, origin, mediaID string, limit int64, timeout time.Duration) (*Media, error) {
	id := url.PathEscape(mediaID)
	m, err := c.federationMedia(ctx, Request{Method: http.MethodGet, Destination: origin,
		Path: "/_matrix/federation/v1/media/download/" + id, Timeout: timeout}, limit)
	if !unknownEndpoint(err) {
		return m, err
	}
	return c.legacyMedia(ctx, Request{Method: http.MethodGet, Destination: origin,
		Path:  "/_matrix/media/v3/download/" + url.PathEscape(origin) + "/" + id,
		Query: url.Values{"allow_remote": {"false"}}, Timeout: timeout}, limit)
}

// ThumbnailMedia fetches a thumbnail of mxc://origin/mediaID from origin,
// with the same fallback, bounds and timeout as DownloadMedia.
func (c *Client) ThumbnailMedia(ctx context.Context, origin, mediaID string, size ThumbnailSize, limit int64, timeout time.Duration) (*Media, error) {
	id := url.PathEscape(mediaID)
	q := url.Values{
		"width":  {strconv.Itoa(size.Width)},
		"height": {strconv.Itoa(size.Height)},
		"method": {size.Method},
	}
	if size.Animated {
		q.Set("animated", "true")
	}
	m, err := c.federationMedia(ctx, Request{Method: http.MethodGet, Destination: origin,
		Path: "/_matrix/federation/v1/media/thumbnail/" + id, Query: q, Timeout: timeout}, limit)
	if !unknownEndpoint(err) {
		return m, err
	}
	q.Set("allow_remote", "false")
	return c.legacyMedia(ctx, Request{Method: http.MethodGet, Destination: origin,
		Path:  "/_matrix/media/v3/thumbnail/" + url.PathEscape(origin) + "/" + id,
		Query: q, Timeout: timeout}, limit)
}

// federationMedia sends r and reads its multipart/mixed answer: a JSON
// metadata part, then the content or a Location to fetch it from.
func (c *Client) federationMedia(ctx context.Context, r Request, limit int64) (*Media, error) {
	resp, err := c.Stream(ctx, r)
	if err != nil {
		return nil, err
	}
	m, err := c.readMultipart(ctx, resp, limit, r.Destination)
	if err != nil {
		resp.Body.Close()
		return nil, err
	}
	return m, nil
}

func (c *Client) readMultipart(ctx context.Context, resp *http.Response, limit int64, destination string) (*Media, error) {
	mt, params, err := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/mixed" || params["boundary"] == "" {
		return nil, fmt.Errorf("%w: %s answered Content-Type %q, not multipart/mixed", ErrBadMediaAnswer, destination, resp.Header.Get("Content-Type"))
	}
	// Everything but the content shares a small allowance; the content's
	// own limit is added once its part begins.
	budget := &budgetReader{r: resp.Body, left: maxMediaOverhead}
	mr := multipart.NewReader(budget, params["boundary"])

	meta, err := mr.NextRawPart()
	if err != nil {
		return nil, fmt.Errorf("%w: %s: the metadata part: %w", ErrBadMediaAnswer, destination, overBudget(err))
	}
	var metadata map[string]any
	raw, err := io.ReadAll(io.LimitReader(meta, maxMetadataBytes+1))
	if err != nil || len(raw) > maxMetadataBytes || json.Unmarshal(raw, &metadata) != nil {
		return nil, fmt.Errorf("%w: %s: the metadata part is not a JSON object", ErrBadMediaAnswer, destination)
	}

	content, err := mr.NextRawPart()
	if err != nil {
		return nil, fmt.Errorf("%w: %s: the content part: %w", ErrBadMediaAnswer, destination, overBudget(err))
	}
	if loc := content.Header.Get("Location"); loc != "" {
		resp.Body.Close()
		return c.fetchLocation(ctx, loc, limit, destination)
	}
	budget.left += limit + maxMediaOverhead
	return &Media{
		ContentType: content.Header.Get("Content-Type"),
		Disposition: content.Header.Get("Content-Disposition"),
		Body:        &mediaBody{r: content, left: limit, closer: resp.Body},
	}, nil
}

// fetchLocation follows a Location part. The URL is the other server's
// choice, so it goes through the outbound client only (non-public
// addresses refused unless allowed, on every connection and redirect),
// unsigned, and is not cached.
func (c *Client) fetchLocation(ctx context.Context, location string, limit int64, destination string) (*Media, error) {
	u, err := url.Parse(location)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, fmt.Errorf("%w: %s gave a Location that is not an http(s) URL", ErrBadMediaAnswer, destination)
	}
	if c.opt.Outbound == nil {
		return nil, fmt.Errorf("%w: %s gave a Location and no outbound client is configured", ErrBadMediaAnswer, destination)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, err
	}
	resp, err := c.opt.Outbound.Do(req)
	if err != nil {
		return nil, fmt.Errorf("fetching the Location %s gave: %w", destination, err)
	}
	if resp.StatusCode != http.StatusOK {
		resp.Body.Close()
		return nil, fmt.Errorf("%w: the Location %s gave answered %d", ErrBadMediaAnswer, destination, resp.StatusCode)
	}
	return plainMedia(resp, limit)
}

// legacyMedia sends r to a deprecated /_matrix/media endpoint, whose
// answer is the content itself.
func (c *Client) legacyMedia(ctx context.Context, r Request, limit int64) (*Media, error) {
	resp, err := c.Stream(ctx, r)
	if err != nil {
		return nil, err
	}
	return plainMedia(resp, limit)
}

func plainMedia(resp *http.Response, limit int64) (*Media, error) {
	if resp.ContentLength > limit {
		resp.Body.Close()
		return nil, fmt.Errorf("%w: %d bytes announced, at most %d accepted", ErrTooLarge, resp.ContentLength, limit)
	}
	return &Media{
		ContentType: resp.Header.Get("Content-Type"),
		Disposition: resp.Header.Get("Content-Disposition"),
		Body:        &mediaBody{r: resp.Body, left: limit, closer: resp.Body},
	}, nil
}

// mediaBody yields at most left bytes of content and fails with
// ErrTooLarge when there is more; closing it ends the request.
type mediaBody struct {
	r      io.Reader
	left   int64
	closer io.Closer
}

func (b *mediaBody) Read(p []byte) (int, error) {
	if int64(len(p)) > b.left+1 {
		p = p[:b.left+1]
	}
	n, err := b.r.Read(p)
	b.left -= int64(n)
	if b.left < 0 {
		return 0, fmt.Errorf("%w: the content is larger than the limit", ErrTooLarge)
	}
	if err != nil && err != io.EOF {
		err = overBudget(err)
	}
	return n, err
}

func (b *mediaBody) Close() error { return b.closer.Close() }

// budgetReader fails once more than left bytes are read.
type budgetReader struct {
	r    io.Reader
	left int64
}

var errOverBudget = errors.New("the answer's parts are larger than allowed")

func (b *budgetReader) Read(p []byte) (int, error) {
	if b.left <= 0 {
		return 0, errOverBudget
	}
	if int64(len(p)) > b.left {
		p = p[:b.left]
	}
	n, err := b.r.Read(p)
	b.left -= int64(n)
	return n, err
}

// overBudget turns an exhausted allowance into ErrTooLarge.
func overBudget(err error) error {
	if errors.Is(err, errOverBudget) || errors.Is(err, outbound.ErrResponseTooLarge) {
		return fmt.Errorf("%w: %w", ErrTooLarge, err)
	}
	return err
}
