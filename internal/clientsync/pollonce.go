package clientsync

import "context"

// ListenFor is what a long-poll that found nothing new would wait for:
// wakes naming UserID or one of Rooms, numbered above Wake (every change
// woken up to it is in the answer already).
type ListenFor struct {
	Wake   int64    `json:"wake"`
	UserID string   `json:"user_id"`
	Rooms  []string `json:"rooms"`
}

// PollOnce answers an incremental sync without waiting: a process that
// holds the long-poll itself (a follower of the writer) calls it and,
// when the answer is empty (listen is not nil), waits for a wake of what
// listen names before asking again.
func (s *Service) PollOnce(ctx context.Context, req *Request) (resp *Response, listen *ListenFor, err error) {
	s.stream.CatchUp(ctx, catchUpWait)
	if req.Since == nil || req.FullState {
		resp, err = s.computeFull(ctx, req)
		return resp, nil, err
	}
	// Read before computing: a change the answer misses is woken after
	// it, so numbered above it.
	wake := s.wakeups.Sequence()
	rs, err := s.roomsOf(ctx, req)
	if err != nil {
		return nil, nil, err
	}
	resp, err = s.compute(ctx, req, rs)
	if err != nil || !resp.empty() {
		return resp, nil, err
	}
	listen = &ListenFor{Wake: wake, UserID: req.UserID}
	for _, m := range rs.memberships {
		listen.Rooms = append(listen.Rooms, m.RoomID)
	}
	for _, p := range rs.peeks {
		listen.Rooms = append(listen.Rooms, p.RoomID)
	}
	return resp, listen, nil
}
