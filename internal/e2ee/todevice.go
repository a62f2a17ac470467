package e2ee

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"foyer/internal/refusal"
)

// MaxToDevicePerSync caps the to-device messages one sync delivers
// (G-47); the rest follow in the next syncs.
const MaxToDevicePerSync = 100

// maxToDeviceTargets caps the devices one sendToDevice may address.
const maxToDeviceTargets = 10000

// maxToDeviceRequestBytes caps what one sendToDevice stores once "*" is
// expanded to every device of a user: the body is capped, but one
// message for "*" is stored once per device.
const maxToDeviceRequestBytes = 16 << 20

// ToDeviceLimits bound to-device messages; 0 leaves a bound off.
type ToDeviceLimits struct {
	// SyncBytes caps the messages of one sync response
	// (sync_limits.to_device_bytes), besides MaxToDevicePerSync.
	SyncBytes int64
	// PendingBytesPerDevice caps what waits for one device
	// (account_limits.max_pending_to_device_bytes).
	PendingBytesPerDevice int64
}

// queueFullRetryAfter is when a sender refused for a full queue hears it
// may try again: the queue empties as soon as its device syncs.
const queueFullRetryAfter = 10 * time.Second

// toDeviceBytes is a message's size as sync delivers it:
// {"type":"..","sender":"..","content":...} is 34 bytes beside its three
// values.
func toDeviceBytes(m ToDeviceMessage) int64 {
	return int64(34 + len(m.Type) + len(m.Sender) + len(m.Content))
}

// SendToDevice stores messages ({userId: {deviceId or "*": content}})
// for local devices and wakes their syncs (G-47), and queues those for
// other servers' users to their servers as m.direct_to_device EDUs,
// within the same bounds. A repeated txnID of the same device is
// accepted and ignored.
func (s *Service) SendToDevice(ctx context.Context, sender, senderDevice, eventType, txnID string, messages map[string]map[string]json.RawMessage) error {
	return s.sendToDevice(ctx, sender, senderDevice, eventType, txnID, messages, true)
}

// ReceiveToDevice stores the messages of another server's
// m.direct_to_device EDU for local devices; messages for users of other
// servers are dropped (a server forwards nothing). The origin stands as
// the sending device, so a repeated message ID is ignored.
func (s *Service) ReceiveToDevice(ctx context.Context, origin, sender, eventType, messageID string, messages map[string]map[string]json.RawMessage) error {
	return s.sendToDevice(ctx, sender, "federation:"+origin, eventType, messageID, messages, false)
}

// toDeviceEDU is the content of m.direct_to_device.
type toDeviceEDU struct {
	Sender    string                                `json:"sender"`
	Type      string                                `json:"type"`
	MessageID string                                `json:"message_id"`
	Messages  map[string]map[string]json.RawMessage `json:"messages"`
}

