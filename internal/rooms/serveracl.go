package rooms

import (
	"context"
	"encoding/json"
	"errors"
	"net/netip"
	"strings"

	"foyer/internal/refusal"
)

// TypeServerACL is the state event that says which servers may take part
// in a room.
const TypeServerACL = "m.room.server_acl"

// InboundRoom is what another server's event for a room is checked
// against before it is received.
type InboundRoom struct {
	Version string
	// Participating: a user of this server is joined to the room.
	Participating bool
	// OriginAllowed: the room's current server ACL admits the sending
	// server (true when the room has none).
	OriginAllowed bool
}

// InboundCheck reports on roomID for an event sent by the server origin:
// the room's version, whether this server takes part in it, and whether
// its server ACL admits origin. A room this server does not know is a
// refusal of kind NotFound.
func (s *Service) InboundCheck(ctx context.Context, roomID, origin string) (InboundRoom, error) {
	return s.InboundCheckFor(ctx, roomID, origin, nil)
}

// InboundCheckFor is InboundCheck within a batch of received events (see
// ReceiveBatch), which it leaves held: events held leave the room's state
// as it was.
func (s *Service) InboundCheckFor(ctx context.Context, roomID, origin string, b *ReceiveBatch) (InboundRoom, error) {
	// Asked of the store first, unless the room has a lock entry already:
	// other servers name rooms at will, and a room's lock entry, once
	// made, stays. (Locking a room the store lacks refuses it the same.)
	if !s.hasEntry(roomID) {
		if _, err := s.store.GetRoom(ctx, roomID); errors.Is(err, ErrNotFound) {
			return InboundRoom{}, refusal.New(refusal.NotFound, "there is no room %s on this server", roomID)
		} else if err != nil {
			return InboundRoom{}, err
		}
	}
	e, err := s.lockRoomFor(ctx, roomID, b)
	if err != nil {
		return InboundRoom{}, err
	}
	defer e.mu.Unlock()
	out := InboundRoom{Version: e.info.Version, OriginAllowed: true}
	suffix := ":" + s.serverName
	for t, se := range e.state {
		if t.Type == "m.room.member" && strings.HasSuffix(t.StateKey, suffix) && se.Event.Membership() == "join" {
			out.Participating = true
			break
		}
	}
	snap := RoomSnapshot{Info: e.info, State: e.state}
	if acl, ok := snap.Get(TypeServerACL, ""); ok {
		out.OriginAllowed = ServerACLAllows(acl.Event.Content(), origin)
	}
	return out, nil
}

// ServerACLAllows applies the content of an m.room.server_acl event to a
// server name, as the spec orders it: an IP literal is denied when
// allow_ip_literals is false, then a deny match denies, an allow match
// allows, and anything else is denied. The port is not considered;
// patterns are case-insensitive globs.
func ServerACLAllows(content json.RawMessage, server string) bool {
	var acl struct {
		AllowIPLiterals any   `json:"allow_ip_literals"`
		Allow           []any `json:"allow"`
		Deny            []any `json:"deny"`
	}
	// Unusable content is an ACL that allows nothing, as an empty allow
	// list would be.
	if err := json.Unmarshal(content, &acl); err != nil {
		return false
	}
	host := strings.ToLower(hostOf(server))
	if allowIP, ok := acl.AllowIPLiterals.(bool); ok && !allowIP {
		if _, err := netip.ParseAddr(strings.Trim(host, "[]")); err == nil {
			return false
		}
	}
	for _, p := range acl.Deny {
		if s, ok := p.(string); ok && globMatches(strings.ToLower(s), host) {
			return false
		}
	}
	for _, p := range acl.Allow {
		if s, ok := p.(string); ok && globMatches(strings.ToLower(s), host) {
			return true
		}
	}
	return false
}

// hostOf is a server name without its port: "[::1]:8448" → "[::1]",
// "example.org:8448" → "example.org".
func hostOf(server string) string {
	if strings.HasPrefix(server, "[") {
		if i := strings.Index(server, "]"); i >= 0 {
			return server[:i+1]
		}
		return server
	}
	if i := strings.LastIndex(server, ":"); i >= 0 {
		return server[:i]
	}
	return server
}

// globMatches matches s against a glob where '*' is any run of characters
// and '?' exactly one.
func globMatches(pattern, s string) bool {
	// Iterative matching with one backtrack point for the last '*'.
	p, i := 0, 0
	star, mark := -1, 0
	for i < len(s) {
		switch {
		case p < len(pattern) && (pattern[p] == '?' || pattern[p] == s[i]):
			p++
			i++
		case p < len(pattern) && pattern[p] == '*':
			star, mark = p, i
			p++
		case star >= 0:
			p = star + 1
			mark++
			i = mark
		default:
			return false
		}
	}
	for p < len(pattern) && pattern[p] == '*' {
		p++
	}
	return p == len(pattern)
}
