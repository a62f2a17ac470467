package server

import (
	"context"
	"log/slog"

	"foyer/internal/clientdata"
	"foyer/internal/config"
	"foyer/internal/metrics"
	"foyer/internal/outbound"
	"foyer/internal/push"
	"foyer/internal/pushsender"
	"foyer/internal/rooms"
	"foyer/internal/rooms/matrixevents"
	"foyer/internal/storage"
)

// pushRooms is the room service as the push sender needs it.
type pushRooms struct{ *rooms.Service }

func (r pushRooms) GetEvent(ctx context.Context, eventID string) (rooms.StoredEvent, error) {
	return r.Store().GetEvent(ctx, eventID)
}

// newPushSender builds the push sender: it follows the stream for new
// events, hears of local users' receipts for badge updates, and sends
// through the outbound client.
func newPushSender(cfg config.Config, log *slog.Logger, store *storage.PushNotificationStore, roomsSvc *rooms.Service,
	pushSvc *push.Service, stream *storage.Stream, clientData *clientdata.Service, ignores pushsender.Ignores, out *outbound.Client) *pushsender.Sender {
	sender := pushsender.New(store, pushRooms{roomsSvc}, pushSvc, stream, pushsender.Options{
		ServerName:     cfg.ServerName,
		HTTP:           out.HTTPClient(),
		GiveUpAfter:    cfg.Push.GiveUpAfter,
		RequestTimeout: cfg.Push.RequestTimeout,
		Ignores:        ignores,
		Log:            log,
	})
	stream.OnAdvance(sender.StreamAdvanced)
	clientData.OnWrite(func(w clientdata.Write) {
		if w.RoomID == "" {
			return
		}
		if _, server, ok := matrixevents.SplitUserID(w.UserID); ok && server == cfg.ServerName {
			sender.UserRead(w.UserID)
		}
	})
	return sender
}

// watchPush counts the sender's deliveries and reads its queue lengths at
// each scrape.
func watchPush(m *metrics.Metrics, sender *pushsender.Sender) {
	sender.SetMetrics(m.WatchPush(func(ctx context.Context) ([]metrics.PushQueue, error) {
		qs, err := sender.QueueLengths(ctx)
		out := make([]metrics.PushQueue, len(qs))
		for i, q := range qs {
			out[i] = metrics.PushQueue{URL: q.URL, Length: q.Length}
		}
		return out, err
	}))
}
