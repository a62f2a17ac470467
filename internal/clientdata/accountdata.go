package clientdata

import (
	"context"
	"encoding/json"
	"errors"

	"foyer/internal/refusal"
)

// ServerManaged reports whether clients are refused setting typ through
// the account data API (405 M_BAD_JSON), globally and per room.
func ServerManaged(typ string) bool { return typ == TypeFullyRead || typ == TypePushRules }

// SetAccountData is PUT /user/{userId}/account_data/{type} (roomID "")
// and PUT /user/{userId}/rooms/{roomId}/account_data/{type}. content must
// be a JSON object. The caller has checked the user acts for themselves.
func (s *Service) SetAccountData(ctx context.Context, userID, roomID, typ string, content json.RawMessage) error {
	if typ == "" {
		return refusal.New(refusal.InvalidParam, "the account data type must not be empty")
	}
	if ServerManaged(typ) {
		return refusal.New(refusal.ServerManaged, "cannot set %s through this API; the server manages it", typ)
	}
	if err := requireObject(content); err != nil {
		return err
	}
	return s.putAccountData(ctx, userID, roomID, typ, content)
}

func requireObject(content json.RawMessage) error {
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(content, &obj); err != nil || obj == nil {
		return refusal.New(refusal.BadJSON, "account data content must be a JSON object")
	}
	return nil
}

func (s *Service) putAccountData(ctx context.Context, userID, roomID, typ string, content json.RawMessage) error {
	unlock := s.lockUser(userID)
	defer unlock()
	return s.putAccountDataLocked(ctx, userID, roomID, typ, content)
}

func (s *Service) putAccountDataLocked(ctx context.Context, userID, roomID, typ string, content json.RawMessage) error {
	pos, done, err := s.positions.Reserve(ctx)
	if err != nil {
		return err
	}
	err = s.store.PutAccountData(ctx, AccountData{UserID: userID, RoomID: roomID, Type: typ, Content: content, StreamPos: pos})
	if err == nil {
		s.written(Write{Pos: pos, UserID: userID, RoomID: roomID})
	}
	done()
	return err
}

// GetAccountData is GET of one global (roomID "") or room account data
// entry's content; refusal.NotFound when there is none.
func (s *Service) GetAccountData(ctx context.Context, userID, roomID, typ string) (json.RawMessage, error) {
	d, err := s.store.GetAccountData(ctx, userID, roomID, typ)
	if errors.Is(err, ErrNotFound) {
		if roomID == "" {
			return nil, refusal.New(refusal.NotFound, "no account data of type %s", typ)
		}
		return nil, refusal.New(refusal.NotFound, "no account data of type %s for room %s", typ, roomID)
	}
	if err != nil {
		return nil, err
	}
	return d.Content, nil
}

// AccountDataEvent is an account data event as /sync delivers it.
type AccountDataEvent struct {
	Type    string          `json:"type"`
	Content json.RawMessage `json:"content"`
}

// AccountDataChanges are the account data entries written in a stream
// range, latest content only.
type AccountDataChanges struct {
	// Global goes into the top-level account_data of /sync.
	Global []AccountDataEvent
	// Rooms go into each room's account_data, keyed by room ID.
	Rooms map[string][]AccountDataEvent
	// MaxPos is the highest stream position among them (0 if none).
	MaxPos int64
}

// AccountDataSince is for /sync: userID's account data written at stream
// positions in (since, to], global and per room, each type once with its
// latest content, ordered by stream position. since 0 gives everything
// (initial sync). The caller uses Stream.Current() as to and filters
// rooms (e.g. to joined ones) as it needs.
func (s *Service) AccountDataSince(ctx context.Context, userID string, since, to int64) (AccountDataChanges, error) {
	out := AccountDataChanges{Rooms: map[string][]AccountDataEvent{}}
	if to <= since {
		return out, nil
	}
	list, err := s.store.AccountDataBetween(ctx, userID, since, to)
	if err != nil {
		return out, err
	}
	for _, d := range list {
		ev := AccountDataEvent{Type: d.Type, Content: d.Content}
		if d.RoomID == "" {
			out.Global = append(out.Global, ev)
		} else {
			out.Rooms[d.RoomID] = append(out.Rooms[d.RoomID], ev)
		}
		out.MaxPos = max(out.MaxPos, d.StreamPos)
	}
	return out, nil
}
