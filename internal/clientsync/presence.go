package clientsync

import (
	"context"

	"foyer/internal/presence"
)

// PresenceExtension delivers m.presence of the caller's room-mates: a
// user's presence (a guest's too) is shown only to people who share a
// room with them (G-51).
type PresenceExtension struct {
	Sync     *Service
	Presence *presence.Service
}

// Fill implements Extension.
func (p PresenceExtension) Fill(ctx context.Context, req *Request, since, to int64, resp *Response) error {
	if req.Filter.Presence != nil && req.Filter.Presence.Limit != nil && *req.Filter.Presence.Limit == 0 {
		return nil
	}
	mates, err := p.Sync.rooms.RoomMates(ctx, req.UserID)
	if err != nil {
		return err
	}
	changes, err := p.Presence.ChangedBetween(ctx, mates, since, to)
	if err != nil {
		return err
	}
	for _, st := range changes {
		if !req.Filter.Presence.Allows("m.presence", st.UserID) {
			continue
		}
		resp.Presence.Events = append(resp.Presence.Events, mustJSON(p.Presence.Event(st)))
	}
	return nil
}

// WatchPresence wakes room-mates' syncs when someone's presence changes.
func (s *Service) WatchPresence(p *presence.Service) {
	p.OnChange(func(st presence.Status) {
		mates, err := s.rooms.RoomMates(context.Background(), st.UserID)
		if err != nil {
			s.log.Warn("finding room-mates for presence", "err", err)
			return
		}
		s.WakeAt(st.StreamPos, mates, nil)
	})
}
