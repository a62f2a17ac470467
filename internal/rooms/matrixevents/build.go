package matrixevents

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	gmsl "github.com/matrix-org/gomatrixserverlib"
	"github.com/matrix-org/gomatrixserverlib/spec"
)

// ProtoEvent is everything needed to build one event. Fill it, call
// StateNeededForAuth to learn which current state to cite, set
// AuthEventIDs, then call BuildEvent.
type ProtoEvent struct {
	RoomVersion string
	// RoomID must be empty for a v12+ create event (the ID is derived from
	// it) and set for everything else.
	RoomID string
	Sender string
	Type   string
	// StateKey is nil for message events; use a pointer to "" for state
	// events without a key.
	StateKey *string
	// Content is json.RawMessage / []byte holding a JSON object, or any
	// value that marshals to one. nil means {}.
	Content      any
	PrevEventIDs []string
	AuthEventIDs []string
	Depth        int64
	// Redacts is the target of a m.room.redaction. It is placed at the top
	// level or in content as the room version requires.
	Redacts string
	// Origin is our server name; it signs the event.
	Origin string
	// Timestamp becomes origin_server_ts; zero means now.
	Timestamp time.Time
}

// StateTuple identifies one piece of room state.
type StateTuple struct {
	Type     string
	StateKey string
}

// BuildEvent hashes and signs p with key and returns the event with its ID
// computed as the room version prescribes. It does not run the auth rules:
// call Authorise before accepting the event into a room.
func BuildEvent(p ProtoEvent, key *SigningKey) (Event, error) {
	if key == nil {
		return Event{}, errors.New("build event: no signing key")
	}
	impl, err := lookupVersion(p.RoomVersion)
	if err != nil {
		return Event{}, err
	}
	pe, err := toProtoEvent(p, impl)
	if err != nil {
		return Event{}, fmt.Errorf("build %s event: %w", p.Type, err)
	}
	ts := p.Timestamp
	if ts.IsZero() {
		ts = time.Now()
	}
	pdu, err := impl.NewEventBuilderFromProtoEvent(pe).Build(ts, spec.ServerName(p.Origin), gmsl.KeyID(key.id), key.priv)
	if err != nil {
		return Event{}, fmt.Errorf("build %s event: %w", p.Type, err)
	}
	return newEvent(pdu)
}

// StateNeededForAuth lists the state the auth rules consult for p, so the
// caller can pick those events out of current state as auth_events. The
// create event is always listed when needed, even in v12 where BuildEvent
// leaves it out of the wire auth_events.
func StateNeededForAuth(p ProtoEvent) ([]StateTuple, error) {
	content, err := contentJSON(p.Content)
	if err != nil {
		return nil, err
	}
	needed, err := gmsl.StateNeededForProtoEvent(&gmsl.ProtoEvent{
		SenderID: p.Sender,
		Type:     p.Type,
		StateKey: p.StateKey,
		Content:  content,
	})
	if err != nil {
		return nil, fmt.Errorf("state needed for %s event: %s", p.Type, libraryMessage(err))
	}
	return convertTuples(needed.Tuples()), nil
}

// StateNeededForEvents is StateNeededForAuth for already built events,
// merged, e.g. to load auth state for a batch received over federation.
func StateNeededForEvents(events []Event) ([]StateTuple, error) {
	ps, err := pdus(events)
	if err != nil {
		return nil, err
	}
	return convertTuples(gmsl.StateNeededForAuth(ps).Tuples()), nil
}

func convertTuples(in []gmsl.StateKeyTuple) []StateTuple {
	out := make([]StateTuple, 0, len(in))
	for _, t := range in {
		out = append(out, StateTuple{Type: t.EventType, StateKey: t.StateKey})
	}
	return out
}

