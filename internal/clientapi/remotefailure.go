package clientapi

import (
	"context"
	"errors"
	"net/http"

	"foyer/internal/federationclient"
	"foyer/internal/httpapi"
)

// remoteFailure turns the failure of a request to another server into an
// error a client understands, as Synapse answers: the remote server's own
// 4xx when passOn allows it (a 404 always), 403 M_FORBIDDEN when
// federation may not reach the server, 504 when it did not answer in
// time, and 502 for every other failure (unreachable, a 5xx, an answer
// that is not the expected JSON).
func remoteFailure(err error, server, what string, passOn bool) error {
	if re, ok := federationclient.RemoteError(err); ok {
		if re.Status == http.StatusNotFound {
			code := re.Code
			if code == "" {
				code = "M_NOT_FOUND"
			}
			return httpapi.NewError(http.StatusNotFound, code, "%s: %s", server, orDefault(re.Message, "not found"))
		}
		if passOn && re.Status >= 400 && re.Status < 500 && re.Code != "" {
			return httpapi.NewError(re.Status, re.Code, "%s: %s", server, re.Message)
		}
		return httpapi.ErrUnknown(http.StatusBadGateway, "failed to fetch %s from %s: it answered %d", what, server, re.Status)
	}
	switch {
	case errors.Is(err, federationclient.ErrNotPermitted):
		return httpapi.ErrForbidden("federation with %s is not permitted", server)
	case errors.Is(err, context.DeadlineExceeded):
		return httpapi.ErrUnknown(http.StatusGatewayTimeout, "timed out fetching %s from %s", what, server)
	}
	return httpapi.ErrUnknown(http.StatusBadGateway, "failed to fetch %s from %s", what, server)
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
