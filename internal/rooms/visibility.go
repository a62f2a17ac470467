package rooms

import (
	"context"
	"encoding/json"

	"foyer/internal/rooms/matrixevents"
)

// Visibility is what decides whether one user may see one event (G-27,
// G-28), all taken from the room state at that event.
type Visibility struct {
	// HistoryBefore is m.room.history_visibility in force when the event
	// was sent; HistoryAfter is the value an m.room.history_visibility
	// event sets (for other events, the same as HistoryBefore).
	HistoryBefore, HistoryAfter string
	// MembershipBefore is the viewer's membership when the event was sent;
	// MembershipAfter is what the viewer's own member event sets (for
	// other events, the same as MembershipBefore).
	MembershipBefore, MembershipAfter string
	// JoinedLater is true when the viewer joined the room at some point
	// after the event.
	JoinedLater bool
}

// CanSee applies the spec's rules: world_readable, or joined at the
// event, or shared and joined later, or invited under invited; for
// history-visibility events and the viewer's own member events, the state
// before or after the event may allow it.
func CanSee(v Visibility) bool {
	allowed := func(history, membership string) bool {
		switch {
		case history == "world_readable":
			return true
		case membership == "join":
			return true
		case history == "shared" && v.JoinedLater:
			return true
		case history == "invited" && membership == "invite":
			return true
		}
		return false
	}
	return allowed(v.HistoryBefore, v.MembershipBefore) ||
		allowed(v.HistoryAfter, v.MembershipBefore) ||
		allowed(v.HistoryBefore, v.MembershipAfter)
}

// historyVisibility is the history visibility a room's state sets.
func historyVisibility(state map[matrixevents.StateTuple]StoredEvent) string {
	se, ok := state[matrixevents.StateTuple{Type: "m.room.history_visibility"}]
	if !ok {
		return "shared"
	}
	var c struct {
		HistoryVisibility string `json:"history_visibility"`
	}
	_ = json.Unmarshal(se.Event.Content(), &c)
	return normaliseHistory(c.HistoryVisibility)
}

// normaliseHistory treats absent or unknown values as shared (G-26).
func normaliseHistory(h string) string {
	switch h {
	case "world_readable", "shared", "invited", "joined":
		return h
	}
	return "shared"
}

// viewerHistory is a user's membership changes in one room, to answer
// visibility questions for many events with one query.
type viewerHistory struct {
	userID  string
	changes []MembershipChange
}

func (s *Service) loadViewer(ctx context.Context, roomID, userID string) (viewerHistory, error) {
	if userID == "" {
		return viewerHistory{}, nil
	}
	cache := historyCacheFrom(ctx)
	if cache != nil {
		if vh, ok := cache.get(roomID, userID); ok {
			return vh, nil
		}
	}
	vh, err := s.readViewer(ctx, roomID, userID)
	if err == nil && cache != nil {
		cache.put(roomID, userID, vh)
	}
	return vh, err
}

func (s *Service) readViewer(ctx context.Context, roomID, userID string) (viewerHistory, error) {
	ch, err := s.store.MembershipHistory(ctx, roomID, userID)
	if err != nil {
		return viewerHistory{}, err
	}
	// A membership this server holds only as part of the state it was
	// given (at its join of another server's room, or across a gap) was
	// not shown here: the user has had it since before anything was.
	snap, err := s.Current(ctx, roomID)
	if err == nil {
		if se, ok := snap.State[matrixevents.StateTuple{Type: matrixevents.TypeMember, StateKey: userID}]; ok && se.StreamPos <= 0 &&
			(len(ch) == 0 || ch[0].StreamPos > 0) {
			ch = append([]MembershipChange{{StreamPos: 0, Membership: se.Event.Membership()}}, ch...)
		}
	}
	return viewerHistory{userID: userID, changes: ch}, nil
}

// membershipBefore is the viewer's membership just before pos.
func (vh viewerHistory) membershipBefore(pos int64) string {
	m := ""
	for _, c := range vh.changes {
		if c.StreamPos >= pos {
			break
		}
		m = c.Membership
	}
	return m
}

func (vh viewerHistory) joinedAfter(pos int64) bool {
	for _, c := range vh.changes {
		if c.StreamPos > pos && c.Membership == "join" {
			return true
		}
	}
	return false
}

// everJoined reports whether the viewer was ever a member.
func (vh viewerHistory) everJoined() bool {
	for _, c := range vh.changes {
		if c.Membership == "join" {
			return true
		}
	}
	return false
}

func (vh viewerHistory) current() string {
	if len(vh.changes) == 0 {
		return ""
	}
	return vh.changes[len(vh.changes)-1].Membership
}

// visibilityOf assembles the inputs of CanSee for one event.
func (vh viewerHistory) visibilityOf(se StoredEvent) Visibility {
	ev := se.Event
	v := Visibility{
		HistoryBefore:    normaliseHistory(se.HistoryVisibility),
		MembershipBefore: vh.membershipBefore(se.StreamPos),
		JoinedLater:      vh.joinedAfter(se.StreamPos),
	}
	v.HistoryAfter, v.MembershipAfter = v.HistoryBefore, v.MembershipBefore
	if ev.Type() == "m.room.history_visibility" && ev.IsState() {
		var c struct {
			HistoryVisibility string `json:"history_visibility"`
		}
		_ = json.Unmarshal(ev.Content(), &c)
		v.HistoryAfter = normaliseHistory(c.HistoryVisibility)
	}
	if ev.Type() == "m.room.member" && ev.StateKey() != nil && *ev.StateKey() == vh.userID && vh.userID != "" {
		v.MembershipAfter = ev.Membership()
	}
	return v
}

// filterVisible keeps the events the viewer may see.
func (vh viewerHistory) filterVisible(events []StoredEvent) []StoredEvent {
	out := events[:0:0]
	for _, se := range events {
		if CanSee(vh.visibilityOf(se)) {
			out = append(out, se)
		}
	}
	return out
}
