package federationapi

import (
	"net/http"

	"foyer/internal/mediaapi"
)

// mediaDownload and mediaThumbnail serve our own media to other servers
// (multipart/mixed, as the spec's content repository section says).
func (a *API) mediaDownload(w http.ResponseWriter, r *http.Request) error {
	return mediaapi.FederationDownload(a.Config, a.Media)(w, r)
}

func (a *API) mediaThumbnail(w http.ResponseWriter, r *http.Request) error {
	return mediaapi.FederationThumbnail(a.Config, a.Media)(w, r)
}
