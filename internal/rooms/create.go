package rooms

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"maps"
	"slices"
	"strings"

	"foyer/internal/accounts"
	"foyer/internal/refusal"
	"foyer/internal/rooms/matrixevents"
)

// StateInput is one entry of createRoom's initial_state.
type StateInput struct {
	Type     string          `json:"type"`
	StateKey string          `json:"state_key"`
	Content  json.RawMessage `json:"content"`
}

// CreateRequest is POST /createRoom, parsed.
type CreateRequest struct {
	Creator            string
	Preset             string
	Visibility         string
	Name, Topic        *string
	RoomAliasName      string
	Invite             []string
	IsDirect           bool
	InitialState       []StateInput
	CreationContent    map[string]json.RawMessage
	PowerLevelOverride map[string]json.RawMessage
	RoomVersion        string
}

// presets: join rule, history visibility, guest access (G-21), and
// whether invitees get the creator's power.
var presets = map[string]struct {
	joinRule, history, guestAccess string
	inviteLevel                    int
	inviteesAdmin                  bool
}{
	"private_chat":         {"invite", "shared", "can_join", 0, false},
	"trusted_private_chat": {"invite", "shared", "can_join", 0, true},
	"public_chat":          {"public", "shared", "forbidden", 50, false},
}

// randomRoomLocalpart is 18 letters, like other servers' room IDs.
func randomRoomLocalpart() string {
	const letters = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
	b := make([]byte, 18)
	_, _ = rand.Read(b)
	for i := range b {
		b[i] = letters[int(b[i])%len(letters)]
	}
	return string(b)
}

// memberContent is a join or invite's content with the user's profile.
func (s *Service) memberContent(ctx context.Context, userID, membership string) map[string]any {
	c := map[string]any{"membership": membership}
	p, err := s.accounts.GetProfile(ctx, userID)
	if err == nil {
		if p.DisplayName != "" {
			c["displayname"] = p.DisplayName
		}
		if p.AvatarURL != "" {
			c["avatar_url"] = p.AvatarURL
		}
	}
	return c
}

