package federationapi

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"strings"

	"foyer/internal/httpapi"
	"foyer/internal/rooms/matrixevents"
	"foyer/internal/serverkeys"
)

type originKey struct{}

// Origin is the server name a signed federation request came from, as
// X-Matrix authentication established it; "" outside signed routes.
func Origin(ctx context.Context) string {
	s, _ := ctx.Value(originKey{}).(string)
	return s
}

// WithOrigin returns ctx carrying origin as the request's sender.
func WithOrigin(ctx context.Context, origin string) context.Context {
	return context.WithValue(ctx, originKey{}, origin)
}

func errUnauthorized(format string, args ...any) *httpapi.Error {
	return httpapi.NewError(http.StatusUnauthorized, "M_UNAUTHORIZED", format, args...)
}

// signed wraps a handler of a route other servers call: the request must
// carry an X-Matrix Authorization header for this server, signed with a
// current key of its origin over method, URI, origin, destination and
// body (401 M_UNAUTHORIZED otherwise), from a server that
// federation.allowed_servers and blocked_servers permit (403 M_FORBIDDEN
// otherwise). The handler finds the origin with Origin. A signed request
// shows its origin is up: HeardFrom is told, so what waits for it goes.
func (a *API) signed(h httpapi.HandlerFunc) httpapi.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		origin, err := a.authenticate(r)
		if err != nil {
			return err
		}
		httpapi.SetCaller(r, origin)
		if a.HeardFrom != nil {
			a.HeardFrom(origin)
		}
		return h(w, r.WithContext(WithOrigin(r.Context(), origin)))
	}
}

// authenticate checks r's X-Matrix signature and returns its origin. The
// body is read for the check and put back for the handler.
func (a *API) authenticate(r *http.Request) (string, error) {
	header := r.Header.Get("Authorization")
	if header == "" {
		return "", errUnauthorized("this request must be signed: missing X-Matrix Authorization header")
	}
	x, err := matrixevents.ParseXMatrix(header)
	if err != nil {
		return "", errUnauthorized("bad X-Matrix Authorization header: %v", err)
	}
	if !matrixevents.ValidServerName(x.Origin) {
		return "", httpapi.NewError(http.StatusBadRequest, "M_UNAUTHORIZED", "the X-Matrix origin %q is not a server name", x.Origin)
	}
	ours := a.Keys.ServerName()
	if x.Destination != "" && !strings.EqualFold(x.Destination, ours) {
		return "", errUnauthorized("this request is for %s, not this server (%s)", x.Destination, ours)
	}
	if !a.Keys.Permits(x.Origin) {
		return "", httpapi.ErrForbidden("federation with %s is not permitted on this server", x.Origin)
	}
	body, err := httpapi.ReadBody(r)
	if err != nil {
		return "", err
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	key, err := a.Keys.RequestKey(r.Context(), x.Origin, x.KeyID)
	switch {
	case errors.Is(err, serverkeys.ErrServerNotPermitted):
		return "", httpapi.ErrForbidden("federation with %s is not permitted on this server", x.Origin)
	case errors.Is(err, serverkeys.ErrKeyNotFound), errors.Is(err, serverkeys.ErrNoOutbound):
		return "", errUnauthorized("no current key %s of %s is known to this server", x.KeyID, x.Origin)
	case err != nil:
		return "", err
	}
	uri := r.RequestURI
	if uri == "" {
		uri = r.URL.RequestURI()
	}
	// Signed with our own name, whether or not the header named it.
	if err := matrixevents.VerifyXMatrix(x, ours, r.Method, uri, body, key); err != nil {
		return "", errUnauthorized("the X-Matrix signature does not check: %v", err)
	}
	return x.Origin, nil
}
