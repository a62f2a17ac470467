package federationapi

import (
	"bytes"
	"encoding/json"
	"net/http"

	"foyer/internal/httpapi"
)

// The v1 send_join and send_leave, which servers older than the v2
// endpoints still call, take the same event and give the same answer as
// v2, wrapped as [200, answer].

// sendJoinV1 is PUT /_matrix/federation/v1/send_join/{roomId}/{eventId}.
func (a *API) sendJoinV1(w http.ResponseWriter, r *http.Request) error {
	return wrappedV1(w, r, a.sendJoin)
}

// sendLeaveV1 is PUT /_matrix/federation/v1/send_leave/{roomId}/{eventId}.
func (a *API) sendLeaveV1(w http.ResponseWriter, r *http.Request) error {
	return wrappedV1(w, r, a.sendLeave)
}

// wrappedV1 runs the v2 handler into a buffer and writes its successful
// answer as [200, answer]; errors are answered as they are.
func wrappedV1(w http.ResponseWriter, r *http.Request, v2 func(http.ResponseWriter, *http.Request) error) error {
	var answer v1Answer
	if err := v2(&answer, r); err != nil {
		return err
	}
	httpapi.WriteJSON(w, http.StatusOK, []any{http.StatusOK, json.RawMessage(answer.body.Bytes())})
	return nil
}

// v1Answer keeps what a v2 handler writes.
type v1Answer struct {
	header http.Header
	body   bytes.Buffer
}

func (b *v1Answer) Header() http.Header {
	if b.header == nil {
		b.header = http.Header{}
	}
	return b.header
}

func (b *v1Answer) Write(p []byte) (int, error) { return b.body.Write(p) }

func (b *v1Answer) WriteHeader(int) {}
