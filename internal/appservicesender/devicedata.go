package appservicesender

import (
	"context"
	"encoding/json"
	"slices"
)

// streamedDeviceData adds what the stream holds between from and to for
// the service's devices: to-device messages to its users (MSC4203, with
// receive_ephemeral), and users of its rooms whose device lists changed
// (MSC3202).
func (w *worker) streamedDeviceData(ctx context.Context, from, to int64) (toDev []json.RawMessage, changed []string, err error) {
	feed := w.s.opts.Feed
	if w.as.PushesEphemeral() {
		msgs, err := feed.ToDeviceAfter(ctx, from, to)
		if err != nil {
			return nil, nil, err
		}
		for _, m := range msgs {
			if !w.as.OwnsUser(m.UserID) {
				continue
			}
			raw, _ := json.Marshal(m)
			toDev = append(toDev, raw)
		}
	}
	if w.as.DeviceMasquerading {
		users, err := feed.DeviceListChangesAfter(ctx, from, to)
		if err != nil {
			return nil, nil, err
		}
		for _, u := range users {
			ok, err := w.s.ephemeralFor(ctx, w.as, ephemeralItem{userID: u})
			if err != nil {
				return nil, nil, err
			}
			if ok && !slices.Contains(changed, u) {
				changed = append(changed, u)
			}
		}
	}
	return toDev, changed, nil
}

// requeueParts puts back ephemeral data taken for a transaction that
// could not be built.
func (w *worker) requeueParts(eph, toDev []json.RawMessage, devs *DeviceLists) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.ephemeral = append(eph, w.ephemeral...)
	w.toDevice = append(toDev, w.toDevice...)
	if devs != nil {
		w.addDeviceListsLocked(devs.Changed, devs.Left)
	}
}
