package e2ee

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
)

// ErrNotFound: no such row (device keys, backup version, backed-up key).
var ErrNotFound = errors.New("not found")

// ErrNoKey: a claim found neither a one-time key nor a fallback key.
var ErrNoKey = errors.New("no one-time or fallback key left")

// ErrKeyConflict: an upload reuses a stored one-time key ID for a
// different key.
var ErrKeyConflict = errors.New("one-time key ID already used for a different key")

// WrongVersionError: a write to a backup version that is not the newest.
type WrongVersionError struct{ Current string }

func (e *WrongVersionError) Error() string { return "wrong backup version; current is " + e.Current }

// OneTimeKey is one uploaded one-time or fallback key: KeyID is the part
// after "algorithm:", Key the JSON value as uploaded (a string for
// unsigned curve25519, an object for signed keys).
type OneTimeKey struct {
	Algorithm string
	KeyID     string
	Key       json.RawMessage
}

// FullID is "algorithm:key_id".
func (k OneTimeKey) FullID() string { return k.Algorithm + ":" + k.KeyID }

// KeyUpload is one POST /keys/upload, written in one transaction.
type KeyUpload struct {
	UserID, DeviceID string
	// DeviceKeys, when set, are the device's keys (verified). When they
	// differ from the stored ones a device-list change is recorded at Pos.
	DeviceKeys json.RawMessage
	Pos        int64
	OneTime    []OneTimeKey
	// Fallback replaces the device's fallback key of each algorithm; an
	// identical re-upload keeps its used flag.
	Fallback []OneTimeKey
}

// StoredDeviceKeys are a device's uploaded keys with its display name.
type StoredDeviceKeys struct {
	UserID, DeviceID string
	Keys             json.RawMessage
	DisplayName      string
}

// Cross-signing key types.
const (
	KeyMaster      = "master"
	KeySelfSigning = "self_signing"
	KeyUserSigning = "user_signing"
)

// CrossSigningKey is one of a user's cross-signing keys as uploaded.
type CrossSigningKey struct {
	UserID string
	Type   string // KeyMaster, KeySelfSigning, KeyUserSigning
	// PublicKey is the unpadded base64 ed25519 key (the part after
	// "ed25519:" in the key ID).
	PublicKey string
	Keys      json.RawMessage
}

// Signature is one signature uploaded through /keys/signatures/upload on
// a device key (TargetKeyID = device ID) or a cross-signing key
// (TargetKeyID = its public key).
type Signature struct {
	TargetUserID, TargetKeyID string
	SignerUserID, SignerKeyID string // SignerKeyID is "ed25519:..."
	Signature                 string
}

// DeviceListChange is one entry of the device-list log: UserID's devices
// or keys changed at Pos. VisibleTo, when set, limits it to that user
// (signatures made with one's user-signing key concern only oneself).
type DeviceListChange struct {
	UserID, VisibleTo string
	Pos               int64
}

// MemberChange is a membership event in one of a user's rooms.
type MemberChange struct {
	RoomID, UserID, Membership string
	// PrevMembership is the membership it replaced ("" if none).
	PrevMembership string
}

// ToDeviceMessage is one message for one device.
type ToDeviceMessage struct {
	UserID, DeviceID string
	Sender, Type     string
	Content          json.RawMessage
	Pos              int64
	// Bytes is the message's size as sync delivers it (toDeviceBytes).
	Bytes int64
}

// QueuedToDevice is where a pending message stands and how big it is.
type QueuedToDevice struct {
	Pos, Bytes int64
}

// QueueFullError: a send would take a device's pending to-device
// messages beyond the cap (account_limits.max_pending_to_device_bytes).
type QueueFullError struct {
	UserID, DeviceID       string
	PendingBytes, MaxBytes int64
}

func (e *QueueFullError) Error() string {
	return fmt.Sprintf("the to-device queue of %s's device %s is full", e.UserID, e.DeviceID)
}

// ToDeviceTxn identifies a sender's transaction, for idempotency.
type ToDeviceTxn struct {
	UserID, DeviceID, TxnID string
}

// BackupVersion is a key backup's metadata.
type BackupVersion struct {
	Version   int64
	Algorithm string
	AuthData  json.RawMessage
	ETag      int64
	Count     int64
}

// RoomKey is one backed-up megolm session key.
type RoomKey struct {
	RoomID, SessionID string
	FirstMessageIndex int64
	ForwardedCount    int64
	IsVerified        bool
	SessionData       json.RawMessage
}

