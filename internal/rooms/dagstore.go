package rooms

import "context"

// DAGStore is what serving a room's DAG to other servers asks of the
// store beyond reading events.
type DAGStore interface {
	// ServerEverJoined reports whether a user of server has ever been
	// joined to the room (an accepted join event, shown or not).
	ServerEverJoined(ctx context.Context, roomID, server string) (bool, error)
}
