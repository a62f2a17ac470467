package rooms

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strconv"
	"strings"

	"foyer/internal/refusal"
	"foyer/internal/rooms/matrixevents"
)

// ResolveAlias returns the room a local alias points to.
func (s *Service) ResolveAlias(ctx context.Context, alias string) (string, error) {
	if !matrixevents.ValidRoomAlias(alias) {
		return "", refusal.New(refusal.InvalidParam, "%q is not a room alias", alias)
	}
	roomID, _, err := s.store.GetAlias(ctx, alias)
	if errors.Is(err, ErrNotFound) && s.aliasQuery != nil && s.aliasQuery(ctx, alias) {
		// An application service said it has the alias: it made it now.
		roomID, _, err = s.store.GetAlias(ctx, alias)
	}
	if errors.Is(err, ErrNotFound) {
		return "", refusal.New(refusal.NotFound, "the room alias %s does not exist", alias)
	}
	return roomID, err
}

// SetAliasQuery gives the service a way to ask application services
// about local aliases it does not have (in their namespaces): true when
// one answered that it has created it. Call it before serving.
func (s *Service) SetAliasQuery(query func(ctx context.Context, alias string) bool) {
	s.aliasQuery = query
}

// PublicRoom is a room as the published room directory lists it (the
// spec's PublishedRoomsChunk). The four fields without omitempty are
// required by the spec; world_readable and guest_can_join tell visitors
// whether they can read without joining and join as guests (G-23).
type PublicRoom struct {
	RoomID           string `json:"room_id"`
	NumJoinedMembers int    `json:"num_joined_members"`
	WorldReadable    bool   `json:"world_readable"`
	GuestCanJoin     bool   `json:"guest_can_join"`
	Name             string `json:"name,omitempty"`
	Topic            string `json:"topic,omitempty"`
	CanonicalAlias   string `json:"canonical_alias,omitempty"`
	AvatarURL        string `json:"avatar_url,omitempty"`
	JoinRule         string `json:"join_rule,omitempty"`
	RoomType         string `json:"room_type,omitempty"`
}

// RoomSummary is the answer of GET /room_summary (v1.15): the directory
// fields and a few more.
type RoomSummary struct {
	PublicRoom
	RoomVersion    string   `json:"room_version,omitempty"`
	Encryption     string   `json:"encryption,omitempty"`
	AllowedRoomIDs []string `json:"allowed_room_ids,omitempty"`
	// Membership is the caller's ("leave" when it has none); it is left
	// out for unauthenticated callers.
	Membership string `json:"membership,omitempty"`
}

// roomSummaryOf reads the published-directory fields from a room's
// current state.
func roomSummaryOf(snap RoomSnapshot) RoomSummary {
	str := func(typ, field string) string {
		se, ok := snap.Get(typ, "")
		if !ok {
			return ""
		}
		var c map[string]json.RawMessage
		if json.Unmarshal(se.Event.Content(), &c) != nil {
			return ""
		}
		var v string
		if json.Unmarshal(c[field], &v) != nil {
			return ""
		}
		return v
	}
	sum := RoomSummary{
		PublicRoom: PublicRoom{
			RoomID:         snap.Info.RoomID,
			WorldReadable:  historyVisibility(snap.State) == "world_readable",
			GuestCanJoin:   guestCanJoin(snap),
			Name:           str("m.room.name", "name"),
			Topic:          roomTopic(snap),
			CanonicalAlias: str("m.room.canonical_alias", "alias"),
			AvatarURL:      str("m.room.avatar", "url"),
			JoinRule:       str("m.room.join_rules", "join_rule"),
			RoomType:       str("m.room.create", "type"),
		},
		RoomVersion: snap.Info.Version,
		Encryption:  str("m.room.encryption", "algorithm"),
	}
	for k, se := range snap.State {
		if k.Type == "m.room.member" && se.Event.Membership() == "join" {
			sum.NumJoinedMembers++
		}
	}
	if sum.JoinRule == "restricted" || sum.JoinRule == "knock_restricted" {
		sum.AllowedRoomIDs = allowedRoomIDs(snap)
	}
	return sum
}

