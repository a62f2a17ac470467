package clientdata

import (
	"context"
	"encoding/json"
	"errors"
	"strings"

	"foyer/internal/refusal"
	"foyer/internal/rooms"
)

// ValidThreadID reports whether a receipt's thread_id is acceptable: ""
// (unthreaded), "main", or an event ID. Whether the event belongs to that
// thread is not checked (relations are not indexed yet).
func ValidThreadID(threadID string) bool {
	return threadID == "" || threadID == "main" || (strings.HasPrefix(threadID, "$") && len(threadID) > 1)
}

// SendReceipt is POST /rooms/{roomId}/receipt/{receiptType}/{eventId}.
// threadID is "" for an unthreaded receipt. m.fully_read sets the read
// marker (as /read_markers does) and takes no thread.
func (s *Service) SendReceipt(ctx context.Context, userID, roomID, receiptType, eventID, threadID string) error {
	switch receiptType {
	case ReceiptRead, ReceiptReadPrivate:
	case ReceiptFullyRead:
		if threadID != "" {
			return refusal.New(refusal.InvalidParam, "thread_id cannot be given with an m.fully_read receipt")
		}
	default:
		return refusal.New(refusal.InvalidParam, "receipt type must be m.read, m.read.private or m.fully_read, not %q", receiptType)
	}
	se, err := s.receiptTarget(ctx, userID, roomID, eventID, threadID)
	if err != nil {
		return err
	}
	if receiptType == ReceiptFullyRead {
		return s.setFullyRead(ctx, userID, roomID, se)
	}
	return s.putReceipt(ctx, userID, roomID, receiptType, se, threadID)
}

// ReceiveRemoteReceipt stores a public read receipt that another server
// sent for its user, with the time that server gave it (now when it gave
// none). The caller has checked the user belongs to that server; the
// user must be joined and the event known here and visible to them.
func (s *Service) ReceiveRemoteReceipt(ctx context.Context, userID, roomID, eventID, threadID string, ts int64) error {
	se, err := s.receiptTarget(ctx, userID, roomID, eventID, threadID)
	if err != nil {
		return err
	}
	if ts <= 0 {
		ts = s.now().UnixMilli()
	}
	return s.putReceiptAt(ctx, userID, roomID, ReceiptRead, se, threadID, ts)
}

// receiptTarget checks what every receipt needs, local or remote: a valid
// thread, a joined user, and an event known here that the user can see.
func (s *Service) receiptTarget(ctx context.Context, userID, roomID, eventID, threadID string) (rooms.StoredEvent, error) {
	if !ValidThreadID(threadID) {
		return rooms.StoredEvent{}, refusal.New(refusal.InvalidParam, "thread_id must be \"main\" or a thread root's event ID")
	}
	if err := s.requireJoined(ctx, userID, roomID); err != nil {
		return rooms.StoredEvent{}, err
	}
	return s.requireEvent(ctx, userID, roomID, eventID)
}

// putReceipt stores a receipt; one pointing at an event earlier than the
// user's current receipt is ignored (receipts only move forward).
func (s *Service) putReceipt(ctx context.Context, userID, roomID, receiptType string, se rooms.StoredEvent, threadID string) error {
	return s.putReceiptAt(ctx, userID, roomID, receiptType, se, threadID, s.now().UnixMilli())
}

func (s *Service) putReceiptAt(ctx context.Context, userID, roomID, receiptType string, se rooms.StoredEvent, threadID string, ts int64) error {
	pos, done, err := s.positions.Reserve(ctx)
	if err != nil {
		return err
	}
	rec := Receipt{
		RoomID: roomID, Type: receiptType, UserID: userID, ThreadID: threadID,
		EventID: se.Event.EventID(), EventPos: se.StreamPos, TS: ts, StreamPos: pos,
	}
	err = s.store.PutReceipt(ctx, rec)
	if err == nil {
		s.publicReceiptStored(rec)
		// Before releasing the position: listeners index the write, and a
		// sync must never see the position without the index knowing it.
		// A private receipt concerns its owner only; a public one the room.
		s.written(Write{Pos: pos, UserID: userID, RoomID: roomID, RoomWide: receiptType != ReceiptReadPrivate})
	}
	done()
	return err
}

