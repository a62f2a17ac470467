package clientapi

import (
	"encoding/json"
	"errors"
	"net/http"

	"foyer/internal/accounts"
	"foyer/internal/config"
	"foyer/internal/guest"
	"foyer/internal/httpapi"
)

type registerRequest struct {
	Username                 string          `json:"username"`
	Password                 string          `json:"password"`
	DeviceID                 string          `json:"device_id"`
	InitialDeviceDisplayName string          `json:"initial_device_display_name"`
	InhibitLogin             bool            `json:"inhibit_login"`
	RefreshToken             bool            `json:"refresh_token"`
	Auth                     json.RawMessage `json:"auth"`
	// GuestAccessToken upgrades a guest; it is in the guest module's
	// prose, not the OpenAPI schema (G-37).
	GuestAccessToken string `json:"guest_access_token"`
}

// renameResponse answers a rename upgrade (a Foyer extension): the new
// account's registration, the guest it replaces and what became of the
// guest's rooms.
type renameResponse struct {
	httpapi.RegisterResponse
	PreviousUserID string         `json:"previous_user_id"`
	RoomsMoved     []string       `json:"rooms_moved"`
	RoomsNotMoved  []roomNotMoved `json:"rooms_not_moved"`
}

// roomNotMoved is a room the rename upgrade could not carry over, with
// the Matrix error of the refusal.
type roomNotMoved struct {
	RoomID     string `json:"room_id"`
	Membership string `json:"membership"`
	Errcode    string `json:"errcode"`
	Error      string `json:"error"`
}

func notMovedJSON(list []guest.NotMoved) []roomNotMoved {
	out := make([]roomNotMoved, 0, len(list))
	for _, n := range list {
		j := roomNotMoved{RoomID: n.RoomID, Membership: n.Membership,
			Errcode: "M_UNKNOWN", Error: "the room could not be moved (internal error)"}
		if me, ok := httpapi.AsMatrixError(n.Err); ok {
			j.Errcode, j.Error = me.Code, n.Err.Error()
		} else if errors.Is(n.Err, guest.ErrNotCarriedOver) {
			j.Errcode, j.Error = "M_FORBIDDEN", n.Err.Error()
		}
		out = append(out, j)
	}
	return out
}

// register is POST /register: guests without UIA (G-5), users, named
// guests, guest upgrades and rename upgrades through UIA.
func (a *API) register(w http.ResponseWriter, r *http.Request) error {
	switch kind := r.URL.Query().Get("kind"); kind {
	case "guest":
		return a.registerGuest(w, r)
	case "", "user":
		return a.registerUser(w, r)
	default:
		return httpapi.ErrInvalidParam("kind must be user or guest, not %q", kind)
	}
}

func (a *API) registerGuest(w http.ResponseWriter, r *http.Request) error {
	if err := a.Guests.OpenRegistration(); err != nil {
		// guest_access.open_registration: false — guest links only.
		return httpapi.GuestError(err)
	}
	if err := httpapi.RateLimit(r, a.guestRegLimit); err != nil {
		return err
	}
	// Every field but initial_device_display_name (and auth, when the
	// server asks for a human check) is ignored (G-6), so their types do
	// not matter either.
	var body map[string]json.RawMessage
	if err := httpapi.ReadJSON(r, &body); err != nil {
		return err
	}
	var displayName string
	_ = json.Unmarshal(body["initial_device_display_name"], &displayName)
	sess, done, err := a.guestHumanCheck(w, r, "register_guest", body["auth"])
	if err != nil || !done {
		return err
	}
	// Under the live-guest cap, then into the auto-join rooms.
	creds, err := a.Guests.Register(r.Context(), displayName)
	if err != nil {
		return httpapi.GuestError(err)
	}
	a.Metrics.Registrations.WithLabelValues(string(accounts.KindGuest)).Inc()
	a.Log.InfoContext(r.Context(), "guest registered", "user_id", creds.UserID, "ip", httpapi.ClientIP(r))
	// Any refresh_token asked for is ignored too: guests get none, as in
	// Synapse, and keep an access token that does not expire.
	res := httpapi.NewRegisterResponse(creds, a.Config.ServerName)
	a.finishHumanCheck(sess, res)
	httpapi.WriteJSON(w, http.StatusOK, res)
	return nil
}

