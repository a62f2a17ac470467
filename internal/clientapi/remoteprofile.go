package clientapi

import (
	"net/http"

	"foyer/internal/accounts"
)

// remoteProfile asks userID's server for the profile (through the
// cache), mapping a failure to what a client understands.
func (a *API) remoteProfile(r *http.Request, userID, server string) (accounts.Profile, error) {
	p, err := a.RemoteProfiles.Profile(r.Context(), userID)
	if err != nil {
		return accounts.Profile{}, remoteFailure(err, server, "the profile", false)
	}
	return accounts.Profile{DisplayName: p.DisplayName, AvatarURL: p.AvatarURL}, nil
}
