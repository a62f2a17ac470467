package httpapi

import (
	"encoding/json"
	"net/http"
	"strings"
)

// serverRoutes describe the server as a whole rather than one surface:
// what it speaks (/versions is computed from every surface's routes), where
// clients find it, and whether it is up.
func (a *API) serverRoutes() []Route {
	return []Route{
		{Method: "GET", Path: "/_matrix/client/versions", Access: Open, Handle: a.versions},
		{Method: "GET", Path: "/.well-known/matrix/client", Access: Open, Handle: a.wellKnownClient},
		{Method: "GET", Path: "/health", Access: Open, Handle: a.health},
		{Method: "GET", Path: "/metrics", Access: Open, Handle: a.metricsHandler},
	}
}

// specVersions lists each spec version with the endpoints it made
// required (beyond those of earlier versions). /versions advertises a
// version only when every endpoint it and all earlier versions require is
// in the route table, so the list grows as Foyer does and never claims
// what it cannot serve.
var specVersions = []struct {
	version  string
	requires []string
}{
	{"v1.1", []string{
		"POST /_matrix/client/v3/register", "POST /_matrix/client/v3/login", "GET /_matrix/client/v3/account/whoami",
		"GET /_matrix/client/v3/sync", "POST /_matrix/client/v3/createRoom",
		"PUT /_matrix/client/v3/rooms/{roomId}/send/{eventType}/{txnId}",
		"PUT /_matrix/client/v3/rooms/{roomId}/state/{eventType}/{stateKey}",
		"GET /_matrix/client/v3/rooms/{roomId}/messages", "POST /_matrix/client/v3/join/{roomIdOrAlias}",
		"POST /_matrix/client/v3/rooms/{roomId}/leave", "GET /_matrix/client/v3/profile/{userId}",
		"POST /_matrix/client/v3/keys/upload", "POST /_matrix/client/v3/keys/query", "POST /_matrix/client/v3/keys/claim",
		"PUT /_matrix/client/v3/sendToDevice/{eventType}/{txnId}",
		"POST /_matrix/media/v3/upload", "GET /_matrix/media/v3/download/{serverName}/{mediaId}",
		"POST /_matrix/client/v3/knock/{roomIdOrAlias}", "POST /_matrix/client/v3/keys/device_signing/upload",
	}},
	{"v1.2", []string{"GET /_matrix/client/v1/rooms/{roomId}/hierarchy"}},
	{"v1.3", []string{"GET /_matrix/client/v1/rooms/{roomId}/relations/{eventId}", "POST /_matrix/client/v3/refresh"}},
	{"v1.4", []string{"GET /_matrix/client/v1/rooms/{roomId}/threads"}},
	{"v1.5", nil},
	{"v1.6", []string{"GET /_matrix/client/v1/rooms/{roomId}/timestamp_to_event"}},
	{"v1.7", []string{"POST /_matrix/media/v1/create"}},
	{"v1.8", nil},
	{"v1.9", nil},
	{"v1.10", nil},
	{"v1.11", []string{"GET /_matrix/client/v1/media/download/{serverName}/{mediaId}", "GET /_matrix/client/v1/media/config"}},
	{"v1.12", nil},
	{"v1.13", nil},
	{"v1.14", nil},
	{"v1.15", []string{"GET /_matrix/client/v1/room_summary/{roomIdOrAlias}"}},
}

// AdvertisedVersions is the computed list for /versions.
func (a *API) AdvertisedVersions() []string {
	have := map[string]bool{}
	for _, rt := range a.routes {
		have[rt.Method+" "+rt.Path] = true
	}
	out := []string{}
	for _, v := range specVersions {
		for _, req := range v.requires {
			if !have[req] {
				return out
			}
		}
		out = append(out, v.version)
	}
	return out
}

// unstableFeatures are the unstable_features of /versions.
var unstableFeatures = map[string]bool{"org.matrix.e2e_cross_signing": true, "org.matrix.msc2753": true, "org.matrix.msc4222": true,
	// Simplified sliding sync (MSC4186), which Element X requires.
	"org.matrix.simplified_msc3575": true}

// versionsBody is /versions' answer, encoded once: the route table does
// not change after New, and every client asks at start.
func (a *API) versionsBody() []byte {
	b, err := json.Marshal(map[string]any{"versions": a.AdvertisedVersions(), "unstable_features": unstableFeatures})
	if err != nil {
		panic("httpapi: encoding /versions: " + err.Error())
	}
	return b
}

func (a *API) versions(w http.ResponseWriter, r *http.Request) error {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(a.versionsJSON)
	return nil
}

func (a *API) wellKnownClient(w http.ResponseWriter, r *http.Request) error {
	base := a.Config.PublicBaseURL
	if base == "" {
		scheme := "http"
		if r.TLS != nil {
			scheme = "https"
		}
		base = scheme + "://" + r.Host
	}
	WriteJSON(w, http.StatusOK, map[string]any{
		"m.homeserver": map[string]string{"base_url": strings.TrimSuffix(base, "/")},
	})
	return nil
}

func (a *API) health(w http.ResponseWriter, r *http.Request) error {
	if err := a.Ready(); err != nil {
		a.Log.Warn("health check failed", "err", err)
		WriteJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "unavailable"})
		return nil
	}
	WriteJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	return nil
}

func (a *API) metricsHandler(w http.ResponseWriter, r *http.Request) error {
	a.Metrics.Handler().ServeHTTP(w, r)
	return nil
}
