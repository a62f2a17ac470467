package rooms

import (
	"cmp"
	"context"
	"encoding/json"
	"slices"
	"strings"
	"unicode"

	"foyer/internal/rooms/matrixevents"
)

// DirectoryUser is a user as the user directory shows them.
type DirectoryUser struct {
	UserID      string `json:"user_id"`
	DisplayName string `json:"display_name,omitempty"`
	AvatarURL   string `json:"avatar_url,omitempty"`
}

// User directory limits: the spec's default, and a cap on what a client
// may ask for.
const (
	DefaultDirectoryLimit = 10
	MaxDirectoryLimit     = 50
)

// SearchUserDirectory searches the users searcher may discover (G-35,
// G-49, users.yaml): those who share a joined room with searcher, and
// those joined to a room that is public (join rule) or world_readable
// (history visibility). Deactivated users are left out. The answer is
// worked out from current room state and profiles at query time, so
// joins, leaves, join-rule, visibility and profile changes show at once.
//
// Matching is case-insensitive on the user ID and the display name: every
// word of term must occur in one of them. Results are ranked (exact, then
// prefix, then other matches), users with a display name first within a
// rank. limited reports that more than limit users matched.
func (s *Service) SearchUserDirectory(ctx context.Context, searcher, term string, limit int) (results []DirectoryUser, limited bool, err error) {
	limit = min(max(limit, 0), MaxDirectoryLimit)
	words := strings.Fields(strings.ToLower(term))
	if len(words) == 0 {
		return []DirectoryUser{}, false, nil
	}
	open, err := s.openRooms(ctx)
	if err != nil {
		return nil, false, err
	}
	candidates, err := s.store.DirectoryCandidates(ctx, searcher, open)
	if err != nil {
		return nil, false, err
	}
	type hit struct {
		u    DirectoryUser
		rank int
	}
	var hits []hit
	for _, u := range candidates {
		if rank, ok := directoryMatch(u, words); ok {
			hits = append(hits, hit{u, rank})
		}
	}
	slices.SortFunc(hits, func(a, b hit) int {
		return cmp.Or(
			cmp.Compare(a.rank, b.rank),
			cmp.Compare(boolRank(a.u.DisplayName == ""), boolRank(b.u.DisplayName == "")),
			cmp.Compare(strings.ToLower(a.u.DisplayName), strings.ToLower(b.u.DisplayName)),
			cmp.Compare(a.u.UserID, b.u.UserID),
		)
	})
	results = []DirectoryUser{}
	for i, h := range hits {
		if i == limit {
			return results, true, nil
		}
		results = append(results, h.u)
	}
	return results, false, nil
}

func boolRank(b bool) int {
	if b {
		return 1
	}
	return 0
}

// directoryMatch reports whether every word occurs in u's user ID or
// display name, and how well u matches: 0 when the whole term is the
// display name or localpart, 1 when every word starts a word of them,
// 2 otherwise.
func directoryMatch(u DirectoryUser, words []string) (int, bool) {
	id := strings.ToLower(u.UserID)
	name := strings.ToLower(u.DisplayName)
	localpart, _, _ := matrixevents.SplitUserID(id)
	for _, w := range words {
		if !strings.Contains(id, w) && !strings.Contains(name, w) {
			return 0, false
		}
	}
	whole := strings.Join(words, " ")
	if whole == name || whole == localpart || whole == id {
		return 0, true
	}
	tokens := slices.Concat(splitWords(name), splitWords(localpart))
	for _, w := range words {
		if !slices.ContainsFunc(tokens, func(t string) bool { return strings.HasPrefix(t, w) }) &&
			!strings.HasPrefix(name, w) && !strings.HasPrefix(localpart, w) {
			return 2, true
		}
	}
	return 1, true
}

func splitWords(s string) []string {
	return strings.FieldsFunc(s, func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) })
}

// openRooms lists the rooms whose members anyone may discover: join rule
// public or history visibility world_readable.
func (s *Service) openRooms(ctx context.Context) ([]string, error) {
	open := map[string]bool{}
	rules, err := s.store.CurrentStateOfType(ctx, "m.room.join_rules", "")
	if err != nil {
		return nil, err
	}
	for _, se := range rules {
		var c struct {
			JoinRule string `json:"join_rule"`
		}
		if json.Unmarshal(se.Event.Content(), &c) == nil && c.JoinRule == "public" {
			open[se.Event.RoomID()] = true
		}
	}
	vis, err := s.store.CurrentStateOfType(ctx, "m.room.history_visibility", "")
	if err != nil {
		return nil, err
	}
	for _, se := range vis {
		var c struct {
			HistoryVisibility string `json:"history_visibility"`
		}
		if json.Unmarshal(se.Event.Content(), &c) == nil && c.HistoryVisibility == "world_readable" {
			open[se.Event.RoomID()] = true
		}
	}
	// Only rooms this server is in: one it has left keeps a stale state
	// here, whose members it no longer hears of.
	joined, err := s.store.RoomsJoinedByServer(ctx, s.serverName)
	if err != nil {
		return nil, err
	}
	ids := make([]string, 0, len(open))
	for _, id := range joined {
		if open[id] {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	return ids, nil
}
