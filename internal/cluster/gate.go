package cluster

import (
	"context"
	"crypto/subtle"
	"net/http"
	"net/netip"
)

// pollElsewhereHeader marks a forwarded long-poll its follower holds: the
// writer answers at once, and when there is nothing new says what to
// wait for (PollElsewhere).
const pollElsewhereHeader = "X-Foyer-Poll-Elsewhere"

// PollAnswerHeader marks the writer's answer to such a poll that found
// nothing new: its body is a PolledAnswer.
const PollAnswerHeader = "X-Foyer-Poll"

type pollElsewhereKey struct{}

// PolledElsewhere reports whether r is a long-poll another process holds
// (only the gate, behind the cluster key, says so).
func PolledElsewhere(r *http.Request) bool {
	v, _ := r.Context().Value(pollElsewhereKey{}).(bool)
	return v
}

// Gate is the writer's side of forwarding: the handler of its cluster
// listener. It admits requests that carry the cluster key, takes the
// client's address from them, and serves them with the handler serve
// returns; nil (this process does not write, or not yet) answers 503, so
// a request is never forwarded twice.
func Gate(key string, serve func() http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if subtle.ConstantTimeCompare([]byte(r.Header.Get(keyHeader)), []byte(key)) != 1 {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusForbidden)
			_, _ = w.Write([]byte(`{"errcode":"M_FORBIDDEN","error":"this listener takes requests from the server's own processes"}`))
			return
		}
		h := serve()
		if h == nil {
			writerUnavailable(w)
			return
		}
		r.Header.Del(keyHeader)
		if a, err := netip.ParseAddr(r.Header.Get(clientAddressHeader)); err == nil {
			r.RemoteAddr = netip.AddrPortFrom(a, 0).String()
		}
		r.Header.Del(clientAddressHeader)
		if r.Header.Get(pollElsewhereHeader) != "" {
			r.Header.Del(pollElsewhereHeader)
			r = r.WithContext(context.WithValue(r.Context(), pollElsewhereKey{}, true))
		}
		h.ServeHTTP(w, r)
	})
}
