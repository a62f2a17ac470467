package rooms

import (
	"context"
	"errors"

	"foyer/internal/rooms/matrixevents"
)

// ResolveAlias returns the room a local alias points to.
func (s *Service) ResolveAlias(ctx context.Context, alias string) (string, error) {
	if !matrixevents.ValidRoomAlias(alias) {
		return "", newErr(KindInvalidParam, "%q is not a room alias", alias)
	}
	roomID, _, err := s.store.GetAlias(ctx, alias)
	if errors.Is(err, ErrNotFound) {
		return "", newErr(KindNotFound, "the room alias %s does not exist", alias)
	}
	return roomID, err
}