// guestHumanCheck runs the human checks guest_access asks of a guest
// registration or link redemption (purpose tells them apart) as UIA, as
// for any registration. With no check configured it is done at once,
// with no session: the spec's guest registration takes no auth. A
// session whose request already succeeded (the client lost the answer)
// is answered again as it was.
func (a *API) guestHumanCheck(w http.ResponseWriter, r *http.Request, purpose string, auth json.RawMessage) (*accounts.UIASession, bool, error) {
	flows, params := a.guestFlows()
	if flows == nil {
		return nil, true, nil
	}
	if res, ok := a.uia.Result(purpose, accounts.AuthSession(auth)); ok {
		httpapi.WriteJSON(w, http.StatusOK, res)
		return nil, false, nil
	}
	return a.runUIAWithParams(w, purpose, flows, params, auth,
		func(stage string, auth json.RawMessage, _ *accounts.UIASession) error {
			if handled, err := a.verifyHumanCheck(r, stage, auth); handled {
				return err
			}
			return &accounts.StageError{Errcode: "M_UNRECOGNIZED", Message: "unsupported stage " + stage}
		}, a.offerChallenges)
}

// finishHumanCheck keeps a guest request's answer with its session, if it
// had one.
func (a *API) finishHumanCheck(sess *accounts.UIASession, res any) {
	if sess != nil {
		a.uia.Finish(sess, res)
	}
}

// registrationFlows are the UIA flows for the configured mode, and the
// params their stages need. The captcha, when required, comes first and
// takes the place of m.login.dummy, which only stands for "no stage".
func (a *API) registrationFlows() ([][]string, map[string]any) {
	var stages []string
	var params map[string]any
	if a.Config.RegistrationRequireCaptcha && a.Captcha != nil {
		stages = append(stages, accounts.StageRecaptcha)
		params = map[string]any{accounts.StageRecaptcha: map[string]string{"public_key": a.Captcha.SiteKey()}}
	}
	if a.Config.Registration == config.RegistrationToken {
		stages = append(stages, accounts.StageRegistrationToken)
	}
	if len(stages) == 0 {
		stages = append(stages, accounts.StageDummy)
	}
	return [][]string{stages}, params
}

