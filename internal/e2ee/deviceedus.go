package e2ee

import (
	"context"
	"encoding/json"
	"errors"

	"foyer/internal/rooms/matrixevents"
)

// ErrNotShared: an update about a user who shares no room with a local
// user, which this server does not track.
var ErrNotShared = errors.New("the user shares no room with a local user")

// ReceiveDeviceListUpdate acts on another server's m.device_list_update
// about one of its users (the caller checked the user is the origin's).
// An update that follows the cached list is applied; one after a gap
// marks the list stale, and one about a user whose list is not cached
// says nothing of the devices it does not name: either way the whole
// list is fetched in the background. Local room-mates see the user in
// device_lists.changed once the list here changed.
func (s *Service) ReceiveDeviceListUpdate(ctx context.Context, u RemoteDeviceUpdate) error {
	if s.fed == nil {
		return ErrNotShared
	}
	if u.DeviceID == "" {
		return errors.New("no device_id")
	}
	if isNull(u.Keys) {
		u.Keys = nil
	}
	if !u.Deleted && len(u.Keys) > 0 && !validRemoteDeviceKeys(u.Keys, u.UserID, u.DeviceID) {
		return errors.New("keys are not the named device's")
	}
	if len(u.DisplayName) > maxDisplayNameBytes {
		u.DisplayName = ""
	}
	if len(u.Keys) > 0 {
		u.Keys = canonical(u.Keys)
	}
	shares, err := s.sharesRoomWithLocal(ctx, u.UserID)
	if err != nil {
		return err
	}
	if !shares {
		return ErrNotShared
	}
	pos, done, err := s.positions.Reserve(ctx)
	if err != nil {
		return err
	}
	outcome, err := s.fed.store.ApplyRemoteDeviceUpdate(ctx, u, maxRemoteDevices, pos)
	done()
	if err != nil {
		return err
	}
	switch outcome {
	case UpdateApplied:
		s.wakeMates(ctx, u.UserID, pos)
	case UpdateGap, UpdateUntracked:
		if !s.scheduleResync(u.UserID) {
			// No fetch soon: local clients re-query, which fetches.
			s.announceUnfetchedChange(ctx, u.UserID)
		}
	}
	return nil
}

// ReceiveSigningKeyUpdate acts on another server's m.signing_key_update:
// the user's new master and self-signing keys (either may be absent).
func (s *Service) ReceiveSigningKeyUpdate(ctx context.Context, userID string, master, selfSigning json.RawMessage) error {
	if s.fed == nil {
		return ErrNotShared
	}
	if isNull(master) {
		master = nil
	} else if !validRemoteCrossSigningKey(master, userID, KeyMaster) {
		return errors.New("master_key is not the user's master key")
	}
	if isNull(selfSigning) {
		selfSigning = nil
	} else if !validRemoteCrossSigningKey(selfSigning, userID, KeySelfSigning) {
		return errors.New("self_signing_key is not the user's self-signing key")
	}
	if master == nil && selfSigning == nil {
		return errors.New("no key")
	}
	shares, err := s.sharesRoomWithLocal(ctx, userID)
	if err != nil {
		return err
	}
	if !shares {
		return ErrNotShared
	}
	if master != nil {
		master = canonical(master)
	}
	if selfSigning != nil {
		selfSigning = canonical(selfSigning)
	}
	pos, done, err := s.positions.Reserve(ctx)
	if err != nil {
		return err
	}
	_, err = s.fed.store.PutRemoteSigningKeys(ctx, userID, master, selfSigning, pos)
	done()
	if err != nil {
		return err
	}
	s.wakeMates(ctx, userID, pos)
	return nil
}

// MembershipChanged forgets the cached device lists of other servers'
// users who no longer share a room with a local user: their servers stop
// telling us of changes, so the cache could not stay current. Give it to
// rooms.Service.OnEvent; it runs under the room's lock, so the work is
// done in the background.
func (s *Service) MembershipChanged(ev matrixevents.Event) {
	if s.fed == nil || ev.Type() != matrixevents.TypeMember || ev.StateKey() == nil {
		return
	}
	switch ev.Membership() {
	case "leave", "ban":
	default:
		return
	}
	userID, roomID := *ev.StateKey(), ev.RoomID()
	s.inBackground(resyncTimeout, func(ctx context.Context) {
		var candidates []string
		if s.isLocal(userID) {
			// A local user left: the room's remote members may share no
			// room with a local user any more.
			members, err := s.store.JoinedMembers(ctx, roomID)
			if err != nil {
				s.log.WarnContext(ctx, "listing a room's members after a leave", "room_id", roomID, "err", err)
				return
			}
			for _, m := range members {
				if !s.isLocal(m) {
					candidates = append(candidates, m)
				}
			}
		} else {
			candidates = []string{userID}
		}
		if len(candidates) == 0 {
			return
		}
		cached, err := s.fed.store.RemoteDeviceLists(ctx, candidates)
		if err != nil {
			s.log.WarnContext(ctx, "reading cached device lists after a leave", "err", err)
			return
		}
		check := s.newShareCheck()
		for u := range cached {
			shares, err := check.shares(ctx, u)
			if err != nil || shares {
				continue
			}
			if err := s.fed.store.DeleteRemoteDeviceList(ctx, u); err != nil {
				s.log.WarnContext(ctx, "forgetting a remote device list", "user_id", u, "err", err)
			}
		}
	})
}
