package adminapi

import (
	"bytes"
	"encoding/json"
	"net/http"

	"foyer/internal/httpapi"
	"foyer/internal/servernotices"
)

// Synapse's server-notices admin API, which operators' tools call.
const sendServerNoticePath = "/_synapse/admin/v1/send_server_notice"

func (a *API) serverNoticeRoutes() []httpapi.Route {
	return []httpapi.Route{
		{Method: "POST", Path: sendServerNoticePath, Access: httpapi.AdminOnly, Handle: a.sendServerNotice},
		{Method: "PUT", Path: sendServerNoticePath + "/{txnId}", Access: httpapi.AdminOnly, Handle: a.sendServerNotice},
	}
}

// sendServerNotice is {user_id, content, type?, state_key?}: the notice
// goes to the user's server-notices room; the answer is its event_id.
func (a *API) sendServerNotice(w http.ResponseWriter, r *http.Request) error {
	var body struct {
		UserID   *string         `json:"user_id"`
		Content  json.RawMessage `json:"content"`
		Type     *string         `json:"type"`
		StateKey *string         `json:"state_key"`
	}
	if err := httpapi.ReadJSON(r, &body); err != nil {
		return err
	}
	if body.UserID == nil {
		return httpapi.ErrMissingParam("user_id is required")
	}
	content := bytes.TrimSpace(body.Content)
	if len(content) == 0 || bytes.Equal(content, []byte("null")) {
		return httpapi.ErrMissingParam("content is required")
	}
	if content[0] != '{' {
		return httpapi.ErrBadJSON("content must be a JSON object")
	}
	n := servernotices.Notice{UserID: *body.UserID, Content: content, StateKey: body.StateKey, TxnID: r.PathValue("txnId")}
	if body.Type != nil {
		if *body.Type == "" {
			return httpapi.ErrBadJSON("type must not be empty")
		}
		n.Type = *body.Type
	}
	p := httpapi.Principal(r)
	n.Sender, n.SenderDevice = p.UserID, p.DeviceID
	eventID, err := a.ServerNotices.Send(r.Context(), n)
	if err != nil {
		return err
	}
	httpapi.WriteJSON(w, http.StatusOK, map[string]string{"event_id": eventID})
	return nil
}
