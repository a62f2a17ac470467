package slidingsync

import (
	"context"
	"encoding/json"
	"maps"
	"slices"
	"strconv"

	"foyer/internal/clientdata"
	"foyer/internal/clientsync"
)

type extensionArgs struct {
	from       *position
	since, to  int64
	typing     int64
	listRooms  map[string][]string
	subscribed map[string]bool
	ur         *userRooms
	ignored    map[string]bool
}

// scope is the rooms an extension covers: those in the windows of the
// lists it names and the subscriptions it names ("*" or absent: all).
func (a extensionArgs) scope(r *ScopedRequest) []string {
	set := map[string]bool{}
	all := func(l []string) bool { return l == nil || slices.Contains(l, "*") }
	for key, ids := range a.listRooms {
		if all(r.Lists) || slices.Contains(r.Lists, key) {
			for _, id := range ids {
				set[id] = true
			}
		}
	}
	for id := range a.subscribed {
		if all(r.Rooms) || slices.Contains(r.Rooms, id) {
			set[id] = true
		}
	}
	return slices.Sorted(maps.Keys(set))
}

func (s *Service) extensions(ctx context.Context, req *Request, a extensionArgs, c *computed) error {
	ext := req.Body.Extensions
	out := &c.resp.Extensions
	if ext.ToDevice != nil && ext.ToDevice.on() && s.devices != nil {
		var ack int64
		if ext.ToDevice.Since != nil {
			ack, _ = parseToDeviceSince(*ext.ToDevice.Since)
		}
		limit := 0
		if ext.ToDevice.Limit != nil {
			limit = *ext.ToDevice.Limit
		}
		events, limitedAt, err := s.devices.ToDevice(ctx, req.UserID, req.DeviceID, ack, a.to, limit)
		if err != nil {
			return err
		}
		next := a.to
		if limitedAt > 0 {
			next = limitedAt
		}
		if events == nil {
			events = []json.RawMessage{}
		}
		out.ToDevice = &ToDeviceResponse{NextBatch: strconv.FormatInt(next, 10), Events: events}
	}
	if ext.E2EE.on() && s.devices != nil {
		e := &E2EEResponse{DeviceLists: clientsync.DeviceLists{Changed: []string{}, Left: []string{}}}
		var err error
		if e.DeviceOneTimeKeysCount, err = s.devices.OneTimeKeyCounts(ctx, req.UserID, req.DeviceID); err != nil {
			return err
		}
		if e.DeviceUnusedFallbackKeyTypes, err = s.devices.UnusedFallbackKeyTypes(ctx, req.UserID, req.DeviceID); err != nil {
			return err
		}
		if e.DeviceUnusedFallbackKeyTypes == nil {
			e.DeviceUnusedFallbackKeyTypes = []string{}
		}
		if a.from != nil {
			changed, left, err := s.devices.Changes(ctx, req.UserID, a.since, a.to)
			if err != nil {
				return err
			}
			e.DeviceLists.Changed = append(e.DeviceLists.Changed, changed...)
			e.DeviceLists.Left = append(e.DeviceLists.Left, left...)
		}
		out.E2EE = e
	}
	if ext.AccountData != nil && ext.AccountData.on() && s.clientData != nil {
		if err := s.accountDataExtension(ctx, req, a, c); err != nil {
			return err
		}
	}
	if ext.Receipts != nil && ext.Receipts.on() && s.clientData != nil {
		if err := s.receiptsExtension(ctx, req, a, c); err != nil {
			return err
		}
	}
	if ext.Typing != nil && ext.Typing.on() && s.typing != nil {
		s.typingExtension(req, a, c)
	}
	return nil
}

// parseToDeviceSince reads the to_device extension's since: a position
// this server gave as next_batch.
func parseToDeviceSince(s string) (int64, bool) {
	n, err := strconv.ParseInt(s, 10, 64)
	return n, err == nil && n >= 0
}

// initialRooms are the rooms of the response sent as new to the client.
func initialRooms(c *computed) map[string]bool {
	out := map[string]bool{}
	for id, r := range c.resp.Rooms {
		if r.Initial {
			out[id] = true
		}
	}
	return out
}

