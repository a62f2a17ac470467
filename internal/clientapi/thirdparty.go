package clientapi

import (
	"net/http"

	"foyer/internal/httpapi"
)

// The third-party network lookups (/thirdparty) are answered by
// application services' bridges; with none registered, no protocol is
// known and every lookup finds nothing.

func (a *API) thirdPartyRoutes() []httpapi.Route {
	const tp = httpapi.ClientV3 + "/thirdparty"
	return []httpapi.Route{
		{Method: "GET", Path: tp + "/protocols", Access: httpapi.UserOnly, Handle: a.thirdPartyProtocols},
		{Method: "GET", Path: tp + "/protocol/{protocol}", Access: httpapi.UserOnly, Handle: a.thirdPartyProtocol},
		{Method: "GET", Path: tp + "/location", Access: httpapi.UserOnly, Handle: a.thirdPartyNone},
		{Method: "GET", Path: tp + "/location/{protocol}", Access: httpapi.UserOnly, Handle: a.thirdPartyNone},
		{Method: "GET", Path: tp + "/user", Access: httpapi.UserOnly, Handle: a.thirdPartyNone},
		{Method: "GET", Path: tp + "/user/{protocol}", Access: httpapi.UserOnly, Handle: a.thirdPartyNone},
	}
}

func (a *API) thirdPartyProtocols(w http.ResponseWriter, r *http.Request) error {
	httpapi.WriteJSON(w, http.StatusOK, map[string]any{})
	return nil
}

// thirdPartyProtocol is 404 for every protocol, as the spec answers an
// unknown one.
func (a *API) thirdPartyProtocol(w http.ResponseWriter, r *http.Request) error {
	return httpapi.ErrNotFound("no bridge on this server speaks the protocol %q", r.PathValue("protocol"))
}

func (a *API) thirdPartyNone(w http.ResponseWriter, r *http.Request) error {
	httpapi.WriteJSON(w, http.StatusOK, []any{})
	return nil
}
