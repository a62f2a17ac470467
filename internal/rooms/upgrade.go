package rooms

import (
	"context"
	"encoding/json"
	"maps"
	"slices"
	"strings"

	"foyer/internal/refusal"
	"foyer/internal/rooms/matrixevents"
)

// UpgradeRequest is POST /rooms/{roomId}/upgrade, parsed.
type UpgradeRequest struct {
	RoomID     string
	UserID     string
	NewVersion string
	// AdditionalCreators are the other creators of the new room, for
	// versions with privileged creators (v12+); ignored for others. The
	// old room's additional creators are not carried over (spec v1.16).
	AdditionalCreators []string
}

// upgradeCopiedState is the state the spec recommends replicating into
// the replacement room (room_upgrades, server behaviour step 3), except
// m.room.power_levels, which is adjusted first. guest_access is among
// them, so a room that let guests join still does (G-22). The order is
// createRoom's: join rule, history visibility and guest access first.
var upgradeCopiedState = []string{
	"m.room.join_rules", "m.room.history_visibility", "m.room.guest_access",
	"m.room.name", "m.room.topic", "m.room.avatar", "m.room.encryption", "m.room.server_acl",
}

// tombstoneBody is the server-defined message of the tombstone.
const tombstoneBody = "This room has been replaced"

// UpgradeRoom replaces a room with a new room of another version, as the
// spec's room upgrade module describes: the user must be able to send
// m.room.tombstone in the old room; the new room's m.room.create names the
// old room as its predecessor and keeps its type and m.federate; the
// recommended state, bans and the local part of m.room.canonical_alias
// are replicated with the upgrading user as sender; local aliases and the
// published-directory entry move to the new room; the old room gets the
// tombstone, and its power levels are raised so ordinary members can no
// longer talk or invite. The upgrading user is the new room's creator and
// only member: others follow the tombstone. It returns the new room's ID.
func (s *Service) UpgradeRoom(ctx context.Context, req UpgradeRequest) (string, error) {
	if !matrixevents.IsSupported(req.NewVersion) {
		return "", refusal.New(refusal.UnsupportedRoomVersion, "room version %q is not supported here", req.NewVersion)
	}
	feats, _ := matrixevents.Features(req.NewVersion)
	var extraCreators []string
	if feats.PrivilegedCreators {
		for _, u := range req.AdditionalCreators {
			if !matrixevents.ValidUserID(u) {
				return "", refusal.New(refusal.InvalidParam, "additional_creators: %q is not a user ID", u)
			}
			if u != req.UserID && !slices.Contains(extraCreators, u) {
				extraCreators = append(extraCreators, u)
			}
		}
	}
	if guest, err := s.isGuest(ctx, req.UserID); err != nil {
		return "", err
	} else if guest {
		return "", refusal.New(refusal.GuestForbidden, "guests cannot upgrade rooms; register an account to do that")
	}

	e, err := s.lockRoom(ctx, req.RoomID)
	if err != nil {
		return "", err
	}
	defer e.mu.Unlock()
	old := RoomSnapshot{Info: e.info, State: e.state}
	if err := checkMayUpgrade(old, req.UserID); err != nil {
		return "", err
	}

	// The tombstone names the new room, and before v12 the new room's
	// predecessor names the tombstone; v12 derives the room ID from the
	// create event, so there the tombstone comes second and the
	// predecessor's event_id, which the spec lets v12 leave out, is left
	// out (clients then look for the tombstone).
	od := newDraft(e)
	empty := ""
	addTombstone := func(newRoomID string) (matrixevents.Event, error) {
		ev, err := s.add(od, eventRequest{Sender: req.UserID, Type: "m.room.tombstone", StateKey: &empty,
			Content: map[string]any{"body": tombstoneBody, "replacement_room": newRoomID}})
		return ev, AsError(err)
	}
	predecessor := map[string]any{"room_id": req.RoomID}
	newRoomID := s.newRoomID(req.NewVersion)
	tombstoned := false
	if newRoomID != "" {
		ts, err := addTombstone(newRoomID)
		if err != nil {
			return "", err
		}
		predecessor["event_id"] = ts.EventID()
		tombstoned = true
	}

	createContent := map[string]any{"predecessor": predecessor}
	if se, ok := old.Get("m.room.create", ""); ok {
		var c map[string]json.RawMessage
		_ = json.Unmarshal(se.Event.Content(), &c)
		for _, k := range []string{"type", "m.federate"} {
			if v, ok := c[k]; ok {
				createContent[k] = v
			}
		}
	}
	if len(extraCreators) > 0 {
		createContent["additional_creators"] = extraCreators
	}
	nd, err := s.startRoom(RoomInfo{RoomID: newRoomID, Version: req.NewVersion, Creator: req.UserID,
		CreatedTS: s.now().UnixMilli(), IsPublic: e.info.IsPublic}, createContent)
	if err != nil {
		return "", upgradeErr("m.room.create", req.NewVersion, err)
	}
	newRoomID = nd.info.RoomID
	if !tombstoned {
		if _, err := addTombstone(newRoomID); err != nil {
			return "", err
		}
	}

	restorePL, err := s.fillReplacementRoom(ctx, nd, old, req.UserID, extraCreators)
	if err != nil {
		return "", err
	}
	oldAlias, newAlias := splitCanonicalAlias(old, s.serverName)
	if newAlias != nil {
		if _, err := s.add(nd, eventRequest{Sender: req.UserID, Type: "m.room.canonical_alias", StateKey: &empty, Content: newAlias}); err != nil {
			return "", upgradeErr("m.room.canonical_alias", req.NewVersion, err)
		}
	}
	if restorePL != nil {
		// The upgrading user back at its own level.
		if _, err := s.add(nd, eventRequest{Sender: req.UserID, Type: "m.room.power_levels", StateKey: &empty, Content: restorePL}); err != nil {
			return "", upgradeErr("m.room.power_levels", req.NewVersion, err)
		}
	}

	// What the old room gets beyond the tombstone is done if possible
	// (spec step 6); a user allowed to send the tombstone may still lack
	// the power for it.
	if oldAlias != nil {
		if _, err := s.add(od, eventRequest{Sender: req.UserID, Type: "m.room.canonical_alias", StateKey: &empty, Content: oldAlias}); err != nil {
			s.log.WarnContext(ctx, "room upgrade: could not take the local aliases out of the old room's m.room.canonical_alias", "room_id", req.RoomID, "err", err)
		}
	}
	if restricted, ok := restrictedPowerLevels(old); ok {
		if _, err := s.add(od, eventRequest{Sender: req.UserID, Type: "m.room.power_levels", StateKey: &empty, Content: restricted}); err != nil {
			s.log.WarnContext(ctx, "room upgrade: could not restrict the old room's power levels", "room_id", req.RoomID, "err", err)
		}
	}

	ne := s.entry(newRoomID)
	ne.mu.Lock()
	_, err = s.commit(ctx, ne, nd, true, nil, nil)
	ne.mu.Unlock()
	if err != nil {
		return "", err
	}
	if _, err := s.commit(ctx, e, od, false, nil, nil); err != nil {
		return "", err
	}
	if err := s.moveAliases(ctx, req.RoomID, newRoomID); err != nil {
		return "", err
	}
	if e.info.IsPublic {
		// The new room took the old one's place in the directory.
		if err := s.store.SetPublic(ctx, req.RoomID, false); err != nil {
			return "", err
		}
		e.info.IsPublic = false
	}
	return newRoomID, nil
}