// roomTopic is the plain-text topic: the topic field, or else a
// text/plain representation in m.topic.
func roomTopic(snap RoomSnapshot) string {
	se, ok := snap.Get("m.room.topic", "")
	if !ok {
		return ""
	}
	var c struct {
		Topic  string `json:"topic"`
		MTopic struct {
			Text []struct {
				Body     string `json:"body"`
				MimeType string `json:"mimetype"`
			} `json:"m.text"`
		} `json:"m.topic"`
	}
	_ = json.Unmarshal(se.Event.Content(), &c)
	if c.Topic != "" {
		return c.Topic
	}
	for _, t := range c.MTopic.Text {
		if t.MimeType == "" || t.MimeType == "text/plain" {
			return t.Body
		}
	}
	return ""
}

// allowedRoomIDs are the rooms a restricted join rule names.
func allowedRoomIDs(snap RoomSnapshot) []string {
	se, ok := snap.Get("m.room.join_rules", "")
	if !ok {
		return nil
	}
	var c struct {
		Allow []struct {
			Type   string `json:"type"`
			RoomID string `json:"room_id"`
		} `json:"allow"`
	}
	_ = json.Unmarshal(se.Event.Content(), &c)
	var out []string
	for _, a := range c.Allow {
		if a.Type == "m.room_membership" && a.RoomID != "" {
			out = append(out, a.RoomID)
		}
	}
	return out
}

// mayManageDirectory reports whether userID may change how the room is
// found: publish it in the directory, or delete others' aliases for it.
// That takes being joined with the power to send m.room.canonical_alias,
// the state event that publishes aliases in the room itself.
func mayManageDirectory(snap RoomSnapshot, userID string) bool {
	return snap.Membership(userID) == "join" && canSendState(snap, userID, "m.room.canonical_alias")
}

// canSendState reports whether userID's power level reaches the level
// needed for state events of type typ. Room creators of versions with
// privileged creators (v12+) have unlimited power.
func canSendState(snap RoomSnapshot, userID, typ string) bool {
	if isPrivilegedCreator(snap, userID) {
		return true
	}
	pl := parsePowerLevels(snap)
	need := pl.StateDefault
	if v, ok := pl.Events[typ]; ok {
		need = v
	}
	return pl.userLevel(userID) >= need
}

func isPrivilegedCreator(snap RoomSnapshot, userID string) bool {
	if f, ok := matrixevents.Features(snap.Info.Version); !ok || !f.PrivilegedCreators {
		return false
	}
	se, ok := snap.Get("m.room.create", "")
	if !ok {
		return false
	}
	if se.Event.Sender() == userID {
		return true
	}
	var c struct {
		AdditionalCreators []string `json:"additional_creators"`
	}
	_ = json.Unmarshal(se.Event.Content(), &c)
	return slices.Contains(c.AdditionalCreators, userID)
}

// CreateAlias maps a local alias to a room for userID, who must be joined
// to the room. A taken alias is a refusal.RoomInUse error.
func (s *Service) CreateAlias(ctx context.Context, userID, alias, roomID string) error {
	return s.createAlias(ctx, userID, alias, roomID, true)
}

// CreateServiceAlias is CreateAlias for an application service naming a
// room in its own alias namespace: it need not be in the room (bridges
// name portal rooms before anyone joins them).
func (s *Service) CreateServiceAlias(ctx context.Context, userID, alias, roomID string) error {
	return s.createAlias(ctx, userID, alias, roomID, false)
}

func (s *Service) createAlias(ctx context.Context, userID, alias, roomID string, mustBeJoined bool) error {
	if err := s.checkLocalAlias(alias); err != nil {
		return err
	}
	if !matrixevents.ValidRoomID(roomID) {
		return refusal.New(refusal.InvalidParam, "%q is not a room ID", roomID)
	}
	snap, err := s.Current(ctx, roomID)
	if err != nil {
		return err
	}
	if mustBeJoined && snap.Membership(userID) != "join" {
		return refusal.New(refusal.Forbidden, "you must be joined to %s to give it an alias", roomID)
	}
	return s.store.CreateAlias(ctx, alias, roomID, userID, s.now().UnixMilli())
}

