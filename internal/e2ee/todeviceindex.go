package e2ee

import "sync"

// toDeviceIndexSize bounds how many devices the index follows; past it
// it starts over, which costs each device one query again.
const toDeviceIndexSize = 50000

// toDeviceIndex spares a sync its to-device queries (the acknowledgement
// and the read) while the device has nothing waiting: it records where
// each message is queued, before it is stored, and where a sync found a
// device with nothing waiting. A device whose newest queued message is
// no later than that has nothing to acknowledge or read.
type toDeviceIndex struct {
	mu sync.Mutex
	// queued is the newest position queued per device since the index
	// started over; floor stands in for devices not in it.
	queued map[[2]string]int64
	floor  int64
	// newest is the newest position ever recorded, the floor of a fresh
	// start.
	newest int64
	// emptyAt is, per device, a position up to which a sync found no
	// message waiting, none being acknowledged later.
	emptyAt map[[2]string]int64
}

func (x *toDeviceIndex) recordQueued(msgs []ToDeviceMessage, pos int64) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.queued == nil || len(x.queued)+len(msgs) > toDeviceIndexSize || len(x.emptyAt) > toDeviceIndexSize {
		x.startOver()
	}
	for _, m := range msgs {
		key := [2]string{m.UserID, m.DeviceID}
		x.queued[key] = max(x.queued[key], pos)
	}
	x.newest = max(x.newest, pos)
}

// startOver forgets every device: until a sync finds one empty again,
// its queries run.
func (x *toDeviceIndex) startOver() {
	x.queued = map[[2]string]int64{}
	x.emptyAt = map[[2]string]int64{}
	x.floor = x.newest
}

// nothingWaiting is true when the device is known to have no message
// queued at all.
func (x *toDeviceIndex) nothingWaiting(userID, deviceID string) bool {
	x.mu.Lock()
	defer x.mu.Unlock()
	key := [2]string{userID, deviceID}
	at, ok := x.emptyAt[key]
	return ok && max(x.queued[key], x.floor) <= at
}

// foundEmpty records that a sync, after acknowledging, found nothing
// queued for the device up to pos, every position up to which was
// visible.
func (x *toDeviceIndex) foundEmpty(userID, deviceID string, pos int64) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.emptyAt == nil || len(x.emptyAt) >= toDeviceIndexSize {
		x.startOver()
	}
	key := [2]string{userID, deviceID}
	x.emptyAt[key] = max(x.emptyAt[key], pos)
}
