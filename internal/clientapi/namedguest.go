package clientapi

import (
	"encoding/json"
	"net/http"

	"foyer/internal/accounts"
	"foyer/internal/httpapi"
)

// requirePasswordOrOwnToken is the user-interactive auth of
// POST /account/password. An account with a password proves itself with
// it (m.login.password, as everywhere). An account without one — a named
// guest, which has nothing but its access tokens — has already proved
// itself by the token this request carries, so it is offered the
// m.login.dummy stage, and only it. The choice is made from the account
// as stored, at every step: an account with a password is never offered
// m.login.dummy (it is not in its flows, so the UIA answers
// M_UNRECOGNIZED), and a session begun without a password cannot be
// finished with dummy once one is set (each request reads the account
// afresh, and the two kinds of session have different purposes).
//
// m.login.dummy rather than a stage of our own: clients complete it
// without asking the user, so a named guest setting its first password
// goes through unchanged clients.
func (a *API) requirePasswordOrOwnToken(w http.ResponseWriter, r *http.Request, purpose string, auth json.RawMessage) (bool, error) {
	sess := httpapi.Principal(r)
	hasPassword, err := a.Accounts.HasPassword(r.Context(), sess.UserID)
	if err != nil {
		return false, err
	}
	if hasPassword {
		return a.requirePassword(w, r, purpose, auth)
	}
	_, done, err := a.runUIA(w, purpose+":no-password:"+sess.UserID, [][]string{{accounts.StageDummy}}, auth,
		func(string, json.RawMessage, *accounts.UIASession) error { return nil }, nil)
	return done, err
}