// checkLocalAlias refuses aliases that are malformed or belong to other
// servers.
func (s *Service) checkLocalAlias(alias string) error {
	if !matrixevents.ValidRoomAlias(alias) || strings.ContainsAny(alias, " \t\n\r\x00") {
		return refusal.New(refusal.InvalidParam, "%q is not a valid room alias: use #name:%s", alias, s.serverName)
	}
	if _, server, _ := strings.Cut(alias, ":"); server != s.serverName {
		return refusal.New(refusal.InvalidParam, "this server can only create aliases ending in :%s", s.serverName)
	}
	return nil
}

// DeleteAlias removes a local alias. Its creator may, and so may members
// who could publish aliases in the room (mayManageDirectory). If the
// room's m.room.canonical_alias names the alias, it is taken out there
// too when the caller's power allows; the alias goes either way.
func (s *Service) DeleteAlias(ctx context.Context, userID, alias string) error {
	if !matrixevents.ValidRoomAlias(alias) {
		return refusal.New(refusal.InvalidParam, "%q is not a room alias", alias)
	}
	roomID, creator, err := s.store.GetAlias(ctx, alias)
	if errors.Is(err, ErrNotFound) {
		return refusal.New(refusal.NotFound, "the room alias %s does not exist", alias)
	}
	if err != nil {
		return err
	}
	if creator != userID {
		snap, err := s.Current(ctx, roomID)
		if err != nil {
			return err
		}
		if !mayManageDirectory(snap, userID) {
			return refusal.New(refusal.Forbidden, "only the alias's creator or a room member allowed to change m.room.canonical_alias may delete %s", alias)
		}
	}
	if err := s.store.DeleteAlias(ctx, alias); errors.Is(err, ErrNotFound) {
		return refusal.New(refusal.NotFound, "the room alias %s does not exist", alias)
	} else if err != nil {
		return err
	}
	if err := s.dropCanonicalAlias(ctx, roomID, userID, alias); err != nil {
		s.log.InfoContext(ctx, "alias deleted but left in m.room.canonical_alias", "room_id", roomID, "alias", alias, "err", err)
	}
	return nil
}

// dropCanonicalAlias sends a new m.room.canonical_alias without alias, if
// the current one names it.
func (s *Service) dropCanonicalAlias(ctx context.Context, roomID, userID, alias string) error {
	e, err := s.lockRoom(ctx, roomID)
	if err != nil {
		return err
	}
	defer e.mu.Unlock()
	se, ok := e.state[matrixevents.StateTuple{Type: "m.room.canonical_alias"}]
	if !ok {
		return nil
	}
	var c map[string]json.RawMessage
	if json.Unmarshal(se.Event.Content(), &c) != nil {
		return nil
	}
	changed := false
	var main string
	if json.Unmarshal(c["alias"], &main) == nil && main == alias {
		delete(c, "alias")
		changed = true
	}
	var alt []string
	if json.Unmarshal(c["alt_aliases"], &alt) == nil && slices.Contains(alt, alias) {
		alt = slices.DeleteFunc(alt, func(a string) bool { return a == alias })
		raw, _ := json.Marshal(alt)
		c["alt_aliases"] = raw
		changed = true
	}
	if !changed {
		return nil
	}
	d := newDraft(e)
	empty := ""
	if _, err := s.add(d, eventRequest{Sender: userID, Type: "m.room.canonical_alias", StateKey: &empty, Content: c}); err != nil {
		return err
	}
	_, err = s.commit(ctx, e, d, false, nil, nil)
	return err
}

