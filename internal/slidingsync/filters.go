package slidingsync

import (
	"context"
	"encoding/json"
	"slices"
	"sync"

	"foyer/internal/clientsync"
)

// factCache keeps the room facts that never change once true: a room's
// type is fixed at creation and encryption cannot be turned off. Rooms
// not (yet) encrypted are read again each time a filter needs them.
type factCache struct {
	mu    sync.Mutex
	facts map[string]RoomFacts
}

const maxCachedFacts = 200000

func newFactCache() *factCache { return &factCache{facts: map[string]RoomFacts{}} }

// roomFacts reads the facts of roomIDs, from the cache where they are
// final.
func (s *Service) roomFacts(ctx context.Context, roomIDs []string) (map[string]RoomFacts, error) {
	out := make(map[string]RoomFacts, len(roomIDs))
	var missing []string
	s.facts.mu.Lock()
	for _, id := range roomIDs {
		if f, ok := s.facts.facts[id]; ok {
			out[id] = f
		} else {
			missing = append(missing, id)
		}
	}
	s.facts.mu.Unlock()
	if len(missing) == 0 {
		return out, nil
	}
	read, err := s.lists.RoomFacts(ctx, missing)
	if err != nil {
		return nil, err
	}
	s.facts.mu.Lock()
	defer s.facts.mu.Unlock()
	if len(s.facts.facts) > maxCachedFacts {
		s.facts.facts = map[string]RoomFacts{}
	}
	for id, f := range read {
		out[id] = f
		if f.Encrypted {
			s.facts.facts[id] = f
		}
	}
	return out, nil
}

// filterContext is what the filters of one request read, each at most
// once.
type filterContext struct {
	s      *Service
	userID string
	to     int64
	rooms  *userRooms
	direct map[string]bool

	facts      map[string]RoomFacts
	tags       map[string]map[string]bool
	spaceKids  map[string]map[string]bool
	tagsLoaded bool
}

func (fc *filterContext) needFacts(ctx context.Context) error {
	if fc.facts != nil {
		return nil
	}
	ids := make([]string, 0, len(fc.rooms.listed))
	var remote []*candidate
	for _, c := range fc.rooms.listed {
		if c.remote == nil {
			ids = append(ids, c.RoomID)
		} else {
			remote = append(remote, c)
		}
	}
	var err error
	if fc.facts, err = fc.s.roomFacts(ctx, ids); err != nil {
		return err
	}
	// A room on another server is known by the state its invite or
	// knock came with.
	for _, c := range remote {
		stripped, _, err := clientsync.RemoteInviteState(*c.remote)
		if err != nil {
			continue
		}
		var f RoomFacts
		for _, ev := range stripped {
			switch {
			case ev.Type == "m.room.encryption" && ev.StateKey == "":
				f.Encrypted = true
			case ev.Type == "m.room.create" && ev.StateKey == "":
				var content struct {
					Type *string `json:"type"`
				}
				if json.Unmarshal(ev.Content, &content) == nil && content.Type != nil {
					f.Type, f.HasType = *content.Type, true
				}
			}
		}
		fc.facts[c.RoomID] = f
	}
	return nil
}

func (fc *filterContext) needTags(ctx context.Context) error {
	if fc.tagsLoaded || fc.s.clientData == nil {
		return nil
	}
	fc.tagsLoaded = true
	all, err := fc.s.clientData.AccountDataSince(ctx, fc.userID, 0, fc.to)
	if err != nil {
		return err
	}
	fc.tags = map[string]map[string]bool{}
	for roomID, list := range all.Rooms {
		for _, ev := range list {
			if ev.Type != "m.tag" {
				continue
			}
			var c struct {
				Tags map[string]json.RawMessage `json:"tags"`
			}
			if json.Unmarshal(ev.Content, &c) == nil {
				fc.tags[roomID] = map[string]bool{}
				for t := range c.Tags {
					fc.tags[roomID][t] = true
				}
			}
		}
	}
	return nil
}

// children are the rooms the user's joined spaces name as m.space.child
// (with a via, as the spec requires of a live child); subspaces are not
// followed.
func (fc *filterContext) children(ctx context.Context, spaces []string) (map[string]bool, error) {
	out := map[string]bool{}
	for _, space := range spaces {
		if kids, ok := fc.spaceKids[space]; ok {
			for k := range kids {
				out[k] = true
			}
			continue
		}
		kids := map[string]bool{}
		if c := fc.rooms.byID[space]; c != nil && c.Membership == "join" && c.remote == nil {
			snap, err := fc.s.rooms.Current(ctx, space)
			if err != nil {
				return nil, err
			}
			for key, se := range snap.State {
				if key.Type != "m.space.child" {
					continue
				}
				var content struct {
					Via []string `json:"via"`
				}
				if json.Unmarshal(se.Event.Content(), &content) == nil && len(content.Via) > 0 {
					kids[key.StateKey] = true
				}
			}
		}
		if fc.spaceKids == nil {
			fc.spaceKids = map[string]map[string]bool{}
		}
		fc.spaceKids[space] = kids
		for k := range kids {
			out[k] = true
		}
	}
	return out, nil
}

// apply keeps the rooms of list f lets through, in order.
func (fc *filterContext) apply(ctx context.Context, f *ListFilters, list []*candidate) ([]*candidate, error) {
	if f == nil {
		return list, nil
	}
	if f.IsEncrypted != nil || f.RoomTypes != nil || f.NotRoomTypes != nil {
		if err := fc.needFacts(ctx); err != nil {
			return nil, err
		}
	}
	if f.Tags != nil || f.NotTags != nil {
		if err := fc.needTags(ctx); err != nil {
			return nil, err
		}
	}
	var inSpaces map[string]bool
	if f.Spaces != nil {
		var err error
		if inSpaces, err = fc.children(ctx, f.Spaces); err != nil {
			return nil, err
		}
	}
	out := make([]*candidate, 0, len(list))
	for _, c := range list {
		if f.IsDM != nil && (fc.direct[c.RoomID] || c.DirectInvite) != *f.IsDM {
			continue
		}
		if f.IsInvite != nil && (c.Membership == "invite") != *f.IsInvite {
			continue
		}
		facts := fc.facts[c.RoomID]
		if f.IsEncrypted != nil && facts.Encrypted != *f.IsEncrypted {
			continue
		}
		if f.RoomTypes != nil && !typeListed(f.RoomTypes, facts) {
			continue
		}
		if f.NotRoomTypes != nil && typeListed(f.NotRoomTypes, facts) {
			continue
		}
		if f.Spaces != nil && !inSpaces[c.RoomID] {
			continue
		}
		if f.NotTags != nil && hasAnyTag(fc.tags[c.RoomID], f.NotTags) {
			continue
		}
		if f.Tags != nil && !hasAnyTag(fc.tags[c.RoomID], f.Tags) {
			continue
		}
		out = append(out, c)
	}
	return out, nil
}

// typeListed: a room type in the list, null standing for rooms without
// one.
func typeListed(types []*string, f RoomFacts) bool {
	return slices.ContainsFunc(types, func(t *string) bool {
		if t == nil {
			return !f.HasType
		}
		return f.HasType && *t == f.Type
	})
}

func hasAnyTag(tags map[string]bool, want []string) bool {
	return slices.ContainsFunc(want, func(t string) bool { return tags[t] })
}
