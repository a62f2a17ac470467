package federationapi

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"
	"unicode/utf8"

	"foyer/internal/httpapi"
	"foyer/internal/refusal"
	"foyer/internal/rooms"
	"foyer/internal/rooms/matrixevents"
)

// Transaction limits: the spec's counts, and a body cap that holds 50
// PDUs of the 64 KiB an event may have, with room for the EDUs.
const (
	maxTxnPDUs  = 50
	maxTxnEDUs  = 100
	maxTxnBytes = 5 << 20
)

// Transactions from one origin: a sustained rate and a burst, enough for a
// busy server's queue after an outage, small enough that one server cannot
// keep this one busy checking signatures.
const (
	txnPerSecond = 10
	txnBurst     = 50
)

// transaction is the body of PUT /_matrix/federation/v1/send/{txnId}.
type transaction struct {
	Origin         string            `json:"origin"`
	OriginServerTS int64             `json:"origin_server_ts"`
	PDUs           []json.RawMessage `json:"pdus"`
	EDUs           []json.RawMessage `json:"edus"`
}

// TransactionLog keeps the answers given to other servers' transactions,
// by origin and transaction ID.
type TransactionLog interface {
	Answer(ctx context.Context, origin, txnID string) ([]byte, bool, error)
	SaveAnswer(ctx context.Context, origin, txnID string, answer []byte, now time.Time) error
}

// pduResult is one PDU's entry in the answer: empty when it was handled.
type pduResult struct {
	Error string `json:"error,omitempty"`
}

// sendTransaction is PUT /_matrix/federation/v1/send/{txnId}: a signed
// transaction of PDUs and EDUs from another server. Each PDU is handled on
// its own and answered under its event ID; a PDU that cannot be checked
// or accepted gets an error there, never a failure of the request. A
// transaction ID the origin has used already is answered as before
// without being processed again. EDUs are handled in edus.go.
func (a *API) sendTransaction(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	origin := Origin(ctx)
	if ok, wait := a.txnLimit.Allow(origin); !ok {
		return httpapi.ErrLimitExceeded(wait)
	}
	txnID := r.PathValue("txnId")
	// One transaction of an origin at a time: a retry waits for the first
	// attempt and then gets its answer.
	unlock := a.txnLocks.Lock(origin)
	defer unlock()
	if answer, ok, err := a.Transactions.Answer(ctx, origin, txnID); err != nil {
		return err
	} else if ok {
		writeRawJSON(w, answer)
		return nil
	}
	body, err := httpapi.ReadBody(r)
	if err != nil {
		return err
	}
	var txn transaction
	if err := json.Unmarshal(body, &txn); err != nil {
		return httpapi.ErrBadJSON("the transaction is not valid JSON: %v", err)
	}
	if txn.Origin != origin {
		return httpapi.ErrBadJSON("the transaction's origin %q is not the server that signed the request (%s)", txn.Origin, origin)
	}
	if len(txn.PDUs) > maxTxnPDUs {
		return httpapi.ErrBadJSON("a transaction holds at most %d PDUs, this one %d", maxTxnPDUs, len(txn.PDUs))
	}
	if len(txn.EDUs) > maxTxnEDUs {
		return httpapi.ErrBadJSON("a transaction holds at most %d EDUs, this one %d", maxTxnEDUs, len(txn.EDUs))
	}
	results := map[string]pduResult{}
	// What the PDUs' missing prev_events may make this server fetch.
	budget := rooms.NewFetchBudget(rooms.DefaultFetchBudget)
	// The PDUs' writes share commits; all are durable before the answer.
	// (Flushed again on the way out, should a PDU's handling panic: held
	// events hold back every client's view of new events.)
	batch := a.Rooms.NewReceiveBatch()
	defer batch.Flush(context.WithoutCancel(ctx))
	for _, raw := range txn.PDUs {
		id, res, ok := a.receivePDU(r, origin, raw, budget, batch)
		if !ok {
			continue
		}
		results[id] = res
	}
	batch.Flush(ctx)
	for id, res := range results {
		if res.Error == "" && batch.Failed(id) != nil {
			results[id] = failed("this server could not process the event")
		}
	}
	a.receiveEDUs(r, origin, txn.EDUs)
	answer, err := json.Marshal(map[string]any{"pdus": results})
	if err != nil {
		return err
	}
	// Kept even if the sender has gone: its retry gets this answer.
	if err := a.Transactions.SaveAnswer(context.WithoutCancel(ctx), origin, txnID, answer, time.Now()); err != nil {
		return err
	}
	writeRawJSON(w, answer)
	return nil
}

