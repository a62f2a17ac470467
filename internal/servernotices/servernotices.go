// Package servernotices sends operators' notices to users, as Synapse
// does: each user's arrive in a room of their own, which a system user
// creates (named server_notices.room_name, tagged m.server_notice for the
// user, where only the system user may speak) and invites them to. The
// room is kept: later notices go to it, and a user who left it is
// invited back.
package servernotices

import (
	"context"
	"encoding/json"
	"errors"
	"sync"

	"foyer/internal/accounts"
	"foyer/internal/clientdata"
	"foyer/internal/config"
	"foyer/internal/refusal"
	"foyer/internal/rooms"
)

// RoomTag is the tag a server-notices room carries for its user.
const RoomTag = "m.server_notice"

// Service sends server notices.
type Service struct {
	cfg        config.ServerNotices
	systemUser string
	serverName string
	accounts   *accounts.Service
	rooms      *rooms.Service
	clientData *clientdata.Service
	// mu serialises finding or creating a user's room, so two notices
	// sent at once do not create two rooms.
	mu sync.Mutex
}

// New builds the service; with notices off (no system user configured)
// every send is refused.
func New(cfg config.ServerNotices, serverName string, accts *accounts.Service, roomsSvc *rooms.Service, clientData *clientdata.Service) *Service {
	s := &Service{cfg: cfg, serverName: serverName, accounts: accts, rooms: roomsSvc, clientData: clientData}
	if cfg.Enabled() {
		s.systemUser = SystemUserID(cfg, serverName)
	}
	return s
}

// SystemUserID is the user notices come from; "" when notices are off.
func SystemUserID(cfg config.ServerNotices, serverName string) string {
	if !cfg.Enabled() {
		return ""
	}
	return accounts.UserID(cfg.SystemUserLocalpart, serverName)
}

// Notice is one notice to send.
type Notice struct {
	UserID   string
	Type     string
	StateKey *string
	Content  json.RawMessage
	// Sender and SenderDevice are the admin who sends it and their
	// device; with TxnID, sending again returns the first event.
	Sender, SenderDevice, TxnID string
}

// Send delivers a notice and returns its event ID.
func (s *Service) Send(ctx context.Context, n Notice) (string, error) {
	if s.systemUser == "" {
		return "", refusal.New(refusal.Unknown, "server notices are not enabled on this server (set server_notices.system_user_localpart)")
	}
	_, server, ok := accounts.SplitUserID(n.UserID)
	if !ok {
		return "", refusal.New(refusal.InvalidParam, "user_id %q is not a user ID", n.UserID)
	}
	if server != s.serverName {
		return "", refusal.New(refusal.Unknown, "server notices can only be sent to local users")
	}
	u, err := s.accounts.GetUser(ctx, n.UserID)
	if errors.Is(err, accounts.ErrNotFound) || (err == nil && u.Deactivated) {
		return "", refusal.New(refusal.NotFound, "there is no user %s", n.UserID)
	}
	if err != nil {
		return "", err
	}
	roomID, err := s.roomFor(ctx, n.UserID)
	if err != nil {
		return "", err
	}
	if n.Type == "" {
		n.Type = "m.room.message"
	}
	// The admin's device keys the transaction: the system user has none.
	return s.rooms.Send(ctx, roomID, rooms.SendRequest{
		Sender: s.systemUser, DeviceID: "admin " + n.Sender + " " + n.SenderDevice,
		Type: n.Type, StateKey: n.StateKey, Content: n.Content, TxnID: n.TxnID,
	})
}

// roomFor finds or creates userID's notices room and makes sure they are
// invited to it or in it.
func (s *Service) roomFor(ctx context.Context, userID string) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	roomID, err := s.rooms.NoticeRoomOf(ctx, s.systemUser, userID)
	if err != nil {
		return "", err
	}
	if roomID == "" {
		if roomID, err = s.createRoom(ctx, userID); err != nil {
			return "", err
		}
	}
	snap, err := s.rooms.Current(ctx, roomID)
	if err != nil {
		return "", err
	}
	switch snap.Membership(userID) {
	case "join", "invite":
		return roomID, nil
	}
	return roomID, s.rooms.Invite(ctx, roomID, s.systemUser, userID, "")
}

func (s *Service) createRoom(ctx context.Context, userID string) (string, error) {
	req := rooms.CreateRequest{
		Creator: s.systemUser,
		Preset:  "private_chat",
		// Only the system user speaks there.
		PowerLevelOverride: map[string]json.RawMessage{"users_default": json.RawMessage(`-10`)},
	}
	if s.cfg.RoomName != "" {
		name := s.cfg.RoomName
		req.Name = &name
	}
	roomID, err := s.rooms.CreateRoom(ctx, req)
	if err != nil {
		return "", err
	}
	if err := s.clientData.SetTag(ctx, userID, roomID, RoomTag, nil); err != nil {
		return "", err
	}
	return roomID, nil
}
