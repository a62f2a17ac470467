package matrixevents

import (
	"encoding/json"
	"fmt"
	"slices"

	gmsl "github.com/matrix-org/gomatrixserverlib"
)

// Event types this package treats specially.
const (
	TypeCreate            = "m.room.create"
	TypeMember            = "m.room.member"
	TypePowerLevels       = "m.room.power_levels"
	TypeJoinRules         = "m.room.join_rules"
	TypeHistoryVisibility = "m.room.history_visibility"
	TypeRedaction         = "m.room.redaction"
	TypeThirdPartyInvite  = "m.room.third_party_invite"
)

// Event is an immutable, verified-shape room event (PDU). The zero value is
// "no event": its accessors return zero values.
type Event struct {
	pdu gmsl.PDU
	// Cached because the library computes them lazily and panics on
	// malformed input; newEvent evaluates them once under recover.
	eventID string
	roomID  string
	// membership is a member event's content.membership, read once: the
	// library parses the content on every call, and room summaries, auth
	// and sync ask it of every member.
	membership string
}

// newEvent wraps a PDU, turning the library's panics on malformed room or
// event IDs into errors.
func newEvent(pdu gmsl.PDU) (ev Event, err error) {
	defer func() {
		if r := recover(); r != nil {
			ev, err = Event{}, fmt.Errorf("invalid event: %v", r)
		}
	}()
	ev = Event{pdu: pdu, eventID: pdu.EventID(), roomID: pdu.RoomID().String()}
	if pdu.Type() == TypeMember {
		ev.membership, _ = pdu.Membership()
	}
	return ev, nil
}

// IsZero reports whether e holds no event.
func (e Event) IsZero() bool { return e.pdu == nil }

// EventID returns the event ID ("$...").
func (e Event) EventID() string { return e.eventID }

// RoomID returns the room ID. For v12 create events it is derived from the
// event ID.
func (e Event) RoomID() string { return e.roomID }

// Version returns the room version the event was built or parsed for.
func (e Event) Version() string {
	if e.pdu == nil {
		return ""
	}
	return string(e.pdu.Version())
}

// Type returns the event type.
func (e Event) Type() string {
	if e.pdu == nil {
		return ""
	}
	return e.pdu.Type()
}

// StateKey returns the state key, or nil for a non-state event. The result
// is a copy.
func (e Event) StateKey() *string {
	if e.pdu == nil || e.pdu.StateKey() == nil {
		return nil
	}
	sk := *e.pdu.StateKey()
	return &sk
}

// IsState reports whether the event has a state key.
func (e Event) IsState() bool { return e.pdu != nil && e.pdu.StateKey() != nil }

// Sender returns the sender's user ID.
func (e Event) Sender() string {
	if e.pdu == nil {
		return ""
	}
	return string(e.pdu.SenderID())
}

// Content returns a copy of the content JSON object.
func (e Event) Content() json.RawMessage {
	if e.pdu == nil {
		return nil
	}
	return slices.Clone(json.RawMessage(e.pdu.Content()))
}

// Depth returns the event's depth in the room DAG.
func (e Event) Depth() int64 {
	if e.pdu == nil {
		return 0
	}
	return e.pdu.Depth()
}

// OriginServerTS returns the sender's timestamp in Unix milliseconds.
func (e Event) OriginServerTS() int64 {
	if e.pdu == nil {
		return 0
	}
	return int64(e.pdu.OriginServerTS())
}

// PrevEventIDs returns a copy of prev_events.
func (e Event) PrevEventIDs() []string {
	if e.pdu == nil {
		return nil
	}
	return slices.Clone(e.pdu.PrevEventIDs())
}

// AuthEventIDs returns a copy of auth_events. For v12 rooms the create
// event is included even though it is implicit in the wire format, so the
// result is always the full set of events the event was authorised by.
func (e Event) AuthEventIDs() []string {
	if e.pdu == nil {
		return nil
	}
	return slices.Clone(e.pdu.AuthEventIDs())
}

// Redacts returns the ID of the event a m.room.redaction redacts, reading
// the top-level field (v1–v10) or content.redacts (v11+), or "".
func (e Event) Redacts() string {
	if e.pdu == nil || e.pdu.Type() != TypeRedaction {
		return ""
	}
	if r := e.pdu.Redacts(); r != "" {
		return r
	}
	var c struct {
		Redacts string `json:"redacts"`
	}
	_ = json.Unmarshal(e.pdu.Content(), &c)
	return c.Redacts
}

// Membership returns content.membership of a m.room.member event, or "".
func (e Event) Membership() string { return e.membership }

// JSON returns a copy of the full event JSON as it should be stored and
// sent over federation (canonical, signed, hashed).
func (e Event) JSON() []byte {
	if e.pdu == nil {
		return nil
	}
	return slices.Clone(e.pdu.JSON())
}

// pdus unwraps events for library calls, rejecting zero values.
func pdus(events []Event) ([]gmsl.PDU, error) {
	out := make([]gmsl.PDU, 0, len(events))
	for i, ev := range events {
		if ev.pdu == nil {
			return nil, fmt.Errorf("event %d is empty", i)
		}
		out = append(out, ev.pdu)
	}
	return out, nil
}
