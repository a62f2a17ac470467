package clientapi

import (
	"encoding/json"
	"net/http"

	"foyer/internal/httpapi"
)

// sendToDevice is PUT /sendToDevice/{eventType}/{txnId}: messages
// ({userId: {deviceId or "*": content}}) stored per target device until
// it acknowledges them through /sync (G-47). The transaction ID makes a
// retry harmless.
func (a *API) sendToDevice(w http.ResponseWriter, r *http.Request) error {
	if err := a.throttleGuestToDevice(r); err != nil {
		return err
	}
	var req struct {
		Messages map[string]map[string]json.RawMessage `json:"messages"`
	}
	if err := httpapi.ReadJSON(r, &req); err != nil {
		return err
	}
	if req.Messages == nil {
		return httpapi.ErrMissingParam("messages is required")
	}
	p := httpapi.Principal(r)
	if err := a.E2EE.SendToDevice(r.Context(), p.UserID, p.DeviceID, r.PathValue("eventType"), r.PathValue("txnId"), req.Messages); err != nil {
		return err
	}
	httpapi.WriteJSON(w, http.StatusOK, struct{}{})
	return nil
}
