package httpapi

import (
	"net/http"
	"net/netip"

	"foyer/internal/clientaddr"
)

// clientAddress is the caller's address for rate limits, last-seen records
// and the request log (see clientaddr.Resolver.Client).
func (a *API) clientAddress(r *http.Request) netip.Addr {
	forwarded := r.Header.Values("X-Forwarded-For")
	if len(forwarded) > 0 && !a.Proxies.Configured() {
		// Most likely a reverse proxy nobody named: say once how to let
		// Foyer tell its clients apart.
		a.forwardedUnheeded.Do(func() {
			peer, _ := clientaddr.PeerAddr(r.RemoteAddr)
			a.Log.Warn("requests carry X-Forwarded-For but http.trusted_proxies is empty: every client behind a reverse proxy shares its rate limits; list the proxy there", "peer", peer)
		})
	}
	return a.Proxies.Client(r.RemoteAddr, forwarded)
}