// LocalAliases lists the room's aliases on this server for members and,
// in world_readable rooms, anyone (G-35). Unknown rooms are refused like
// rooms the caller may not see.
func (s *Service) LocalAliases(ctx context.Context, userID, roomID string) ([]string, error) {
	snap, err := s.Current(ctx, roomID)
	var re *refusal.Error
	if errors.As(err, &re) && re.Kind == refusal.NotFound {
		return nil, refusal.New(refusal.Forbidden, "you cannot list this room's aliases: it does not exist or you are not a member")
	}
	if err != nil {
		return nil, err
	}
	if snap.Membership(userID) != "join" && !roomSummaryOf(snap).WorldReadable {
		return nil, refusal.New(refusal.Forbidden, "you are not a member of this room, and its history is not world-readable")
	}
	return s.store.AliasesForRoom(ctx, roomID)
}

// DirectoryVisibility is "public" when the room is in the published room
// directory, else "private".
func (s *Service) DirectoryVisibility(ctx context.Context, roomID string) (string, error) {
	snap, err := s.Current(ctx, roomID)
	if err != nil {
		return "", err
	}
	if snap.Info.IsPublic {
		return "public", nil
	}
	return "private", nil
}

// SetDirectoryVisibility publishes the room in, or removes it from, the
// published room directory (mayManageDirectory decides who may).
func (s *Service) SetDirectoryVisibility(ctx context.Context, userID, roomID string, public bool) error {
	e, err := s.lockRoom(ctx, roomID)
	if err != nil {
		return err
	}
	defer e.mu.Unlock()
	if !mayManageDirectory(RoomSnapshot{Info: e.info, State: e.state}, userID) {
		return refusal.New(refusal.Forbidden, "only room members allowed to change m.room.canonical_alias may change the room's directory visibility")
	}
	return s.setPublicLocked(ctx, e, public)
}

// setPublic publishes roomID in the directory, or takes it out.
func (s *Service) setPublic(ctx context.Context, roomID string, public bool) error {
	e, err := s.lockRoom(ctx, roomID)
	if err != nil {
		return err
	}
	defer e.mu.Unlock()
	return s.setPublicLocked(ctx, e, public)
}

func (s *Service) setPublicLocked(ctx context.Context, e *roomEntry, public bool) error {
	if e.info.IsPublic == public {
		return nil
	}
	if err := s.store.SetPublic(ctx, e.info.RoomID, public); err != nil {
		return err
	}
	e.info.IsPublic = public
	return nil
}

// PublicRoomsQuery is GET or POST /publicRooms, parsed.
type PublicRoomsQuery struct {
	// Limit caps the page; 0 means no cap.
	Limit int
	// Since is a next_batch or prev_batch token.
	Since string
	// SearchTerm matches name, topic and canonical alias, ignoring case.
	SearchTerm string
	// RoomTypes, when not empty, keeps rooms of these types; a nil entry
	// stands for rooms without a type.
	RoomTypes []*string
	// Only, when not nil, lists these rooms instead of the published
	// directory (an application service's network); Also adds these to
	// it (include_all_networks).
	Only, Also []string
}

// PublicRoomsPage is one page of the published room directory.
type PublicRoomsPage struct {
	Chunk     []PublicRoom `json:"chunk"`
	NextBatch string       `json:"next_batch,omitempty"`
	PrevBatch string       `json:"prev_batch,omitempty"`
	// Total is the number of rooms matching the filter.
	Total int `json:"total_room_count_estimate"`
}

// Pagination tokens of /publicRooms are "p" and an offset into the
// ordered, filtered list.
func formatDirectoryToken(offset int) string { return "p" + strconv.Itoa(offset) }

func parseDirectoryToken(tok string) (int, bool) {
	digits, ok := strings.CutPrefix(tok, "p")
	if !ok {
		return 0, false
	}
	n, err := strconv.Atoi(digits)
	return n, err == nil && n >= 0
}

