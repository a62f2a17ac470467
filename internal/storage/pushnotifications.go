package storage

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"foyer/internal/push"
	"foyer/internal/pushsender"
	"foyer/internal/rooms"
)

// PushNotificationStore keeps notifications, the per-pusher queues and
// the notifier's cursor (pushsender.Store).
type PushNotificationStore struct {
	db     *DB
	pushes *PushStore
}

// NewPushNotificationStore returns the store over db.
func NewPushNotificationStore(db *DB) *PushNotificationStore {
	return &PushNotificationStore{db: db, pushes: NewPushStore(db)}
}

var _ pushsender.Store = (*PushNotificationStore)(nil)

func (s *PushNotificationStore) Cursor(ctx context.Context) (int64, error) {
	var pos int64
	err := s.db.Read.QueryRowContext(ctx, `SELECT stream_pos FROM push_cursor WHERE id = 1`).Scan(&pos)
	return pos, err
}

// EventsAfter reads positive positions only: backfilled history and
// outliers sit below zero.
func (s *PushNotificationStore) EventsAfter(ctx context.Context, from, to int64, limit int) ([]rooms.StoredEvent, error) {
	return collectEvents(s.db.Read.QueryContext(ctx, `SELECT `+eventColumns+` FROM events e JOIN rooms r ON r.room_id = e.room_id
		WHERE e.stream_pos > $1 AND e.stream_pos <= $2`+shownToClients+` ORDER BY e.stream_pos LIMIT $3`,
		max(from, 0), to, limit))
}

func (s *PushNotificationStore) RemoteInvitesAfter(ctx context.Context, from, to int64) ([]pushsender.RemoteInvite, error) {
	rows, err := s.db.Read.QueryContext(ctx, `SELECT user_id, room_id, event_id, event_json, stripped_state, stream_pos
		FROM remote_memberships WHERE membership = 'invite' AND stream_pos > $1 AND stream_pos <= $2 ORDER BY stream_pos`, from, to)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []pushsender.RemoteInvite
	for rows.Next() {
		var ri pushsender.RemoteInvite
		var ev, state string
		if err := rows.Scan(&ri.UserID, &ri.RoomID, &ri.EventID, &ev, &state, &ri.StreamPos); err != nil {
			return nil, err
		}
		ri.Event, ri.State = json.RawMessage(ev), json.RawMessage(state)
		out = append(out, ri)
	}
	return out, rows.Err()
}

// notificationRowsPerInsert bounds one multi-row INSERT (9 arguments a
// row). SQLite looks each $N up among the statement's names one by one,
// so preparing grows with the square of its arguments: 200 rows took
// longer to prepare than to write when a pass covered a burst of sends.
const notificationRowsPerInsert = 25

func (s *PushNotificationStore) Record(ctx context.Context, ns []pushsender.Notification, cursor, queuedTS int64) ([]pushsender.PusherKey, error) {
	var keys []pushsender.PusherKey
	err := s.db.WithTx(ctx, func(tx *sql.Tx) error {
		keys = nil
		for start := 0; start < len(ns); start += notificationRowsPerInsert {
			chunk := ns[start:min(start+notificationRowsPerInsert, len(ns))]
			q := &strings.Builder{}
			p := placeholders{}
			q.WriteString(`INSERT INTO push_notifications (user_id, stream_pos, room_id, event_id, highlight, actions, ts, event_json, room_name) VALUES `)
			for i, n := range chunk {
				if i > 0 {
					q.WriteString(", ")
				}
				actions, err := json.Marshal(n.Actions)
				if err != nil {
					return err
				}
				var event, roomName sql.NullString
				if n.Event != nil {
					event = sql.NullString{String: string(n.Event), Valid: true}
					roomName = sql.NullString{String: n.RoomName, Valid: true}
				}
				fmt.Fprintf(q, "(%s, %s, %s, %s, %s, %s, %s, %s, %s)", p.arg(n.UserID), p.arg(n.StreamPos), p.arg(n.RoomID),
					p.arg(n.EventID), p.arg(n.Highlight), p.arg(string(actions)), p.arg(n.TS), p.arg(event), p.arg(roomName))
			}
			q.WriteString(` ON CONFLICT (user_id, stream_pos) DO NOTHING`)
			if _, err := tx.ExecContext(ctx, q.String(), p.args...); err != nil {
				return fmt.Errorf("storing notifications: %w", err)
			}
		}
		// Queue each notification for its user's HTTP pushers: read the
		// pushers of the users notified, then one row per pair.
		byUser := map[string][]pushsender.Notification{}
		var users []string
		for _, n := range ns {
			if _, ok := byUser[n.UserID]; !ok {
				users = append(users, n.UserID)
			}
			byUser[n.UserID] = append(byUser[n.UserID], n)
		}
		pushers, err := httpPushersOf(ctx, s.db.Dialect, tx, users)
		if err != nil {
			return err
		}
		type row struct {
			k   pushsender.PusherKey
			pos int64
		}
		var rows []row
		for _, k := range pushers {
			for _, n := range byUser[k.UserID] {
				rows = append(rows, row{k, n.StreamPos})
			}
		}
		// Queue order is stream order per pusher: rows go in by position.
		for start := 0; start < len(rows); start += notificationRowsPerInsert {
			chunk := rows[start:min(start+notificationRowsPerInsert, len(rows))]
			q := &strings.Builder{}
			p := placeholders{}
			q.WriteString(`INSERT INTO push_queue (user_id, app_id, pushkey, stream_pos, created_ts) VALUES `)
			for i, r := range chunk {
				if i > 0 {
					q.WriteString(", ")
				}
				fmt.Fprintf(q, "(%s, %s, %s, %s, %s)", p.arg(r.k.UserID), p.arg(r.k.AppID), p.arg(r.k.PushKey), p.arg(r.pos), p.arg(queuedTS))
			}
			if _, err := tx.ExecContext(ctx, q.String(), p.args...); err != nil {
				return fmt.Errorf("queueing notifications: %w", err)
			}
		}
		keys = pushers
		_, err = tx.ExecContext(ctx, `UPDATE push_cursor SET stream_pos = $1 WHERE id = 1 AND stream_pos < $2`, cursor, cursor)
		return err
	})
	return keys, err
}

