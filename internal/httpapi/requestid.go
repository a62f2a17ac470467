package httpapi

import (
	"crypto/rand"
	"encoding/base64"
	"net/http"

	"foyer/internal/clientaddr"
)

// requestIDHeader carries a request's ID: accepted from a trusted proxy
// (so one ID follows the request through both logs), else made here, and
// always returned to the client, which can quote it in a bug report.
const requestIDHeader = "X-Request-Id"

// maxRequestIDLen bounds a proxy's ID; a longer or odd one is replaced.
const maxRequestIDLen = 64

func (a *API) requestID(r *http.Request) string {
	if id := r.Header.Get(requestIDHeader); id != "" && len(id) <= maxRequestIDLen && printableASCII(id) {
		if peer, ok := clientaddr.PeerAddr(r.RemoteAddr); ok && a.Proxies.Trusted(peer) {
			return id
		}
	}
	var b [12]byte
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

func printableASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x21 || s[i] > 0x7e {
			return false
		}
	}
	return true
}
