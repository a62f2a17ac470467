package clientapi

import (
	"encoding/json"
	"errors"
	"net/http"

	"foyer/internal/clientsync"
	"foyer/internal/httpapi"
	"foyer/internal/refusal"
	"foyer/internal/rooms"
	"foyer/internal/rooms/matrixevents"
)

// roomIDParam reads and checks the {roomId} path value.
func roomIDParam(r *http.Request) (string, error) {
	id := r.PathValue("roomId")
	if !matrixevents.ValidRoomID(id) {
		return "", httpapi.ErrInvalidParam("%q is not a room ID", id)
	}
	return id, nil
}

type createRoomRequest struct {
	Visibility                string                     `json:"visibility"`
	RoomAliasName             string                     `json:"room_alias_name"`
	Name                      *string                    `json:"name"`
	Topic                     *string                    `json:"topic"`
	Invite                    []string                   `json:"invite"`
	RoomVersion               string                     `json:"room_version"`
	CreationContent           map[string]json.RawMessage `json:"creation_content"`
	InitialState              []rooms.StateInput         `json:"initial_state"`
	Preset                    string                     `json:"preset"`
	IsDirect                  bool                       `json:"is_direct"`
	PowerLevelContentOverride map[string]json.RawMessage `json:"power_level_content_override"`
	Invite3PID                []json.RawMessage          `json:"invite_3pid"`
}

func (a *API) createRoom(w http.ResponseWriter, r *http.Request) error {
	var req createRoomRequest
	if err := httpapi.ReadJSON(r, &req); err != nil {
		return err
	}
	if len(req.Invite3PID) > 0 {
		return errNoThreepidInvite()
	}
	if req.RoomAliasName != "" {
		if err := a.checkAliasNotExclusive(r, "#"+req.RoomAliasName+":"+a.Config.ServerName); err != nil {
			return err
		}
	}
	roomID, err := a.Rooms.CreateRoom(r.Context(), rooms.CreateRequest{
		Creator:            httpapi.Principal(r).UserID,
		Preset:             req.Preset,
		Visibility:         req.Visibility,
		Name:               req.Name,
		Topic:              req.Topic,
		RoomAliasName:      req.RoomAliasName,
		Invite:             req.Invite,
		IsDirect:           req.IsDirect,
		InitialState:       req.InitialState,
		CreationContent:    req.CreationContent,
		PowerLevelOverride: req.PowerLevelContentOverride,
		RoomVersion:        req.RoomVersion,
	})
	if err != nil {
		return err
	}
	resp := map[string]string{"room_id": roomID}
	if req.RoomAliasName != "" {
		resp["room_alias"] = "#" + req.RoomAliasName + ":" + a.Config.ServerName
	}
	httpapi.WriteJSON(w, http.StatusOK, resp)
	return nil
}

// readEventContent reads a body that must be a JSON object: an event's
// content.
func readEventContent(r *http.Request) (json.RawMessage, error) {
	var content map[string]json.RawMessage
	if err := httpapi.ReadJSON(r, &content); err != nil {
		return nil, err
	}
	raw, _ := json.Marshal(content)
	return raw, nil
}

func (a *API) sendEvent(w http.ResponseWriter, r *http.Request) error {
	roomID, err := roomIDParam(r)
	if err != nil {
		return err
	}
	if err := a.throttleGuestSend(r, false); err != nil {
		return err
	}
	content, err := readEventContent(r)
	if err != nil {
		return err
	}
	p := httpapi.Principal(r)
	id, err := a.Rooms.Send(r.Context(), roomID, rooms.SendRequest{
		Sender: p.UserID, DeviceID: p.DeviceID, Type: r.PathValue("eventType"), Content: content, TxnID: r.PathValue("txnId"),
	})
	if err != nil {
		return err
	}
	httpapi.WriteJSON(w, http.StatusOK, map[string]string{"event_id": id})
	return nil
}

func (a *API) putState(w http.ResponseWriter, r *http.Request) error {
	roomID, err := roomIDParam(r)
	if err != nil {
		return err
	}
	if err := a.throttleGuestSend(r, true); err != nil {
		return err
	}
	content, err := readEventContent(r)
	if err != nil {
		return err
	}
	p := httpapi.Principal(r)
	stateKey := r.PathValue("stateKey")
	if err := a.guestStateJoinPolicy(r, roomID, r.PathValue("eventType"), stateKey, content); err != nil {
		return err
	}
	id, err := a.Rooms.Send(r.Context(), roomID, rooms.SendRequest{
		Sender: p.UserID, DeviceID: p.DeviceID, Type: r.PathValue("eventType"), StateKey: &stateKey, Content: content,
	})
	if err != nil {
		return err
	}
	httpapi.WriteJSON(w, http.StatusOK, map[string]string{"event_id": id})
	return nil
}

