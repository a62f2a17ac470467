package federationapi

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"time"

	"foyer/internal/clientdata"
	"foyer/internal/presence"
	"foyer/internal/refusal"
)

// remoteTypingTimeout is how long a remote user's typing notice lasts:
// the EDU carries no timeout, and the sending server repeats it while the
// user keeps typing.
const remoteTypingTimeout = 30 * time.Second

// edu is one EDU of a transaction.
type edu struct {
	Type    string          `json:"edu_type"`
	Content json.RawMessage `json:"content"`
}

// receiveEDUs acts on the EDUs of a transaction: typing, receipts,
// presence, to-device messages, device-list and signing-key updates
// (deviceedus.go). An EDU that is malformed, or that
// names a user of another server than the origin, or a room the user is
// not in, is skipped; no EDU fails the transaction.
func (a *API) receiveEDUs(r *http.Request, origin string, edus []json.RawMessage) {
	ctx := r.Context()
	for _, raw := range edus {
		var e edu
		if json.Unmarshal(raw, &e) != nil || e.Type == "" {
			a.log().DebugContext(ctx, "dropping a malformed EDU", "origin", origin)
			continue
		}
		var err error
		switch e.Type {
		case "m.typing":
			err = a.receiveTyping(ctx, origin, e.Content)
		case "m.receipt":
			err = a.receiveReceipts(ctx, origin, e.Content)
		case "m.presence":
			err = a.receivePresence(ctx, origin, e.Content)
		case "m.direct_to_device":
			err = a.receiveToDevice(ctx, origin, e.Content)
		case "m.device_list_update":
			err = a.receiveDeviceListUpdate(ctx, origin, e.Content)
		case "m.signing_key_update":
			err = a.receiveSigningKeyUpdate(ctx, origin, e.Content)
		default:
			continue
		}
		if err != nil {
			a.log().DebugContext(ctx, "dropping an EDU", "origin", origin, "edu_type", e.Type, "err", err)
		}
	}
}

// errSkipped marks an EDU that was understood and not acted on.
var errSkipped = errors.New("not acted on")

// ofOrigin reports whether userID is a user of the server origin.
func ofOrigin(userID, origin string) bool {
	return strings.HasPrefix(userID, "@") && strings.HasSuffix(userID, ":"+origin)
}

// remoteMember checks that userID belongs to origin, is joined to roomID
// and that the room's server ACL admits origin.
func (a *API) remoteMember(ctx context.Context, origin, roomID, userID string) error {
	if !ofOrigin(userID, origin) || roomID == "" {
		return errSkipped
	}
	room, err := a.Rooms.InboundCheck(ctx, roomID, origin)
	if err != nil {
		return err
	}
	if !room.Participating || !room.OriginAllowed {
		return errSkipped
	}
	return a.Rooms.RequireJoined(ctx, userID, roomID)
}

func (a *API) receiveTyping(ctx context.Context, origin string, content json.RawMessage) error {
	if a.Typing == nil {
		return errSkipped
	}
	var c struct {
		RoomID string `json:"room_id"`
		UserID string `json:"user_id"`
		Typing *bool  `json:"typing"`
	}
	if err := json.Unmarshal(content, &c); err != nil {
		return err
	}
	if c.Typing == nil {
		return errSkipped
	}
	if err := a.remoteMember(ctx, origin, c.RoomID, c.UserID); err != nil {
		return err
	}
	if *c.Typing {
		a.Typing.Start(c.RoomID, c.UserID, remoteTypingTimeout)
	} else {
		a.Typing.Stop(c.RoomID, c.UserID)
	}
	return nil
}

// receiptEDU is the content of m.receipt: room, receipt type, user.
type receiptEDU map[string]map[string]map[string]struct {
	EventIDs []string `json:"event_ids"`
	Data     struct {
		TS       int64  `json:"ts"`
		ThreadID string `json:"thread_id"`
	} `json:"data"`
}

func (a *API) receiveReceipts(ctx context.Context, origin string, content json.RawMessage) error {
	if a.ClientData == nil {
		return errSkipped
	}
	var c receiptEDU
	if err := json.Unmarshal(content, &c); err != nil {
		return err
	}
	for roomID, byType := range c {
		// Only public read receipts travel between servers.
		for userID, receipt := range byType[clientdata.ReceiptRead] {
			if err := a.remoteMember(ctx, origin, roomID, userID); err != nil {
				a.log().DebugContext(ctx, "dropping a receipt", "origin", origin, "room_id", roomID, "err", err)
				continue
			}
			for _, eventID := range receipt.EventIDs {
				err := a.ClientData.ReceiveRemoteReceipt(ctx, userID, roomID, eventID, receipt.Data.ThreadID, receipt.Data.TS)
				var re *refusal.Error
				if err != nil && !errors.As(err, &re) {
					return err
				}
			}
		}
	}
	return nil
}

func (a *API) receivePresence(ctx context.Context, origin string, content json.RawMessage) error {
	if a.Presence == nil {
		return errSkipped
	}
	var c struct {
		Push []struct {
			UserID        string  `json:"user_id"`
			Presence      string  `json:"presence"`
			StatusMsg     *string `json:"status_msg"`
			LastActiveAgo int64   `json:"last_active_ago"`
		} `json:"push"`
	}
	if err := json.Unmarshal(content, &c); err != nil {
		return err
	}
	suffix := ":" + a.Config.ServerName
	for _, p := range c.Push {
		switch p.Presence {
		case presence.Online, presence.Unavailable, presence.Offline:
		default:
			continue
		}
		if !ofOrigin(p.UserID, origin) || p.LastActiveAgo < 0 {
			continue
		}
		mates, err := a.Rooms.RoomMates(ctx, p.UserID)
		if err != nil {
			return err
		}
		shared := false
		for _, m := range mates {
			if strings.HasSuffix(m, suffix) {
				shared = true
				break
			}
		}
		if !shared {
			continue
		}
		if err := a.Presence.SetRemote(ctx, p.UserID, p.Presence, p.StatusMsg, time.Duration(p.LastActiveAgo)*time.Millisecond); err != nil {
			return err
		}
	}
	return nil
}

func (a *API) receiveToDevice(ctx context.Context, origin string, content json.RawMessage) error {
	if a.E2EE == nil {
		return errSkipped
	}
	var c struct {
		Sender    string                                `json:"sender"`
		Type      string                                `json:"type"`
		MessageID string                                `json:"message_id"`
		Messages  map[string]map[string]json.RawMessage `json:"messages"`
	}
	if err := json.Unmarshal(content, &c); err != nil {
		return err
	}
	if !ofOrigin(c.Sender, origin) || c.Type == "" || c.MessageID == "" || len(c.Messages) == 0 {
		return errSkipped
	}
	// Idempotent per origin and message ID: the origin stands as the
	// sending device of the transaction.
	return a.E2EE.ReceiveToDevice(ctx, origin, c.Sender, c.Type, c.MessageID, c.Messages)
}
