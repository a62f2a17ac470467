package appservicesender

import "context"

// MSC3202 key counts: after another user claims a one-time or fallback
// key of a device of a service's user, the service's next transaction
// carries that device's remaining counts, so an encrypting bridge knows
// to upload more. Claims wait in memory: after a restart a bridge
// uploads keys as it starts anyway.

// deviceRef is one device.
type deviceRef struct{ userID, deviceID string }

// KeysClaimed is told of a local device that gave up a key
// (e2ee.Service OnKeysClaimed listener).
func (s *Sender) KeysClaimed(userID, deviceID string) {
	for _, w := range s.workers {
		if !w.as.DeviceMasquerading || !w.as.OwnsUser(userID) {
			continue
		}
		w.mu.Lock()
		if w.claimed == nil {
			w.claimed = map[deviceRef]bool{}
		}
		w.claimed[deviceRef{userID, deviceID}] = true
		w.mu.Unlock()
		w.poke()
	}
}

func (w *worker) takeClaimed() map[deviceRef]bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	c := w.claimed
	w.claimed = nil
	return c
}

// putBackClaimed returns devices whose counts could not be sent.
func (w *worker) putBackClaimed(c map[deviceRef]bool) {
	if len(c) == 0 {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.claimed == nil {
		w.claimed = map[deviceRef]bool{}
	}
	for d := range c {
		w.claimed[d] = true
	}
}

// keyCounts reads the counts of the claimed devices.
func (w *worker) keyCounts(ctx context.Context, claimed map[deviceRef]bool) (map[string]map[string]map[string]int, map[string]map[string][]string, error) {
	if len(claimed) == 0 || w.s.opts.KeyCounts == nil {
		return nil, nil, nil
	}
	otk := map[string]map[string]map[string]int{}
	fallback := map[string]map[string][]string{}
	for d := range claimed {
		counts, unused, err := w.s.opts.KeyCounts(ctx, d.userID, d.deviceID)
		if err != nil {
			return nil, nil, err
		}
		if otk[d.userID] == nil {
			otk[d.userID] = map[string]map[string]int{}
			fallback[d.userID] = map[string][]string{}
		}
		otk[d.userID][d.deviceID] = counts
		if unused == nil {
			unused = []string{}
		}
		fallback[d.userID][d.deviceID] = unused
	}
	return otk, fallback, nil
}

// claimedIn lists the devices whose counts a transaction carries.
func claimedIn(txn transaction) map[deviceRef]bool {
	c := map[deviceRef]bool{}
	for u, devs := range txn.OTKCounts {
		for d := range devs {
			c[deviceRef{u, d}] = true
		}
	}
	return c
}
