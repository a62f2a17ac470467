package pushsender

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"foyer/internal/push"
	"foyer/internal/refusal"
	"foyer/internal/rooms"
)

// maxGatewayAnswerBytes bounds a gateway's answer, a small JSON object.
const maxGatewayAnswerBytes = 64 << 10

type outcome int

const (
	delivered outcome = iota
	// refused: the gateway answered 4xx (not 429); retrying would not help.
	refused
	// rejected: the gateway listed the pushkey as rejected.
	rejected
	// retryLater: a network error, a timeout, 5xx or 429.
	retryLater
)

type result struct {
	outcome outcome
	// sent is false when nothing needed sending (an unchanged badge, an
	// event gone).
	sent bool
	err  error
}

// device is the pusher as the gateway sees it.
type device struct {
	AppID     string                     `json:"app_id"`
	PushKey   string                     `json:"pushkey"`
	PushKeyTS int64                      `json:"pushkey_ts,omitempty"`
	Data      map[string]json.RawMessage `json:"data"`
	Tweaks    map[string]json.RawMessage `json:"tweaks,omitempty"`
}

type counts struct {
	Unread int `json:"unread"`
}

// gatewayNotification is the notification object of the Push Gateway
// API; format event_id_only leaves out everything but the IDs, counts,
// priority and devices.
type gatewayNotification struct {
	// ID is event_id under its old name, still sent by Synapse and read
	// by older gateways.
	ID                string          `json:"id,omitempty"`
	EventID           string          `json:"event_id,omitempty"`
	RoomID            string          `json:"room_id,omitempty"`
	Type              string          `json:"type,omitempty"`
	Sender            string          `json:"sender,omitempty"`
	SenderDisplayName string          `json:"sender_display_name,omitempty"`
	RoomName          string          `json:"room_name,omitempty"`
	RoomAlias         string          `json:"room_alias,omitempty"`
	Membership        string          `json:"membership,omitempty"`
	UserIsTarget      bool            `json:"user_is_target,omitempty"`
	Prio              string          `json:"prio,omitempty"`
	Content           json.RawMessage `json:"content,omitempty"`
	Counts            counts          `json:"counts"`
	Devices           []device        `json:"devices"`
}

// badgeNotification is a badge update, shaped as Synapse sends it: no
// event, the counts, the device.
type badgeNotification struct {
	ID      string   `json:"id"`
	Type    *string  `json:"type"`
	Sender  string   `json:"sender"`
	Counts  counts   `json:"counts"`
	Devices []device `json:"devices"`
}

// deviceOf is the pusher as a device: its data without url, and the
// pushkey's time in seconds.
func deviceOf(p push.Pusher, tweaks map[string]json.RawMessage) device {
	d := device{AppID: p.AppID, PushKey: p.PushKey, PushKeyTS: p.CreatedTS / 1000, Tweaks: tweaks}
	if json.Unmarshal(p.Data, &d.Data) != nil || d.Data == nil {
		d.Data = map[string]json.RawMessage{}
	}
	delete(d.Data, "url")
	return d
}

func pusherURL(p push.Pusher) string {
	var data struct {
		URL string `json:"url"`
	}
	_ = json.Unmarshal(p.Data, &data)
	return data.URL
}

func eventIDOnly(p push.Pusher) bool {
	var data struct {
		Format string `json:"format"`
	}
	_ = json.Unmarshal(p.Data, &data)
	return data.Format == "event_id_only"
}

// gatewayHost names a pusher's gateway in logs and metrics.
func gatewayHost(p push.Pusher) string { return hostOf(pusherURL(p)) }

func hostOf(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return "invalid"
	}
	return strings.ToLower(u.Host)
}

// deliver sends one queue entry to the pusher's gateway.
func (s *Sender) deliver(ctx context.Context, p push.Pusher, item Queued) result {
	k := PusherKey{p.UserID, p.AppID, p.PushKey}
	badge, err := s.store.UnreadRooms(ctx, p.UserID)
	if err != nil {
		return result{outcome: retryLater, err: fmt.Errorf("counting unread rooms: %w", err)}
	}
	var body any
	if item.IsBadge() {
		s.badgeMu.Lock()
		last, known := s.lastBadge[k]
		s.badgeMu.Unlock()
		if known && last == badge {
			return result{outcome: delivered}
		}
		body = badgeNotification{Counts: counts{badge}, Devices: []device{deviceOf(p, nil)}}
	} else {
		n, ok, err := s.eventNotification(ctx, p, item, badge)
		if err != nil {
			return result{outcome: retryLater, err: err}
		}
		if !ok {
			return result{outcome: delivered}
		}
		body = n
	}
	res := s.post(ctx, p, body)
	if res.outcome == delivered || res.outcome == rejected {
		s.badgeMu.Lock()
		s.lastBadge[k] = badge
		s.badgeMu.Unlock()
	}
	return res
}

