package clientapi

import (
	"encoding/json"
	"net/http"
	"regexp"

	"foyer/internal/accounts"
	"foyer/internal/httpapi"
	"foyer/internal/rooms/matrixevents"
)

// profileRoutes are the profile endpoints. Lookups are open (G-49);
// guests may change their display name and nothing else (G-15).
func (a *API) profileRoutes() []httpapi.Route {
	const profile = httpapi.ClientV3 + "/profile/{userId}"
	return []httpapi.Route{
		{Method: "GET", Path: profile, Access: httpapi.Open, Handle: a.getProfile},
		{Method: "GET", Path: profile + "/displayname", Access: httpapi.Open, Handle: a.getProfileField("displayname")},
		{Method: "PUT", Path: profile + "/displayname", Access: httpapi.GuestOK, Own: true, Handle: a.putProfileField("displayname")},
		{Method: "DELETE", Path: profile + "/displayname", Access: httpapi.GuestOK, Own: true, Handle: a.deleteProfileField("displayname")},
		{Method: "GET", Path: profile + "/avatar_url", Access: httpapi.Open, Handle: a.getProfileField("avatar_url")},
		{Method: "PUT", Path: profile + "/avatar_url", Access: httpapi.UserOnly, Own: true, Handle: a.putProfileField("avatar_url")},
		{Method: "DELETE", Path: profile + "/avatar_url", Access: httpapi.UserOnly, Own: true, Handle: a.deleteProfileField("avatar_url")},
		// Other fields (m.tz, custom keys) are not stored yet: none exist.
		{Method: "GET", Path: profile + "/{keyName}", Access: httpapi.Open, Handle: a.getProfileField("")},
	}
}

// profileKeyPattern is the spec's grammar of profile field names.
var profileKeyPattern = regexp.MustCompile(`^(avatar_url|displayname|m\.tz|[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+)$`)

// lookupProfile loads the {userId} profile for the caller.
func (a *API) lookupProfile(r *http.Request) (accounts.Profile, error) {
	requester := ""
	if p := httpapi.Principal(r); p != nil {
		requester = p.UserID
	}
	userID := r.PathValue("userId")
	if _, server, ok := matrixevents.SplitUserID(userID); ok && server != a.Config.ServerName && a.RemoteProfiles != nil {
		return a.remoteProfile(r, userID, server)
	}
	p, err := a.Rooms.LookupProfile(r.Context(), requester, userID)
	if err != nil && a.askAppServiceForUser(r, userID) {
		p, err = a.Rooms.LookupProfile(r.Context(), requester, userID)
	}
	if err != nil {
		return p, err
	}
	return p, nil
}

func (a *API) getProfile(w http.ResponseWriter, r *http.Request) error {
	p, err := a.lookupProfile(r)
	if err != nil {
		return err
	}
	resp := map[string]string{}
	if p.DisplayName != "" {
		resp["displayname"] = p.DisplayName
	}
	if p.AvatarURL != "" {
		resp["avatar_url"] = p.AvatarURL
	}
	httpapi.WriteJSON(w, http.StatusOK, resp)
	return nil
}

// getProfileField answers GET for one field; key "" takes it from the
// {keyName} path value.
func (a *API) getProfileField(key string) httpapi.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		k := key
		if k == "" {
			k = r.PathValue("keyName")
			if !profileKeyPattern.MatchString(k) {
				return httpapi.ErrInvalidParam("%q is not a profile field name", k)
			}
		}
		p, err := a.lookupProfile(r)
		if err != nil {
			return err
		}
		var v string
		switch k {
		case "displayname":
			v = p.DisplayName
		case "avatar_url":
			v = p.AvatarURL
		default:
			// Other fields (m.tz, custom keys) are not stored: none exist.
			return httpapi.ErrNotFound("%s has no %s", r.PathValue("userId"), k)
		}
		if v == "" {
			// The user exists but has not set this field. The spec's
			// text allows a 404 here, but Synapse answers 200, and
			// clients built against it (e.g. matrix-rust-sdk's
			// get_avatar_url, whose field is optional) take a 404 for a
			// failed request rather than "not set". As in GET
			// /profile/{userId}, the unset field is left out.
			httpapi.WriteJSON(w, http.StatusOK, struct{}{})
			return nil
		}
		httpapi.WriteJSON(w, http.StatusOK, map[string]string{k: v})
		return nil
	}
}

// setProfileField stores one field through the room service, which also
// announces the change in every joined room (G-50).
func (a *API) setProfileField(r *http.Request, userID, key, value string) error {
	var err error
	if key == "displayname" {
		err = a.Rooms.SetDisplayName(r.Context(), userID, value)
	} else {
		err = a.Rooms.SetAvatarURL(r.Context(), userID, value)
	}
	if err != nil {
		return err
	}
	return nil
}

func (a *API) putProfileField(key string) httpapi.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		userID := httpapi.Principal(r).UserID
		var body map[string]json.RawMessage
		if err := httpapi.ReadJSON(r, &body); err != nil {
			return err
		}
		raw, ok := body[key]
		if !ok {
			return httpapi.ErrMissingParam("the body must have a %q property", key)
		}
		var value string
		if err := json.Unmarshal(raw, &value); err != nil || string(raw) == "null" {
			return httpapi.ErrBadJSON("%s must be a string; use DELETE to remove it", key)
		}
		if err := a.setProfileField(r, userID, key, value); err != nil {
			return err
		}
		httpapi.WriteJSON(w, http.StatusOK, struct{}{})
		return nil
	}
}

func (a *API) deleteProfileField(key string) httpapi.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		userID := httpapi.Principal(r).UserID
		if err := a.setProfileField(r, userID, key, ""); err != nil {
			return err
		}
		httpapi.WriteJSON(w, http.StatusOK, struct{}{})
		return nil
	}
}