func (s *Service) sendToDevice(ctx context.Context, sender, senderDevice, eventType, txnID string, messages map[string]map[string]json.RawMessage, forward bool) error {
	users := make([]string, 0, len(messages))
	for u := range messages {
		users = append(users, u)
	}
	sort.Strings(users)
	var msgs []ToDeviceMessage
	var targets []string
	var total int64
	// remote holds the messages for other servers' users, by server; they
	// count against the same bounds as local ones ("*" as one).
	remote := map[string]map[string]map[string]json.RawMessage{}
	remoteCount := 0
	for _, userID := range users {
		if !s.isLocal(userID) {
			server := serverOf(userID)
			if !forward || s.fed == nil || server == "" {
				s.log.DebugContext(ctx, "dropping to-device message for a remote user", "user_id", userID)
				continue
			}
			for deviceID, content := range messages[userID] {
				if !strings.HasPrefix(strings.TrimSpace(string(content)), "{") {
					return refusal.New(refusal.BadJSON, "messages.%s.%s must be a JSON object", userID, deviceID)
				}
				if remote[server] == nil {
					remote[server] = map[string]map[string]json.RawMessage{}
				}
				if remote[server][userID] == nil {
					remote[server][userID] = map[string]json.RawMessage{}
				}
				content = canonical(content)
				remote[server][userID][deviceID] = content
				remoteCount++
				total += toDeviceBytes(ToDeviceMessage{Sender: sender, Type: eventType, Content: content})
			}
			if total > maxToDeviceRequestBytes {
				return refusal.New(refusal.TooLarge, "this request would send more than %d bytes of to-device messages", maxToDeviceRequestBytes)
			}
			if len(msgs)+remoteCount > maxToDeviceTargets {
				return refusal.New(refusal.InvalidParam, "too many target devices (at most %d)", maxToDeviceTargets)
			}
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
			content = canonical(content)
			for _, d := range to {
				m := ToDeviceMessage{UserID: userID, DeviceID: d, Sender: sender, Type: eventType, Content: content}
				m.Bytes = toDeviceBytes(m)
				msgs = append(msgs, m)
				added = true
				total += m.Bytes
			}
			if total > maxToDeviceRequestBytes {
				return refusal.New(refusal.TooLarge, "this request would store more than %d bytes of to-device messages once \"*\" is sent to every device", maxToDeviceRequestBytes)
			}
			if len(msgs)+remoteCount > maxToDeviceTargets {
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
	s.toDevice.recordQueued(msgs, pos)
	dup, err := s.store.SendToDevice(ctx, ToDeviceTxn{UserID: sender, DeviceID: senderDevice, TxnID: txnID}, msgs, pos, s.toDeviceLimits.PendingBytesPerDevice)
	done()
	var full *QueueFullError
	if errors.As(err, &full) {
		// Nothing was stored, for any recipient: a retry of the same
		// transaction later delivers it all.
		e := refusal.New(refusal.LimitExceeded, "%s's device %s has %d bytes of to-device messages waiting, and this request would take it beyond the %d it may have; nothing was sent to any device, retry once it has synced",
			full.UserID, full.DeviceID, full.PendingBytes, full.MaxBytes)
		e.RetryAfter = queueFullRetryAfter
		return e
	}
	if err != nil {
		return err
	}
	if !dup && len(targets) > 0 && s.waker != nil {
		s.waker.WakeAt(pos, targets, nil)
	}
	if !dup && len(remote) > 0 {
		return s.queueToDevice(ctx, sender, senderDevice, eventType, txnID, remote)
	}
	return nil
}

// maxToDeviceEDUBytes is about the most message content one
// m.direct_to_device EDU carries, so that a transaction of them stays
// well within what servers accept; a larger message goes alone.
const maxToDeviceEDUBytes = 32 << 10

// queueToDevice queues the messages for other servers' users as
// m.direct_to_device EDUs, one server's messages split in EDUs of about
// maxToDeviceEDUBytes. Message IDs come from the sender's transaction and
// the split, which is always the same, so a server that already has one
// ignores it again.
func (s *Service) queueToDevice(ctx context.Context, sender, senderDevice, eventType, txnID string, remote map[string]map[string]map[string]json.RawMessage) error {
	base := digest([]byte(sender), []byte(senderDevice), []byte(txnID))
	servers := make([]string, 0, len(remote))
	for server := range remote {
		servers = append(servers, server)
	}
	sort.Strings(servers)
	for _, server := range servers {
		byUser := remote[server]
		users := make([]string, 0, len(byUser))
		for u := range byUser {
			users = append(users, u)
		}
		sort.Strings(users)
		part := 0
		batch := map[string]map[string]json.RawMessage{}
		size := 0
		flush := func() error {
			if len(batch) == 0 {
				return nil
			}
			edu, err := eduJSON("m.direct_to_device", toDeviceEDU{Sender: sender, Type: eventType,
				MessageID: fmt.Sprintf("%s.%d", base, part), Messages: batch})
			if err != nil {
				return err
			}
			part++
			batch, size = map[string]map[string]json.RawMessage{}, 0
			return s.fed.edus.QueueEDU(ctx, []string{server}, edu)
		}
		for _, u := range users {
			devices := make([]string, 0, len(byUser[u]))
			for d := range byUser[u] {
				devices = append(devices, d)
			}
			sort.Strings(devices)
			for _, d := range devices {
				content := byUser[u][d]
				if size > 0 && size+len(content) > maxToDeviceEDUBytes {
					if err := flush(); err != nil {
						return err
					}
				}
				if batch[u] == nil {
					batch[u] = map[string]json.RawMessage{}
				}
				batch[u][d] = content
				size += len(u) + len(d) + len(content)
			}
		}
		if err := flush(); err != nil {
			return err
		}
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
// position to, at most maxCount of them and, after the first
// position, at most SyncBytes. limitedAt is the position through which
// the returned messages go when more are waiting (0 when everything up
// to to was returned). Only the sizes of the waiting messages are read
// before choosing, so a long queue never costs more memory than a
// response.
func (s *Service) pendingToDevice(ctx context.Context, userID, deviceID string, ackUpTo, to int64, maxCount int) (events []json.RawMessage, limitedAt int64, err error) {
	if ackUpTo > 0 {
		if err := s.store.AckToDevice(ctx, userID, deviceID, ackUpTo); err != nil {
			return nil, 0, err
		}
	}
	queued, err := s.store.PendingToDeviceSizes(ctx, userID, deviceID, to, maxCount+1)
	if err != nil {
		return nil, 0, err
	}
	n := toDeviceBatch(queued, maxCount, s.toDeviceLimits.SyncBytes)
	if n == 0 {
		return nil, 0, nil
	}
	upTo := queued[n-1].Pos
	msgs, err := s.store.PendingToDevice(ctx, userID, deviceID, upTo, n)
	if err != nil {
		return nil, 0, err
	}
	if n < len(queued) {
		limitedAt = upTo
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

// toDeviceBatch is how many of the queued messages (in order) one sync
// delivers: whole positions, since an acknowledgement covers whole
// positions, while they keep within maxCount and maxBytes (0: no byte
// cap). The first position always goes, however large, or a message
// larger than the budget would never be delivered; one request puts at
// most two messages for a device at a position (its own ID and "*"), so
// a position never exceeds maxCount. When queued holds more than
// maxCount entries the last position may be cut short: it is never
// taken, since taking it would exceed maxCount.
func toDeviceBatch(queued []QueuedToDevice, maxCount int, maxBytes int64) int {
	n := 0
	var bytes int64
	for n < len(queued) {
		end := n
		var add int64
		for end < len(queued) && queued[end].Pos == queued[n].Pos {
			add += queued[end].Bytes
			end++
		}
		if n > 0 && (end > maxCount || (maxBytes > 0 && bytes+add > maxBytes)) {
			break
		}
		n, bytes = end, bytes+add
	}
	return n
}
