package matrixevents

import (
	"errors"
	"fmt"

	gmsl "github.com/matrix-org/gomatrixserverlib"
)

// SignEvent returns ev with serverName's signature added beside the
// others, as an invited server signs an invite: the event ID, hashes and
// every other field stay as they were. The library signs in place, so ev
// must be an event the caller has just parsed and owns.
func SignEvent(ev Event, serverName string, key *SigningKey) (out Event, err error) {
	if ev.pdu == nil || key == nil {
		return Event{}, errors.New("sign event: no event or no key")
	}
	defer func() {
		if r := recover(); r != nil {
			out, err = Event{}, fmt.Errorf("sign event %s: %v", ev.eventID, r)
		}
	}()
	return newEvent(ev.pdu.Sign(serverName, gmsl.KeyID(key.id), key.priv))
}
