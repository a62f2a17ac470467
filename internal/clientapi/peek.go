package clientapi

import (
	"net/http"

	"foyer/internal/httpapi"
)

// Peeking into world_readable rooms from sync (MSC2753, unstable): the
// rooms a device peeks into come in its /sync under rooms.peek. Served at
// the MSC's unstable prefix and at the v3 paths some clients and SyTest
// use. Guests preview rooms the spec's way (/events?room_id=,
// /rooms/{roomId}/initialSync) instead.
const msc2753 = "/_matrix/client/unstable/org.matrix.msc2753"

func (a *API) peekRoutes() []httpapi.Route {
	var routes []httpapi.Route
	for _, prefix := range []string{httpapi.ClientV3, msc2753} {
		routes = append(routes,
			httpapi.Route{Method: "POST", Path: prefix + "/peek/{roomIdOrAlias}", Access: httpapi.UserOnly, Handle: a.peek},
			httpapi.Route{Method: "POST", Path: prefix + "/rooms/{roomId}/unpeek", Access: httpapi.UserOnly, Handle: a.unpeek},
		)
	}
	return routes
}

func (a *API) peek(w http.ResponseWriter, r *http.Request) error {
	roomID, err := a.resolveRoom(r, r.PathValue("roomIdOrAlias"))
	if err != nil {
		return err
	}
	if err := httpapi.ReadOptionalJSON(r, &struct{}{}); err != nil {
		return err
	}
	p := httpapi.Principal(r)
	if err := a.Sync.StartPeek(r.Context(), p.UserID, p.DeviceID, roomID); err != nil {
		return err
	}
	httpapi.WriteJSON(w, http.StatusOK, map[string]string{"room_id": roomID})
	return nil
}

func (a *API) unpeek(w http.ResponseWriter, r *http.Request) error {
	p := httpapi.Principal(r)
	if err := a.Sync.StopPeek(r.Context(), p.UserID, p.DeviceID, r.PathValue("roomId")); err != nil {
		return err
	}
	httpapi.WriteJSON(w, http.StatusOK, map[string]any{})
	return nil
}
