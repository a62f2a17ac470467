// Package federationedus sends local users' typing notices, public read
// receipts and presence to the other servers that should hear of them,
// as EDUs queued on the federation sender. Listeners of the typing,
// receipt and presence services only note what changed; one background
// worker finds the destinations (which takes room locks and database
// reads) and queues the EDUs, so no client request and no room lock waits
// on it. Presence is coalesced: a user's changes within one flush
// interval leave as one update, the latest.
package federationedus

import (
	"context"
	"encoding/json"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"foyer/internal/clientdata"
	"foyer/internal/presence"
	"foyer/internal/rooms"
)

// Queue takes EDUs for other servers (federationsender.Sender). It leaves
// out our own server and servers federation may not reach.
type Queue interface {
	QueueEDU(ctx context.Context, destinations []string, edu json.RawMessage) error
}

// Rooms names the servers of a room, the rooms of a user and the members
// of a room (rooms.Service).
type Rooms interface {
	MemberCounts(ctx context.Context, roomID string) (rooms.MemberSummary, error)
	JoinedRooms(ctx context.Context, userID string) ([]string, error)
	Current(ctx context.Context, roomID string) (rooms.RoomSnapshot, error)
}

// Typing lists who is typing in a room (typing.Service).
type Typing interface {
	Current(roomID string) []string
}

// Presence reads a user's status and renders it as an m.presence event
// (presence.Service).
type Presence interface {
	Get(ctx context.Context, userID string) (presence.Status, error)
	Event(st presence.Status) map[string]any
}

// Defaults of Options.
const (
	// DefaultTypingRefresh is how often a local user who is still typing
	// is announced again: receivers, Foyer's and Synapse's, forget a
	// remote typing notice after 30 to 60 seconds without one.
	DefaultTypingRefresh = 20 * time.Second
	// DefaultPresenceInterval is the least time between two presence
	// flushes.
	DefaultPresenceInterval = time.Second
)

// Options configure a Publisher.
type Options struct {
	ServerName       string
	Log              *slog.Logger
	TypingRefresh    time.Duration
	PresenceInterval time.Duration
}

// join is a user's join to a room, after which presence is shared.
type join struct{ roomID, userID string }

// maxPendingJoins bounds the joins waiting for the worker; beyond it the
// presence a join would share waits for the next change.
const maxPendingJoins = 1000

// receiptKey names the one receipt kept per user, room and thread.
type receiptKey struct{ roomID, userID, threadID string }

// Publisher turns local changes into queued EDUs.
type Publisher struct {
	queue    Queue
	rooms    Rooms
	typing   Typing
	presence Presence
	opt      Options
	// now is the clock of typing refreshes (a test sets its own).
	now func() time.Time

	mu              sync.Mutex
	typingRooms     map[string]bool
	receipts        map[receiptKey]clientdata.Receipt
	presenceChanges map[string]presence.Status
	joins           []join
	wake            chan struct{}

	// typingSent is, per room, each local user announced as typing and
	// when; only the worker touches it.
	typingSent map[string]map[string]time.Time

	stop chan struct{}
	done chan struct{}
}

// New builds a publisher; Start runs its worker.
func New(queue Queue, r Rooms, t Typing, p Presence, opt Options) *Publisher {
	if opt.TypingRefresh <= 0 {
		opt.TypingRefresh = DefaultTypingRefresh
	}
	if opt.PresenceInterval <= 0 {
		opt.PresenceInterval = DefaultPresenceInterval
	}
	if opt.Log == nil {
		opt.Log = slog.New(slog.DiscardHandler)
	}
	return &Publisher{
		queue: queue, rooms: r, typing: t, presence: p, opt: opt, now: time.Now,
		typingRooms:     map[string]bool{},
		receipts:        map[receiptKey]clientdata.Receipt{},
		presenceChanges: map[string]presence.Status{},
		wake:            make(chan struct{}, 1),
		typingSent:      map[string]map[string]time.Time{},
	}
}

// local reports whether userID is a user of this server.
func (p *Publisher) local(userID string) bool {
	return strings.HasSuffix(userID, ":"+p.opt.ServerName)
}

