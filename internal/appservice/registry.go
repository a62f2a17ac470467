// Package appservice holds the application services (bridges, bots) the
// operator registered: who an as_token speaks for, which user IDs, aliases
// and rooms each one claims, and the client that talks to them.
package appservice

import (
	"crypto/sha256"

	"foyer/internal/config"
)

// Service is one registered application service.
type Service struct {
	config.AppServiceRegistration
	// SenderID is the user ID of sender_localpart, the service's own user.
	SenderID string
}

// OwnsUser reports whether the service may act as userID: its sender, or
// a user in one of its user namespaces, exclusive or not.
func (s *Service) OwnsUser(userID string) bool {
	return userID == s.SenderID || anyMatches(s.Namespaces.Users, userID)
}

// OwnsAlias reports whether alias is in one of the service's alias
// namespaces.
func (s *Service) OwnsAlias(alias string) bool { return anyMatches(s.Namespaces.Aliases, alias) }

// OwnsRoom reports whether roomID is in one of the service's room
// namespaces.
func (s *Service) OwnsRoom(roomID string) bool { return anyMatches(s.Namespaces.Rooms, roomID) }

func anyMatches(list []config.AppServiceNamespace, id string) bool {
	for _, ns := range list {
		if ns.Matches(id) {
			return true
		}
	}
	return false
}

func exclusiveMatches(list []config.AppServiceNamespace, id string) bool {
	for _, ns := range list {
		if ns.Exclusive && ns.Matches(id) {
			return true
		}
	}
	return false
}

// Registry is every registered service. It never changes after start.
type Registry struct {
	services []*Service
	// byToken is keyed by the SHA-256 of each as_token: a lookup compares
	// digests, so its timing tells nothing about how much of a guessed
	// token was right, and the tokens need no other copy in memory.
	byToken map[[sha256.Size]byte]*Service
	byID    map[string]*Service
}

// NewRegistry builds the registry from checked registrations.
func NewRegistry(regs []config.AppServiceRegistration, serverName string) *Registry {
	r := &Registry{byToken: map[[sha256.Size]byte]*Service{}, byID: map[string]*Service{}}
	for _, reg := range regs {
		s := &Service{AppServiceRegistration: reg, SenderID: "@" + reg.SenderLocalpart + ":" + serverName}
		r.services = append(r.services, s)
		r.byToken[sha256.Sum256([]byte(reg.ASToken))] = s
		r.byID[reg.ID] = s
	}
	return r
}

// All returns every service, in the order configured.
func (r *Registry) All() []*Service {
	if r == nil {
		return nil
	}
	return r.services
}

// ByToken returns the service whose as_token this is, or nil.
func (r *Registry) ByToken(token string) *Service {
	if r == nil || token == "" {
		return nil
	}
	return r.byToken[sha256.Sum256([]byte(token))]
}

// ByID returns the service with this id, or nil.
func (r *Registry) ByID(id string) *Service {
	if r == nil {
		return nil
	}
	return r.byID[id]
}

// UserIsExclusive reports whether some service claims userID exclusively
// (its sender included): no one but that service may register it.
func (r *Registry) UserIsExclusive(userID string) bool {
	for _, s := range r.All() {
		if userID == s.SenderID || exclusiveMatches(s.Namespaces.Users, userID) {
			return true
		}
	}
	return false
}

// AliasExclusiveTo returns the service that claims alias exclusively, or
// nil.
func (r *Registry) AliasExclusiveTo(alias string) *Service {
	for _, s := range r.All() {
		if exclusiveMatches(s.Namespaces.Aliases, alias) {
			return s
		}
	}
	return nil
}

// UserQueryTarget returns a service whose user namespace holds userID
// (to ask it about an unknown user), or nil.
func (r *Registry) UserQueryTarget(userID string) *Service {
	for _, s := range r.All() {
		if s.HasURL() && anyMatches(s.Namespaces.Users, userID) {
			return s
		}
	}
	return nil
}

// AliasQueryTarget returns a service whose alias namespace holds alias
// (to ask it about an unknown alias), or nil.
func (r *Registry) AliasQueryTarget(alias string) *Service {
	for _, s := range r.All() {
		if s.HasURL() && s.OwnsAlias(alias) {
			return s
		}
	}
	return nil
}
