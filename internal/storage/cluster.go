package storage

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
)

// ClusterProcess is one process serving the database, as its last
// heartbeat described it.
type ClusterProcess struct {
	InstanceID string
	Hostname   string
	PID        int64
	Addresses  []string
	// ClusterAddress is where the process takes requests other
	// processes forward (empty if it takes none).
	ClusterAddress string
	Started        time.Time
	Heartbeat      time.Time
}

// Lease is who holds a named lease and until when.
type Lease struct {
	Name    string
	Holder  string
	Expires time.Time
}

// ClusterStore keeps the processes' heartbeats and leases.
type ClusterStore struct{ db *DB }

// NewClusterStore returns the store over db.
func NewClusterStore(db *DB) *ClusterStore { return &ClusterStore{db: db} }

// Heartbeat records that p is alive at p.Heartbeat.
func (s *ClusterStore) Heartbeat(ctx context.Context, p ClusterProcess) error {
	_, err := s.db.Write.ExecContext(ctx, `INSERT INTO cluster_processes (instance_id, hostname, pid, addresses, cluster_address, started_ts, heartbeat_ts)
		VALUES ($1, $2, $3, $4, $5, $6, $7)
		ON CONFLICT (instance_id) DO UPDATE SET hostname = excluded.hostname, pid = excluded.pid,
			addresses = excluded.addresses, cluster_address = excluded.cluster_address,
			started_ts = excluded.started_ts, heartbeat_ts = excluded.heartbeat_ts`,
		p.InstanceID, p.Hostname, p.PID, strings.Join(p.Addresses, " "), p.ClusterAddress, p.Started.UnixMilli(), p.Heartbeat.UnixMilli())
	if err != nil {
		return fmt.Errorf("recording a heartbeat: %w", err)
	}
	return nil
}

// Processes lists the processes whose last heartbeat is not older than
// since, newest start first.
func (s *ClusterStore) Processes(ctx context.Context, since time.Time) ([]ClusterProcess, error) {
	rows, err := s.db.Read.QueryContext(ctx, `SELECT instance_id, hostname, pid, addresses, cluster_address, started_ts, heartbeat_ts
		FROM cluster_processes WHERE heartbeat_ts >= $1 ORDER BY started_ts DESC, instance_id`, since.UnixMilli())
	if err != nil {
		return nil, fmt.Errorf("listing processes: %w", err)
	}
	defer rows.Close()
	var out []ClusterProcess
	for rows.Next() {
		p, err := scanProcess(rows)
		if err != nil {
			return nil, fmt.Errorf("listing processes: %w", err)
		}
		out = append(out, p)
	}
	return out, rows.Err()
}

// Process is one process's last heartbeat; ok is false if it never beat
// or stopped cleanly.
func (s *ClusterStore) Process(ctx context.Context, instanceID string) (p ClusterProcess, ok bool, err error) {
	p, err = scanProcess(s.db.Write.QueryRowContext(ctx, `SELECT instance_id, hostname, pid, addresses, cluster_address, started_ts, heartbeat_ts
		FROM cluster_processes WHERE instance_id = $1`, instanceID))
	if errors.Is(err, sql.ErrNoRows) {
		return ClusterProcess{}, false, nil
	}
	if err != nil {
		return ClusterProcess{}, false, fmt.Errorf("reading process %s: %w", instanceID, err)
	}
	return p, true, nil
}

func scanProcess(row interface{ Scan(...any) error }) (ClusterProcess, error) {
	var p ClusterProcess
	var addrs string
	var started, beat int64
	if err := row.Scan(&p.InstanceID, &p.Hostname, &p.PID, &addrs, &p.ClusterAddress, &started, &beat); err != nil {
		return ClusterProcess{}, err
	}
	p.Addresses = strings.Fields(addrs)
	p.Started, p.Heartbeat = time.UnixMilli(started), time.UnixMilli(beat)
	return p, nil
}

// ForgetProcess removes a process that stopped cleanly.
func (s *ClusterStore) ForgetProcess(ctx context.Context, instanceID string) error {
	_, err := s.db.Write.ExecContext(ctx, `DELETE FROM cluster_processes WHERE instance_id = $1`, instanceID)
	return err
}

// TakeLease makes holder the holder of the named lease until expires,
// when it is free, expired at now, or already holder's. It returns the
// lease as it stands afterwards: held by holder when taken, else by
// whoever has it.
func (s *ClusterStore) TakeLease(ctx context.Context, name, holder string, now, expires time.Time) (Lease, error) {
	_, err := s.db.Write.ExecContext(ctx, `INSERT INTO cluster_leases (name, holder, expires_ts) VALUES ($1, $2, $3)
		ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_ts = excluded.expires_ts
		WHERE cluster_leases.holder = excluded.holder OR cluster_leases.expires_ts < $4`,
		name, holder, expires.UnixMilli(), now.UnixMilli())
	if err != nil {
		return Lease{}, fmt.Errorf("taking lease %s: %w", name, err)
	}
	return s.Lease(ctx, name)
}

// Lease reads the named lease; a lease never taken has no holder.
func (s *ClusterStore) Lease(ctx context.Context, name string) (Lease, error) {
	l := Lease{Name: name}
	var expires int64
	err := s.db.Write.QueryRowContext(ctx, `SELECT holder, expires_ts FROM cluster_leases WHERE name = $1`, name).Scan(&l.Holder, &expires)
	if errors.Is(err, sql.ErrNoRows) {
		return l, nil
	}
	if err != nil {
		return Lease{}, fmt.Errorf("reading lease %s: %w", name, err)
	}
	l.Expires = time.UnixMilli(expires)
	return l, nil
}

// ReleaseLease gives the lease up if holder has it.
func (s *ClusterStore) ReleaseLease(ctx context.Context, name, holder string) error {
	_, err := s.db.Write.ExecContext(ctx, `DELETE FROM cluster_leases WHERE name = $1 AND holder = $2`, name, holder)
	if err != nil {
		return fmt.Errorf("releasing lease %s: %w", name, err)
	}
	return nil
}

// ClusterKey is the key processes forwarding to each other share: the
// stored one, or candidate when none was stored yet (it is then stored,
// and the first of two processes starting together wins).
func (s *ClusterStore) ClusterKey(ctx context.Context, candidate string) (string, error) {
	if _, err := s.db.Write.ExecContext(ctx, `INSERT INTO cluster_key (id, key) VALUES (1, $1) ON CONFLICT (id) DO NOTHING`, candidate); err != nil {
		return "", fmt.Errorf("storing the cluster key: %w", err)
	}
	var key string
	if err := s.db.Write.QueryRowContext(ctx, `SELECT key FROM cluster_key WHERE id = 1`).Scan(&key); err != nil {
		return "", fmt.Errorf("reading the cluster key: %w", err)
	}
	return key, nil
}