// httpPushersOf lists the HTTP pushers of users.
func httpPushersOf(ctx context.Context, d Dialect, tx *sql.Tx, users []string) ([]pushsender.PusherKey, error) {
	var out []pushsender.PusherKey
	for start := 0; start < len(users); start += maxInArgs {
		chunk := users[start:min(start+maxInArgs, len(users))]
		p := placeholders{}
		in := p.list(d, chunk)
		rows, err := tx.QueryContext(ctx, `SELECT user_id, app_id, pushkey FROM pushers WHERE user_id IN (`+in+`) AND kind = 'http'
			ORDER BY user_id, app_id, pushkey`, p.args...)
		if err != nil {
			return nil, err
		}
		for rows.Next() {
			var k pushsender.PusherKey
			if err := rows.Scan(&k.UserID, &k.AppID, &k.PushKey); err != nil {
				rows.Close()
				return nil, err
			}
			out = append(out, k)
		}
		if err := rows.Close(); err != nil {
			return nil, err
		}
		if err := rows.Err(); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func (s *PushNotificationStore) QueueBadge(ctx context.Context, userID string, queuedTS int64) ([]pushsender.PusherKey, error) {
	// Most reads are by users without pushers: they cost one read, no
	// write transaction.
	var httpPushers int
	err := s.db.Read.QueryRowContext(ctx, `SELECT COUNT(*) FROM pushers WHERE user_id = $1 AND kind = 'http'`, userID).Scan(&httpPushers)
	if err != nil || httpPushers == 0 {
		return nil, err
	}
	var keys []pushsender.PusherKey
	err = s.db.WithTx(ctx, func(tx *sql.Tx) error {
		pushers, err := httpPushersOf(ctx, s.db.Dialect, tx, []string{userID})
		if err != nil {
			return err
		}
		keys = keys[:0]
		for _, k := range pushers {
			// One waiting badge update is enough: it reads the count
			// when it is sent.
			res, err := tx.ExecContext(ctx, `INSERT INTO push_queue (user_id, app_id, pushkey, stream_pos, created_ts)
				SELECT $1, $2, $3, 0, $4 WHERE NOT EXISTS (SELECT 1 FROM push_queue
					WHERE user_id = $5 AND app_id = $6 AND pushkey = $7 AND stream_pos = 0)`,
				k.UserID, k.AppID, k.PushKey, queuedTS, k.UserID, k.AppID, k.PushKey)
			if err != nil {
				return err
			}
			if n, _ := res.RowsAffected(); n > 0 {
				keys = append(keys, k)
			}
		}
		return nil
	})
	return keys, err
}

// Next reads the entry with its notification and its pusher in one
// query: it runs once per delivery.
func (s *PushNotificationStore) Next(ctx context.Context, k pushsender.PusherKey, after int64) (pushsender.Queued, bool, error) {
	var q pushsender.Queued
	var roomID, eventID, actions, event, roomName sql.NullString
	var deviceID, kind, appDisplayName, deviceDisplayName, profileTag, lang, data sql.NullString
	var createdTS sql.NullInt64
	err := s.db.Read.QueryRowContext(ctx, `SELECT q.position, q.stream_pos, q.created_ts, n.room_id, n.event_id, n.actions,
			n.event_json, n.room_name, p.device_id, p.kind, p.app_display_name, p.device_display_name, p.profile_tag, p.lang,
			p.data, p.created_ts
		FROM push_queue q
		LEFT JOIN push_notifications n ON n.user_id = q.user_id AND n.stream_pos = q.stream_pos
		LEFT JOIN pushers p ON p.user_id = q.user_id AND p.app_id = q.app_id AND p.pushkey = q.pushkey
		WHERE q.user_id = $1 AND q.app_id = $2 AND q.pushkey = $3 AND q.position > $4 ORDER BY q.position LIMIT 1`,
		k.UserID, k.AppID, k.PushKey, after).Scan(&q.Position, &q.StreamPos, &q.CreatedTS, &roomID, &eventID, &actions, &event, &roomName,
		&deviceID, &kind, &appDisplayName, &deviceDisplayName, &profileTag, &lang, &data, &createdTS)
	if errors.Is(err, sql.ErrNoRows) {
		return q, false, nil
	}
	if err != nil {
		return q, false, err
	}
	q.RoomID, q.EventID, q.RoomName = roomID.String, eventID.String, roomName.String
	if event.Valid {
		q.Event = json.RawMessage(event.String)
	}
	if actions.Valid {
		if err := json.Unmarshal([]byte(actions.String), &q.Actions); err != nil {
			return q, false, fmt.Errorf("notification actions: %w", err)
		}
	}
	if q.StreamPos != 0 && !eventID.Valid {
		// The notification was pruned: send a badge update instead.
		q.StreamPos = 0
	}
	if kind.Valid {
		q.Pusher = &push.Pusher{UserID: k.UserID, AppID: k.AppID, PushKey: k.PushKey, DeviceID: deviceID.String, Kind: kind.String,
			AppDisplayName: appDisplayName.String, DeviceDisplayName: deviceDisplayName.String, ProfileTag: profileTag.String,
			Lang: lang.String, Data: json.RawMessage(data.String), CreatedTS: createdTS.Int64}
	}
	return q, true, nil
}

// Remove deletes queue entries in one transaction: the sender gathers
// what its workers sent, so many deliveries cost one commit.
func (s *PushNotificationStore) Remove(ctx context.Context, positions []int64) error {
	return s.db.WithTx(ctx, func(tx *sql.Tx) error {
		for start := 0; start < len(positions); start += maxInArgs {
			chunk := positions[start:min(start+maxInArgs, len(positions))]
			p := placeholders{}
			ph := make([]string, len(chunk))
			for i, pos := range chunk {
				ph[i] = p.arg(pos)
			}
			if _, err := tx.ExecContext(ctx, `DELETE FROM push_queue WHERE position IN (`+strings.Join(ph, ", ")+`)`, p.args...); err != nil {
				return err
			}
		}
		return nil
	})
}

func (s *PushNotificationStore) Trim(ctx context.Context, k pushsender.PusherKey, current int64, keep int) (int, error) {
	// The (keep+1)th newest entry and everything older goes.
	res, err := s.db.Write.ExecContext(ctx, `DELETE FROM push_queue
		WHERE user_id = $1 AND app_id = $2 AND pushkey = $3 AND position <> $4 AND position <= (
			SELECT position FROM push_queue WHERE user_id = $5 AND app_id = $6 AND pushkey = $7
			ORDER BY position DESC LIMIT 1 OFFSET $8)`,
		k.UserID, k.AppID, k.PushKey, current, k.UserID, k.AppID, k.PushKey, keep)
	if err != nil {
		return 0, err
	}
	n, err := res.RowsAffected()
	return int(n), err
}

func (s *PushNotificationStore) DropQueue(ctx context.Context, k pushsender.PusherKey) error {
	_, err := s.db.Write.ExecContext(ctx, `DELETE FROM push_queue WHERE user_id = $1 AND app_id = $2 AND pushkey = $3`,
		k.UserID, k.AppID, k.PushKey)
	return err
}

func (s *PushNotificationStore) QueuedPushers(ctx context.Context) ([]pushsender.PusherKey, error) {
	rows, err := s.db.Read.QueryContext(ctx, `SELECT DISTINCT user_id, app_id, pushkey FROM push_queue ORDER BY user_id, app_id, pushkey`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []pushsender.PusherKey
	for rows.Next() {
		var k pushsender.PusherKey
		if err := rows.Scan(&k.UserID, &k.AppID, &k.PushKey); err != nil {
			return nil, err
		}
		out = append(out, k)
	}
	return out, rows.Err()
}

func (s *PushNotificationStore) DeletePusher(ctx context.Context, k pushsender.PusherKey) error {
	return s.db.WithTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM pushers WHERE user_id = $1 AND app_id = $2 AND pushkey = $3`,
			k.UserID, k.AppID, k.PushKey); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `DELETE FROM push_queue WHERE user_id = $1 AND app_id = $2 AND pushkey = $3`,
			k.UserID, k.AppID, k.PushKey)
		return err
	})
}

// UnreadRooms is the badge as Synapse counts it: the rooms the user is
// invited to (here or, pending, into rooms this server is not in), and
// the joined rooms whose newest notification is after the user's read
// receipt (an unthreaded or main-thread m.read or m.read.private).
func (s *PushNotificationStore) UnreadRooms(ctx context.Context, userID string) (int, error) {
	// One statement: it runs once per delivery.
	var n int
	err := s.db.Read.QueryRowContext(ctx, `SELECT
		(SELECT COUNT(*) FROM (
			SELECT room_id, MAX(stream_pos) AS latest FROM push_notifications WHERE user_id = $1 GROUP BY room_id) n
		WHERE n.latest > COALESCE((SELECT MAX(e.stream_pos) FROM receipts r JOIN events e ON e.event_id = r.event_id
				WHERE r.user_id = $2 AND r.room_id = n.room_id AND r.receipt_type IN ('m.read', 'm.read.private')
					AND r.thread_id IN ('', 'main')), 0)
			AND EXISTS (SELECT 1 FROM current_state cs WHERE cs.room_id = n.room_id AND cs.type = 'm.room.member'
				AND cs.state_key = $3 AND cs.membership = 'join'))
		+ (SELECT COUNT(*) FROM current_state WHERE type = 'm.room.member' AND state_key = $4 AND membership = 'invite')
		+ (SELECT COUNT(*) FROM remote_memberships rm WHERE rm.user_id = $5 AND rm.membership = 'invite'
			AND NOT EXISTS (SELECT 1 FROM current_state cs WHERE cs.room_id = rm.room_id AND cs.type = 'm.room.member'
				AND cs.state_key = $6))`,
		userID, userID, userID, userID, userID, userID).Scan(&n)
	return n, err
}

func (s *PushNotificationStore) QueueLengths(ctx context.Context) ([]pushsender.GatewayQueue, error) {
	rows, err := s.db.Read.QueryContext(ctx, `SELECT p.data, COUNT(*) FROM push_queue q
		JOIN pushers p ON p.user_id = q.user_id AND p.app_id = q.app_id AND p.pushkey = q.pushkey
		GROUP BY q.user_id, q.app_id, q.pushkey, p.data`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []pushsender.GatewayQueue
	for rows.Next() {
		var data string
		var n int64
		if err := rows.Scan(&data, &n); err != nil {
			return nil, err
		}
		var d struct {
			URL string `json:"url"`
		}
		_ = json.Unmarshal([]byte(data), &d)
		out = append(out, pushsender.GatewayQueue{URL: d.URL, Length: n})
	}
	return out, rows.Err()
}

func (s *PushNotificationStore) Prune(ctx context.Context, before int64) error {
	_, err := s.db.Write.ExecContext(ctx, `DELETE FROM push_notifications WHERE ts < $1`, before)
	return err
}

// Notifications lists the user's notifications below position before (0:
// from the newest), at most limit, only highlights when asked.
func (s *PushNotificationStore) Notifications(ctx context.Context, userID string, before int64, limit int, onlyHighlight bool) (pushsender.NotificationPage, error) {
	q := &strings.Builder{}
	p := placeholders{}
	fmt.Fprintf(q, `SELECT stream_pos, room_id, event_id, highlight, actions, ts, event_json FROM push_notifications WHERE user_id = %s`, p.arg(userID))
	if before > 0 {
		fmt.Fprintf(q, ` AND stream_pos < %s`, p.arg(before))
	}
	if onlyHighlight {
		fmt.Fprintf(q, ` AND highlight = %s`, p.arg(true))
	}
	fmt.Fprintf(q, ` ORDER BY stream_pos DESC LIMIT %s`, p.arg(limit+1))
	rows, err := s.db.Read.QueryContext(ctx, q.String(), p.args...)
	if err != nil {
		return pushsender.NotificationPage{}, err
	}
	defer rows.Close()
	var page pushsender.NotificationPage
	for rows.Next() {
		n := pushsender.Notification{UserID: userID}
		var actions string
		var event sql.NullString
		if err := rows.Scan(&n.StreamPos, &n.RoomID, &n.EventID, &n.Highlight, &actions, &n.TS, &event); err != nil {
			return pushsender.NotificationPage{}, err
		}
		if event.Valid {
			n.Event = json.RawMessage(event.String)
		}
		_ = json.Unmarshal([]byte(actions), &n.Actions)
		page.Notifications = append(page.Notifications, n)
	}
	if err := rows.Err(); err != nil {
		return pushsender.NotificationPage{}, err
	}
	if len(page.Notifications) > limit {
		page.Notifications = page.Notifications[:limit]
		page.Next = page.Notifications[limit-1].StreamPos
	}
	return page, nil
}
