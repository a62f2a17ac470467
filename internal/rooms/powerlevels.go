package rooms

import (
	"encoding/json"
	"math"
	"strconv"

	"foyer/internal/rooms/matrixevents"
)

// powerLevels is the parsed m.room.power_levels content, with the spec's
// defaults for missing fields. Auth decisions are the library's; this is
// for the checks the server makes itself (redacting others' events,
// permissions a client asks about).
type powerLevels struct {
	Users         map[string]int64
	UsersDefault  int64
	Events        map[string]int64
	EventsDefault int64
	StateDefault  int64
	Ban, Kick     int64
	Redact        int64
	Invite        int64
	creator       string
	hasEvent      bool
	// creators have unlimited power in room versions with privileged
	// creators (v12): the create event's sender and additional_creators.
	creators map[string]bool
}

// flexInt accepts the integers and numeric strings older rooms contain.
type flexInt int64

func (f *flexInt) UnmarshalJSON(b []byte) error {
	var n json.Number
	if err := json.Unmarshal(b, &n); err != nil {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		n = json.Number(s)
	}
	v, err := strconv.ParseInt(string(n), 10, 64)
	if err != nil {
		fv, ferr := n.Float64()
		if ferr != nil {
			return err
		}
		v = int64(fv)
	}
	*f = flexInt(v)
	return nil
}

func parsePowerLevels(snap RoomSnapshot) powerLevels {
	pl := powerLevels{StateDefault: 50, Ban: 50, Kick: 50, Redact: 50, Invite: 0, Users: map[string]int64{}, Events: map[string]int64{}}
	if c, ok := snap.Get("m.room.create", ""); ok {
		pl.creator = c.Event.Sender()
		if f, ok := matrixevents.Features(snap.Info.Version); ok && f.PrivilegedCreators {
			pl.creators = map[string]bool{pl.creator: true}
			var cc struct {
				AdditionalCreators []string `json:"additional_creators"`
			}
			_ = json.Unmarshal(c.Event.Content(), &cc)
			for _, u := range cc.AdditionalCreators {
				pl.creators[u] = true
			}
		}
	}
	se, ok := snap.Get("m.room.power_levels", "")
	if !ok {
		// Without a power_levels event the creator has 100, everyone else 0.
		pl.StateDefault = 0
		return pl
	}
	pl.hasEvent = true
	var raw struct {
		Users         map[string]flexInt `json:"users"`
		UsersDefault  *flexInt           `json:"users_default"`
		Events        map[string]flexInt `json:"events"`
		EventsDefault *flexInt           `json:"events_default"`
		StateDefault  *flexInt           `json:"state_default"`
		Ban           *flexInt           `json:"ban"`
		Kick          *flexInt           `json:"kick"`
		Redact        *flexInt           `json:"redact"`
		Invite        *flexInt           `json:"invite"`
	}
	_ = json.Unmarshal(se.Event.Content(), &raw)
	for k, v := range raw.Users {
		pl.Users[k] = int64(v)
	}
	for k, v := range raw.Events {
		pl.Events[k] = int64(v)
	}
	set := func(dst *int64, v *flexInt) {
		if v != nil {
			*dst = int64(*v)
		}
	}
	set(&pl.UsersDefault, raw.UsersDefault)
	set(&pl.EventsDefault, raw.EventsDefault)
	set(&pl.StateDefault, raw.StateDefault)
	set(&pl.Ban, raw.Ban)
	set(&pl.Kick, raw.Kick)
	set(&pl.Redact, raw.Redact)
	set(&pl.Invite, raw.Invite)
	return pl
}

func (pl powerLevels) userLevel(userID string) int64 {
	if pl.creators[userID] {
		return math.MaxInt64
	}
	if !pl.hasEvent {
		if userID == pl.creator {
			return 100
		}
		return 0
	}
	if v, ok := pl.Users[userID]; ok {
		return v
	}
	return pl.UsersDefault
}

// CanInvite reports whether userID's power level allows inviting.
func CanInvite(snap RoomSnapshot, userID string) bool {
	pl := parsePowerLevels(snap)
	return pl.userLevel(userID) >= pl.Invite
}