// checkMayUpgrade refuses users who cannot send m.room.tombstone in the
// room (spec step 1), with the reason.
func checkMayUpgrade(snap RoomSnapshot, userID string) error {
	if snap.Membership(userID) != "join" {
		return refusal.New(refusal.Forbidden, "you must be joined to a room to upgrade it")
	}
	if canSendState(snap, userID, "m.room.tombstone") {
		return nil
	}
	pl := parsePowerLevels(snap)
	need := pl.StateDefault
	if v, ok := pl.Events["m.room.tombstone"]; ok {
		need = v
	}
	return refusal.New(refusal.Forbidden, "upgrading a room takes the power to send m.room.tombstone: your power level %d is below the %d needed", pl.userLevel(userID), need)
}

// upgradeErr reports state of the old room that the new room's version
// would not accept.
func upgradeErr(typ, version string, err error) error {
	if re, ok := AsError(err).(*refusal.Error); ok {
		return refusal.New(refusal.InvalidRoomState, "the room's %s cannot be carried into a version %s room: %s", typ, version, re.Msg)
	}
	return err
}

// fillReplacementRoom adds to the new room's draft the upgrading user's
// join, the old room's power levels (the user raised, for now, to the
// level any copied state needs; creators of v12+ rooms left out of
// users), the recommended state, a space's children, and the bans. When
// it raised the user, it returns the power levels to send last, which
// put the user back at its own level.
func (s *Service) fillReplacementRoom(ctx context.Context, nd *draft, old RoomSnapshot, userID string, extraCreators []string) (restorePL map[string]any, err error) {
	version := nd.info.Version
	feats, _ := matrixevents.Features(version)
	empty := ""
	userKey := userID
	if _, err := s.add(nd, eventRequest{Sender: userID, Type: "m.room.member", StateKey: &userKey, Content: s.memberContent(ctx, userID, "join")}); err != nil {
		return nil, upgradeErr("m.room.member", version, err)
	}

	if se, ok := old.Get("m.room.power_levels", ""); ok {
		pl := fixedPowerLevels(se.Event.Content())
		users := plUsers(pl)
		if feats.PrivilegedCreators {
			// v12: creators have unlimited power and must not be listed.
			delete(users, userID)
			for _, u := range extraCreators {
				delete(users, u)
			}
		} else {
			usersDefault := plInt(pl, "users_default", 0)
			current, listed := users[userID]
			if !listed {
				current = usersDefault
			}
			final := current
			if isPrivilegedCreator(old, userID) {
				// A creator of a v12+ room outranks every listed user; in
				// a version without privileged creators that takes an entry.
				final = max(final, 100)
				for _, v := range users {
					final = max(final, v)
				}
			}
			needed := max(plInt(pl, "state_default", 50), plInt(pl, "ban", 50))
			if events, ok := pl["events"].(map[string]int64); ok {
				for _, v := range events {
					needed = max(needed, v)
				}
			}
			if temp := max(final, needed); temp != current {
				users[userID] = temp
			}
			if final != max(final, needed) {
				// Sent again at the end with the user's own level.
				restorePL = maps.Clone(pl)
				restored := maps.Clone(users)
				if final == current && !listed {
					delete(restored, userID)
				} else {
					restored[userID] = final
				}
				restorePL["users"] = restored
			}
		}
		pl["users"] = users
		if _, err := s.add(nd, eventRequest{Sender: userID, Type: "m.room.power_levels", StateKey: &empty, Content: pl}); err != nil {
			return nil, upgradeErr("m.room.power_levels", version, err)
		}
	}

	for _, typ := range upgradeCopiedState {
		content := json.RawMessage(nil)
		if se, ok := old.Get(typ, ""); ok {
			content = se.Event.Content()
		} else if typ == "m.room.guest_access" {
			// The replacement room states its guest policy: the old
			// room's, which without an event was forbidden.
			content = json.RawMessage(`{"guest_access":"forbidden"}`)
		} else {
			continue
		}
		if _, err := s.add(nd, eventRequest{Sender: userID, Type: typ, StateKey: &empty, Content: content}); err != nil {
			return nil, upgradeErr(typ, version, err)
		}
	}

	var children, bans []StoredEvent
	isSpace := roomSummaryOf(old).RoomType == "m.space"
	for k, se := range old.State {
		switch {
		case isSpace && k.Type == "m.space.child" && string(se.Event.Content()) != "{}":
			children = append(children, se)
		case k.Type == "m.room.member" && se.Event.Membership() == "ban":
			bans = append(bans, se)
		}
	}
	byKey := func(a, b StoredEvent) int { return strings.Compare(*a.Event.StateKey(), *b.Event.StateKey()) }
	slices.SortFunc(children, byKey)
	slices.SortFunc(bans, byKey)
	for _, se := range children {
		key := *se.Event.StateKey()
		if _, err := s.add(nd, eventRequest{Sender: userID, Type: "m.space.child", StateKey: &key, Content: se.Event.Content()}); err != nil {
			return nil, upgradeErr("m.space.child", version, err)
		}
	}
	for _, se := range bans {
		// Bans carry over, as Synapse does: they need no one's consent.
		key := *se.Event.StateKey()
		if _, err := s.add(nd, eventRequest{Sender: userID, Type: "m.room.member", StateKey: &key, Content: se.Event.Content()}); err != nil {
			s.log.WarnContext(ctx, "room upgrade: could not carry a ban over", "room_id", old.Info.RoomID, "user_id", key, "err", err)
		}
	}
	return restorePL, nil
}