// CreateRoom creates a room and returns its ID and alias (if any).
func (s *Service) CreateRoom(ctx context.Context, req CreateRequest) (string, error) {
	version := req.RoomVersion
	if version == "" {
		version = matrixevents.DefaultRoomVersion
	}
	if !matrixevents.IsSupported(version) {
		return "", refusal.New(refusal.UnsupportedRoomVersion, "room version %q is not supported here", version)
	}
	feats, _ := matrixevents.Features(version)
	preset := req.Preset
	if preset == "" {
		preset = "private_chat"
		if req.Visibility == "public" {
			preset = "public_chat"
		}
	}
	p, ok := presets[preset]
	if !ok {
		return "", refusal.New(refusal.BadJSON, "preset must be private_chat, trusted_private_chat or public_chat")
	}
	if req.Visibility != "" && req.Visibility != "public" && req.Visibility != "private" {
		return "", refusal.New(refusal.BadJSON, "visibility must be public or private")
	}
	var alias string
	if req.RoomAliasName != "" {
		alias = "#" + req.RoomAliasName + ":" + s.serverName
		if strings.ContainsAny(req.RoomAliasName, ": \t\n") || !matrixevents.ValidRoomAlias(alias) {
			return "", refusal.New(refusal.InvalidParam, "room_alias_name %q is not a valid alias localpart", req.RoomAliasName)
		}
		if _, _, err := s.store.GetAlias(ctx, alias); err == nil {
			return "", refusal.New(refusal.RoomInUse, "the alias %s is already in use", alias)
		} else if !errors.Is(err, ErrNotFound) {
			return "", err
		}
	}
	for _, inv := range req.Invite {
		if !matrixevents.ValidUserID(inv) {
			return "", refusal.New(refusal.InvalidParam, "%q is not a user ID", inv)
		}
		if err := s.checkInvitee(ctx, inv); err != nil {
			return "", err
		}
	}
	for _, st := range req.InitialState {
		if st.Type == "" {
			return "", refusal.New(refusal.BadJSON, "every initial_state entry needs a type")
		}
		if st.Type == "m.room.create" || st.Type == "m.room.member" {
			return "", refusal.New(refusal.InvalidParam, "initial_state may not contain %s", st.Type)
		}
	}

	createContent := map[string]json.RawMessage{}
	maps.Copy(createContent, req.CreationContent)
	delete(createContent, "room_version")
	delete(createContent, "creator")
	if feats.PrivilegedCreators {
		creators, err := readAdditionalCreators(createContent["additional_creators"])
		if err != nil {
			return "", err
		}
		if p.inviteesAdmin {
			// Invitees of a trusted chat become creators, as Synapse
			// makes them: listing them at 100 would be refused.
			for _, inv := range req.Invite {
				if !slices.Contains(creators, inv) {
					creators = append(creators, inv)
				}
			}
		}
		if len(creators) > 0 {
			createContent["additional_creators"], _ = json.Marshal(creators)
		}
	}

	now := s.now()
	d, err := s.startRoom(RoomInfo{RoomID: s.newRoomID(version), Version: version, Creator: req.Creator,
		CreatedTS: now.UnixMilli(), IsPublic: req.Visibility == "public"}, createContent)
	if err != nil {
		return "", err
	}
	roomID := d.info.RoomID
	empty := ""

	creatorKey := req.Creator
	steps := []eventRequest{{Sender: req.Creator, Type: "m.room.member", StateKey: &creatorKey, Content: s.memberContent(ctx, req.Creator, "join")}}

	users := map[string]any{}
	if !feats.PrivilegedCreators {
		users[req.Creator] = 100
	}
	if p.inviteesAdmin && !feats.PrivilegedCreators {
		for _, inv := range req.Invite {
			users[inv] = 100
		}
	}
	// Upgrading a room with privileged creators is for creators alone,
	// whose power no listed level reaches (Synapse's 150).
	tombstoneLevel := 100
	if feats.PrivilegedCreators {
		tombstoneLevel = 150
	}
	pl := map[string]any{
		"users": users, "users_default": 0,
		"events": map[string]any{
			"m.room.name": 50, "m.room.power_levels": 100, "m.room.history_visibility": 100,
			"m.room.canonical_alias": 50, "m.room.avatar": 50, "m.room.tombstone": tombstoneLevel,
			"m.room.server_acl": 100, "m.room.encryption": 100,
		},
		"events_default": 0, "state_default": 50, "ban": 50, "kick": 50, "redact": 50,
		"invite": p.inviteLevel, "historical": 100,
		"notifications": map[string]any{"room": 50},
	}
	for k, v := range req.PowerLevelOverride {
		pl[k] = v
	}
	steps = append(steps, eventRequest{Sender: req.Creator, Type: "m.room.power_levels", StateKey: &empty, Content: pl})
	if alias != "" {
		steps = append(steps, eventRequest{Sender: req.Creator, Type: "m.room.canonical_alias", StateKey: &empty, Content: map[string]any{"alias": alias}})
	}
	given := map[matrixevents.StateTuple]bool{}
	for _, st := range req.InitialState {
		given[matrixevents.StateTuple{Type: st.Type, StateKey: st.StateKey}] = true
	}
	for _, pe := range []struct{ typ, key, value string }{
		{"m.room.join_rules", "join_rule", p.joinRule},
		{"m.room.history_visibility", "history_visibility", p.history},
		{"m.room.guest_access", "guest_access", p.guestAccess},
	} {
		if given[matrixevents.StateTuple{Type: pe.typ}] {
			continue
		}
		if pe.typ == "m.room.guest_access" && pe.value == "forbidden" {
			// An absent guest_access already means forbidden (G-18); like
			// Synapse, only an opening is written down.
			continue
		}
		steps = append(steps, eventRequest{Sender: req.Creator, Type: pe.typ, StateKey: &empty, Content: map[string]any{pe.key: pe.value}})
	}
	for _, st := range req.InitialState {
		sk := st.StateKey
		content := st.Content
		if content == nil {
			content = json.RawMessage("{}")
		}
		steps = append(steps, eventRequest{Sender: req.Creator, Type: st.Type, StateKey: &sk, Content: content})
	}
	if req.Name != nil {
		steps = append(steps, eventRequest{Sender: req.Creator, Type: "m.room.name", StateKey: &empty, Content: map[string]any{"name": *req.Name}})
	}
	if req.Topic != nil {
		steps = append(steps, eventRequest{Sender: req.Creator, Type: "m.room.topic", StateKey: &empty, Content: topicContent(*req.Topic)})
	}
	var localInvites, remoteInvites []string
	for _, inv := range req.Invite {
		if _, server, _ := matrixevents.SplitUserID(inv); server == s.serverName {
			localInvites = append(localInvites, inv)
		} else {
			remoteInvites = append(remoteInvites, inv)
		}
	}
	for _, inv := range localInvites {
		key := inv
		c := s.memberContent(ctx, inv, "invite")
		if req.IsDirect {
			c["is_direct"] = true
		}
		steps = append(steps, eventRequest{Sender: req.Creator, Type: "m.room.member", StateKey: &key, Content: c})
	}
	for _, st := range steps {
		if _, err := s.add(d, st); err != nil {
			return "", err
		}
	}

	if err := s.commitNew(ctx, roomID, d); err != nil {
		return "", err
	}
	if alias != "" {
		if err := s.store.CreateAlias(ctx, alias, roomID, req.Creator, now.UnixMilli()); err != nil {
			return "", err
		}
	}
	// Users of other servers are invited once the room exists, each
	// through their server (which must sign the invite); one that cannot
	// be reached does not undo the room.
	for _, inv := range remoteInvites {
		if err := s.Invite(ctx, roomID, req.Creator, inv, ""); err != nil {
			s.log.Warn("createRoom: inviting a user of another server failed", "room_id", roomID, "user_id", inv, "error", err)
		}
	}
	return roomID, nil
}

