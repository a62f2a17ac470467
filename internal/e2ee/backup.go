package e2ee

import (
	"context"
	"encoding/json"
	"errors"
	"sort"
	"strconv"
	"strings"

	"foyer/internal/refusal"
)

// Server-side key backups (spec: Server-side key backups). Versions are
// numbered per user and never reused; only the newest may be written.

// BackupInfo is a backup version as GET /room_keys/version answers it.
type BackupInfo struct {
	Algorithm string          `json:"algorithm"`
	AuthData  json.RawMessage `json:"auth_data"`
	Count     int64           `json:"count"`
	ETag      string          `json:"etag"`
	Version   string          `json:"version"`
}

// BackupCounts is the answer to key writes and deletes.
type BackupCounts struct {
	ETag  string `json:"etag"`
	Count int64  `json:"count"`
}

// KeyBackupData is one session's key as the API carries it.
type KeyBackupData struct {
	FirstMessageIndex *int64          `json:"first_message_index"`
	ForwardedCount    *int64          `json:"forwarded_count"`
	IsVerified        *bool           `json:"is_verified"`
	SessionData       json.RawMessage `json:"session_data"`
}

// RoomKeyBackup is {"sessions": {sessionId: KeyBackupData}}.
type RoomKeyBackup struct {
	Sessions map[string]KeyBackupData `json:"sessions"`
}

func parseVersion(v string) (int64, error) {
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n <= 0 {
		return 0, refusal.New(refusal.NotFound, "unknown backup version")
	}
	return n, nil
}

func backupInfo(b BackupVersion) BackupInfo {
	return BackupInfo{Algorithm: b.Algorithm, AuthData: b.AuthData, Count: b.Count, ETag: strconv.FormatInt(b.ETag, 10), Version: strconv.FormatInt(b.Version, 10)}
}

func checkAuthData(algorithm string, authData json.RawMessage) error {
	if algorithm == "" {
		return refusal.New(refusal.MissingParam, "algorithm is required")
	}
	trimmed := strings.TrimSpace(string(authData))
	if trimmed == "" || trimmed == "null" {
		return refusal.New(refusal.MissingParam, "auth_data is required")
	}
	// The spec describes an object; clients and SyTest also send a
	// string, which Synapse keeps and returns as given: so does Foyer.
	if !strings.HasPrefix(trimmed, "{") && !strings.HasPrefix(trimmed, `"`) {
		return refusal.New(refusal.BadJSON, "auth_data must be a JSON object (or a string)")
	}
	return nil
}

// CreateBackup creates a new backup version, which becomes the newest.
func (s *Service) CreateBackup(ctx context.Context, userID, algorithm string, authData json.RawMessage) (string, error) {
	if err := checkAuthData(algorithm, authData); err != nil {
		return "", err
	}
	v, err := s.store.CreateBackup(ctx, userID, algorithm, canonical(authData))
	if err != nil {
		return "", err
	}
	return strconv.FormatInt(v, 10), nil
}

// GetBackup returns a version, or the newest when version is "".
func (s *Service) GetBackup(ctx context.Context, userID, version string) (BackupInfo, error) {
	var v int64
	if version != "" {
		var err error
		if v, err = parseVersion(version); err != nil {
			return BackupInfo{}, err
		}
	}
	b, err := s.store.GetBackup(ctx, userID, v)
	if errors.Is(err, ErrNotFound) {
		if version == "" {
			return BackupInfo{}, refusal.New(refusal.NotFound, "no current backup version")
		}
		return BackupInfo{}, refusal.New(refusal.NotFound, "unknown backup version")
	}
	if err != nil {
		return BackupInfo{}, err
	}
	return backupInfo(b), nil
}

// UpdateBackup replaces a version's auth_data; the algorithm cannot
// change, and a version given in the body must be the path's.
func (s *Service) UpdateBackup(ctx context.Context, userID, version, algorithm string, authData json.RawMessage, bodyVersion string) error {
	v, err := parseVersion(version)
	if err != nil {
		return err
	}
	if err := checkAuthData(algorithm, authData); err != nil {
		return err
	}
	if bodyVersion != "" && bodyVersion != version {
		return refusal.New(refusal.InvalidParam, "the version in the body does not match the version in the path")
	}
	b, err := s.store.GetBackup(ctx, userID, v)
	if errors.Is(err, ErrNotFound) {
		return refusal.New(refusal.NotFound, "unknown backup version")
	}
	if err != nil {
		return err
	}
	if b.Algorithm != algorithm {
		return refusal.New(refusal.InvalidParam, "the algorithm does not match the backup's, %s", b.Algorithm)
	}
	err = s.store.UpdateBackup(ctx, userID, v, canonical(authData))
	if errors.Is(err, ErrNotFound) {
		return refusal.New(refusal.NotFound, "unknown backup version")
	}
	return err
}