// setFullyRead moves the read marker to se, unless it already stands at a
// later event: like receipts, the marker only moves forward.
func (s *Service) setFullyRead(ctx context.Context, userID, roomID string, se rooms.StoredEvent) error {
	unlock := s.lockUser(userID)
	defer unlock()
	if cur, err := s.store.GetAccountData(ctx, userID, roomID, TypeFullyRead); err == nil {
		var c struct {
			EventID string `json:"event_id"`
		}
		if json.Unmarshal(cur.Content, &c) == nil && c.EventID != "" && c.EventID != se.Event.EventID() {
			if at, err := s.rooms.Event(ctx, userID, roomID, c.EventID); err == nil && at.StreamPos > se.StreamPos {
				return nil
			}
		}
	} else if !errors.Is(err, ErrNotFound) {
		return err
	}
	content, _ := json.Marshal(map[string]string{"event_id": se.Event.EventID()})
	return s.putAccountDataLocked(ctx, userID, roomID, TypeFullyRead, content)
}

// ReadMarkers is POST /rooms/{roomId}/read_markers: any of the fully read
// marker, the public and the private read receipt (unthreaded). Every
// given event is checked before anything is written.
func (s *Service) ReadMarkers(ctx context.Context, userID, roomID, fullyRead, read, readPrivate string) error {
	if err := s.requireJoined(ctx, userID, roomID); err != nil {
		return err
	}
	checked := map[string]rooms.StoredEvent{}
	for _, id := range []string{fullyRead, read, readPrivate} {
		if _, done := checked[id]; id == "" || done {
			continue
		}
		se, err := s.requireEvent(ctx, userID, roomID, id)
		if err != nil {
			return err
		}
		checked[id] = se
	}
	if fullyRead != "" {
		if err := s.setFullyRead(ctx, userID, roomID, checked[fullyRead]); err != nil {
			return err
		}
	}
	if read != "" {
		if err := s.putReceipt(ctx, userID, roomID, ReceiptRead, checked[read], ""); err != nil {
			return err
		}
	}
	if readPrivate != "" {
		if err := s.putReceipt(ctx, userID, roomID, ReceiptReadPrivate, checked[readPrivate], ""); err != nil {
			return err
		}
	}
	return nil
}

// ReceiptInfo is one user's receipt in an m.receipt event.
type ReceiptInfo struct {
	TS       int64  `json:"ts"`
	ThreadID string `json:"thread_id,omitempty"`
}

// ReceiptContent is the content of an m.receipt event:
// event ID → receipt type → user ID → receipt.
type ReceiptContent map[string]map[string]map[string]ReceiptInfo

// ReceiptsSince is for /sync: the receipts in roomIDs written at stream
// positions in (sincePos, toPos], as m.receipt content per room ID.
// Rooms with nothing new are absent. m.read.private receipts appear only
// when they are forUser's own. A receipt replaced since sincePos shows
// only its latest value (receipts are deltas that replace, per (user,
// type, thread)). sincePos 0 gives every room's current receipts (initial
// sync). The caller decides which rooms forUser may see receipts of
// (joined rooms; never peeked ones, G-34) and uses Stream.Current() as
// toPos.
func (s *Service) ReceiptsSince(ctx context.Context, roomIDs []string, sincePos, toPos int64, forUser string) (map[string]ReceiptContent, error) {
	out := map[string]ReceiptContent{}
	if len(roomIDs) == 0 || toPos <= sincePos {
		return out, nil
	}
	list, err := s.store.ReceiptsBetween(ctx, roomIDs, sincePos, toPos)
	if err != nil {
		return nil, err
	}
	for _, r := range list {
		if r.Type == ReceiptReadPrivate && r.UserID != forUser {
			continue
		}
		room := out[r.RoomID]
		if room == nil {
			room = ReceiptContent{}
			out[r.RoomID] = room
		}
		byType := room[r.EventID]
		if byType == nil {
			byType = map[string]map[string]ReceiptInfo{}
			room[r.EventID] = byType
		}
		byUser := byType[r.Type]
		if byUser == nil {
			byUser = map[string]ReceiptInfo{}
			byType[r.Type] = byUser
		}
		// One user may hold receipts of one type on one event in several
		// threads; the content shape has room for one. Prefer the
		// unthreaded one, then the latest.
		if prev, ok := byUser[r.UserID]; ok && prev.ThreadID == "" {
			continue
		}
		byUser[r.UserID] = ReceiptInfo{TS: r.TS, ThreadID: r.ThreadID}
	}
	return out, nil
}

// ReadUpTo is the stream position up to which userID has read roomID.
func (s *Service) ReadUpTo(ctx context.Context, userID, roomID string) (int64, error) {
	return s.store.ReadUpTo(ctx, userID, roomID)
}