// Store is the persistence of keys, to-device messages, device-list
// changes and key backups, implemented in internal/storage on SQLite and
// PostgreSQL.
type Store interface {
	// UploadKeys writes device, one-time and fallback keys in one
	// transaction. It fails with ErrKeyConflict when a one-time key ID is
	// stored with a different key. It reports whether the device keys
	// changed (and so a device-list change was recorded at u.Pos).
	UploadKeys(ctx context.Context, u KeyUpload) (deviceKeysChanged bool, err error)
	// DeviceKeys returns a device's stored keys or ErrNotFound.
	DeviceKeys(ctx context.Context, userID, deviceID string) (json.RawMessage, error)
	OneTimeKeyCounts(ctx context.Context, userID, deviceID string) (map[string]int, error)
	UnusedFallbackKeyTypes(ctx context.Context, userID, deviceID string) ([]string, error)
	// QueryDeviceKeys lists the stored keys of the users' existing devices.
	QueryDeviceKeys(ctx context.Context, userIDs []string) ([]StoredDeviceKeys, error)
	// ClaimKey atomically removes and returns one one-time key of the
	// algorithm, or, when none is left, returns the fallback key and marks
	// it used; ErrNoKey when there is neither.
	ClaimKey(ctx context.Context, userID, deviceID, algorithm string) (OneTimeKey, error)

	CrossSigningKeys(ctx context.Context, userIDs []string) ([]CrossSigningKey, error)
	// PutCrossSigningKeys replaces the given keys and records a
	// device-list change for the user at pos.
	PutCrossSigningKeys(ctx context.Context, userID string, keys []CrossSigningKey, pos int64) error
	// Signatures lists uploaded signatures on the users' keys.
	Signatures(ctx context.Context, targetUserIDs []string) ([]Signature, error)
	// PutSignatures stores signatures and device-list changes together.
	PutSignatures(ctx context.Context, sigs []Signature, changes []DeviceListChange) error

	// DeviceListChanges lists who of users (or anyone, for entries
	// visible only to viewer) changed devices in (since, to]. A nil users
	// means anyone; an empty one, the viewer's own entries only.
	DeviceListChanges(ctx context.Context, users []string, viewer string, since, to int64) ([]string, error)
	// DeviceListsMovedAfter is false only when the device-list log has no
	// entry after since (read from memory: syncs ask it on every wake).
	DeviceListsMovedAfter(ctx context.Context, since int64) (bool, error)
	// MemberChanges lists membership events in (since, to] of the rooms
	// userID is joined to now or whose membership changed in that range.
	MemberChanges(ctx context.Context, userID string, since, to int64) ([]MemberChange, error)
	// JoinedMembers lists a room's joined members now.
	JoinedMembers(ctx context.Context, roomID string) ([]string, error)

	// SendToDevice stores messages at pos unless txn was seen before, in
	// which case it stores nothing and reports a duplicate. When
	// maxPendingBytes > 0 and the messages would take a device's pending
	// bytes beyond it, it stores nothing and fails with *QueueFullError.
	SendToDevice(ctx context.Context, txn ToDeviceTxn, msgs []ToDeviceMessage, pos, maxPendingBytes int64) (duplicate bool, err error)
	// AckToDevice deletes a device's messages at positions <= upTo.
	AckToDevice(ctx context.Context, userID, deviceID string, upTo int64) error
	// PendingToDevice lists a device's messages at positions <= to in
	// order, at most limit.
	PendingToDevice(ctx context.Context, userID, deviceID string, to int64, limit int) ([]ToDeviceMessage, error)
	// PendingToDeviceSizes is PendingToDevice without the messages: their
	// positions and sizes.
	PendingToDeviceSizes(ctx context.Context, userID, deviceID string, to int64, limit int) ([]QueuedToDevice, error)

	CreateBackup(ctx context.Context, userID, algorithm string, authData json.RawMessage) (int64, error)
	// GetBackup returns a live backup version (0: the newest) or ErrNotFound.
	GetBackup(ctx context.Context, userID string, version int64) (BackupVersion, error)
	UpdateBackup(ctx context.Context, userID string, version int64, authData json.RawMessage) error
	// DeleteBackup deletes a version and its keys. It reports false
	// when the version never existed.
	DeleteBackup(ctx context.Context, userID string, version int64) (bool, error)
	// PutRoomKeys merges keys into the newest version, which must be
	// version (ErrNotFound when it is unknown, *WrongVersionError when
	// another is newer), keeping the better of two keys (Better).
	PutRoomKeys(ctx context.Context, userID string, version int64, keys []RoomKey) (BackupVersion, error)
	// RoomKeys lists a live version's keys, narrowed to a room and a
	// session when they are not "".
	RoomKeys(ctx context.Context, userID string, version int64, roomID, sessionID string) ([]RoomKey, error)
	DeleteRoomKeys(ctx context.Context, userID string, version int64, roomID, sessionID string) (BackupVersion, error)
}

// Better reports whether a new backed-up key should replace the stored
// one (spec: Server-side key backups): a verified key beats an unverified
// one, then a lower first_message_index wins, then a lower
// forwarded_count; on a tie the stored key stays.
func Better(stored, incoming RoomKey) bool {
	if stored.IsVerified != incoming.IsVerified {
		return incoming.IsVerified
	}
	if stored.FirstMessageIndex != incoming.FirstMessageIndex {
		return incoming.FirstMessageIndex < stored.FirstMessageIndex
	}
	return incoming.ForwardedCount < stored.ForwardedCount
}
