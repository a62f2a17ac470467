package matrixevents

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"

	gmsl "github.com/matrix-org/gomatrixserverlib"
	"github.com/matrix-org/gomatrixserverlib/spec"
)

// BuildFromTemplate signs, as origin, a membership event another server
// proposed (the event of a make_join or make_leave answer) with content
// in place of the template's. Its prev_events, auth_events and depth are
// the template's, in the room version's format; the template must be the
// membership of sender in roomID.
func BuildFromTemplate(roomVersion string, template []byte, roomID, sender, membership string, content any, origin string, key *SigningKey, ts time.Time) (Event, error) {
	if key == nil {
		return Event{}, errors.New("build from template: no signing key")
	}
	impl, err := lookupVersion(roomVersion)
	if err != nil {
		return Event{}, err
	}
	var pe gmsl.ProtoEvent
	if err := json.Unmarshal(template, &pe); err != nil {
		return Event{}, fmt.Errorf("the template is not an event: %w", err)
	}
	if pe.Type != TypeMember || pe.StateKey == nil || *pe.StateKey != sender || pe.SenderID != sender || pe.RoomID != roomID {
		return Event{}, fmt.Errorf("the template is not the membership of %s in %s", sender, roomID)
	}
	var tc struct {
		Membership string `json:"membership"`
	}
	if json.Unmarshal(pe.Content, &tc) != nil || tc.Membership != membership {
		return Event{}, fmt.Errorf("the template is not a %s", membership)
	}
	raw, err := contentJSON(content)
	if err != nil {
		return Event{}, err
	}
	pe.Content = raw
	pe.Signature, pe.Unsigned = nil, nil
	pe.Version = impl
	if ts.IsZero() {
		ts = time.Now()
	}
	pdu, err := impl.NewEventBuilderFromProtoEvent(&pe).Build(ts, spec.ServerName(origin), gmsl.KeyID(key.id), key.priv)
	if err != nil {
		return Event{}, fmt.Errorf("build %s from template: %w", membership, err)
	}
	return newEvent(pdu)
}