// eventNotification builds the notification of a queued event, read now
// (a redaction since is respected); false when the event is gone.
func (s *Sender) eventNotification(ctx context.Context, p push.Pusher, item Queued, badge int) (gatewayNotification, bool, error) {
	tweaks := tweaksOf(item.Actions)
	ev, ok, err := s.queuedEvent(ctx, item)
	if err != nil || !ok {
		return gatewayNotification{}, false, err
	}
	n := gatewayNotification{
		EventID: item.EventID, RoomID: item.RoomID, Counts: counts{badge},
		Prio: priority(ev.Type, tweaks), Devices: []device{deviceOf(p, tweaks)},
	}
	if eventIDOnly(p) {
		return n, true, nil
	}
	n.ID, n.Type, n.Sender, n.Content = item.EventID, ev.Type, ev.Sender, ev.Content
	if item.Event != nil {
		n.RoomName = item.RoomName
	} else {
		room, err := s.rooms.PushRoomFor(ctx, item.RoomID)
		var re *refusal.Error
		switch {
		case err == nil:
			// A room without a name is named by its canonical alias, as
			// Synapse names it.
			n.SenderDisplayName, n.RoomName, n.RoomAlias = room.DisplayName(ev.Sender), room.Name, room.CanonicalAlias
			if n.RoomName == "" {
				n.RoomName = room.CanonicalAlias
			}
		case !(errors.As(err, &re) && re.Kind == refusal.NotFound):
			return gatewayNotification{}, false, fmt.Errorf("reading the room: %w", err)
		}
	}
	if ev.StateKey != nil && ev.Type == "m.room.member" {
		var c struct {
			Membership string `json:"membership"`
		}
		_ = json.Unmarshal(ev.Content, &c)
		n.Membership, n.UserIsTarget = c.Membership, *ev.StateKey == p.UserID
	}
	return n, true, nil
}

// pushedEvent is what a notification shows of its event.
type pushedEvent struct {
	Type     string          `json:"type"`
	StateKey *string         `json:"state_key"`
	Sender   string          `json:"sender"`
	Content  json.RawMessage `json:"content"`
}

// queuedEvent reads a queued notification's event now (a redaction since
// is respected), or from the notification for an invite into a room this
// server is not in; false when the event is gone.
func (s *Sender) queuedEvent(ctx context.Context, item Queued) (pushedEvent, bool, error) {
	var ev pushedEvent
	if item.Event != nil {
		return ev, json.Unmarshal(item.Event, &ev) == nil, nil
	}
	now := s.now()
	if ev, ok := s.events.get(item.EventID, now); ok {
		return ev, true, nil
	}
	se, err := s.rooms.GetEvent(ctx, item.EventID)
	if errors.Is(err, rooms.ErrNotFound) {
		return ev, false, nil
	}
	if err != nil {
		return ev, false, fmt.Errorf("reading the event: %w", err)
	}
	ev = pushedEvent{Type: se.Event.Type(), StateKey: se.Event.StateKey(), Sender: se.Event.Sender(), Content: se.Event.Content()}
	s.events.put(item.EventID, ev, now)
	return ev, true, nil
}

// priority is "high" for what a person should hear now (encrypted
// events, whose content the server cannot judge, and those with a
// highlight or sound), "low" for the rest, as Synapse decides.
func priority(eventType string, tweaks map[string]json.RawMessage) string {
	if eventType == "m.room.encrypted" {
		return "high"
	}
	if h, ok := tweaks["highlight"]; ok && string(h) == "true" {
		return "high"
	}
	if _, ok := tweaks["sound"]; ok {
		return "high"
	}
	return "low"
}

// tweaksOf collects the set_tweak actions (highlight without a value is
// true).
func tweaksOf(actions []json.RawMessage) map[string]json.RawMessage {
	var out map[string]json.RawMessage
	for _, a := range actions {
		var obj map[string]json.RawMessage
		if json.Unmarshal(a, &obj) != nil {
			continue
		}
		var name string
		if json.Unmarshal(obj["set_tweak"], &name) != nil || name == "" {
			continue
		}
		value, ok := obj["value"]
		if !ok {
			if name != "highlight" {
				continue
			}
			value = json.RawMessage("true")
		}
		if out == nil {
			out = map[string]json.RawMessage{}
		}
		out[name] = value
	}
	return out
}

// post sends {"notification": body} to the pusher's URL.
func (s *Sender) post(ctx context.Context, p push.Pusher, notification any) result {
	raw, err := json.Marshal(map[string]any{"notification": notification})
	if err != nil {
		return result{outcome: refused, err: err}
	}
	select {
	case s.slots <- struct{}{}:
	case <-ctx.Done():
		return result{outcome: retryLater, err: ctx.Err()}
	}
	defer func() { <-s.slots }()
	ctx, cancel := context.WithTimeout(ctx, s.opt.RequestTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, pusherURL(p), bytes.NewReader(raw))
	if err != nil {
		return result{outcome: refused, err: err}
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := s.opt.HTTP.Do(req)
	if err != nil {
		return result{outcome: retryLater, err: err}
	}
	defer resp.Body.Close()
	answer, err := io.ReadAll(io.LimitReader(resp.Body, maxGatewayAnswerBytes))
	switch {
	case resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500:
		return result{outcome: retryLater, err: errors.New(resp.Status)}
	case resp.StatusCode >= 300:
		return result{outcome: refused, err: errors.New(resp.Status)}
	case err != nil:
		return result{outcome: retryLater, err: fmt.Errorf("reading the answer: %w", err)}
	}
	var a struct {
		Rejected []string `json:"rejected"`
	}
	_ = json.Unmarshal(answer, &a)
	if slices.Contains(a.Rejected, p.PushKey) {
		return result{outcome: rejected, sent: true}
	}
	return result{outcome: delivered, sent: true}
}
