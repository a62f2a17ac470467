package serverkeys

import (
	"context"
	"encoding/json"
	"errors"
	"strings"

	"foyer/internal/rooms/matrixevents"
)

// NotaryQuery answers /_matrix/key/v2/query for one server: its key
// answers, each with our signature added. Our own keys are served as
// published. Another server's come from the cache when valid until
// minimumValidUntilTS (ms), else are fetched; when that fails the cached
// answer is served anyway, as the spec asks of notaries, so old
// signatures stay checkable. No answer at all gives an empty list, and so
// does a server federation may not reach.
func (s *Service) NotaryQuery(ctx context.Context, serverName string, minimumValidUntilTS int64) ([]json.RawMessage, error) {
	if strings.EqualFold(serverName, s.opts.ServerName) {
		own, err := s.OwnKeys()
		if err != nil {
			return nil, err
		}
		return []json.RawMessage{own}, nil
	}
	if !s.opts.Permits(serverName) || !validServerName(serverName) {
		return []json.RawMessage{}, nil
	}
	raw, validUntil, ok, err := s.store.Response(ctx, serverName)
	if err != nil {
		return nil, err
	}
	if !ok || validUntil < minimumValidUntilTS {
		// Without an outbound client the cache is all there is.
		if err := s.refresh(ctx, serverName); err != nil && !errors.Is(err, ErrNoOutbound) {
			return nil, err
		}
		if fresh, _, found, err := s.store.Response(ctx, serverName); err != nil {
			return nil, err
		} else if found {
			raw, ok = fresh, true
		}
	}
	if !ok {
		return []json.RawMessage{}, nil
	}
	signed, err := matrixevents.SignJSON(s.opts.ServerName, s.opts.SigningKey, raw)
	if err != nil {
		return nil, err
	}
	return []json.RawMessage{signed}, nil
}

// validServerName is the spec's grammar of a server name, loosely: a
// hostname, IPv4 or bracketed IPv6 address, and an optional port. Keys
// are fetched only for names that could be one.
func validServerName(name string) bool {
	if name == "" || len(name) > 255 {
		return false
	}
	for _, c := range name {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case c == '.' || c == '-' || c == ':' || c == '[' || c == ']':
		default:
			return false
		}
	}
	return true
}