func (s *Service) accountDataExtension(ctx context.Context, req *Request, a extensionArgs, c *computed) error {
	scope := a.scope(req.Body.Extensions.AccountData)
	fresh := initialRooms(c)
	since := a.since
	needAll := a.from == nil
	for _, id := range scope {
		if fresh[id] {
			needAll = true
		}
	}
	changes, err := s.clientData.AccountDataSince(ctx, req.UserID, since, a.to)
	if err != nil {
		return err
	}
	all := changes
	if needAll && since > 0 {
		if all, err = s.clientData.AccountDataSince(ctx, req.UserID, 0, a.to); err != nil {
			return err
		}
	}
	resp := &AccountDataResponse{Global: []json.RawMessage{}, Rooms: map[string][]json.RawMessage{}}
	global := changes.Global
	if a.from == nil {
		global = all.Global
	}
	for _, ev := range global {
		resp.Global = append(resp.Global, mustJSON(ev))
	}
	if s.push != nil {
		pushChanged := a.from == nil
		if !pushChanged {
			if pushChanged, err = s.push.ChangedBetween(ctx, req.UserID, since, a.to); err != nil {
				return err
			}
		}
		if pushChanged {
			content, err := s.push.AccountData(ctx, req.UserID)
			if err != nil {
				return err
			}
			resp.Global = append(resp.Global, mustJSON(clientdata.AccountDataEvent{Type: "m.push_rules", Content: content}))
		}
	}
	for _, id := range scope {
		list := changes.Rooms[id]
		if fresh[id] || a.from == nil {
			list = all.Rooms[id]
		}
		for _, ev := range list {
			resp.Rooms[id] = append(resp.Rooms[id], mustJSON(ev))
		}
	}
	c.resp.Extensions.AccountData = resp
	return nil
}

func (s *Service) receiptsExtension(ctx context.Context, req *Request, a extensionArgs, c *computed) error {
	scope := a.scope(req.Body.Extensions.Receipts)
	fresh := initialRooms(c)
	var joinedNew, joinedOld []string
	for _, id := range scope {
		if cand := a.ur.byID[id]; cand == nil || cand.Membership != "join" || cand.remote != nil {
			continue
		}
		if fresh[id] || a.from == nil {
			joinedNew = append(joinedNew, id)
		} else {
			joinedOld = append(joinedOld, id)
		}
	}
	resp := &RoomEventsResponse{Rooms: map[string]json.RawMessage{}}
	add := func(receipts map[string]clientdata.ReceiptContent, keep func(roomID, eventID, userID string) bool) {
		for roomID, content := range receipts {
			filtered := clientdata.ReceiptContent{}
			for eventID, byType := range content {
				for typ, byUser := range byType {
					for userID, info := range byUser {
						if a.ignored[userID] || !keep(roomID, eventID, userID) {
							continue
						}
						if filtered[eventID] == nil {
							filtered[eventID] = map[string]map[string]clientdata.ReceiptInfo{}
						}
						if filtered[eventID][typ] == nil {
							filtered[eventID][typ] = map[string]clientdata.ReceiptInfo{}
						}
						filtered[eventID][typ][userID] = info
					}
				}
			}
			if len(filtered) > 0 {
				resp.Rooms[roomID] = mustJSON(map[string]any{"type": "m.receipt", "content": filtered})
			}
		}
	}
	if len(joinedOld) > 0 {
		receipts, err := s.clientData.ReceiptsSince(ctx, joinedOld, a.since, a.to, req.UserID)
		if err != nil {
			return err
		}
		add(receipts, func(string, string, string) bool { return true })
	}
	if len(joinedNew) > 0 {
		// A room new to the client gets the receipts on the events it is
		// sent and the user's own, not the room's whole history of them.
		inTimeline := map[string]bool{}
		for _, id := range joinedNew {
			if r := c.resp.Rooms[id]; r != nil {
				for _, raw := range r.Timeline {
					var ev struct {
						EventID string `json:"event_id"`
					}
					if json.Unmarshal(raw, &ev) == nil {
						inTimeline[ev.EventID] = true
					}
				}
			}
		}
		receipts, err := s.clientData.ReceiptsSince(ctx, joinedNew, 0, a.to, req.UserID)
		if err != nil {
			return err
		}
		add(receipts, func(_, eventID, userID string) bool { return inTimeline[eventID] || userID == req.UserID })
	}
	c.resp.Extensions.Receipts = resp
	return nil
}

func (s *Service) typingExtension(req *Request, a extensionArgs, c *computed) {
	scope := a.scope(req.Body.Extensions.Typing)
	fresh := initialRooms(c)
	changed := map[string]bool{}
	if a.from != nil {
		if a.from.typing > a.typing {
			// The server restarted since: resend every room's typing.
			for _, id := range scope {
				changed[id] = true
			}
		} else {
			for _, id := range s.typing.ChangedSince(a.from.typing) {
				changed[id] = true
			}
		}
	}
	resp := &RoomEventsResponse{Rooms: map[string]json.RawMessage{}}
	for _, id := range scope {
		if cand := a.ur.byID[id]; cand == nil || cand.Membership != "join" {
			continue
		}
		first := a.from == nil || fresh[id]
		if !first && !changed[id] {
			continue
		}
		users := slices.DeleteFunc(slices.Clone(s.typing.Current(id)), func(u string) bool { return a.ignored[u] })
		if first && len(users) == 0 {
			continue
		}
		if users == nil {
			users = []string{}
		}
		resp.Rooms[id] = mustJSON(map[string]any{"type": "m.typing", "content": map[string]any{"user_ids": users}})
	}
	c.resp.Extensions.Typing = resp
}

func mustJSON(v any) json.RawMessage {
	b, _ := json.Marshal(v)
	return b
}