// toProtoEvent fills in what the room version requires but callers should
// not have to know: creator/room_version in create content, where redacts
// lives, and v12's implicit create event.
func toProtoEvent(p ProtoEvent, impl gmsl.IRoomVersion) (*gmsl.ProtoEvent, error) {
	f, _ := Features(p.RoomVersion)
	content, err := contentJSON(p.Content)
	if err != nil {
		return nil, err
	}
	isCreate := p.Type == TypeCreate && p.StateKey != nil && *p.StateKey == ""

	roomID := p.RoomID
	auth := slices.Clone(p.AuthEventIDs)
	switch {
	case isCreate && f.RoomIDFromCreateEvent:
		if roomID != "" {
			return nil, fmt.Errorf("room version %s derives the room ID from the create event; leave RoomID empty", p.RoomVersion)
		}
	case roomID == "":
		return nil, errors.New("room ID is required")
	case f.RoomIDFromCreateEvent:
		// v12 forbids citing the create event; it is implied by the room ID.
		createID := "$" + roomID[1:]
		auth = slices.DeleteFunc(auth, func(id string) bool { return id == createID })
	}

	if isCreate {
		if content, err = fillCreateContent(content, p, f); err != nil {
			return nil, err
		}
	}

	redacts := p.Redacts
	if p.Type == TypeRedaction {
		if f.RedactsInContent {
			if content, err = setContentKey(content, "redacts", p.Redacts); err != nil {
				return nil, err
			}
			redacts = ""
		} else if redacts == "" {
			return nil, errors.New("m.room.redaction needs the ID of the event it redacts")
		}
	} else if redacts != "" {
		return nil, errors.New("only m.room.redaction events may set redacts")
	}

	if auth == nil {
		auth = []string{}
	}
	prev := slices.Clone(p.PrevEventIDs)
	if prev == nil {
		prev = []string{}
	}
	return &gmsl.ProtoEvent{
		SenderID:   p.Sender,
		RoomID:     roomID,
		Type:       p.Type,
		StateKey:   p.StateKey,
		PrevEvents: prev,
		AuthEvents: auth,
		Redacts:    redacts,
		Depth:      p.Depth,
		Content:    content,
		Version:    impl,
	}, nil
}

// fillCreateContent adds room_version (absent means v1 to other servers)
// and, for v1–v10, the mandatory creator.
func fillCreateContent(content []byte, p ProtoEvent, f VersionFeatures) ([]byte, error) {
	var err error
	if content, err = setContentKey(content, "room_version", p.RoomVersion); err != nil {
		return nil, err
	}
	if f.CreatorInCreateContent {
		if content, err = setContentKey(content, "creator", p.Sender); err != nil {
			return nil, err
		}
	}
	return content, nil
}

// setContentKey sets a string key in a content object. An existing equal
// value is kept; a different one is an error rather than silently replaced.
// An empty value is only allowed when the key is already present.
func setContentKey(content []byte, key, value string) ([]byte, error) {
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(content, &obj); err != nil {
		return nil, err
	}
	if existing, ok := obj[key]; ok {
		var s string
		if err := json.Unmarshal(existing, &s); err != nil {
			return nil, fmt.Errorf("content.%s must be a string", key)
		}
		if value != "" && s != value {
			return nil, fmt.Errorf("content.%s is %q but %q was given", key, s, value)
		}
		return content, nil
	}
	if value == "" {
		return nil, fmt.Errorf("content.%s is required", key)
	}
	v, err := json.Marshal(value)
	if err != nil {
		return nil, err
	}
	obj[key] = v
	return json.Marshal(obj)
}

// contentJSON turns caller content into the bytes of a JSON object.
func contentJSON(c any) ([]byte, error) {
	var raw []byte
	switch v := c.(type) {
	case nil:
		return []byte("{}"), nil
	case json.RawMessage:
		raw = v
	case []byte:
		raw = v
	default:
		b, err := json.Marshal(v)
		if err != nil {
			return nil, fmt.Errorf("content: %w", err)
		}
		raw = b
	}
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || raw[0] != '{' || !json.Valid(raw) {
		return nil, errors.New("content must be a JSON object")
	}
	return raw, nil
}

// IsTooLarge reports whether err says an event, or one of its IDs or its
// type, is longer than the room version allows.
func IsTooLarge(err error) bool {
	var v gmsl.EventValidationError
	return errors.As(err, &v) && v.Code == gmsl.EventValidationTooLarge
}
