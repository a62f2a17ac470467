package mediaapi

import (
	"errors"
	"net/http"
	"strconv"
	"time"

	"foyer/internal/httpapi"
	"foyer/internal/media"
	"foyer/internal/urlpreview"
)

// previewRoutes are GET preview_url, authenticated (v1) and legacy (v3
// and r0, where the other legacy media paths are served too); all need a
// token. Guests may use the v1 one, a Foyer extension (G-14) throttled
// per guest. With media.url_preview_enabled off none is routed.
func (a *API) previewRoutes() []httpapi.Route {
	if a.Previews == nil {
		return nil
	}
	return []httpapi.Route{
		{Method: "GET", Path: httpapi.ClientV1 + "/media/preview_url", Access: httpapi.GuestOK, Handle: a.previewURL},
		{Method: "GET", Path: mediaV3 + "/preview_url", Access: httpapi.UserOnly, Handle: a.previewURL},
		{Method: "GET", Path: mediaR0 + "/preview_url", Access: httpapi.UserOnly, Handle: a.previewURL},
	}
}

func (a *API) previewURL(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	rawURL := q.Get("url")
	if rawURL == "" {
		return httpapi.ErrMissingParam("url is required")
	}
	// ts asks for the preview as of a time; the spec lets a server give
	// a newer one, and the cache keeps only the newest, so it is only
	// checked.
	if ts := q.Get("ts"); ts != "" {
		if _, err := strconv.ParseInt(ts, 10, 64); err != nil {
			return httpapi.ErrInvalidParam("ts must be an integer timestamp in milliseconds")
		}
	}
	if _, err := urlpreview.ParseURL(rawURL); err != nil {
		return previewError(err)
	}
	p := httpapi.Principal(r)
	var beforeFetch func() error
	if httpapi.IsGuest(p) && a.Guests != nil {
		beforeFetch = func() error { return httpapi.GuestError(a.Guests.AllowURLPreview(p.UserID)) }
	}
	_ = http.NewResponseController(w).SetWriteDeadline(time.Now().Add(a.Previews.Timeout() + a.Config.HTTP.WriteTimeout))
	og, err := a.Previews.Preview(r.Context(), p.UserID, rawURL, beforeFetch)
	if err != nil {
		return previewError(err)
	}
	httpapi.WriteJSON(w, http.StatusOK, og)
	return nil
}

// previewError follows the reference server: 502 when the page cannot be
// had (M_TOO_LARGE when it is too big), 403 for an address refused as
// written in the URL.
func previewError(err error) error {
	if errors.Is(err, media.ErrStoreUnavailable) {
		// The image of an image URL could not be stored: ours, not the
		// page's fault.
		return mediaError(err)
	}
	var pe *urlpreview.Error
	if !errors.As(err, &pe) {
		return err
	}
	switch pe.Kind {
	case urlpreview.InvalidURL:
		return httpapi.ErrInvalidParam("%s", pe.Reason)
	case urlpreview.Refused:
		return httpapi.ErrUnknown(http.StatusForbidden, "%s", pe.Reason)
	case urlpreview.TooLarge:
		return httpapi.NewError(http.StatusBadGateway, "M_TOO_LARGE", "%s", pe.Reason)
	}
	return httpapi.ErrUnknown(http.StatusBadGateway, "%s", pe.Reason)
}
