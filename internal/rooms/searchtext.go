package rooms

import (
	"encoding/json"
	"strings"

	"foyer/internal/rooms/matrixevents"
)

// SearchKeys are the keys POST /search may look in, each with the event
// type whose content holds it: a message's body, a room's name and topic
// (the spec's three; an event has at most one of them).
var SearchKeys = map[string]string{
	"content.body":  "m.room.message",
	"content.name":  "m.room.name",
	"content.topic": "m.room.topic",
}

// SearchText is the text the search index holds for ev: its key's
// content field when that is a non-empty string. Messages count when they
// are not state events, names and topics when they are the room's (state
// key ""). NUL, which PostgreSQL text cannot hold, becomes a space.
func SearchText(ev matrixevents.Event) (string, bool) {
	var field string
	switch sk := ev.StateKey(); {
	case ev.Type() == "m.room.message" && sk == nil:
		field = "body"
	case ev.Type() == "m.room.name" && sk != nil && *sk == "":
		field = "name"
	case ev.Type() == "m.room.topic" && sk != nil && *sk == "":
		field = "topic"
	default:
		return "", false
	}
	var content map[string]json.RawMessage
	if json.Unmarshal(ev.Content(), &content) != nil {
		return "", false
	}
	var text string
	if json.Unmarshal(content[field], &text) != nil || text == "" {
		return "", false
	}
	return strings.ReplaceAll(text, "\x00", " "), true
}