func (a *API) registerUser(w http.ResponseWriter, r *http.Request) error {
	as := a.appServiceOf(r)
	if as == nil || as.IsRateLimited() {
		if err := httpapi.RateLimit(r, a.regLimit); err != nil {
			return err
		}
	}
	body, err := httpapi.ReadBody(r)
	if err != nil {
		return err
	}
	if handled, err := a.registerForAppService(w, r, as, body); handled {
		return err
	}
	// Check the shape of this request's own parameters first.
	var req registerRequest
	if err := httpapi.DecodeJSON(body, &req); err != nil {
		return err
	}
	if a.Config.Registration == config.RegistrationClosed {
		return httpapi.ErrForbidden("registration is disabled on this server; ask its administrator for an account")
	}
	ctx := r.Context()

	// A session whose registration is done answers as it did then, so a
	// client that lost the response (or retries) gets the same account.
	const purpose = "register"
	sessionID := accounts.AuthSession(req.Auth)
	if res, ok := a.uia.Result(purpose, sessionID); ok {
		httpapi.WriteJSON(w, http.StatusOK, res)
		return nil
	}
	// The session remembers the parameters of its requests, so later
	// requests may carry only auth (as Synapse allows).
	var params map[string]json.RawMessage
	_ = json.Unmarshal(body, &params)
	delete(params, "auth")
	if sessionID != "" {
		// Only a continued session has parameters to merge in.
		params = a.uia.RememberParams(purpose, sessionID, params)
		auth := req.Auth
		req = registerRequest{}
		merged, _ := json.Marshal(params)
		if err := httpapi.DecodeJSON(merged, &req); err != nil {
			return err
		}
		req.Auth = auth
	}

	// With guest_access_token: username equal to the guest's localpart is
	// the spec's upgrade in place (G-37..G-39); any other username is the
	// rename upgrade, a new account that takes the guest's place
	// (internal/guest/rename.go) and is checked like any registration.
	var upgrade, rename *accounts.Session
	if req.GuestAccessToken != "" {
		s, err := a.Accounts.Authenticate(ctx, req.GuestAccessToken)
		if err != nil || !s.IsGuest() {
			return httpapi.ErrForbidden("guest_access_token is not the access token of a guest account")
		}
		if req.Username == "" {
			return httpapi.ErrMissingParam("username is required to upgrade a guest account: the guest's own localpart to keep its user ID, or a new username to continue under it")
		}
		if lp, _, _ := accounts.SplitUserID(s.UserID); req.Username == lp {
			upgrade = &s
		} else {
			rename = &s
			if req.InhibitLogin && req.Password == "" {
				// The guest goes; a new account with neither a token nor a
				// password could never be used.
				return httpapi.ErrInvalidParam("a rename upgrade without a password cannot use inhibit_login")
			}
		}
	}
	// Check the name and password before asking for authentication, so a
	// client learns of a taken name first. A rename the guest began
	// earlier (the process stopped, the answer was lost) has taken the
	// name for the guest itself: repeating the request finishes it.
	continuing := false
	if rename != nil {
		if continuing, err = a.Guests.ContinuesRename(ctx, rename.UserID, req.Username); err != nil {
			return err
		}
	}
	if req.Username != "" && !continuing {
		if _, err := a.Accounts.CheckUsername(ctx, req.Username, upgrade); err != nil {
			return httpapi.UsernameError(err)
		}
	}
	if req.Password != "" {
		if err := a.Accounts.CheckPasswordPolicy(req.Password); err != nil {
			return httpapi.UsernameError(err)
		}
	}

	flows, flowParams := a.registrationFlows()
	sess, done, err := a.runUIAWithParams(w, purpose, flows, flowParams, req.Auth,
		func(stage string, auth json.RawMessage, s *accounts.UIASession) error {
			switch stage {
			case accounts.StageDummy:
				return nil
			case accounts.StageRecaptcha:
				return a.verifyCaptcha(r, auth)
			case accounts.StageRegistrationToken:
				var body struct {
					Token string `json:"token"`
				}
				_ = json.Unmarshal(auth, &body)
				ok, err := a.Accounts.RegistrationTokenUsable(ctx, body.Token)
				if err != nil {
					return err
				}
				if !ok {
					return &accounts.StageError{Errcode: "M_FORBIDDEN", Message: "this registration token is not valid"}
				}
				s.Values["registration_token"] = body.Token
				return nil
			}
			return &accounts.StageError{Errcode: "M_UNRECOGNIZED", Message: "unsupported stage " + stage}
		},
		// The new session remembers this request's parameters.
		func(c *accounts.Challenge) {
			a.uia.RememberParams(purpose, c.Session, params)
			a.offerChallenges(c)
		})
	if err != nil || !done {
		return err
	}

	regReq := accounts.RegisterRequest{
		Username:          req.Username,
		Password:          req.Password,
		DeviceID:          req.DeviceID,
		DeviceDisplayName: req.InitialDeviceDisplayName,
		InhibitLogin:      req.InhibitLogin,
		RefreshToken:      req.RefreshToken,
		RegistrationToken: sess.Values["registration_token"],
		Guest:             upgrade,
	}
	kind := accounts.KindUser
	if req.Password == "" {
		kind = accounts.KindNamedGuest
	}
	if rename != nil {
		return a.renameGuest(w, r, sess, *rename, regReq, kind)
	}
	creds, err := a.Accounts.Register(ctx, regReq)
	if err != nil {
		return httpapi.UsernameError(err)
	}
	label := string(kind)
	if upgrade != nil {
		label = "upgrade"
		a.Metrics.GuestsUpgraded.Inc()
	}
	a.Metrics.Registrations.WithLabelValues(label).Inc()
	a.Log.InfoContext(r.Context(), "account registered", "user_id", creds.UserID, "kind", kind, "upgrade", upgrade != nil, "ip", httpapi.ClientIP(r))
	res := httpapi.NewRegisterResponse(creds, a.Config.ServerName)
	a.uia.Finish(sess, res)
	httpapi.WriteJSON(w, http.StatusOK, res)
	return nil
}

