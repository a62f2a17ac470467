package federationapi

import (
	"net/http"
	"runtime/debug"
	"time"

	"foyer/internal/httpapi"
)

// wellKnownServer is GET /.well-known/matrix/server: delegation to
// federation.well_known_server, or 404 M_NOT_FOUND when none is set (other
// servers then use the server name itself).
func (a *API) wellKnownServer(w http.ResponseWriter, r *http.Request) error {
	target := a.Config.Federation.WellKnownServer
	if target == "" {
		return httpapi.ErrNotFound("this server does not delegate federation")
	}
	httpapi.WriteJSON(w, http.StatusOK, map[string]string{"m.server": target})
	return nil
}

// version is GET /_matrix/federation/v1/version.
func (a *API) version(w http.ResponseWriter, r *http.Request) error {
	httpapi.WriteJSON(w, http.StatusOK, map[string]any{
		"server": map[string]string{"name": "Foyer", "version": buildVersion()},
	})
	return nil
}

// buildVersion is the module version the binary was built from, or "dev"
// for a build from a work tree.
func buildVersion() string {
	if info, ok := debug.ReadBuildInfo(); ok && info.Main.Version != "" && info.Main.Version != "(devel)" {
		return info.Main.Version
	}
	return "dev"
}

func (a *API) now() int64 { return time.Now().UnixMilli() }