func (a *API) getState(w http.ResponseWriter, r *http.Request) error {
	roomID, err := roomIDParam(r)
	if err != nil {
		return err
	}
	state, err := a.Rooms.State(r.Context(), httpapi.Principal(r).UserID, roomID)
	if err != nil {
		return err
	}
	httpapi.WriteJSON(w, http.StatusOK, a.Rooms.ClientEvents(r.Context(), state, true))
	return nil
}

func (a *API) getStateEvent(w http.ResponseWriter, r *http.Request) error {
	roomID, err := roomIDParam(r)
	if err != nil {
		return err
	}
	se, err := a.Rooms.StateEvent(r.Context(), httpapi.Principal(r).UserID, roomID, r.PathValue("eventType"), r.PathValue("stateKey"))
	if err != nil {
		return err
	}
	switch format := r.URL.Query().Get("format"); format {
	case "", "content":
		w.Header().Set("Content-Type", "application/json")
		httpapi.WriteJSON(w, http.StatusOK, json.RawMessage(se.Event.Content()))
	case "event":
		httpapi.WriteJSON(w, http.StatusOK, a.Rooms.ClientEvents(r.Context(), []rooms.StoredEvent{se}, true)[0])
	default:
		return httpapi.ErrInvalidParam("format must be content or event")
	}
	return nil
}

func (a *API) getEvent(w http.ResponseWriter, r *http.Request) error {
	roomID, err := roomIDParam(r)
	if err != nil {
		return err
	}
	se, err := a.Rooms.Event(r.Context(), httpapi.Principal(r).UserID, roomID, r.PathValue("eventId"))
	if err != nil {
		// The spec (and G-31) answer 404 both for a missing event and for
		// one the caller may not see, so a non-member learns nothing.
		var re *refusal.Error
		if errors.As(err, &re) && re.Kind == refusal.Forbidden {
			return httpapi.ErrNotFound("event not found")
		}
		return err
	}
	httpapi.WriteJSON(w, http.StatusOK, a.Rooms.ClientEvents(r.Context(), []rooms.StoredEvent{se}, true)[0])
	return nil
}

// parseTokenParam reads an optional pagination token query parameter.
func parseTokenParam(r *http.Request, name string) (*rooms.PageToken, error) {
	return httpapi.TokenParam(r, name, rooms.ParsePageToken)
}

// parseStreamTokenParam reads an optional stream token query parameter
// (/relations and /threads page in stream order).
func parseStreamTokenParam(r *http.Request, name string) (*int64, error) {
	return httpapi.TokenParam(r, name, rooms.ParseToken)
}

func (a *API) getMembers(w http.ResponseWriter, r *http.Request) error {
	roomID, err := roomIDParam(r)
	if err != nil {
		return err
	}
	at, err := parseTokenParam(r, "at")
	if err != nil {
		return err
	}
	q := r.URL.Query()
	var atPos *int64
	if at != nil {
		atPos = &at.Stream
	}
	members, err := a.Rooms.Members(r.Context(), httpapi.Principal(r).UserID, roomID, rooms.MembersQuery{
		At: atPos, Membership: q.Get("membership"), NotMembership: q.Get("not_membership"),
	})
	if err != nil {
		return err
	}
	httpapi.WriteJSON(w, http.StatusOK, map[string]any{"chunk": a.Rooms.ClientEvents(r.Context(), members, true)})
	return nil
}

func (a *API) getJoinedMembers(w http.ResponseWriter, r *http.Request) error {
	roomID, err := roomIDParam(r)
	if err != nil {
		return err
	}
	joined, err := a.Rooms.JoinedMembers(r.Context(), httpapi.Principal(r).UserID, roomID)
	if err != nil {
		return err
	}
	httpapi.WriteJSON(w, http.StatusOK, map[string]any{"joined": joined})
	return nil
}

