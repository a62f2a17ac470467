package federationclient

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
)

// A server without the v2 send_join and send_leave (404 M_UNRECOGNIZED) is
// asked the v1 ones, whose [200, answer] is unwrapped; a server that has
// v2 and refuses is not asked v1.
func TestSendJoinAndLeaveFallBackToV1(t *testing.T) {
	var paths []string
	c := newClient(t, func(w http.ResponseWriter, r *http.Request) {
		paths = append(paths, r.URL.Path)
		switch {
		case strings.Contains(r.URL.Path, "refusing"):
			w.WriteHeader(403)
			io.WriteString(w, `{"errcode":"M_FORBIDDEN","error":"no"}`)
		case strings.HasPrefix(r.URL.Path, "/_matrix/federation/v2/"):
			w.WriteHeader(404)
			io.WriteString(w, `{"errcode":"M_UNRECOGNIZED","error":"unknown endpoint"}`)
		case strings.Contains(r.URL.Path, "send_join"):
			io.WriteString(w, `[200, {"origin":"b.example","state":[{"type":"m.room.create"}],"auth_chain":[]}]`)
		default:
			io.WriteString(w, `[200, {}]`)
		}
	}, Options{})
	ctx := context.Background()
	ans, err := c.SendJoin(ctx, "b.example", "!r:b.example", "$e", json.RawMessage(`{}`))
	if err != nil || ans.Origin != "b.example" || len(ans.State) != 1 {
		t.Fatalf("SendJoin through v1: %+v, %v", ans, err)
	}
	if err := c.SendLeave(ctx, "b.example", "!r:b.example", "$l", json.RawMessage(`{}`)); err != nil {
		t.Fatalf("SendLeave through v1: %v", err)
	}
	paths = nil
	_, err = c.SendJoin(ctx, "b.example", "!refusing:b.example", "$e", json.RawMessage(`{}`))
	if e, ok := RemoteError(err); !ok || e.Status != 403 || len(paths) != 1 {
		t.Fatalf("a v2 refusal: %v after %v", err, paths)
	}
}
