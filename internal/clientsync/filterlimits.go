package clientsync

import (
	"errors"
	"fmt"
)

// MaxFilterListLength caps every list in a filter (types, not_types,
// senders, not_senders, rooms, not_rooms, event_fields, in every section).
// Longer lists are refused with 400 M_BAD_JSON; the queries a filter
// builds do not grow with its lists, but the matching done per event does.
const MaxFilterListLength = 500

// ErrFilterListTooLong: a filter's list is longer than MaxFilterListLength.
var ErrFilterListTooLong = errors.New("filter list too long")

func checkListLength(name string, list []string) error {
	if len(list) > MaxFilterListLength {
		return fmt.Errorf("%w: %s has %d entries, at most %d are allowed", ErrFilterListTooLong, name, len(list), MaxFilterListLength)
	}
	return nil
}

func (f *EventFilter) checkListLengths(section string) error {
	if f == nil {
		return nil
	}
	// In a fixed order, so a filter with several long lists always gets
	// the same error.
	lists := []struct {
		name string
		list []string
	}{{"types", f.Types}, {"not_types", f.NotTypes}, {"senders", f.Senders}, {"not_senders", f.NotSenders}}
	for _, l := range lists {
		if err := checkListLength(section+l.name, l.list); err != nil {
			return err
		}
	}
	return nil
}

// CheckListLengths applies MaxFilterListLength to a room event filter;
// section prefixes the names in the error ("room.timeline.", or "").
func (f *RoomEventFilter) CheckListLengths(section string) error {
	if f == nil {
		return nil
	}
	if err := f.EventFilter.checkListLengths(section); err != nil {
		return err
	}
	if err := checkListLength(section+"rooms", f.Rooms); err != nil {
		return err
	}
	return checkListLength(section+"not_rooms", f.NotRooms)
}

func (f *Filter) checkListLengths() error {
	if err := checkListLength("event_fields", f.EventFields); err != nil {
		return err
	}
	if err := f.Presence.checkListLengths("presence."); err != nil {
		return err
	}
	if err := f.AccountData.checkListLengths("account_data."); err != nil {
		return err
	}
	if f.Room == nil {
		return nil
	}
	if err := checkListLength("room.rooms", f.Room.Rooms); err != nil {
		return err
	}
	if err := checkListLength("room.not_rooms", f.Room.NotRooms); err != nil {
		return err
	}
	sections := []struct {
		name   string
		filter *RoomEventFilter
	}{{"room.timeline.", f.Room.Timeline}, {"room.state.", f.Room.State}, {"room.ephemeral.", f.Room.Ephemeral}, {"room.account_data.", f.Room.AccountData}}
	for _, sec := range sections {
		if err := sec.filter.CheckListLengths(sec.name); err != nil {
			return err
		}
	}
	return nil
}