func (a *API) getMessages(w http.ResponseWriter, r *http.Request) error {
	roomID, err := roomIDParam(r)
	if err != nil {
		return err
	}
	q := rooms.MessagesQuery{}
	switch r.URL.Query().Get("dir") {
	case "b":
		q.Backwards = true
	case "f":
	case "":
		return httpapi.ErrMissingParam("dir is required: b or f")
	default:
		return httpapi.ErrInvalidParam("dir must be b or f")
	}
	if q.From, err = parseTokenParam(r, "from"); err != nil {
		return err
	}
	if q.To, err = parseTokenParam(r, "to"); err != nil {
		return err
	}
	if q.Limit, err = httpapi.ParseLimit(r, 10); err != nil {
		return err
	}
	f, err := parseRoomFilter(r)
	if err != nil {
		return err
	}
	q.Filter, q.LazyLoadMember = f.StoreFilter(), f.LazyLoadMembers
	page, err := a.Rooms.Messages(r.Context(), httpapi.Principal(r).UserID, roomID, q)
	if err != nil {
		return err
	}
	// Messages of users the caller ignores stay out, as in sync; the
	// page's tokens still cover them, so pagination goes past.
	ignored, err := a.Sync.IgnoredBy(r.Context(), httpapi.Principal(r).UserID)
	if err != nil {
		return err
	}
	page.Events = clientsync.DropIgnored(page.Events, ignored)
	resp := map[string]any{
		"chunk": a.Rooms.ClientEvents(r.Context(), page.Events, true),
		"start": rooms.FormatTopoToken(page.Start),
	}
	if page.HasEnd {
		resp["end"] = rooms.FormatTopoToken(page.End)
	}
	if len(page.State) > 0 {
		resp["state"] = a.Rooms.ClientEvents(r.Context(), page.State, true)
	}
	httpapi.WriteJSON(w, http.StatusOK, resp)
	return nil
}

func (a *API) getContext(w http.ResponseWriter, r *http.Request) error {
	roomID, err := roomIDParam(r)
	if err != nil {
		return err
	}
	limit, err := httpapi.ParseLimit(r, 10)
	if err != nil {
		return err
	}
	f, err := parseRoomFilter(r)
	if err != nil {
		return err
	}
	ev, before, after, state, err := a.Rooms.Context(r.Context(), httpapi.Principal(r).UserID, roomID, r.PathValue("eventId"), limit, f.StoreFilter())
	if err != nil {
		return err
	}
	// The event asked for is returned; its neighbours leave ignored
	// users' messages out, as sync and /messages do.
	ignored, err := a.Sync.IgnoredBy(r.Context(), httpapi.Principal(r).UserID)
	if err != nil {
		return err
	}
	before.Events = clientsync.DropIgnored(before.Events, ignored)
	after.Events = clientsync.DropIgnored(after.Events, ignored)
	// The event and its neighbours are formatted together: one lookup of
	// their aggregations and quoted events instead of three.
	around := make([]rooms.StoredEvent, 0, 1+len(before.Events)+len(after.Events))
	around = append(append(append(around, ev), before.Events...), after.Events...)
	if f.LazyLoadMembers {
		// Only the members who sent the events returned.
		senders := map[string]bool{}
		for _, se := range around {
			senders[se.Event.Sender()] = true
		}
		kept := state[:0:0]
		for _, se := range state {
			if se.Event.Type() != "m.room.member" || senders[*se.Event.StateKey()] {
				kept = append(kept, se)
			}
		}
		state = kept
	}
	formatted := a.Rooms.ClientEvents(r.Context(), around, true)
	nBefore := len(before.Events)
	httpapi.WriteJSON(w, http.StatusOK, map[string]any{
		"event":         formatted[0],
		"events_before": formatted[1 : 1+nBefore],
		"events_after":  formatted[1+nBefore:],
		"start":         rooms.FormatTopoToken(before.End),
		"end":           rooms.FormatTopoToken(after.End),
		"state":         a.Rooms.ClientEvents(r.Context(), state, true),
	})
	return nil
}

func (a *API) redactEvent(w http.ResponseWriter, r *http.Request) error {
	roomID, err := roomIDParam(r)
	if err != nil {
		return err
	}
	var req struct {
		Reason *string `json:"reason"`
	}
	if err := httpapi.ReadOptionalJSON(r, &req); err != nil {
		return err
	}
	p := httpapi.Principal(r)
	id, err := a.Rooms.Redact(r.Context(), roomID, p.UserID, p.DeviceID, r.PathValue("eventId"), r.PathValue("txnId"), req.Reason)
	if err != nil {
		return err
	}
	httpapi.WriteJSON(w, http.StatusOK, map[string]string{"event_id": id})
	return nil
}
