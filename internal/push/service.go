package push

import (
	"context"
	"encoding/json"
	"sync"
	"time"

	"foyer/internal/keylock"
	"foyer/internal/refusal"
)

// Store keeps each user's push rules (as one document this package
// encodes) with the stream position of their latest change, and pushers.
type Store interface {
	// UserRules returns the user's stored rules document and its stream
	// position; nil and 0 when the user has changed nothing.
	UserRules(ctx context.Context, userID string) (doc []byte, pos int64, err error)
	// PutUserRules replaces the user's document, recording pos.
	PutUserRules(ctx context.Context, userID string, doc []byte, pos int64) error

	// Pushers lists the user's pushers, oldest first.
	Pushers(ctx context.Context, userID string) ([]Pusher, error)
	// PutPusher creates or replaces the pusher (p.UserID, p.AppID,
	// p.PushKey). With exclusive set it also removes other users'
	// pushers with the same app ID and pushkey.
	PutPusher(ctx context.Context, p Pusher, exclusive bool) error
	// DeletePusher removes one pusher; removing none is not an error.
	DeletePusher(ctx context.Context, userID, appID, pushKey string) error
}

// Positions hands out stream positions (storage.Stream).
type Positions interface {
	Reserve(ctx context.Context) (pos int64, done func(), err error)
}

// maxRulesPerKind bounds each kind's user-defined rules, so the stored
// document and evaluation stay small.
const maxRulesPerKind = 500

// maxCachedUsers bounds the in-memory cache of users' rules.
const maxCachedUsers = 10000

// Service is push rules, their evaluation, and pushers.
type Service struct {
	store     Store
	positions Positions
	now       func() time.Time

	// userLocks serialise rule changes per user (hashed), so each
	// read-modify-write sees the previous one.
	userLocks keylock.Striped

	cacheMu sync.Mutex
	cache   map[string]*cachedRules

	listenersMu sync.Mutex
	listeners   []func(userID string, pos int64)
}

// cachedRules is a user's stored document, its position and the merged
// ruleset built from it. Entries are never modified, only replaced.
type cachedRules struct {
	doc    userDoc
	pos    int64
	merged RuleSet
}

// NewService builds the service.
func NewService(store Store, positions Positions) *Service {
	return &Service{store: store, positions: positions, now: time.Now, cache: map[string]*cachedRules{}}
}

// OnChange registers f, called after a user's push rules change with the
// stream position of the change (sync delivers m.push_rules then).
func (s *Service) OnChange(f func(userID string, pos int64)) {
	s.listenersMu.Lock()
	s.listeners = append(s.listeners, f)
	s.listenersMu.Unlock()
}

func (s *Service) lockUser(userID string) func() { return s.userLocks.Lock(userID) }

// load returns the user's cached rules, reading the store on a miss.
func (s *Service) load(ctx context.Context, userID string) (*cachedRules, error) {
	s.cacheMu.Lock()
	c, ok := s.cache[userID]
	s.cacheMu.Unlock()
	if ok {
		return c, nil
	}
	raw, pos, err := s.store.UserRules(ctx, userID)
	if err != nil {
		return nil, err
	}
	doc, err := decodeDoc(raw)
	if err != nil {
		return nil, err
	}
	c = &cachedRules{doc: doc, pos: pos, merged: merge(userID, doc)}
	s.remember(userID, c)
	return c, nil
}

// remember caches c unless a newer entry is there already (a reader that
// loaded before a write committed must not undo the write's entry).
func (s *Service) remember(userID string, c *cachedRules) {
	s.cacheMu.Lock()
	defer s.cacheMu.Unlock()
	if old, ok := s.cache[userID]; ok && old.pos > c.pos {
		return
	}
	if len(s.cache) >= maxCachedUsers {
		clear(s.cache)
	}
	s.cache[userID] = c
}

// Rules is the user's merged global ruleset: server defaults with the
// user's changes, and the user's own rules. Guests, who cannot change
// rules, get the defaults.
func (s *Service) Rules(ctx context.Context, userID string) (RuleSet, error) {
	c, err := s.load(ctx, userID)
	if err != nil {
		return RuleSet{}, err
	}
	var out RuleSet
	for _, k := range Kinds {
		out.set(k, append([]Rule(nil), c.merged.Kind(k)...))
	}
	return out, nil
}

