package clientapi

import (
	"encoding/json"
	"net/http"

	"foyer/internal/httpapi"
)

// clientDataRoutes are typing, receipts, read markers, account data and
// room tags. Typing, receipts and read markers are open to guests (G-52,
// listed in internal/guest's extensions); account data and tags are not.
func (a *API) clientDataRoutes() []httpapi.Route {
	const room = httpapi.ClientV3 + "/rooms/{roomId}"
	const user = httpapi.ClientV3 + "/user/{userId}"
	return []httpapi.Route{
		{Method: "PUT", Path: room + "/typing/{userId}", Access: httpapi.GuestOK, Own: true, Handle: a.setTyping},
		{Method: "POST", Path: room + "/receipt/{receiptType}/{eventId}", Access: httpapi.GuestOK, Handle: a.postReceipt},
		{Method: "POST", Path: room + "/read_markers", Access: httpapi.GuestOK, Handle: a.postReadMarkers},

		{Method: "GET", Path: user + "/account_data/{type}", Access: httpapi.UserOnly, Own: true, Handle: a.getAccountData(false)},
		{Method: "PUT", Path: user + "/account_data/{type}", Access: httpapi.UserOnly, Own: true, Handle: a.putAccountData(false)},
		{Method: "GET", Path: user + "/rooms/{roomId}/account_data/{type}", Access: httpapi.UserOnly, Own: true, Handle: a.getAccountData(true)},
		{Method: "PUT", Path: user + "/rooms/{roomId}/account_data/{type}", Access: httpapi.UserOnly, Own: true, Handle: a.putAccountData(true)},

		{Method: "GET", Path: user + "/rooms/{roomId}/tags", Access: httpapi.UserOnly, Own: true, Handle: a.getTags},
		{Method: "PUT", Path: user + "/rooms/{roomId}/tags/{tag}", Access: httpapi.UserOnly, Own: true, Handle: a.putTag},
		{Method: "DELETE", Path: user + "/rooms/{roomId}/tags/{tag}", Access: httpapi.UserOnly, Own: true, Handle: a.deleteTag},
	}
}

// ownUserData is the caller (the route's {userId}, checked by the route
// table) and, on per-room routes, {roomId} ("" on the global routes).
func ownUserData(r *http.Request, perRoom bool) (userID, roomID string, err error) {
	userID = httpapi.Principal(r).UserID
	if perRoom {
		if roomID, err = roomIDParam(r); err != nil {
			return "", "", err
		}
	}
	return userID, roomID, nil
}

func (a *API) getAccountData(perRoom bool) httpapi.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		userID, roomID, err := ownUserData(r, perRoom)
		if err != nil {
			return err
		}
		content, err := a.ClientData.GetAccountData(r.Context(), userID, roomID, r.PathValue("type"))
		if err != nil {
			return err
		}
		httpapi.WriteJSON(w, http.StatusOK, content)
		return nil
	}
}

func (a *API) putAccountData(perRoom bool) httpapi.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		userID, roomID, err := ownUserData(r, perRoom)
		if err != nil {
			return err
		}
		content, err := readEventContent(r)
		if err != nil {
			return err
		}
		if err := a.ClientData.SetAccountData(r.Context(), userID, roomID, r.PathValue("type"), content); err != nil {
			return err
		}
		httpapi.WriteJSON(w, http.StatusOK, struct{}{})
		return nil
	}
}

func (a *API) getTags(w http.ResponseWriter, r *http.Request) error {
	userID, roomID, err := ownUserData(r, true)
	if err != nil {
		return err
	}
	tags, err := a.ClientData.Tags(r.Context(), userID, roomID)
	if err != nil {
		return err
	}
	httpapi.WriteJSON(w, http.StatusOK, map[string]any{"tags": tags})
	return nil
}

func (a *API) putTag(w http.ResponseWriter, r *http.Request) error {
	userID, roomID, err := ownUserData(r, true)
	if err != nil {
		return err
	}
	var content map[string]json.RawMessage
	if err := httpapi.ReadJSON(r, &content); err != nil {
		return err
	}
	if err := a.ClientData.SetTag(r.Context(), userID, roomID, r.PathValue("tag"), content); err != nil {
		return err
	}
	httpapi.WriteJSON(w, http.StatusOK, struct{}{})
	return nil
}

func (a *API) deleteTag(w http.ResponseWriter, r *http.Request) error {
	userID, roomID, err := ownUserData(r, true)
	if err != nil {
		return err
	}
	if err := a.ClientData.DeleteTag(r.Context(), userID, roomID, r.PathValue("tag")); err != nil {
		return err
	}
	httpapi.WriteJSON(w, http.StatusOK, struct{}{})
	return nil
}
