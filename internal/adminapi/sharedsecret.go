package adminapi

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha1"
	"encoding/hex"
	"net/http"
	"sync"
	"time"

	"foyer/internal/accounts"
	"foyer/internal/httpapi"
)

// Shared-secret registration: the admin API Synapse defined and Dendrite
// copied, which provisioning tools use to create accounts (admins
// included) without opening registration. The client fetches a nonce and
// proves it knows the secret with an HMAC-SHA1 over the request.
const sharedSecretRegisterPath = "/_synapse/admin/v1/register"

// nonceLifetime bounds how long a fetched nonce may be used, once.
const nonceLifetime = time.Minute

func (a *API) sharedSecretRoutes() []httpapi.Route {
	return []httpapi.Route{
		{Method: "GET", Path: sharedSecretRegisterPath, Access: httpapi.Open, Handle: a.sharedSecretNonce},
		{Method: "POST", Path: sharedSecretRegisterPath, Access: httpapi.Open, Handle: a.sharedSecretRegister},
	}
}

// nonceBook hands out single-use nonces that expire.
type nonceBook struct {
	mu     sync.Mutex
	issued map[string]time.Time
}

func (b *nonceBook) issue(now time.Time) string {
	raw := make([]byte, 16)
	_, _ = rand.Read(raw)
	nonce := hex.EncodeToString(raw)
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.issued == nil {
		b.issued = map[string]time.Time{}
	}
	for n, at := range b.issued {
		if now.Sub(at) > nonceLifetime {
			delete(b.issued, n)
		}
	}
	b.issued[nonce] = now
	return nonce
}

// take consumes a nonce, reporting whether it was issued and is still fresh.
func (b *nonceBook) take(nonce string, now time.Time) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	at, ok := b.issued[nonce]
	delete(b.issued, nonce)
	return ok && now.Sub(at) <= nonceLifetime
}

func (a *API) sharedSecretEnabled() error {
	if a.Config.RegistrationSharedSecret == "" {
		return httpapi.ErrUnknown(http.StatusBadRequest, "shared-secret registration is not enabled on this server (registration_shared_secret)")
	}
	return nil
}

func (a *API) sharedSecretNonce(w http.ResponseWriter, r *http.Request) error {
	if err := a.sharedSecretEnabled(); err != nil {
		return err
	}
	httpapi.WriteJSON(w, http.StatusOK, map[string]string{"nonce": a.nonces.issue(time.Now())})
	return nil
}

type sharedSecretRequest struct {
	Nonce       string  `json:"nonce"`
	Username    string  `json:"username"`
	Password    string  `json:"password"`
	Admin       bool    `json:"admin"`
	UserType    *string `json:"user_type"`
	DisplayName string  `json:"displayname"`
	MAC         string  `json:"mac"`
}

// expectedMAC is HMAC-SHA1(secret) over the NUL-joined nonce, username,
// password, "admin" or "notadmin", and the user type when one is given.
func (req sharedSecretRequest) expectedMAC(secret string) []byte {
	m := hmac.New(sha1.New, []byte(secret))
	admin := "notadmin"
	if req.Admin {
		admin = "admin"
	}
	parts := []string{req.Nonce, req.Username, req.Password, admin}
	if req.UserType != nil {
		parts = append(parts, *req.UserType)
	}
	for i, p := range parts {
		if i > 0 {
			m.Write([]byte{0})
		}
		m.Write([]byte(p))
	}
	return m.Sum(nil)
}

func (a *API) sharedSecretRegister(w http.ResponseWriter, r *http.Request) error {
	if err := a.sharedSecretEnabled(); err != nil {
		return err
	}
	var req sharedSecretRequest
	if err := httpapi.ReadJSON(r, &req); err != nil {
		return err
	}
	switch {
	case req.Nonce == "":
		return httpapi.ErrMissingParam("nonce is required")
	case req.Username == "":
		return httpapi.ErrMissingParam("username is required")
	case req.Password == "":
		return httpapi.ErrMissingParam("password is required")
	case req.MAC == "":
		return httpapi.ErrMissingParam("mac is required")
	}
	// The nonce is spent even by a wrong MAC, so it cannot be guessed at.
	if !a.nonces.take(req.Nonce, time.Now()) {
		return httpapi.ErrUnknown(http.StatusBadRequest, "unrecognised or expired nonce: fetch a new one with GET %s", sharedSecretRegisterPath)
	}
	given, err := hex.DecodeString(req.MAC)
	if err != nil || !hmac.Equal(given, req.expectedMAC(a.Config.RegistrationSharedSecret)) {
		return httpapi.ErrForbidden("HMAC incorrect")
	}
	creds, err := a.Accounts.Register(r.Context(), accounts.RegisterRequest{
		Username: req.Username, Password: req.Password, Admin: req.Admin, DisplayName: req.DisplayName,
	})
	if err != nil {
		return httpapi.UsernameError(err)
	}
	a.Metrics.Registrations.WithLabelValues(string(accounts.KindUser)).Inc()
	a.Log.InfoContext(r.Context(), "account registered with the shared secret", "user_id", creds.UserID, "admin", req.Admin, "ip", httpapi.ClientIP(r))
	httpapi.WriteJSON(w, http.StatusOK, httpapi.RegisterResponse{
		UserID: creds.UserID, AccessToken: creds.AccessToken, DeviceID: creds.DeviceID, HomeServer: a.Config.ServerName,
	})
	return nil
}
