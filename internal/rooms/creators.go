package rooms

import (
	"encoding/json"
	"slices"

	"foyer/internal/refusal"
	"foyer/internal/rooms/matrixevents"
)

// Room versions with privileged creators (v12, MSC4289) give the create
// event's sender and its additional_creators unlimited power. The auth
// rules reject a malformed creator list or power levels that rank a
// creator, but those are mistakes in what a client sent, so they are
// answered 400 here before the rules would answer 403, as Synapse does.

// readAdditionalCreators checks a create event's additional_creators as a
// client gave it: an array (400 M_BAD_JSON otherwise) of user IDs of at
// most 255 bytes (400 M_INVALID_PARAM otherwise). Absent is none.
func readAdditionalCreators(raw json.RawMessage) ([]string, error) {
	if raw == nil {
		return nil, nil
	}
	var entries []json.RawMessage
	if err := json.Unmarshal(raw, &entries); err != nil {
		return nil, refusal.New(refusal.BadJSON, "additional_creators must be an array of user IDs")
	}
	out := make([]string, 0, len(entries))
	for _, e := range entries {
		var u string
		if err := json.Unmarshal(e, &u); err != nil {
			return nil, refusal.New(refusal.BadJSON, "additional_creators must be an array of user IDs")
		}
		if len(u) > 255 || !matrixevents.ValidUserID(u) {
			return nil, refusal.New(refusal.InvalidParam, "additional_creators: %q is not a valid user ID", u)
		}
		out = append(out, u)
	}
	return out, nil
}

// roomCreators are the creators of a room with privileged creators, from
// its create event; nil in other room versions.
func roomCreators(version string, state map[matrixevents.StateTuple]StoredEvent) []string {
	if f, ok := matrixevents.Features(version); !ok || !f.PrivilegedCreators {
		return nil
	}
	se, ok := state[matrixevents.StateTuple{Type: matrixevents.TypeCreate}]
	if !ok {
		return nil
	}
	var c struct {
		AdditionalCreators []string `json:"additional_creators"`
	}
	_ = json.Unmarshal(se.Event.Content(), &c)
	return append([]string{se.Event.Sender()}, c.AdditionalCreators...)
}

// checkCreatorsUnranked refuses (400 M_INVALID_PARAM) a power levels
// event whose users names one of the room's privileged creators.
func checkCreatorsUnranked(version string, state map[matrixevents.StateTuple]StoredEvent, ev matrixevents.Event) error {
	if ev.Type() != matrixevents.TypePowerLevels || ev.StateKey() == nil || *ev.StateKey() != "" {
		return nil
	}
	creators := roomCreators(version, state)
	if len(creators) == 0 {
		return nil
	}
	var c struct {
		Users map[string]json.RawMessage `json:"users"`
	}
	_ = json.Unmarshal(ev.Content(), &c)
	for u := range c.Users {
		if slices.Contains(creators, u) {
			return refusal.New(refusal.InvalidParam, "%s is a creator of this room, with unlimited power: power levels may not list them in users", u)
		}
	}
	return nil
}
