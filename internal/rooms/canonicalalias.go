package rooms

import (
	"context"
	"encoding/json"
	"errors"

	"foyer/internal/refusal"
	"foyer/internal/rooms/matrixevents"
)

// checkCanonicalAlias applies the spec's rule for m.room.canonical_alias:
// every alias it names (alias and alt_aliases) must be a valid alias and,
// when it is ours, must exist and point to this room.
func (s *Service) checkCanonicalAlias(ctx context.Context, roomID string, content json.RawMessage) error {
	var c struct {
		Alias      *string  `json:"alias"`
		AltAliases []string `json:"alt_aliases"`
	}
	if err := json.Unmarshal(content, &c); err != nil {
		return refusal.New(refusal.BadJSON, "m.room.canonical_alias content: alias must be a string and alt_aliases a list of strings")
	}
	var aliases []string
	if c.Alias != nil && *c.Alias != "" {
		aliases = append(aliases, *c.Alias)
	}
	aliases = append(aliases, c.AltAliases...)
	for _, alias := range aliases {
		if !matrixevents.ValidRoomAlias(alias) {
			return refusal.New(refusal.InvalidParam, "%q is not a room alias", alias)
		}
		if _, server, _ := matrixevents.SplitUserID("@" + alias[1:]); server != s.serverName {
			continue // another server's alias cannot be checked without federation
		}
		target, _, err := s.store.GetAlias(ctx, alias)
		if errors.Is(err, ErrNotFound) {
			return refusal.New(refusal.BadAlias, "the alias %s does not exist; create it with PUT /directory/room first", alias)
		}
		if err != nil {
			return err
		}
		if target != roomID {
			return refusal.New(refusal.BadAlias, "the alias %s points to another room", alias)
		}
	}
	return nil
}
