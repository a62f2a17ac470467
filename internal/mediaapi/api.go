// Package mediaapi is the content repository's HTTP surface: uploads,
// downloads and thumbnails, authenticated (/_matrix/client/v1/media) and
// legacy (/_matrix/media).
package mediaapi

import (
	"foyer/internal/config"
	"foyer/internal/httpapi"
	"foyer/internal/media"
)

// API holds the media handlers.
type API struct {
	Config config.Config
	Media  *media.Service
}

// Routes returns the media route table.
func Routes(cfg config.Config, m *media.Service) []httpapi.Route {
	a := &API{Config: cfg, Media: m}
	return a.mediaRoutes()
}
