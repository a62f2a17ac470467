package e2ee

import (
	"context"
	"encoding/json"
	"sort"
	"strings"

	"foyer/internal/refusal"
)

// MaxToDevicePerSync caps the to-device messages one sync delivers
// (G-47); the rest follow in the next syncs.
const MaxToDevicePerSync = 100

// maxToDeviceTargets caps the devices one sendToDevice may address.
const maxToDeviceTargets = 10000

// SendToDevice stores messages ({userId: {deviceId or "*": content}})
// for local devices and wakes their syncs (G-47). A repeated txnID of the
// same device is accepted and ignored. Messages for other servers'
// users are dropped: this server does not federate.
func (s *Service) SendToDevice(ctx context.Context, sender, senderDevice, eventType, txnID string, messages map[string]map[string]json.RawMessage) error {
	users := make([]string, 0, len(messages))
	for u := range messages {
		users = append(users, u)
	}
	sort.Strings(users)
	var msgs []ToDeviceMessage
	var targets []string
	for _, userID := range users {
		if !strings.HasSuffix(userID, ":"+s.serverName) {
			s.log.Debug("dropping to-device message for a remote user", "user_id", userID)
			continue
		}
		devices, err := s.localDevices(ctx, userID)
		if err != nil {
			return err
		}
		byDevice := messages[userID]
		deviceIDs := make([]string, 0, len(byDevice))
		for d := range byDevice {
			deviceIDs = append(deviceIDs, d)
		}
		sort.Strings(deviceIDs)
		added := false
		for _, deviceID := range deviceIDs {
			content := byDevice[deviceID]
			if !strings.HasPrefix(strings.TrimSpace(string(content)), "{") {
				return refusal.New(refusal.BadJSON, "messages.%s.%s must be a JSON object", userID, deviceID)
			}
			var to []string
			if deviceID == "*" {
				to = devices
			} else if contains(devices, deviceID) {
				to = []string{deviceID}
			}
			for _, d := range to {
				msgs = append(msgs, ToDeviceMessage{UserID: userID, DeviceID: d, Sender: sender, Type: eventType, Content: canonical(content)})
				added = true
			}
			if len(msgs) > maxToDeviceTargets {
				return refusal.New(refusal.InvalidParam, "too many target devices (at most %d)", maxToDeviceTargets)
			}
		}
		if added {
			targets = append(targets, userID)
		}
	}
	pos, done, err := s.positions.Reserve(ctx)
	if err != nil {
		return err
	}
	dup, err := s.store.SendToDevice(ctx, ToDeviceTxn{UserID: sender, DeviceID: senderDevice, TxnID: txnID}, msgs, pos)
	done()
	if err != nil {
		return err
	}
	if !dup && len(targets) > 0 && s.waker != nil {
		s.waker.WakeAt(pos, targets, nil)
	}
	return nil
}

// toDeviceEvent is a message as sync delivers it.
type toDeviceEvent struct {
	Type    string          `json:"type"`
	Sender  string          `json:"sender"`
	Content json.RawMessage `json:"content"`
}

// pendingToDevice acknowledges what the device has confirmed receiving
// (messages at positions <= ackUpTo) and returns the next messages up to
// position to, at most MaxToDevicePerSync. limitedAt is the position
// through which the returned messages go when more are waiting (0 when
// everything up to to was returned).
func (s *Service) pendingToDevice(ctx context.Context, userID, deviceID string, ackUpTo, to int64) (events []json.RawMessage, limitedAt int64, err error) {
	if ackUpTo > 0 {
		if err := s.store.AckToDevice(ctx, userID, deviceID, ackUpTo); err != nil {
			return nil, 0, err
		}
	}
	msgs, err := s.store.PendingToDevice(ctx, userID, deviceID, to, MaxToDevicePerSync+1)
	if err != nil {
		return nil, 0, err
	}
	if len(msgs) > MaxToDevicePerSync {
		next := msgs[MaxToDevicePerSync].Pos
		msgs = msgs[:MaxToDevicePerSync]
		// An acknowledgement covers whole positions: don't split one. (One
		// request holds at most two messages per device, its own ID and
		// "*", so a position never fills a whole response.)
		cut := len(msgs)
		for cut > 0 && msgs[cut-1].Pos == next {
			cut--
		}
		if cut > 0 {
			msgs = msgs[:cut]
		}
		limitedAt = msgs[len(msgs)-1].Pos
	}
	events = make([]json.RawMessage, 0, len(msgs))
	for _, m := range msgs {
		b, err := json.Marshal(toDeviceEvent{Type: m.Type, Sender: m.Sender, Content: m.Content})
		if err != nil {
			return nil, 0, err
		}
		events = append(events, b)
	}
	return events, limitedAt, nil
}
