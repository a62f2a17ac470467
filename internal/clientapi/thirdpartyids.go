package clientapi

import (
	"encoding/json"
	"net/http"

	"foyer/internal/httpapi"
)

// Foyer sends no email or text message and uses no identity server, so
// an account holds no third-party identifiers (3PIDs). The endpoints
// clients call for them answer as a server without them does: the list
// is empty, and what would verify, add or bind one is refused with a
// code that says so, instead of a 404 that reads as a broken server.

// errNoThreepidVerification is the refusal of requestToken: there is no
// way to verify an email address or phone number here.
func errNoThreepidVerification() *httpapi.Error {
	return httpapi.NewError(http.StatusBadRequest, "M_THREEPID_MEDIUM_NOT_SUPPORTED",
		"this server does not verify email addresses or phone numbers")
}

// errNoThreepidSession refuses adding or binding a 3PID: no session can
// have validated one.
func errNoThreepidSession() *httpapi.Error {
	return httpapi.NewError(http.StatusBadRequest, "M_THREEPID_AUTH_FAILED",
		"no validated third-party identifier session: this server does not verify email addresses or phone numbers")
}

// errNoThreepidInvite refuses an invite by email address or phone number.
func errNoThreepidInvite() *httpapi.Error {
	return httpapi.NewError(http.StatusBadRequest, "M_UNRECOGNIZED",
		"this server does not invite by email address or phone number (it uses no identity server); invite a Matrix user ID")
}

func (a *API) threepidRoutes() []httpapi.Route {
	v3 := httpapi.ClientV3
	var routes []httpapi.Route
	for _, path := range []string{"/register/email/requestToken", "/register/msisdn/requestToken",
		"/account/password/email/requestToken", "/account/password/msisdn/requestToken"} {
		routes = append(routes, httpapi.Route{Method: "POST", Path: v3 + path, Access: httpapi.Open, Handle: a.threepidRequestToken})
	}
	for _, path := range []string{"/account/3pid/email/requestToken", "/account/3pid/msisdn/requestToken"} {
		routes = append(routes, httpapi.Route{Method: "POST", Path: v3 + path, Access: httpapi.UserOnly, Handle: a.threepidRequestToken})
	}
	return append(routes,
		httpapi.Route{Method: "GET", Path: v3 + "/account/3pid", Access: httpapi.UserOnly, Handle: a.listThreepids},
		httpapi.Route{Method: "POST", Path: v3 + "/account/3pid", Access: httpapi.UserOnly, Handle: a.addThreepid},
		httpapi.Route{Method: "POST", Path: v3 + "/account/3pid/add", Access: httpapi.UserOnly, Handle: a.addThreepid},
		httpapi.Route{Method: "POST", Path: v3 + "/account/3pid/bind", Access: httpapi.UserOnly, Handle: a.addThreepid},
		httpapi.Route{Method: "POST", Path: v3 + "/account/3pid/delete", Access: httpapi.UserOnly, Handle: a.removeThreepid},
		httpapi.Route{Method: "POST", Path: v3 + "/account/3pid/unbind", Access: httpapi.UserOnly, Handle: a.removeThreepid},
	)
}

// listThreepids is GET /account/3pid: none.
func (a *API) listThreepids(w http.ResponseWriter, r *http.Request) error {
	httpapi.WriteJSON(w, http.StatusOK, map[string]any{"threepids": []any{}})
	return nil
}

// threepidRequestToken refuses to send a validation token, after the
// body is read as JSON (a malformed request is still told so).
func (a *API) threepidRequestToken(w http.ResponseWriter, r *http.Request) error {
	var body map[string]json.RawMessage
	if err := httpapi.ReadJSON(r, &body); err != nil {
		return err
	}
	return errNoThreepidVerification()
}

// addThreepid is POST /account/3pid/add, /account/3pid/bind and the
// deprecated POST /account/3pid: no session has validated a 3PID.
func (a *API) addThreepid(w http.ResponseWriter, r *http.Request) error {
	var body map[string]json.RawMessage
	if err := httpapi.ReadJSON(r, &body); err != nil {
		return err
	}
	return errNoThreepidSession()
}

// removeThreepid is POST /account/3pid/delete and /unbind: there is
// nothing to remove, and no identity server was told of anything.
func (a *API) removeThreepid(w http.ResponseWriter, r *http.Request) error {
	var body struct {
		Medium  string `json:"medium"`
		Address string `json:"address"`
	}
	if err := httpapi.ReadJSON(r, &body); err != nil {
		return err
	}
	if body.Medium == "" || body.Address == "" {
		return httpapi.ErrMissingParam("medium and address are required")
	}
	httpapi.WriteJSON(w, http.StatusOK, map[string]string{"id_server_unbind_result": "no-support"})
	return nil
}