// PublicRooms lists the rooms published in the directory, largest first
// (then by room ID, for a stable order), from their current state. Every
// entry carries world_readable and guest_can_join (G-23).
func (s *Service) PublicRooms(ctx context.Context, q PublicRoomsQuery) (PublicRoomsPage, error) {
	offset := 0
	if q.Since != "" {
		var ok bool
		if offset, ok = parseDirectoryToken(q.Since); !ok {
			return PublicRoomsPage{}, refusal.New(refusal.InvalidParam, "since is not a token this server gave out")
		}
	}
	ids := q.Only
	if ids == nil {
		var err error
		if ids, err = s.store.PublicRooms(ctx); err != nil {
			return PublicRoomsPage{}, err
		}
		for _, id := range q.Also {
			if !slices.Contains(ids, id) {
				ids = append(ids, id)
			}
		}
	}
	term := strings.ToLower(strings.TrimSpace(q.SearchTerm))
	var all []PublicRoom
	for _, id := range ids {
		snap, err := s.Current(ctx, id)
		if err != nil {
			return PublicRoomsPage{}, err
		}
		r := roomSummaryOf(snap).PublicRoom
		if term != "" && !strings.Contains(strings.ToLower(r.Name), term) &&
			!strings.Contains(strings.ToLower(r.Topic), term) && !strings.Contains(strings.ToLower(r.CanonicalAlias), term) {
			continue
		}
		if len(q.RoomTypes) > 0 && !slices.ContainsFunc(q.RoomTypes, func(t *string) bool {
			if t == nil {
				return r.RoomType == ""
			}
			return *t == r.RoomType
		}) {
			continue
		}
		all = append(all, r)
	}
	slices.SortFunc(all, func(a, b PublicRoom) int {
		if a.NumJoinedMembers != b.NumJoinedMembers {
			return b.NumJoinedMembers - a.NumJoinedMembers
		}
		return strings.Compare(a.RoomID, b.RoomID)
	})
	page := PublicRoomsPage{Total: len(all), Chunk: []PublicRoom{}}
	if offset > len(all) {
		offset = len(all)
	}
	end := len(all)
	if q.Limit > 0 && offset+q.Limit < end {
		end = offset + q.Limit
	}
	page.Chunk = append(page.Chunk, all[offset:end]...)
	if end < len(all) {
		page.NextBatch = formatDirectoryToken(end)
	}
	if offset > 0 {
		prev := 0
		if q.Limit > 0 {
			prev = max(offset-q.Limit, 0)
		}
		page.PrevBatch = formatDirectoryToken(prev)
	}
	return page, nil
}

// Summary is GET /room_summary for userID ("" when unauthenticated).
// Members, invitees and knockers always get it; others only when the room
// is world_readable or its join rule is public, knock or knock_restricted
// (G-24), or it is restricted to a room they have joined. Every other
// room is reported not found, exactly like a room that does not exist, so
// the answer does not reveal that a private room exists.
func (s *Service) Summary(ctx context.Context, userID, roomID string) (RoomSummary, error) {
	notFound := refusal.New(refusal.NotFound, "there is no room %s, or you may not see its summary", roomID)
	snap, err := s.Current(ctx, roomID)
	var re *refusal.Error
	if errors.As(err, &re) && re.Kind == refusal.NotFound {
		return RoomSummary{}, notFound
	}
	if err != nil {
		return RoomSummary{}, err
	}
	sum := roomSummaryOf(snap)
	membership := ""
	if userID != "" {
		membership = snap.Membership(userID)
	}
	allowed := sum.WorldReadable
	switch membership {
	case "join", "invite", "knock":
		allowed = true
	}
	switch sum.JoinRule {
	case "public", "knock", "knock_restricted":
		allowed = true
	case "restricted":
		if userID != "" && !allowed {
			for _, id := range sum.AllowedRoomIDs {
				if other, err := s.Current(ctx, id); err == nil && other.Membership(userID) == "join" {
					allowed = true
					break
				}
			}
		}
	}
	if !allowed {
		return RoomSummary{}, notFound
	}
	if userID != "" {
		sum.Membership = membership
		if sum.Membership == "" {
			sum.Membership = "leave"
		}
	}
	return sum, nil
}
