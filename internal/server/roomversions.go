package server

import (
	"foyer/internal/clientapi"
	"foyer/internal/rooms/matrixevents"
)

// roomVersions is what /capabilities advertises: every version the event
// library supports, and the default rooms are created with.
func roomVersions() clientapi.RoomVersions {
	rv := clientapi.RoomVersions{Default: matrixevents.DefaultRoomVersion, Available: map[string]string{}}
	for _, v := range matrixevents.SupportedVersions() {
		rv.Available[v] = "stable"
	}
	return rv
}
