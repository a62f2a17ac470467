package clientapi

import (
	"encoding/json"
	"errors"
	"net/http"

	"foyer/internal/accounts"
	"foyer/internal/httpapi"
)

// runUIA advances a user-interactive authentication session. It returns
// done once a flow is complete; otherwise it has written the 401
// challenge (after onChallenge, when given, has seen it).
func (a *API) runUIA(w http.ResponseWriter, purpose string, flows [][]string, auth json.RawMessage,
	verify accounts.StageVerifier, onChallenge func(*accounts.Challenge)) (*accounts.UIASession, bool, error) {
	return a.runUIAWithParams(w, purpose, flows, nil, auth, verify, onChallenge)
}

// runUIAWithParams is runUIA for flows whose stages need params in the
// challenge (the captcha's public key).
func (a *API) runUIAWithParams(w http.ResponseWriter, purpose string, flows [][]string, params map[string]any, auth json.RawMessage,
	verify accounts.StageVerifier, onChallenge func(*accounts.Challenge)) (*accounts.UIASession, bool, error) {
	sess, challenge, err := a.uia.Run(purpose, flows, params, auth, verify)
	if err != nil {
		return nil, false, uiaError(err)
	}
	if challenge != nil {
		if onChallenge != nil {
			onChallenge(challenge)
		}
		httpapi.WriteJSON(w, http.StatusUnauthorized, challenge)
		return nil, false, nil
	}
	return sess, true, nil
}

// uiaError maps UIA failures that are not challenges.
func uiaError(err error) error {
	var se *accounts.StageError
	switch {
	case errors.Is(err, accounts.ErrUnknownUIASession):
		return httpapi.NewError(http.StatusBadRequest, "M_UNKNOWN", "%s", err.Error())
	case errors.Is(err, accounts.ErrUIAOperationChanged):
		return httpapi.ErrForbidden("%s", err.Error())
	case errors.As(err, &se):
		return httpapi.NewError(http.StatusBadRequest, se.Errcode, "%s", se.Message)
	}
	return err
}
