package clientsync

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	"foyer/internal/rooms"
	"foyer/internal/rooms/matrixevents"
)

// EventFilter is the spec's EventFilter.
type EventFilter struct {
	Limit      *int     `json:"limit,omitempty"`
	Types      []string `json:"types,omitempty"`
	NotTypes   []string `json:"not_types,omitempty"`
	Senders    []string `json:"senders,omitempty"`
	NotSenders []string `json:"not_senders,omitempty"`
}

// RoomEventFilter is the spec's RoomEventFilter.
type RoomEventFilter struct {
	EventFilter
	Rooms                   []string `json:"rooms,omitempty"`
	NotRooms                []string `json:"not_rooms,omitempty"`
	ContainsURL             *bool    `json:"contains_url,omitempty"`
	LazyLoadMembers         bool     `json:"lazy_load_members,omitempty"`
	IncludeRedundantMembers bool     `json:"include_redundant_members,omitempty"`
}

// RoomFilter is the room part of a sync filter.
type RoomFilter struct {
	Rooms        []string         `json:"rooms,omitempty"`
	NotRooms     []string         `json:"not_rooms,omitempty"`
	IncludeLeave bool             `json:"include_leave,omitempty"`
	Timeline     *RoomEventFilter `json:"timeline,omitempty"`
	State        *RoomEventFilter `json:"state,omitempty"`
	Ephemeral    *RoomEventFilter `json:"ephemeral,omitempty"`
	AccountData  *RoomEventFilter `json:"account_data,omitempty"`
}

// Filter is a whole sync filter.
type Filter struct {
	EventFields []string     `json:"event_fields,omitempty"`
	EventFormat string       `json:"event_format,omitempty"`
	Presence    *EventFilter `json:"presence,omitempty"`
	AccountData *EventFilter `json:"account_data,omitempty"`
	Room        *RoomFilter  `json:"room,omitempty"`
}

// ParseFilter reads and checks filter JSON.
func ParseFilter(raw []byte) (Filter, error) {
	var f Filter
	if err := json.Unmarshal(raw, &f); err != nil {
		return f, fmt.Errorf("the filter is not valid: %v", err)
	}
	if f.EventFormat != "" && f.EventFormat != "client" && f.EventFormat != "federation" {
		return f, fmt.Errorf("event_format must be client or federation")
	}
	check := func(name string, l *int) error {
		if l != nil && *l < 0 {
			return fmt.Errorf("%s.limit must not be negative", name)
		}
		return nil
	}
	if err := f.checkListLengths(); err != nil {
		return f, err
	}
	if f.Room != nil {
		for name, rf := range map[string]*RoomEventFilter{"room.timeline": f.Room.Timeline, "room.state": f.Room.State, "room.ephemeral": f.Room.Ephemeral, "room.account_data": f.Room.AccountData} {
			if rf != nil {
				if err := check(name, rf.Limit); err != nil {
					return f, err
				}
			}
		}
	}
	return f, nil
}

// matchType applies type patterns, where '*' is the only wildcard.
func matchType(patterns []string, typ string) bool {
	for _, p := range patterns {
		if rooms.TypePatternMatches(p, typ) {
			return true
		}
	}
	return false
}

// Allows reports whether an event of typ from sender passes the filter.
func (f *EventFilter) Allows(typ, sender string) bool {
	if f == nil {
		return true
	}
	if f.Types != nil && !matchType(f.Types, typ) {
		return false
	}
	if matchType(f.NotTypes, typ) {
		return false
	}
	if f.Senders != nil && sender != "" && !slices.Contains(f.Senders, sender) {
		return false
	}
	return !slices.Contains(f.NotSenders, sender)
}

// limitOr is the filter's limit or def.
func (f *EventFilter) limitOr(def int) int {
	if f == nil || f.Limit == nil {
		return def
	}
	return *f.Limit
}

// AllowsRoom applies rooms/not_rooms.
func (f *RoomEventFilter) AllowsRoom(roomID string) bool {
	return f == nil || allowRoom(f.Rooms, f.NotRooms, roomID)
}

// allowRoom is the rooms/not_rooms rule of both room filters: rooms, when
// given, lists the rooms allowed; not_rooms always excludes.
func allowRoom(rooms, notRooms []string, roomID string) bool {
	if rooms != nil && !slices.Contains(rooms, roomID) {
		return false
	}
	return !slices.Contains(notRooms, roomID)
}

func (f *RoomEventFilter) event() *EventFilter {
	if f == nil {
		return nil
	}
	return &f.EventFilter
}

// StoreFilter turns a room event filter into the store's query filter.
func (f *RoomEventFilter) StoreFilter() rooms.EventFilter {
	if f == nil {
		return rooms.EventFilter{}
	}
	return rooms.EventFilter{Types: f.Types, NotTypes: f.NotTypes, Senders: f.Senders, NotSenders: f.NotSenders, ContainsURL: f.ContainsURL}
}

// allowsRoom applies the room filter's rooms/not_rooms.
func (f *RoomFilter) allowsRoom(roomID string) bool {
	return f == nil || allowRoom(f.Rooms, f.NotRooms, roomID)
}

func (f *Filter) room() *RoomFilter {
	if f.Room == nil {
		return &RoomFilter{}
	}
	return f.Room
}

// FilterStore keeps uploaded filters.
type FilterStore interface {
	// CreateFilter stores a filter and returns its ID.
	CreateFilter(ctx context.Context, userID string, filter []byte) (string, error)
	// GetFilter returns ErrFilterNotFound for unknown IDs.
	GetFilter(ctx context.Context, userID, filterID string) ([]byte, error)
}

// ErrFilterNotFound: no such filter for this user.
var ErrFilterNotFound = errors.New("filter not found")

// CheckIDs refuses room and user lists holding what is not a room or
// user ID: such a filter would silently match nothing (or everything).
// New filters are checked; those stored before are still used as they are.
func (f Filter) CheckIDs() error {
	ids := func(name string, list []string, valid func(string) bool, what string) error {
		for _, id := range list {
			if !valid(id) {
				return fmt.Errorf("%s: %q is not a %s", name, id, what)
			}
		}
		return nil
	}
	events := func(name string, ef *EventFilter) error {
		if ef == nil {
			return nil
		}
		return errors.Join(ids(name+".senders", ef.Senders, matrixevents.ValidUserID, "user ID"),
			ids(name+".not_senders", ef.NotSenders, matrixevents.ValidUserID, "user ID"))
	}
	errs := []error{events("presence", f.Presence), events("account_data", f.AccountData)}
	if f.Room != nil {
		errs = append(errs, ids("room.rooms", f.Room.Rooms, matrixevents.ValidRoomID, "room ID"),
			ids("room.not_rooms", f.Room.NotRooms, matrixevents.ValidRoomID, "room ID"))
		for name, rf := range map[string]*RoomEventFilter{"room.timeline": f.Room.Timeline, "room.state": f.Room.State, "room.ephemeral": f.Room.Ephemeral, "room.account_data": f.Room.AccountData} {
			if rf == nil {
				continue
			}
			errs = append(errs, events(name, &rf.EventFilter), ids(name+".rooms", rf.Rooms, matrixevents.ValidRoomID, "room ID"),
				ids(name+".not_rooms", rf.NotRooms, matrixevents.ValidRoomID, "room ID"))
		}
	}
	return errors.Join(errs...)
}