// AccountData is the content of the user's m.push_rules account data
// event: {"global": ruleset}.
func (s *Service) AccountData(ctx context.Context, userID string) (json.RawMessage, error) {
	rs, err := s.Rules(ctx, userID)
	if err != nil {
		return nil, err
	}
	return rs.AccountDataContent(), nil
}

// Position is the stream position of the user's latest push rule change,
// 0 if the user never changed any.
func (s *Service) Position(ctx context.Context, userID string) (int64, error) {
	c, err := s.load(ctx, userID)
	if err != nil {
		return 0, err
	}
	return c.pos, nil
}

// ChangedBetween reports whether the user's push rules changed in the
// stream range (from, to]: sync then sends m.push_rules (from 0 on an
// initial sync, which always sends them).
func (s *Service) ChangedBetween(ctx context.Context, userID string, from, to int64) (bool, error) {
	pos, err := s.Position(ctx, userID)
	if err != nil {
		return false, err
	}
	return pos > from && pos <= to, nil
}

func checkKind(k Kind) error {
	if _, ok := ParseKind(string(k)); !ok {
		return refusal.New(refusal.InvalidParam, "unknown push rule kind %q; use override, content, room, sender or underride", k)
	}
	return nil
}

func notFound(k Kind, ruleID string) error {
	return refusal.New(refusal.NotFound, "there is no %s push rule %q", k, ruleID)
}

// Rule returns one rule of the user's merged ruleset.
func (s *Service) Rule(ctx context.Context, userID string, k Kind, ruleID string) (Rule, error) {
	if err := checkKind(k); err != nil {
		return Rule{}, err
	}
	c, err := s.load(ctx, userID)
	if err != nil {
		return Rule{}, err
	}
	r, ok := c.merged.Find(k, ruleID)
	if !ok {
		return Rule{}, notFound(k, ruleID)
	}
	return r, nil
}

// update runs fn over a copy of the user's document under the user's
// lock and stores the result at a new stream position.
func (s *Service) update(ctx context.Context, userID string, fn func(d *userDoc) error) error {
	unlock := s.lockUser(userID)
	defer unlock()
	c, err := s.load(ctx, userID)
	if err != nil {
		return err
	}
	doc := c.doc.clone()
	if err := fn(&doc); err != nil {
		return err
	}
	raw, err := doc.encode()
	if err != nil {
		return err
	}
	pos, done, err := s.positions.Reserve(ctx)
	if err != nil {
		return err
	}
	err = s.store.PutUserRules(ctx, userID, raw, pos)
	if err == nil {
		s.remember(userID, &cachedRules{doc: doc, pos: pos, merged: merge(userID, doc)})
	}
	done()
	if err != nil {
		return err
	}
	s.listenersMu.Lock()
	listeners := s.listeners
	s.listenersMu.Unlock()
	for _, f := range listeners {
		f(userID, pos)
	}
	return nil
}

func indexOf(rules []Rule, ruleID string) int {
	for i, r := range rules {
		if r.RuleID == ruleID {
			return i
		}
	}
	return -1
}

// PutRule creates or replaces a user-defined rule. A new rule is enabled
// and, without before/after, becomes the most important user rule of its
// kind; a replaced rule keeps its enabled state and, without before/after,
// its place. before (which wins when both are given) makes the rule the
// next more important than that rule, after the next less important; the
// rule named must be a user-defined rule of the same kind (400 M_UNKNOWN
// otherwise, as the spec's example shows). Server-default rules cannot be
// replaced (400 M_UNKNOWN).
func (s *Service) PutRule(ctx context.Context, userID string, k Kind, ruleID string, in RuleInput, before, after string) error {
	if err := checkKind(k); err != nil {
		return err
	}
	rule, err := buildRule(k, ruleID, in)
	if err != nil {
		return err
	}
	return s.update(ctx, userID, func(d *userDoc) error {
		list := d.Rules[k]
		idx := indexOf(list, ruleID)
		if idx >= 0 {
			rule.Enabled = list[idx].Enabled
		}
		ref, placeBefore := before, true
		if ref == "" {
			ref, placeBefore = after, false
		}
		switch {
		case ref != "":
			if idx >= 0 {
				list = append(list[:idx:idx], list[idx+1:]...)
			}
			j := indexOf(list, ref)
			if j < 0 {
				return refusal.New(refusal.Unknown, "before/after rule not found: %s", ref)
			}
			if !placeBefore {
				j++
			}
			list = append(list[:j:j], append([]Rule{rule}, list[j:]...)...)
		case idx >= 0:
			list[idx] = rule
		default:
			list = append([]Rule{rule}, list...)
		}
		if len(list) > maxRulesPerKind {
			return refusal.New(refusal.Unknown, "too many %s push rules (at most %d)", k, maxRulesPerKind)
		}
		if d.Rules == nil {
			d.Rules = map[Kind][]Rule{}
		}
		d.Rules[k] = list
		return nil
	})
}

