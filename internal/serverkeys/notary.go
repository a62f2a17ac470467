package serverkeys

import (
	"context"
	"encoding/json"
	"errors"
	"strings"

	"foyer/internal/rooms/matrixevents"
)

// NotaryQuery answers /_matrix/key/v2/query for one server: the last
// answer that listed each of keyIDs (all the server's known keys when
// keyIDs is empty), each answer once, with our signature added. Our own
// keys are served as published.
//
// When a named key has no answer, or an answer is valid until before
// minimumValidUntilTS (ms), the server is asked again, however recently
// it was asked (concurrent queries share one fetch): the asker has said
// what it needs, and the origin may have something newer. What is stored
// afterwards is served, expired answers included, as the spec asks of
// notaries: the most recent answer, even an expired one, still lets old
// signatures be checked. An answer that no longer lists a key leaves that
// key's last answer in place. No answer at all gives an empty list, and so
// does a server federation may not reach.
func (s *Service) NotaryQuery(ctx context.Context, serverName string, keyIDs []string, minimumValidUntilTS int64) ([]json.RawMessage, error) {
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
	answers, err := s.store.Answers(ctx, serverName, keyIDs)
	if err != nil {
		return nil, err
	}
	if !answersSuffice(answers, keyIDs, minimumValidUntilTS) {
		// Without an outbound client the cache is all there is.
		if err := s.fetchKeys(ctx, serverName, false); err != nil && !errors.Is(err, ErrNoOutbound) {
			return nil, err
		}
		if answers, err = s.store.Answers(ctx, serverName, keyIDs); err != nil {
			return nil, err
		}
	}
	out := []json.RawMessage{}
	seen := map[string]bool{}
	for _, a := range answers {
		if seen[string(a.Raw)] {
			continue
		}
		seen[string(a.Raw)] = true
		signed, err := matrixevents.SignJSON(s.opts.ServerName, s.opts.SigningKey, a.Raw)
		if err != nil {
			return nil, err
		}
		out = append(out, signed)
	}
	return out, nil
}

// answersSuffice reports whether the stored answers serve a query without
// asking the origin: every named key has an answer valid until
// minimumValidUntilTS. Asked for all keys, the newest answer must be:
// keys a server has dropped keep their old answers, which must not make
// every such query a fetch.
func answersSuffice(answers []KeyAnswer, keyIDs []string, minimumValidUntilTS int64) bool {
	if len(answers) == 0 {
		return false
	}
	if len(keyIDs) == 0 {
		newest := answers[0].ValidUntilTS
		for _, a := range answers[1:] {
			newest = max(newest, a.ValidUntilTS)
		}
		return newest >= minimumValidUntilTS
	}
	found := map[string]bool{}
	for _, a := range answers {
		if a.ValidUntilTS < minimumValidUntilTS {
			return false
		}
		found[a.KeyID] = true
	}
	for _, id := range keyIDs {
		if !found[id] {
			return false
		}
	}
	return true
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