// newRoomID is a fresh room ID for a room of version, or "" when the
// version derives it from the create event (v12+).
func (s *Service) newRoomID(version string) string {
	if f, _ := matrixevents.Features(version); f.RoomIDFromCreateEvent {
		return ""
	}
	return "!" + randomRoomLocalpart() + ":" + s.serverName
}

// startRoom begins a new room's draft with its m.room.create event, sent
// by info.Creator. info.RoomID comes from newRoomID; when it is empty the
// create event gives the room its ID.
func (s *Service) startRoom(info RoomInfo, createContent any) (*draft, error) {
	d := &draft{info: info, state: map[matrixevents.StateTuple]StoredEvent{}}
	empty := ""
	createEv, err := s.add(d, eventRequest{Sender: info.Creator, Type: "m.room.create", StateKey: &empty, Content: createContent})
	if err != nil {
		return nil, err
	}
	if d.info.RoomID == "" {
		d.info.RoomID = createEv.RoomID()
	}
	return d, nil
}

// commitNew stores a new room's draft under the room's lock.
func (s *Service) commitNew(ctx context.Context, roomID string, d *draft) error {
	e := s.entry(roomID)
	e.mu.Lock()
	defer e.mu.Unlock()
	e.waitQuiet()
	_, err := s.commit(ctx, e, d, true, nil, nil)
	return err
}

// checkInvitee refuses invites to users this server cannot deliver to:
// unknown local users, and other servers' users when it does not federate.
func (s *Service) checkInvitee(ctx context.Context, userID string) error {
	_, server, _ := matrixevents.SplitUserID(userID)
	if server != s.serverName {
		if s.joins == nil {
			return refusal.New(refusal.Forbidden, "cannot invite %s: federation is disabled on this server", userID)
		}
		return nil
	}
	u, err := s.accounts.GetUser(ctx, userID)
	if errors.Is(err, accounts.ErrNotFound) || (err == nil && u.Deactivated) {
		return refusal.New(refusal.NotFound, "there is no user %s", userID)
	}
	return err
}

// topicContent is createRoom's topic as an m.room.topic content: the
// plain text, and since spec v1.15 the same as a text/plain m.topic
// block, which newer clients read.
func topicContent(topic string) map[string]any {
	return map[string]any{
		"topic":   topic,
		"m.topic": map[string]any{"m.text": []any{map[string]any{"mimetype": "text/plain", "body": topic}}},
	}
}