// splitCanonicalAlias divides the old room's m.room.canonical_alias: the
// aliases of this server move with the room, the others stay. It returns
// the old room's new content and the new room's, each nil when there is
// nothing to send.
func splitCanonicalAlias(old RoomSnapshot, serverName string) (oldContent, newContent map[string]any) {
	se, ok := old.Get("m.room.canonical_alias", "")
	if !ok {
		return nil, nil
	}
	var c map[string]json.RawMessage
	if json.Unmarshal(se.Event.Content(), &c) != nil {
		return nil, nil
	}
	local := func(alias string) bool {
		_, server, _ := strings.Cut(alias, ":")
		return server == serverName
	}
	oldContent = map[string]any{}
	for k, v := range c {
		oldContent[k] = v
	}
	newContent = map[string]any{}
	moved := false
	var alias string
	if json.Unmarshal(c["alias"], &alias) == nil && alias != "" && local(alias) {
		newContent["alias"] = alias
		delete(oldContent, "alias")
		moved = true
	}
	var alt []string
	if json.Unmarshal(c["alt_aliases"], &alt) == nil && len(alt) > 0 {
		var kept, taken []string
		for _, a := range alt {
			if local(a) {
				taken = append(taken, a)
			} else {
				kept = append(kept, a)
			}
		}
		if len(taken) > 0 {
			moved = true
			newContent["alt_aliases"] = taken
			if len(kept) > 0 {
				oldContent["alt_aliases"] = kept
			} else {
				delete(oldContent, "alt_aliases")
			}
		}
	}
	if !moved {
		return nil, nil
	}
	return oldContent, newContent
}

