package clientdata

import (
	"context"
	"encoding/json"
	"errors"

	"foyer/internal/refusal"
)

// Room tags are the room account data m.tag: {"tags": {tag: {order?}}}.

// Tags is GET /user/{userId}/rooms/{roomId}/tags: tag → tag content
// (empty when the room has no tags).
func (s *Service) Tags(ctx context.Context, userID, roomID string) (map[string]json.RawMessage, error) {
	_, tags, err := s.loadTags(ctx, userID, roomID)
	return tags, err
}

// loadTags reads m.tag: its other top-level fields and its tags. A
// malformed "tags" (set through the account data API) reads as none.
func (s *Service) loadTags(ctx context.Context, userID, roomID string) (map[string]json.RawMessage, map[string]json.RawMessage, error) {
	d, err := s.store.GetAccountData(ctx, userID, roomID, TypeTag)
	if errors.Is(err, ErrNotFound) {
		return map[string]json.RawMessage{}, map[string]json.RawMessage{}, nil
	}
	if err != nil {
		return nil, nil, err
	}
	var top map[string]json.RawMessage
	if json.Unmarshal(d.Content, &top) != nil || top == nil {
		top = map[string]json.RawMessage{}
	}
	var tags map[string]json.RawMessage
	if raw, ok := top["tags"]; !ok || json.Unmarshal(raw, &tags) != nil || tags == nil {
		tags = map[string]json.RawMessage{}
	}
	for k, v := range tags {
		var obj map[string]json.RawMessage
		if json.Unmarshal(v, &obj) != nil || obj == nil {
			tags[k] = json.RawMessage(`{}`)
		}
	}
	return top, tags, nil
}

// ValidateTag checks a tag's content: a JSON object whose optional
// "order" is a number in [0, 1].
func ValidateTag(content map[string]json.RawMessage) error {
	raw, ok := content["order"]
	if !ok {
		return nil
	}
	var order float64
	if err := json.Unmarshal(raw, &order); err != nil {
		return refusal.New(refusal.BadJSON, "order must be a number")
	}
	if order < 0 || order > 1 {
		return refusal.New(refusal.InvalidParam, "order must be between 0 and 1")
	}
	return nil
}

// SetTag is PUT /user/{userId}/rooms/{roomId}/tags/{tag}: adds or
// replaces one tag.
func (s *Service) SetTag(ctx context.Context, userID, roomID, tag string, content map[string]json.RawMessage) error {
	if tag == "" {
		return refusal.New(refusal.InvalidParam, "the tag must not be empty")
	}
	if content == nil {
		content = map[string]json.RawMessage{}
	}
	if err := ValidateTag(content); err != nil {
		return err
	}
	raw, err := json.Marshal(content)
	if err != nil {
		return err
	}
	unlock := s.lockUser(userID)
	defer unlock()
	top, tags, err := s.loadTags(ctx, userID, roomID)
	if err != nil {
		return err
	}
	tags[tag] = raw
	return s.saveTagsLocked(ctx, userID, roomID, top, tags)
}

// DeleteTag is DELETE /user/{userId}/rooms/{roomId}/tags/{tag}. Removing
// a tag the room does not have succeeds without a write.
func (s *Service) DeleteTag(ctx context.Context, userID, roomID, tag string) error {
	unlock := s.lockUser(userID)
	defer unlock()
	top, tags, err := s.loadTags(ctx, userID, roomID)
	if err != nil {
		return err
	}
	if _, ok := tags[tag]; !ok {
		return nil
	}
	delete(tags, tag)
	return s.saveTagsLocked(ctx, userID, roomID, top, tags)
}

func (s *Service) saveTagsLocked(ctx context.Context, userID, roomID string, top, tags map[string]json.RawMessage) error {
	rawTags, err := json.Marshal(tags)
	if err != nil {
		return err
	}
	top["tags"] = rawTags
	content, err := json.Marshal(top)
	if err != nil {
		return err
	}
	return s.putAccountDataLocked(ctx, userID, roomID, TypeTag, content)
}