func (p *Publisher) signal() {
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

// TypingChanged is a typing.Service OnChange listener.
func (p *Publisher) TypingChanged(roomID string) {
	p.mu.Lock()
	p.typingRooms[roomID] = true
	p.mu.Unlock()
	p.signal()
}

// ReceiptStored is a clientdata.Service OnPublicReceipt listener.
func (p *Publisher) ReceiptStored(r clientdata.Receipt) {
	if !p.local(r.UserID) || r.Type != clientdata.ReceiptRead {
		return
	}
	p.mu.Lock()
	p.receipts[receiptKey{r.RoomID, r.UserID, r.ThreadID}] = r
	p.mu.Unlock()
	p.signal()
}

// PresenceChanged is a presence.Service OnChange listener.
func (p *Publisher) PresenceChanged(st presence.Status) {
	if !p.local(st.UserID) {
		return
	}
	p.mu.Lock()
	p.presenceChanges[st.UserID] = st
	p.mu.Unlock()
	// Presence waits for the next tick: that is the coalescing.
}

// RoomEvent is a rooms.Service OnEvent listener: after a join, as in
// Synapse, a local user's presence goes to the room's other servers, and
// a remote user's server gets the presence of the room's local members.
func (p *Publisher) RoomEvent(se rooms.StoredEvent) {
	ev := se.Event
	if ev.Type() != "m.room.member" || ev.StateKey() == nil || ev.Membership() != "join" {
		return
	}
	p.mu.Lock()
	if len(p.joins) < maxPendingJoins {
		p.joins = append(p.joins, join{ev.RoomID(), *ev.StateKey()})
	}
	p.mu.Unlock()
	p.signal()
}

// Start runs the worker; Stop ends it.
func (p *Publisher) Start() {
	p.stop, p.done = make(chan struct{}), make(chan struct{})
	go p.run()
}

// Stop ends the worker, flushing what is pending; safe without Start.
func (p *Publisher) Stop() {
	if p.stop == nil {
		return
	}
	close(p.stop)
	<-p.done
	p.stop = nil
}

func (p *Publisher) run() {
	defer close(p.done)
	tick := time.NewTicker(p.opt.PresenceInterval)
	defer tick.Stop()
	for {
		select {
		case <-p.stop:
			p.flush(context.Background())
			return
		case <-p.wake:
			p.flushTyping(context.Background())
			p.flushReceipts(context.Background())
			p.flushJoins(context.Background())
		case <-tick.C:
			p.flush(context.Background())
		}
	}
}

// flush queues everything pending now, and refreshes long typing
// notices. The worker calls it on each tick.
func (p *Publisher) flush(ctx context.Context) {
	p.flushTyping(ctx)
	p.refreshTyping(ctx)
	p.flushReceipts(ctx)
	p.flushJoins(ctx)
	p.flushPresence(ctx)
}

// roomServers are the servers with a member joined to roomID.
func (p *Publisher) roomServers(ctx context.Context, roomID string) []string {
	sum, err := p.rooms.MemberCounts(ctx, roomID)
	if err != nil {
		p.opt.Log.DebugContext(ctx, "federation EDUs: no servers for a room", "room_id", roomID, "err", err)
		return nil
	}
	return slices.DeleteFunc(slices.Clone(sum.JoinedServers), func(s string) bool { return s == p.opt.ServerName })
}

func (p *Publisher) send(ctx context.Context, destinations []string, eduType string, content any) {
	if len(destinations) == 0 {
		return
	}
	raw, err := json.Marshal(map[string]any{"edu_type": eduType, "content": content})
	if err == nil {
		err = p.queue.QueueEDU(ctx, destinations, raw)
	}
	if err != nil {
		p.opt.Log.WarnContext(ctx, "federation EDUs: queueing", "edu_type", eduType, "err", err)
	}
}

func (p *Publisher) sendTyping(ctx context.Context, servers []string, roomID, userID string, typing bool) {
	p.send(ctx, servers, "m.typing", map[string]any{"room_id": roomID, "user_id": userID, "typing": typing})
}

// flushTyping compares each changed room's local typists with those last
// announced: new ones are sent typing true, gone ones (stopped, timed
// out or left) typing false.
func (p *Publisher) flushTyping(ctx context.Context) {
	p.mu.Lock()
	changed := make([]string, 0, len(p.typingRooms))
	for id := range p.typingRooms {
		changed = append(changed, id)
	}
	clear(p.typingRooms)
	p.mu.Unlock()
	slices.Sort(changed)
	now := p.now()
	for _, roomID := range changed {
		sent := p.typingSent[roomID]
		var typists []string
		for _, u := range p.typing.Current(roomID) {
			if p.local(u) {
				typists = append(typists, u)
			}
		}
		var started, stopped []string
		for _, u := range typists {
			if _, ok := sent[u]; !ok {
				started = append(started, u)
			}
		}
		for u := range sent {
			if !slices.Contains(typists, u) {
				stopped = append(stopped, u)
			}
		}
		if len(started) == 0 && len(stopped) == 0 {
			continue
		}
		slices.Sort(stopped)
		servers := p.roomServers(ctx, roomID)
		for _, u := range stopped {
			p.sendTyping(ctx, servers, roomID, u, false)
			delete(sent, u)
		}
		for _, u := range started {
			p.sendTyping(ctx, servers, roomID, u, true)
			if sent == nil {
				sent = map[string]time.Time{}
				p.typingSent[roomID] = sent
			}
			sent[u] = now
		}
		if len(sent) == 0 {
			delete(p.typingSent, roomID)
		}
	}
}

// refreshTyping announces again the local users still typing whose last
// notice is TypingRefresh old, so receivers do not time them out.
func (p *Publisher) refreshTyping(ctx context.Context) {
	now := p.now()
	for roomID, sent := range p.typingSent {
		var servers []string
		for u, at := range sent {
			if now.Sub(at) < p.opt.TypingRefresh {
				continue
			}
			if servers == nil {
				servers = p.roomServers(ctx, roomID)
			}
			p.sendTyping(ctx, servers, roomID, u, true)
			sent[u] = now
		}
	}
}

// flushReceipts sends the pending receipts, one EDU per room.
func (p *Publisher) flushReceipts(ctx context.Context) {
	p.mu.Lock()
	pending := p.receipts
	p.receipts = map[receiptKey]clientdata.Receipt{}
	p.mu.Unlock()
	if len(pending) == 0 {
		return
	}
	// room → user → receipt. One receipt per user and room fits the
	// EDU's shape; a user's threaded receipts in one room leave in
	// separate EDUs.
	type userReceipt struct {
		EventIDs []string       `json:"event_ids"`
		Data     map[string]any `json:"data"`
	}
	byRoom := map[string][]map[string]userReceipt{}
	for _, r := range pending {
		data := map[string]any{"ts": r.TS}
		if r.ThreadID != "" {
			data["thread_id"] = r.ThreadID
		}
		entry := userReceipt{EventIDs: []string{r.EventID}, Data: data}
		batches := byRoom[r.RoomID]
		placed := false
		for _, b := range batches {
			if _, taken := b[r.UserID]; !taken {
				b[r.UserID] = entry
				placed = true
				break
			}
		}
		if !placed {
			byRoom[r.RoomID] = append(batches, map[string]userReceipt{r.UserID: entry})
		}
	}
	for roomID, batches := range byRoom {
		servers := p.roomServers(ctx, roomID)
		for _, b := range batches {
			p.send(ctx, servers, "m.receipt", map[string]any{roomID: map[string]any{clientdata.ReceiptRead: b}})
		}
	}
}

// flushPresence sends each changed user's latest presence to every server
// sharing a room with them, one EDU per destination.
func (p *Publisher) flushPresence(ctx context.Context) {
	p.mu.Lock()
	pending := p.presenceChanges
	p.presenceChanges = map[string]presence.Status{}
	p.mu.Unlock()
	if len(pending) == 0 {
		return
	}
	byServer := map[string][]map[string]any{}
	for userID, st := range pending {
		roomIDs, err := p.rooms.JoinedRooms(ctx, userID)
		if err != nil {
			p.opt.Log.WarnContext(ctx, "federation EDUs: rooms of a user", "user_id", userID, "err", err)
			continue
		}
		var servers []string
		for _, roomID := range roomIDs {
			for _, s := range p.roomServers(ctx, roomID) {
				if !slices.Contains(servers, s) {
					servers = append(servers, s)
				}
			}
		}
		if len(servers) == 0 {
			continue
		}
		update := p.presenceUpdate(st)
		for _, s := range servers {
			byServer[s] = append(byServer[s], update)
		}
	}
	for server, updates := range byServer {
		p.send(ctx, []string{server}, "m.presence", map[string]any{"push": updates})
	}
}

// flushJoins shares presence after joins: a local joiner's status is
// queued as a change (sent with the next presence flush to every server
// it now shares a room with); a remote joiner's server is sent the
// status of each local member of the room at once. Offline users, and
// users never seen, are left out: they have nothing to tell.
func (p *Publisher) flushJoins(ctx context.Context) {
	p.mu.Lock()
	joins := p.joins
	p.joins = nil
	p.mu.Unlock()
	for _, j := range joins {
		if p.local(j.userID) {
			if len(p.roomServers(ctx, j.roomID)) == 0 {
				continue
			}
			st, err := p.presence.Get(ctx, j.userID)
			if err != nil || st.Presence == presence.Offline {
				continue
			}
			p.mu.Lock()
			if _, pending := p.presenceChanges[j.userID]; !pending {
				p.presenceChanges[j.userID] = st
			}
			p.mu.Unlock()
			continue
		}
		_, server, ok := strings.Cut(j.userID, ":")
		if !ok || server == p.opt.ServerName {
			continue
		}
		snap, err := p.rooms.Current(ctx, j.roomID)
		if err != nil {
			continue
		}
		var updates []map[string]any
		for k, se := range snap.State {
			if k.Type != "m.room.member" || se.Event.Membership() != "join" || !p.local(k.StateKey) {
				continue
			}
			st, err := p.presence.Get(ctx, k.StateKey)
			if err != nil || st.Presence == presence.Offline {
				continue
			}
			updates = append(updates, p.presenceUpdate(st))
		}
		if len(updates) > 0 {
			p.send(ctx, []string{server}, "m.presence", map[string]any{"push": updates})
		}
	}
}

// presenceUpdate is one user's entry in an m.presence EDU's push list.
func (p *Publisher) presenceUpdate(st presence.Status) map[string]any {
	update := map[string]any{"user_id": st.UserID, "presence": st.Presence, "last_active_ago": int64(0)}
	if content, ok := p.presence.Event(st)["content"].(map[string]any); ok {
		for _, k := range []string{"last_active_ago", "currently_active", "status_msg"} {
			if v, ok := content[k]; ok {
				update[k] = v
			}
		}
	}
	return update
}