// DeleteBackup deletes a version and its keys; deleting one already
// deleted succeeds.
func (s *Service) DeleteBackup(ctx context.Context, userID, version string) error {
	v, err := parseVersion(version)
	if err != nil {
		return err
	}
	existed, err := s.store.DeleteBackup(ctx, userID, v)
	if err != nil {
		return err
	}
	if !existed {
		return refusal.New(refusal.NotFound, "unknown backup version")
	}
	return nil
}

// PutRoomKeys stores keys ({roomId: {sessions: {...}}}) in the newest
// version, keeping the better of an existing and a new key.
func (s *Service) PutRoomKeys(ctx context.Context, userID, version string, rooms map[string]RoomKeyBackup) (BackupCounts, error) {
	if version == "" {
		return BackupCounts{}, refusal.New(refusal.MissingParam, "the version query parameter is required")
	}
	v, err := parseVersion(version)
	if err != nil {
		return BackupCounts{}, err
	}
	var keys []RoomKey
	for roomID, rk := range rooms {
		for sessionID, d := range rk.Sessions {
			// session_data is an object in the spec; a string is kept as
			// given, as Synapse does (as for a version's auth_data).
			if data := strings.TrimSpace(string(d.SessionData)); d.FirstMessageIndex == nil || d.ForwardedCount == nil || d.IsVerified == nil ||
				!(strings.HasPrefix(data, "{") || strings.HasPrefix(data, `"`)) {
				return BackupCounts{}, refusal.New(refusal.BadJSON, "key %s/%s needs first_message_index, forwarded_count, is_verified and a session_data object", roomID, sessionID)
			}
			keys = append(keys, RoomKey{
				RoomID: roomID, SessionID: sessionID,
				FirstMessageIndex: *d.FirstMessageIndex, ForwardedCount: *d.ForwardedCount, IsVerified: *d.IsVerified,
				SessionData: canonical(d.SessionData),
			})
		}
	}
	sort.Slice(keys, func(i, j int) bool {
		if keys[i].RoomID != keys[j].RoomID {
			return keys[i].RoomID < keys[j].RoomID
		}
		return keys[i].SessionID < keys[j].SessionID
	})
	b, err := s.store.PutRoomKeys(ctx, userID, v, keys)
	var wrong *WrongVersionError
	switch {
	case errors.As(err, &wrong):
		return BackupCounts{}, &refusal.Error{Kind: refusal.WrongRoomKeysVersion, Msg: "wrong backup version; write to the current one", CurrentVersion: wrong.Current}
	case errors.Is(err, ErrNotFound):
		return BackupCounts{}, refusal.New(refusal.NotFound, "unknown backup version")
	case err != nil:
		return BackupCounts{}, err
	}
	return BackupCounts{ETag: strconv.FormatInt(b.ETag, 10), Count: b.Count}, nil
}

// RoomKeys reads a version's keys, narrowed to a room and session when
// given: {roomId: {sessions: {...}}}.
func (s *Service) RoomKeys(ctx context.Context, userID, version, roomID, sessionID string) (map[string]RoomKeyBackup, error) {
	if version == "" {
		return nil, refusal.New(refusal.MissingParam, "the version query parameter is required")
	}
	v, err := parseVersion(version)
	if err != nil {
		return nil, err
	}
	keys, err := s.store.RoomKeys(ctx, userID, v, roomID, sessionID)
	if errors.Is(err, ErrNotFound) {
		return nil, refusal.New(refusal.NotFound, "unknown backup version")
	}
	if err != nil {
		return nil, err
	}
	out := map[string]RoomKeyBackup{}
	for _, k := range keys {
		rk, ok := out[k.RoomID]
		if !ok {
			rk = RoomKeyBackup{Sessions: map[string]KeyBackupData{}}
			out[k.RoomID] = rk
		}
		fmi, fc, iv := k.FirstMessageIndex, k.ForwardedCount, k.IsVerified
		rk.Sessions[k.SessionID] = KeyBackupData{FirstMessageIndex: &fmi, ForwardedCount: &fc, IsVerified: &iv, SessionData: k.SessionData}
	}
	return out, nil
}

// DeleteRoomKeys deletes a version's keys, narrowed like RoomKeys.
func (s *Service) DeleteRoomKeys(ctx context.Context, userID, version, roomID, sessionID string) (BackupCounts, error) {
	if version == "" {
		return BackupCounts{}, refusal.New(refusal.MissingParam, "the version query parameter is required")
	}
	v, err := parseVersion(version)
	if err != nil {
		return BackupCounts{}, err
	}
	b, err := s.store.DeleteRoomKeys(ctx, userID, v, roomID, sessionID)
	if errors.Is(err, ErrNotFound) {
		return BackupCounts{}, refusal.New(refusal.NotFound, "unknown backup version")
	}
	if err != nil {
		return BackupCounts{}, err
	}
	return BackupCounts{ETag: strconv.FormatInt(b.ETag, 10), Count: b.Count}, nil
}