// receivePDU runs the checks on one PDU and hands it to the room. ok is
// false for a PDU so malformed that it has no event ID to answer under;
// it is dropped.
func (a *API) receivePDU(r *http.Request, origin string, raw json.RawMessage, budget *rooms.FetchBudget, batch *rooms.ReceiveBatch) (string, pduResult, bool) {
	ctx := r.Context()
	var head struct {
		RoomID  string `json:"room_id"`
		EventID string `json:"event_id"`
	}
	if err := json.Unmarshal(raw, &head); err != nil || head.RoomID == "" || !utf8.ValidString(head.RoomID) {
		a.log().DebugContext(ctx, "dropping a PDU without a room", "origin", origin)
		return "", pduResult{}, false
	}
	room, err := a.Rooms.InboundCheckFor(ctx, head.RoomID, origin, batch)
	var re *refusal.Error
	switch {
	case errors.As(err, &re) && re.Kind == refusal.NotFound:
		id := head.EventID
		if id == "" {
			// The room's version is unknown: its event ID is taken as the
			// reference hash that room versions 4 onwards share.
			ev, perr := matrixevents.ParseUntrusted(matrixevents.DefaultRoomVersion, raw)
			if perr != nil {
				return "", pduResult{}, false
			}
			id = ev.EventID()
		}
		return id, failed("this server is not in room %s", head.RoomID), true
	case err != nil:
		a.log().ErrorContext(ctx, "checking a received PDU's room", "origin", origin, "room_id", head.RoomID, "err", err)
		id := head.EventID
		return id, failed("this server could not process the event"), id != ""
	}
	ev, err := matrixevents.ParseUntrusted(room.Version, raw)
	if err != nil {
		if head.EventID != "" {
			return head.EventID, failed("invalid event: %v", err), true
		}
		a.log().DebugContext(ctx, "dropping an invalid PDU", "origin", origin, "room_id", head.RoomID, "err", err)
		return "", pduResult{}, false
	}
	id := ev.EventID()
	if !room.Participating {
		return id, failed("this server is not in room %s", head.RoomID), true
	}
	if !room.OriginAllowed {
		return id, failed("%s is denied by the server ACL of room %s", origin, head.RoomID), true
	}
	if err := matrixevents.VerifyEventSignatures(ctx, ev, a.eventKeyFlushing(batch)); err != nil {
		return id, failed("the event's signatures do not check: %v", err), true
	}
	_, err = a.Rooms.ReceiveFromBatched(ctx, origin, ev, budget, batch)
	switch {
	case errors.As(err, &re):
		return id, failed("%s", re.Msg), true
	case err != nil:
		a.log().ErrorContext(ctx, "receiving a PDU", "origin", origin, "event_id", id, "err", err)
		return id, failed("this server could not process the event"), true
	}
	// A rejected event was processed: it is stored as rejected and never
	// shown, and the answer, as Synapse's, carries no error for it (an
	// error says the event could not be handled).
	return id, pduResult{}, true
}

// eventKeyFlushing is Keys.EventKey that first writes the events batch
// holds when the key must be fetched: their stream positions, reserved,
// hold back every client's view of new events until they are written,
// and a remote server may be slow to answer.
func (a *API) eventKeyFlushing(batch *rooms.ReceiveBatch) matrixevents.EventKeyLookup {
	return func(ctx context.Context, serverName, keyID string, ts int64) (ed25519.PublicKey, error) {
		if key, ok := a.Keys.StoredEventKey(ctx, serverName, keyID, ts); ok {
			return key, nil
		}
		batch.Flush(ctx)
		return a.Keys.EventKey(ctx, serverName, keyID, ts)
	}
}

func failed(format string, args ...any) pduResult {
	return pduResult{Error: fmt.Sprintf(format, args...)}
}
