// Package mediaapi is the content repository's HTTP surface: uploads,
// downloads and thumbnails, authenticated (/_matrix/client/v1/media) and
// legacy (/_matrix/media).
package mediaapi

import (
	"foyer/internal/config"
	"foyer/internal/httpapi"
	"foyer/internal/media"
	"foyer/internal/urlpreview"
)

// API holds the media handlers.
type API struct {
	Config config.Config
	Media  *media.Service
	// Previews answers preview_url; nil when previews are switched off.
	Previews *urlpreview.Service
	// Guests throttles the previews fetched for guests.
	Guests GuestPreviews
}

// GuestPreviews is the guest policy's budget of previews per guest.
type GuestPreviews interface {
	AllowURLPreview(userID string) error
}

// Routes returns the media route table.
func Routes(a *API) []httpapi.Route {
	return append(a.mediaRoutes(), a.previewRoutes()...)
}