// DeleteRule removes a user-defined rule. Server-default rules cannot be
// deleted (400 M_UNKNOWN); disable them instead.
func (s *Service) DeleteRule(ctx context.Context, userID string, k Kind, ruleID string) error {
	if err := checkKind(k); err != nil {
		return err
	}
	if _, ok := DefaultRules(userID).Find(k, ruleID); ok {
		return refusal.New(refusal.Unknown, "server-default push rule %q cannot be deleted; disable it instead", ruleID)
	}
	return s.update(ctx, userID, func(d *userDoc) error {
		list := d.Rules[k]
		idx := indexOf(list, ruleID)
		if idx < 0 {
			return notFound(k, ruleID)
		}
		d.Rules[k] = append(list[:idx:idx], list[idx+1:]...)
		return nil
	})
}

// changeRule applies a change to a server-default rule (recorded as a
// change to it) or to a user-defined rule.
func (s *Service) changeRule(ctx context.Context, userID string, k Kind, ruleID string,
	onDefault func(c *defaultChange), onUser func(r *Rule)) error {
	if err := checkKind(k); err != nil {
		return err
	}
	_, isDefault := DefaultRules(userID).Find(k, ruleID)
	return s.update(ctx, userID, func(d *userDoc) error {
		if isDefault {
			key := defaultKey(k, ruleID)
			c := d.Defaults[key]
			onDefault(&c)
			d.Defaults[key] = c
			return nil
		}
		list := d.Rules[k]
		idx := indexOf(list, ruleID)
		if idx < 0 {
			return notFound(k, ruleID)
		}
		r := list[idx]
		onUser(&r)
		list[idx] = r
		return nil
	})
}

// SetEnabled enables or disables a rule, server-default ones included.
func (s *Service) SetEnabled(ctx context.Context, userID string, k Kind, ruleID string, enabled bool) error {
	return s.changeRule(ctx, userID, k, ruleID,
		func(c *defaultChange) { c.Enabled = &enabled },
		func(r *Rule) { r.Enabled = enabled })
}

// SetActions replaces a rule's actions, server-default ones included.
func (s *Service) SetActions(ctx context.Context, userID string, k Kind, ruleID string, actions []json.RawMessage) error {
	if err := checkKind(k); err != nil {
		return err
	}
	acts, err := ValidateActions(actions)
	if err != nil {
		return err
	}
	return s.changeRule(ctx, userID, k, ruleID,
		func(c *defaultChange) { c.Actions = acts },
		func(r *Rule) { r.Actions = acts })
}

// Evaluate runs the user's push rules over an event. notify is whether
// the event notifies the user; highlight whether it also highlights (a
// highlight tweak on a rule that does not notify counts for nothing).
// The user's own events never notify.
func (s *Service) Evaluate(ctx context.Context, userID string, ev Event, rc RoomContext) (notify, highlight bool, err error) {
	m, ok, err := s.EvaluateMatch(ctx, userID, ev, rc)
	if err != nil || !ok {
		return false, false, err
	}
	return m.Notify, m.Notify && m.Highlight, nil
}

// EvaluateMatch is Evaluate returning the deciding rule and its tweaks
// (for pushers); ok is false when no rule matched.
func (s *Service) EvaluateMatch(ctx context.Context, userID string, ev Event, rc RoomContext) (Match, bool, error) {
	if ev.Sender == userID {
		return Match{}, false, nil
	}
	c, err := s.load(ctx, userID)
	if err != nil {
		return Match{}, false, err
	}
	m, ok := EvaluateRuleSet(c.merged, userID, ev, rc)
	return m, ok, nil
}
