package matrixevents

import (
	"encoding/json"
)

// ClientEvent is an event in the client-server API's format. Set RoomID to
// "" for the sync API's room-less variant; unset fields are omitted.
type ClientEvent struct {
	Content        json.RawMessage `json:"content"`
	EventID        string          `json:"event_id"`
	OriginServerTS int64           `json:"origin_server_ts"`
	RoomID         string          `json:"room_id,omitempty"`
	Sender         string          `json:"sender"`
	StateKey       *string         `json:"state_key,omitempty"`
	Type           string          `json:"type"`
	Unsigned       json.RawMessage `json:"unsigned,omitempty"`
	// Redacts is set on m.room.redaction events in every room version.
	Redacts string `json:"redacts,omitempty"`
}

// ToClientEvent converts ev for clients. unsigned (age, prev_content,
// redacted_because, transaction_id…) is supplied by the caller because it
// depends on who is asking and when.
//
// For m.room.redaction the spec asks servers to serve redacts both at the
// top level (older clients) and in content (newer clients) whatever the
// room version, so both are filled in.
func ToClientEvent(ev Event, unsigned json.RawMessage) ClientEvent {
	ce := ClientEvent{
		Content:        ev.Content(),
		EventID:        ev.EventID(),
		OriginServerTS: ev.OriginServerTS(),
		RoomID:         ev.RoomID(),
		Sender:         ev.Sender(),
		StateKey:       ev.StateKey(),
		Type:           ev.Type(),
		Unsigned:       unsigned,
	}
	if len(ce.Content) == 0 {
		ce.Content = json.RawMessage("{}")
	}
	if r := ev.Redacts(); r != "" {
		ce.Redacts = r
		if c, err := setContentKey(ce.Content, "redacts", r); err == nil {
			ce.Content = c
		}
	}
	return ce
}
