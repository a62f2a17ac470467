package clientapi

import (
	"encoding/json"
	"net/http"

	"foyer/internal/httpapi"
)

// postReceipt is POST /rooms/{roomId}/receipt/{receiptType}/{eventId}.
// The body ({thread_id}) is optional in practice: older clients send none.
func (a *API) postReceipt(w http.ResponseWriter, r *http.Request) error {
	roomID, err := roomIDParam(r)
	if err != nil {
		return err
	}
	var body map[string]json.RawMessage
	if err := httpapi.ReadOptionalJSON(r, &body); err != nil {
		return err
	}
	var threadID string
	if raw, ok := body["thread_id"]; ok {
		if err := json.Unmarshal(raw, &threadID); err != nil || threadID == "" {
			return httpapi.ErrInvalidParam("thread_id must be a non-empty string")
		}
	}
	err = a.ClientData.SendReceipt(r.Context(), httpapi.Principal(r).UserID, roomID,
		r.PathValue("receiptType"), r.PathValue("eventId"), threadID)
	if err != nil {
		return err
	}
	httpapi.WriteJSON(w, http.StatusOK, struct{}{})
	return nil
}

type readMarkersRequest struct {
	FullyRead   string `json:"m.fully_read"`
	Read        string `json:"m.read"`
	ReadPrivate string `json:"m.read.private"`
}

// postReadMarkers is POST /rooms/{roomId}/read_markers.
func (a *API) postReadMarkers(w http.ResponseWriter, r *http.Request) error {
	roomID, err := roomIDParam(r)
	if err != nil {
		return err
	}
	var req readMarkersRequest
	if err := httpapi.ReadJSON(r, &req); err != nil {
		return err
	}
	if err := a.ClientData.ReadMarkers(r.Context(), httpapi.Principal(r).UserID, roomID, req.FullyRead, req.Read, req.ReadPrivate); err != nil {
		return err
	}
	httpapi.WriteJSON(w, http.StatusOK, struct{}{})
	return nil
}
