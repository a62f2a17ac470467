package clientapi

import (
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base64"
	"fmt"
	"net/http"
	"time"

	"foyer/internal/accounts"
	"foyer/internal/httpapi"
)

// turnServer is GET /voip/turnServer: short-lived TURN credentials in the
// shared-secret scheme (username "expiry:user", password the HMAC-SHA1 of
// it). Without a configured TURN server the answer is an empty object,
// which clients read as "no TURN".
func (a *API) turnServer(w http.ResponseWriter, r *http.Request) error {
	t := a.Config.TURN
	if len(t.URIs) == 0 {
		httpapi.WriteJSON(w, http.StatusOK, struct{}{})
		return nil
	}
	expiry := time.Now().Add(t.TTL).Unix()
	username := fmt.Sprintf("%d:%s", expiry, httpapi.Principal(r).UserID)
	mac := hmac.New(sha1.New, []byte(t.SharedSecret))
	mac.Write([]byte(username))
	httpapi.WriteJSON(w, http.StatusOK, map[string]any{
		"username": username,
		"password": base64.StdEncoding.EncodeToString(mac.Sum(nil)),
		"uris":     t.URIs,
		"ttl":      int64(t.TTL.Seconds()),
	})
	return nil
}

// requestOpenIDToken is POST /user/{userId}/openid/request_token: a token
// a third party (Element Call's SFU service) checks with
// /_matrix/federation/v1/openid/userinfo. Guests may ask (G-14): calls
// are part of being in the room.
func (a *API) requestOpenIDToken(w http.ResponseWriter, r *http.Request) error {
	var body map[string]any
	if err := httpapi.ReadJSON(r, &body); err != nil {
		return err
	}
	token, err := a.OpenID.Issue(r.Context(), httpapi.Principal(r).UserID)
	if err != nil {
		return err
	}
	httpapi.WriteJSON(w, http.StatusOK, map[string]any{
		"access_token":       token,
		"token_type":         "Bearer",
		"matrix_server_name": a.Config.ServerName,
		"expires_in":         int64(accounts.OpenIDTokenLifetime.Seconds()),
	})
	return nil
}

func (a *API) voipRoutes() []httpapi.Route {
	return []httpapi.Route{
		{Method: "GET", Path: httpapi.ClientV3 + "/voip/turnServer", Access: httpapi.GuestOK, Handle: a.turnServer},
		{Method: "POST", Path: httpapi.ClientV3 + "/user/{userId}/openid/request_token", Access: httpapi.GuestOK, Own: true, Handle: a.requestOpenIDToken},
	}
}
