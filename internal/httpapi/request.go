package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"unicode/utf8"

	"foyer/internal/accounts"
	"foyer/internal/clientaddr"
	"foyer/internal/rooms"
)

type ctxKey int

const principalKey ctxKey = iota

// Principal returns the authenticated caller, or nil on an open route
// called without a token.
func Principal(r *http.Request) *accounts.Session {
	s, _ := r.Context().Value(principalKey).(*accounts.Session)
	return s
}

func withPrincipal(ctx context.Context, s *accounts.Session) context.Context {
	if s != nil {
		// Events served to the caller carry the aggregations they may see.
		ctx = rooms.WithViewer(ctx, s.UserID, s.DeviceID)
	}
	return context.WithValue(ctx, principalKey, s)
}

// IsGuest is true for a guest principal; nil-safe.
func IsGuest(s *accounts.Session) bool { return s != nil && s.IsGuest() }

// accessToken finds the token in the Authorization header or, as the spec
// still allows, the access_token query parameter.
func accessToken(r *http.Request) string {
	if h := r.Header.Get("Authorization"); h != "" {
		if t, ok := strings.CutPrefix(h, "Bearer "); ok {
			return strings.TrimSpace(t)
		}
	}
	return r.URL.Query().Get("access_token")
}

// ClientIP is the caller's address: the socket peer's without its port,
// or the client a trusted proxy names in X-Forwarded-For.
func ClientIP(r *http.Request) string {
	if info := requestInfoOf(r); info != nil && info.client.IsValid() {
		return info.client.String()
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// ClientLimitKey is the key the caller's per-address rate limits count
// under: its address, or its /64 for IPv6.
func ClientLimitKey(r *http.Request) string {
	if info := requestInfoOf(r); info != nil && info.client.IsValid() {
		return clientaddr.LimitKey(info.client)
	}
	return ClientIP(r)
}

// ReadJSON decodes the (already size-capped) body into v, which must be a
// pointer to a struct or map. It tells malformed JSON (M_NOT_JSON) from
// JSON of the wrong shape (M_BAD_JSON).
func ReadJSON(r *http.Request, v any) error {
	body, err := ReadBody(r)
	if err != nil {
		return err
	}
	return DecodeJSON(body, v)
}

// ReadBody reads the (already size-capped) body, for a handler that
// decodes it more than once.
func ReadBody(r *http.Request) ([]byte, error) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, ErrTooLarge("request body is larger than %d bytes", mbe.Limit)
		}
		if errors.Is(err, os.ErrDeadlineExceeded) {
			return nil, ErrUnknown(http.StatusRequestTimeout, "the request body did not arrive within the server's read timeout")
		}
		return nil, ErrNotJSON("could not read the request body")
	}
	return body, nil
}

func DecodeJSON(body []byte, v any) error {
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) == 0 {
		return ErrNotJSON("the request body must be a JSON object")
	}
	if !json.Valid(trimmed) || !utf8.Valid(trimmed) {
		return ErrNotJSON("the request body is not valid JSON (UTF-8)")
	}
	if trimmed[0] != '{' {
		return ErrBadJSON("the request body must be a JSON object")
	}
	if err := json.Unmarshal(trimmed, v); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			field := te.Field
			if field == "" {
				field = "the body"
			}
			return ErrBadJSON("%s must be of type %s", field, jsonTypeName(te.Type.Kind().String()))
		}
		return ErrBadJSON("%v", err)
	}
	return nil
}

func jsonTypeName(goKind string) string {
	switch goKind {
	case "string":
		return "string"
	case "bool":
		return "boolean"
	case "map", "struct":
		return "object"
	case "slice", "array":
		return "array"
	case "ptr":
		return "object"
	default:
		return "number"
	}
}

// ReadOptionalJSON is readJSON for endpoints whose body may be empty.
func ReadOptionalJSON(r *http.Request, v any) error {
	body, err := ReadBody(r)
	if err != nil {
		return err
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return nil
	}
	return DecodeJSON(body, v)
}

// maxUserAgentBytes bounds what is stored of a client's User-Agent.
const maxUserAgentBytes = 512

// UserAgent is the request's User-Agent, truncated for storage.
func UserAgent(r *http.Request) string {
	ua := r.UserAgent()
	if len(ua) > maxUserAgentBytes {
		ua = ua[:maxUserAgentBytes]
	}
	// PostgreSQL's text refuses bytes that are not UTF-8.
	return strings.ToValidUTF8(ua, "")
}
