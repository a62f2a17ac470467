package storage

import (
	"context"
	"encoding/json"
	"testing"

	"foyer/internal/push"
	"foyer/internal/pushsender"
)

// Notifications are recorded with the cursor and queued for their user's
// HTTP pushers; a pusher's queue is read in order past what was handled,
// trimmed to its newest entries, emptied by position, given one badge
// update at a time, and goes with its pusher.
func TestPushNotificationQueue(t *testing.T) {
	eachDB(t, func(t *testing.T, db *DB) {
		ctx := context.Background()
		s := NewPushNotificationStore(db)
		url := "https://gw.example/_matrix/push/v1/notify"
		if err := NewPushStore(db).PutPusher(ctx, push.Pusher{UserID: "@u:x", AppID: "app", PushKey: "key", Kind: "http",
			Lang: "en", Data: json.RawMessage(`{"url":"` + url + `"}`), CreatedTS: 1}, true); err != nil {
			t.Fatal(err)
		}
		k := pushsender.PusherKey{UserID: "@u:x", AppID: "app", PushKey: "key"}
		var ns []pushsender.Notification
		for pos := int64(1); pos <= 5; pos++ {
			ns = append(ns, pushsender.Notification{UserID: "@u:x", RoomID: "!r:x", EventID: "$e" + string(rune('0'+pos)),
				StreamPos: pos, Highlight: pos == 5, Actions: []json.RawMessage{json.RawMessage(`"notify"`)}, TS: 10})
		}
		// Someone without pushers is notified but queues nothing.
		ns = append(ns, pushsender.Notification{UserID: "@v:x", RoomID: "!r:x", EventID: "$e5", StreamPos: 5, TS: 10})
		keys, err := s.Record(ctx, ns, 5, 100)
		if err != nil || len(keys) != 1 || keys[0] != k {
			t.Fatalf("record: %v %v", keys, err)
		}
		if cursor, err := s.Cursor(ctx); err != nil || cursor != 5 {
			t.Fatalf("cursor %d %v", cursor, err)
		}
		first, ok, err := s.Next(ctx, k, 0)
		if err != nil || !ok || first.EventID != "$e1" || first.Pusher == nil || string(first.Pusher.Data) == "" || first.IsBadge() {
			t.Fatalf("next: %+v %v %v", first, ok, err)
		}
		second, _, _ := s.Next(ctx, k, first.Position)
		if second.EventID != "$e2" {
			t.Fatalf("next past the first: %+v", second)
		}
		// Keep the newest two and the one being sent.
		if n, err := s.Trim(ctx, k, first.Position, 2); err != nil || n != 2 {
			t.Fatalf("trim: %d %v", n, err)
		}
		if err := s.Remove(ctx, []int64{first.Position}); err != nil {
			t.Fatal(err)
		}
		if q, _, _ := s.Next(ctx, k, 0); q.EventID != "$e4" {
			t.Fatalf("after trim and remove: %+v", q)
		}
		if added, err := s.QueueBadge(ctx, "@u:x", 200); err != nil || len(added) != 1 {
			t.Fatalf("badge: %v %v", added, err)
		}
		if added, _ := s.QueueBadge(ctx, "@u:x", 201); len(added) != 0 {
			t.Fatalf("a second badge update while one waits: %v", added)
		}
		if added, _ := s.QueueBadge(ctx, "@v:x", 201); len(added) != 0 {
			t.Fatalf("a badge update for a user without pushers: %v", added)
		}
		lengths, err := s.QueueLengths(ctx)
		if err != nil || len(lengths) != 1 || lengths[0].URL != url || lengths[0].Length != 3 {
			t.Fatalf("queue lengths %+v %v", lengths, err)
		}
		page, err := s.Notifications(ctx, "@u:x", 0, 2, false)
		if err != nil || len(page.Notifications) != 2 || page.Notifications[0].StreamPos != 5 || page.Next != 4 {
			t.Fatalf("notifications page: %+v %v", page, err)
		}
		page, _ = s.Notifications(ctx, "@u:x", 0, 10, true)
		if len(page.Notifications) != 1 || !page.Notifications[0].Highlight || page.Next != 0 {
			t.Fatalf("highlights: %+v", page)
		}
		if err := s.DeletePusher(ctx, k); err != nil {
			t.Fatal(err)
		}
		if queued, err := s.QueuedPushers(ctx); err != nil || len(queued) != 0 {
			t.Fatalf("queues left after the pusher went: %v %v", queued, err)
		}
	})
}
