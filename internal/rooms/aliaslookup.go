package rooms

import (
	"context"
	"errors"
	"slices"
	"strings"

	"foyer/internal/federationclient"
	"foyer/internal/refusal"
	"foyer/internal/rooms/matrixevents"
)

// LookupAlias returns the room an alias names and servers that can be
// asked to join it. This server's aliases are looked up here (LocalAlias);
// another server's alias is asked of that server (/query/directory).
func (s *Service) LookupAlias(ctx context.Context, alias string) (string, []string, error) {
	if !matrixevents.ValidRoomAlias(alias) {
		return "", nil, refusal.New(refusal.InvalidParam, "%q is not a room alias", alias)
	}
	server := alias[strings.IndexByte(alias, ':')+1:]
	if strings.EqualFold(server, s.serverName) || s.joins == nil {
		return s.LocalAlias(ctx, alias)
	}
	ans, err := s.joins.QueryDirectory(ctx, server, alias)
	if err != nil {
		if re, ok := federationclient.RemoteError(err); ok && re.Status == 404 {
			return "", nil, refusal.New(refusal.NotFound, "the room alias %s does not exist", alias)
		}
		if relayed := relayRemote(err); relayed != err {
			return "", nil, relayed
		}
		if errors.Is(err, federationclient.ErrNotPermitted) {
			return "", nil, refusal.New(refusal.NotFound, "the room alias %s is of a server this one may not ask", alias)
		}
		s.log.InfoContext(ctx, "looking up a remote room alias", "alias", alias, "err", err)
		return "", nil, &refusal.Error{Kind: refusal.Unreachable, Msg: "could not reach " + server + " to look up " + alias}
	}
	if !matrixevents.ValidRoomID(ans.RoomID) {
		return "", nil, &refusal.Error{Kind: refusal.Unreachable, Msg: server + " answered the lookup of " + alias + " without a valid room ID"}
	}
	servers := slices.DeleteFunc(slices.Clone(ans.Servers), func(name string) bool { return !matrixevents.ValidServerName(name) })
	if !slices.Contains(servers, server) {
		servers = append(servers, server)
	}
	return ans.RoomID, servers, nil
}

// LocalAlias returns the room one of this server's aliases names, with
// this server and the others that have joined members in the room: what
// /query/directory answers other servers.
func (s *Service) LocalAlias(ctx context.Context, alias string) (string, []string, error) {
	roomID, err := s.ResolveAlias(ctx, alias)
	if err != nil {
		return "", nil, err
	}
	servers := []string{s.serverName}
	if sum, err := s.MemberCounts(ctx, roomID); err == nil {
		for _, name := range sum.JoinedServers {
			if !slices.Contains(servers, name) {
				servers = append(servers, name)
			}
		}
	}
	return roomID, servers, nil
}
