package httpapi

import (
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"time"

	"foyer/internal/accounts"
)

// turnServer is GET /voip/turnServer: short-lived TURN credentials in the
// shared-secret scheme (username "expiry:user", password the HMAC-SHA1 of
// it). Without a configured TURN server the answer is an empty object,
// which clients read as "no TURN".
func (a *API) turnServer(w http.ResponseWriter, r *http.Request) error {
	t := a.Config.TURN
	if len(t.URIs) == 0 {
		writeJSON(w, http.StatusOK, struct{}{})
		return nil
	}
	expiry := time.Now().Add(t.TTL).Unix()
	username := fmt.Sprintf("%d:%s", expiry, principal(r).UserID)
	mac := hmac.New(sha1.New, []byte(t.SharedSecret))
	mac.Write([]byte(username))
	writeJSON(w, http.StatusOK, map[string]any{
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
	if err := readJSON(r, &body); err != nil {
		return err
	}
	token, err := a.OpenID.Issue(r.Context(), principal(r).UserID)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"access_token":       token,
		"token_type":         "Bearer",
		"matrix_server_name": a.Config.ServerName,
		"expires_in":         int64(accounts.OpenIDTokenLifetime.Seconds()),
	})
	return nil
}

// openIDUserInfo is the federation API's userinfo: it answers which user
// an OpenID token belongs to.
func (a *API) openIDUserInfo(w http.ResponseWriter, r *http.Request) error {
	token := r.URL.Query().Get("access_token")
	if token == "" {
		return errMissingToken()
	}
	userID, err := a.OpenID.UserFor(r.Context(), token)
	if errors.Is(err, accounts.ErrNotFound) {
		return errUnknownToken("unknown or expired OpenID token")
	}
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]string{"sub": userID})
	return nil
}

func (a *API) voipRoutes() []route {
	return []route{
		{Method: "GET", Path: clientV3 + "/voip/turnServer", Access: GuestOK, Handle: a.turnServer},
		{Method: "POST", Path: clientV3 + "/user/{userId}/openid/request_token", Access: GuestOK, Own: true, Handle: a.requestOpenIDToken},
		{Method: "GET", Path: "/_matrix/federation/v1/openid/userinfo", Access: Open, Handle: a.openIDUserInfo},
	}
}
