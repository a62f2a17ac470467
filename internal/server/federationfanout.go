package server

import (
	"context"
	"encoding/json"
	"log/slog"

	"foyer/internal/federationsender"
	"foyer/internal/rooms"
)

// queueRoomEvent queues an event shown in a room for the other servers
// with members there. Queueing only writes the database; a failure is
// logged, and those servers fetch the event later through prev_events.
func queueRoomEvent(sender *federationsender.Sender, log *slog.Logger, se rooms.StoredEvent, servers []string) {
	if err := sender.Queue(context.Background(), servers, json.RawMessage(se.Event.JSON())); err != nil {
		log.Error("queueing a room event for other servers", "event_id", se.Event.EventID(), "err", err)
	}
}