// renameGuest finishes a rename upgrade once the registration checks and
// the user-interactive auth have passed: the new account, the guest's
// rooms moved to it, the guest deactivated.
func (a *API) renameGuest(w http.ResponseWriter, r *http.Request, sess *accounts.UIASession, g accounts.Session, regReq accounts.RegisterRequest, kind accounts.Kind) error {
	out, err := a.Guests.Rename(r.Context(), guest.RenameRequest{Guest: g, Account: regReq})
	var conflict *guest.RenameConflictError
	switch {
	case errors.Is(err, guest.ErrNotGuest):
		return httpapi.ErrForbidden("guest_access_token is not the access token of a guest account")
	case errors.Is(err, guest.ErrRenameUnderWay), errors.As(err, &conflict):
		return httpapi.ErrForbidden("%s", err.Error())
	case err != nil:
		return httpapi.UsernameError(err)
	}
	// A rename is counted once, when a response hands the new account
	// over: only a request cut short is ever repeated.
	a.Metrics.GuestsUpgraded.Inc()
	a.Metrics.Registrations.WithLabelValues("upgrade").Inc()
	a.Log.InfoContext(r.Context(), "guest renamed", "user_id", out.UserID, "previous_user_id", out.PreviousUserID, "kind", kind,
		"rooms_moved", len(out.Moved), "rooms_not_moved", len(out.NotMoved), "resumed", out.Resumed, "ip", httpapi.ClientIP(r))
	res := renameResponse{
		RegisterResponse: httpapi.NewRegisterResponse(out.Credentials, a.Config.ServerName),
		PreviousUserID:   out.PreviousUserID,
		RoomsMoved:       out.Moved,
		RoomsNotMoved:    notMovedJSON(out.NotMoved),
	}
	a.uia.Finish(sess, res)
	httpapi.WriteJSON(w, http.StatusOK, res)
	return nil
}

func (a *API) registerAvailable(w http.ResponseWriter, r *http.Request) error {
	if err := httpapi.RateLimit(r, a.regLimit); err != nil {
		return err
	}
	username := r.URL.Query().Get("username")
	if username == "" {
		return httpapi.ErrMissingParam("the username query parameter is required")
	}
	if _, err := a.Accounts.CheckUsername(r.Context(), username, nil); err != nil {
		return httpapi.UsernameError(err)
	}
	httpapi.WriteJSON(w, http.StatusOK, map[string]bool{"available": true})
	return nil
}

func (a *API) registrationTokenValidity(w http.ResponseWriter, r *http.Request) error {
	if a.Config.Registration != config.RegistrationToken {
		return httpapi.ErrForbidden("this server does not use registration tokens")
	}
	if err := httpapi.RateLimit(r, a.regLimit); err != nil {
		return err
	}
	token := r.URL.Query().Get("token")
	if token == "" {
		return httpapi.ErrMissingParam("the token query parameter is required")
	}
	ok, err := a.Accounts.RegistrationTokenUsable(r.Context(), token)
	if err != nil {
		return err
	}
	httpapi.WriteJSON(w, http.StatusOK, map[string]bool{"valid": ok})
	return nil
}
