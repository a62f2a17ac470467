package server

import (
	"foyer/internal/config"
	"foyer/internal/remoteprofile"
)

// remoteProfiles is the remote profile lookup, or nil with federation
// off (other servers' users are then not found, as before federation).
func remoteProfiles(cfg config.Config, svc *Services) *remoteprofile.Cache {
	if !cfg.Federation.Enabled {
		return nil
	}
	return remoteprofile.New(svc.FederationClient, remoteprofile.Options{})
}
