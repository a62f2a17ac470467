package clientapi

import (
	"context"
	"encoding/json"
	"errors"
	"slices"

	"foyer/internal/push"
	"foyer/internal/refusal"
)

// carryToReplacement gives a user who joins (or creates) a room's
// replacement what they had set up for the old room, as Synapse does, so
// moving to the upgraded room loses nothing: its tags, its place in
// m.direct, and a room push rule for it. Only users who were joined to the
// old room get it, and nothing they already set for the new room is
// overwritten. A failure is logged, not returned: the join has happened.
func (a *API) carryToReplacement(ctx context.Context, userID, newRoomID string) {
	if err := a.carryUserState(ctx, userID, newRoomID); err != nil {
		a.Log.WarnContext(ctx, "copying a user's room settings to the replacement room", "user_id", userID, "room_id", newRoomID, "err", err)
	}
}

func (a *API) carryUserState(ctx context.Context, userID, newRoomID string) error {
	snap, err := a.Rooms.Current(ctx, newRoomID)
	if err != nil {
		return err
	}
	create, ok := snap.Get("m.room.create", "")
	if !ok {
		return nil
	}
	var c struct {
		Predecessor *struct {
			RoomID string `json:"room_id"`
		} `json:"predecessor"`
	}
	if json.Unmarshal(create.Event.Content(), &c) != nil || c.Predecessor == nil || c.Predecessor.RoomID == "" {
		return nil
	}
	oldRoomID := c.Predecessor.RoomID
	old, err := a.Rooms.Current(ctx, oldRoomID)
	if err != nil || old.Membership(userID) != "join" {
		return nil // an unknown predecessor or a user who was not there
	}
	if a.ClientData != nil {
		if err := a.carryTags(ctx, userID, oldRoomID, newRoomID); err != nil {
			return err
		}
		if err := a.carryDirect(ctx, userID, oldRoomID, newRoomID); err != nil {
			return err
		}
	}
	if a.Push != nil {
		return a.carryRoomPushRule(ctx, userID, oldRoomID, newRoomID)
	}
	return nil
}

// accountData reads one entry; ok is false when there is none.
func (a *API) accountData(ctx context.Context, userID, roomID, typ string) (json.RawMessage, bool, error) {
	raw, err := a.ClientData.GetAccountData(ctx, userID, roomID, typ)
	var re *refusal.Error
	if errors.As(err, &re) && re.Kind == refusal.NotFound {
		return nil, false, nil
	}
	return raw, err == nil, err
}

func (a *API) carryTags(ctx context.Context, userID, oldRoomID, newRoomID string) error {
	tags, ok, err := a.accountData(ctx, userID, oldRoomID, "m.tag")
	if err != nil || !ok {
		return err
	}
	if _, has, err := a.accountData(ctx, userID, newRoomID, "m.tag"); err != nil || has {
		return err
	}
	return a.ClientData.SetAccountData(ctx, userID, newRoomID, "m.tag", tags)
}

// carryDirect adds the new room beside the old one in every m.direct list
// that has the old one.
func (a *API) carryDirect(ctx context.Context, userID, oldRoomID, newRoomID string) error {
	raw, ok, err := a.accountData(ctx, userID, "", "m.direct")
	if err != nil || !ok {
		return err
	}
	var direct map[string][]string
	if json.Unmarshal(raw, &direct) != nil {
		return nil
	}
	changed := false
	for user, roomIDs := range direct {
		if slices.Contains(roomIDs, oldRoomID) && !slices.Contains(roomIDs, newRoomID) {
			direct[user] = append(roomIDs, newRoomID)
			changed = true
		}
	}
	if !changed {
		return nil
	}
	content, _ := json.Marshal(direct)
	return a.ClientData.SetAccountData(ctx, userID, "", "m.direct", content)
}

func (a *API) carryRoomPushRule(ctx context.Context, userID, oldRoomID, newRoomID string) error {
	rule, err := a.Push.Rule(ctx, userID, push.Room, oldRoomID)
	var re *refusal.Error
	if errors.As(err, &re) && re.Kind == refusal.NotFound {
		return nil
	}
	if err != nil {
		return err
	}
	if _, err := a.Push.Rule(ctx, userID, push.Room, newRoomID); err == nil {
		return nil
	}
	if err := a.Push.PutRule(ctx, userID, push.Room, newRoomID, push.RuleInput{Actions: rule.Actions}, "", ""); err != nil {
		return err
	}
	if !rule.Enabled {
		return a.Push.SetEnabled(ctx, userID, push.Room, newRoomID, false)
	}
	return nil
}
