package urlpreview

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"image"
	"io"
	"mime"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"

	"golang.org/x/net/html/charset"

	"foyer/internal/media"
	"foyer/internal/outbound"
)

// userAgent names us as a bot: some sites give Open Graph tags to
// crawlers only.
const userAgent = "Foyer (bot; URL previews for Matrix)"

const (
	acceptPage  = "text/html,application/xhtml+xml;q=0.9,image/*;q=0.8,*/*;q=0.1"
	acceptImage = "image/*"
)

// errOverLimit is a body longer than the preview's limit for it.
var errOverLimit = errors.New("over the size limit")

// build fetches u and makes its preview: the Open Graph properties of an
// HTML page, with its image stored here; an image URL as the image
// itself; nothing for other content (a PDF, a video), which has no
// preview but is no error either.
func (s *Service) build(ctx context.Context, userID string, u *url.URL) (map[string]any, error) {
	resp, err := s.get(ctx, u, acceptPage)
	if err != nil {
		return nil, fetchError(u, "the page", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return nil, &Error{Kind: Failed, Reason: fmt.Sprintf("the page answered HTTP %d", resp.StatusCode)}
	}
	mediaType, body := contentType(resp)
	og := map[string]any{}
	switch {
	case mediaType == "text/html" || mediaType == "application/xhtml+xml":
		if resp.ContentLength > s.opts.MaxPageBytes {
			return nil, tooLarge("the page", s.opts.MaxPageBytes)
		}
		page, err := charset.NewReader(capBody(body, s.opts.MaxPageBytes), resp.Header.Get("Content-Type"))
		if err != nil {
			return nil, fetchError(u, "the page", err)
		}
		meta, err := readPage(page)
		if errors.Is(err, errOverLimit) {
			return nil, tooLarge("the page", s.opts.MaxPageBytes)
		}
		if err != nil {
			return nil, fetchError(u, "the page", err)
		}
		props := meta.openGraph()
		for k, v := range props {
			// The page's own image properties describe its image, which
			// the client gets from us instead (or not at all).
			if k == "og:image" || strings.HasPrefix(k, "og:image:") && k != "og:image:alt" {
				continue
			}
			og[k] = v
		}
		if ref := props["og:image"]; ref != "" {
			s.addPageImage(ctx, userID, resp.Request.URL, ref, og)
		}
		if _, ok := og["og:image"]; !ok {
			delete(og, "og:image:alt") // describes an image the answer does not have
		}
	case strings.HasPrefix(mediaType, "image/"):
		img, err := s.storeImage(ctx, userID, resp, mediaType, body)
		if err != nil {
			return nil, fetchError(u, "the image", err)
		}
		img.addTo(og)
	}
	return og, nil
}

// addPageImage fetches a page's image (ref, relative to the page's
// final URL) and adds it to og. A failure only leaves the image out.
func (s *Service) addPageImage(ctx context.Context, userID string, page *url.URL, ref string, og map[string]any) {
	imgURL, err := page.Parse(ref)
	if err != nil || (imgURL.Scheme != "http" && imgURL.Scheme != "https") || imgURL.User != nil {
		return
	}
	imgURL.Fragment, imgURL.RawFragment = "", ""
	resp, err := s.get(ctx, imgURL, acceptImage)
	if err != nil {
		s.opts.Log.DebugContext(ctx, "url preview: image not fetched", "url", imgURL.Redacted(), "err", err)
		return
	}
	defer resp.Body.Close()
	mediaType, body := contentType(resp)
	if resp.StatusCode < 200 || resp.StatusCode > 299 || !strings.HasPrefix(mediaType, "image/") {
		s.opts.Log.DebugContext(ctx, "url preview: not an image", "url", imgURL.Redacted(), "status", resp.StatusCode, "type", mediaType)
		return
	}
	img, err := s.storeImage(ctx, userID, resp, mediaType, body)
	if err != nil {
		s.opts.Log.DebugContext(ctx, "url preview: image not stored", "url", imgURL.Redacted(), "err", err)
		return
	}
	img.addTo(og)
}

func (s *Service) get(ctx context.Context, u *url.URL, accept string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("User-Agent", userAgent)
	req.Header.Set("Accept", accept)
	return s.http.Do(req)
}

// contentType is the response's media type, sniffed from its first bytes
// when the server gives none, and the body to read from then on.
func contentType(resp *http.Response) (string, io.Reader) {
	if mt, _, err := mime.ParseMediaType(resp.Header.Get("Content-Type")); err == nil {
		return strings.ToLower(mt), resp.Body
	}
	br := bufio.NewReader(resp.Body)
	head, _ := br.Peek(512)
	mt, _, _ := mime.ParseMediaType(http.DetectContentType(head))
	return mt, br
}

// imageInfo is an image stored for a preview.
type imageInfo struct {
	mxc           string
	contentType   string
	size          int64
	width, height int // 0 when the image cannot be decoded here
}

func (i imageInfo) addTo(og map[string]any) {
	og["og:image"] = i.mxc
	og["og:image:type"] = i.contentType
	og["matrix:image:size"] = i.size
	if i.width > 0 && i.height > 0 {
		og["og:image:width"] = i.width
		og["og:image:height"] = i.height
	}
}

// storeImage stores an image response as local media of userID.
func (s *Service) storeImage(ctx context.Context, userID string, resp *http.Response, mediaType string, body io.Reader) (imageInfo, error) {
	limit := min(s.opts.MaxImageBytes, s.media.MaxUploadBytes())
	if resp.ContentLength > limit {
		return imageInfo{}, errOverLimit
	}
	rec, err := s.media.Upload(ctx, userID, mediaType, media.DispositionFilename(resp.Header.Get("Content-Disposition")), capBody(body, limit))
	if err != nil {
		return imageInfo{}, err
	}
	info := imageInfo{mxc: rec.MXC(), contentType: rec.ContentType, size: rec.Size}
	if blob, err := s.media.Open(ctx, rec); err == nil {
		// Only the header is read.
		if cfg, _, err := image.DecodeConfig(blob); err == nil {
			info.width, info.height = cfg.Width, cfg.Height
		}
		blob.Close()
	}
	return info, nil
}

// capBody fails a read beyond limit bytes with errOverLimit.
func capBody(r io.Reader, limit int64) io.Reader { return media.CapReader(r, limit, errOverLimit) }

func tooLarge(what string, limit int64) error {
	return &Error{Kind: TooLarge, Reason: fmt.Sprintf("%s is larger than %d bytes", what, limit)}
}

// fetchError sorts a failed fetch of u (or of its image) for the client.
func fetchError(u *url.URL, what string, err error) error {
	var refused *outbound.RefusedAddressError
	var netErr net.Error
	switch {
	case errors.As(err, &refused):
		// As the reference server: 403 for an address written in the
		// URL, 502 for one found through DNS or a redirect.
		if ip, perr := netip.ParseAddr(u.Hostname()); perr == nil && ip.Unmap() == refused.Address.Unmap() {
			return &Error{Kind: Refused, Reason: "IP address blocked", Err: err}
		}
		return &Error{Kind: Failed, Reason: "cannot fetch " + what + ": its address is not on the public internet", Err: err}
	case errors.Is(err, errOverLimit), errors.Is(err, media.ErrTooLarge), errors.Is(err, outbound.ErrResponseTooLarge):
		return &Error{Kind: TooLarge, Reason: what + " is larger than this server fetches for a preview", Err: err}
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &netErr) && netErr.Timeout():
		return &Error{Kind: Failed, Reason: "fetching " + what + " took too long", Err: err}
	}
	return &Error{Kind: Failed, Reason: "cannot fetch " + what, Err: err}
}