// restrictedPowerLevels is the old room's power levels with
// events_default and invite raised to the greater of 50 and
// users_default+1, so ordinary members can no longer talk or invite
// there (spec step 6). ok is false when there is nothing to change.
func restrictedPowerLevels(old RoomSnapshot) (map[string]any, bool) {
	se, ok := old.Get("m.room.power_levels", "")
	if !ok {
		return nil, false
	}
	pl := fixedPowerLevels(se.Event.Content())
	level := max(50, plInt(pl, "users_default", 0)+1)
	changed := false
	for _, k := range []string{"events_default", "invite"} {
		if plInt(pl, k, 0) < level {
			pl[k] = level
			changed = true
		}
	}
	return pl, changed
}

// moveAliases points every local alias of the old room at the new one,
// keeping each alias's creator (spec step 4).
func (s *Service) moveAliases(ctx context.Context, oldRoomID, newRoomID string) error {
	aliases, err := s.store.AliasesForRoom(ctx, oldRoomID)
	if err != nil {
		return err
	}
	for _, alias := range aliases {
		_, creator, err := s.store.GetAlias(ctx, alias)
		if err != nil {
			return err
		}
		if err := s.store.DeleteAlias(ctx, alias); err != nil {
			return err
		}
		if err := s.store.CreateAlias(ctx, alias, newRoomID, creator, s.now().UnixMilli()); err != nil {
			return err
		}
	}
	return nil
}

// powerLevelInts are the power_levels keys holding one level, and
// powerLevelMaps those holding a map of levels.
var (
	powerLevelInts = []string{"ban", "events_default", "invite", "kick", "redact", "state_default", "users_default"}
	powerLevelMaps = []string{"events", "notifications", "users"}
)

// fixedPowerLevels copies power_levels content with every level written
// as an integer, as room versions 10+ require of it (older rooms may hold
// numeric strings); levels that are not numbers are left out. Levels are
// int64, maps of levels map[string]int64; other keys are kept as they
// are.
func fixedPowerLevels(content json.RawMessage) map[string]any {
	var c map[string]json.RawMessage
	_ = json.Unmarshal(content, &c)
	out := make(map[string]any, len(c))
	for k, v := range c {
		out[k] = v
	}
	for _, k := range powerLevelInts {
		v, ok := c[k]
		if !ok {
			continue
		}
		var n flexInt
		if json.Unmarshal(v, &n) != nil {
			delete(out, k)
			continue
		}
		out[k] = int64(n)
	}
	for _, k := range powerLevelMaps {
		v, ok := c[k]
		if !ok {
			continue
		}
		var m map[string]json.RawMessage
		if json.Unmarshal(v, &m) != nil {
			delete(out, k)
			continue
		}
		levels := make(map[string]int64, len(m))
		for name, raw := range m {
			var n flexInt
			if json.Unmarshal(raw, &n) == nil {
				levels[name] = int64(n)
			}
		}
		out[k] = levels
	}
	return out
}

// plInt reads a level from fixedPowerLevels output, or def when absent.
func plInt(pl map[string]any, key string, def int64) int64 {
	if v, ok := pl[key].(int64); ok {
		return v
	}
	return def
}

// plUsers is fixedPowerLevels output's users map, made if absent.
func plUsers(pl map[string]any) map[string]int64 {
	if u, ok := pl["users"].(map[string]int64); ok {
		return u
	}
	return map[string]int64{}
}
