package config

import (
	"errors"
	"fmt"
)

// AccountLimits is the account_limits: section: how much one account may
// keep stored on the server, tighter for guests (kind guest; named guests
// count as users). Beyond a cap a write is refused whole with 403
// M_USER_LIMIT_EXCEEDED; 0 switches a cap off.
type AccountLimits struct {
	// MaxFilters caps the filters one account has uploaded (an upload of
	// a filter the account already has returns its ID and costs nothing).
	MaxFilters      int `yaml:"max_filters" env:"ACCOUNT_LIMITS_MAX_FILTERS"`
	GuestMaxFilters int `yaml:"guest_max_filters" env:"ACCOUNT_LIMITS_GUEST_MAX_FILTERS"`
	// MaxOneTimeKeysPerDevice caps the unclaimed one-time keys one device
	// keeps on the server (all algorithms together).
	MaxOneTimeKeysPerDevice      int `yaml:"max_one_time_keys_per_device" env:"ACCOUNT_LIMITS_MAX_ONE_TIME_KEYS_PER_DEVICE"`
	GuestMaxOneTimeKeysPerDevice int `yaml:"guest_max_one_time_keys_per_device" env:"ACCOUNT_LIMITS_GUEST_MAX_ONE_TIME_KEYS_PER_DEVICE"`
	// MaxAccountDataEntries and MaxAccountDataBytes cap an account's
	// account data, global and per room together (read markers and tags
	// included): the number of (room, type) entries and the bytes of their
	// types and contents.
	MaxAccountDataEntries      int   `yaml:"max_account_data_entries" env:"ACCOUNT_LIMITS_MAX_ACCOUNT_DATA_ENTRIES"`
	GuestMaxAccountDataEntries int   `yaml:"guest_max_account_data_entries" env:"ACCOUNT_LIMITS_GUEST_MAX_ACCOUNT_DATA_ENTRIES"`
	MaxAccountDataBytes        int64 `yaml:"max_account_data_bytes" env:"ACCOUNT_LIMITS_MAX_ACCOUNT_DATA_BYTES"`
	GuestMaxAccountDataBytes   int64 `yaml:"guest_max_account_data_bytes" env:"ACCOUNT_LIMITS_GUEST_MAX_ACCOUNT_DATA_BYTES"`
	// MaxThreadReceiptsPerRoom caps the threads of one room in which an
	// account keeps a receipt of one type (m.read or m.read.private):
	// clients may name any event as a thread, and every member's sync
	// carries the room's receipts.
	MaxThreadReceiptsPerRoom      int `yaml:"max_thread_receipts_per_room" env:"ACCOUNT_LIMITS_MAX_THREAD_RECEIPTS_PER_ROOM"`
	GuestMaxThreadReceiptsPerRoom int `yaml:"guest_max_thread_receipts_per_room" env:"ACCOUNT_LIMITS_GUEST_MAX_THREAD_RECEIPTS_PER_ROOM"`
	// MaxPendingToDeviceBytes caps the to-device messages waiting for one
	// device, whoever owns it; a send that would go beyond it is refused
	// whole with 429 M_LIMIT_EXCEEDED naming the device.
	MaxPendingToDeviceBytes int64 `yaml:"max_pending_to_device_bytes" env:"ACCOUNT_LIMITS_MAX_PENDING_TO_DEVICE_BYTES"`
	// InfoURI is the info_uri of M_USER_LIMIT_EXCEEDED answers: a page
	// telling users about this server's limits.
	InfoURI string `yaml:"info_uri" env:"ACCOUNT_LIMITS_INFO_URI"`
}

// SyncLimits is the sync_limits: section: what one /sync response may
// carry beyond the per-room timeline limit.
type SyncLimits struct {
	// ToDeviceBytes caps the to-device messages of one response (besides
	// the cap of 100 messages); a response carries at least one message
	// however large, and the rest follow in the next syncs.
	ToDeviceBytes int64 `yaml:"to_device_bytes" env:"SYNC_TO_DEVICE_BYTES"`
	// InitialPresence caps the room-mates' presence an initial sync
	// carries, the most recently active first (0: no cap); later changes
	// arrive in incremental syncs as ever.
	InitialPresence int `yaml:"initial_presence" env:"SYNC_INITIAL_PRESENCE"`
}

// defaultAccountLimits is the account_limits section of Default.
func defaultAccountLimits() AccountLimits {
	return AccountLimits{
		MaxFilters:                    1000,
		GuestMaxFilters:               50,
		MaxOneTimeKeysPerDevice:       1000,
		GuestMaxOneTimeKeysPerDevice:  200,
		MaxAccountDataEntries:         10000,
		GuestMaxAccountDataEntries:    200,
		MaxAccountDataBytes:           16 << 20,
		GuestMaxAccountDataBytes:      256 << 10,
		MaxThreadReceiptsPerRoom:      1000,
		GuestMaxThreadReceiptsPerRoom: 50,
		MaxPendingToDeviceBytes:       16 << 20,
		InfoURI:                       "https://spec.matrix.org/v1.19/client-server-api/#common-error-codes",
	}
}

// validate reports the account_limits and sync_limits problems.
func (l AccountLimits) validate(sync SyncLimits, maxRequestBytes int64) []error {
	var errs []error
	for _, c := range []struct {
		name string
		v    int64
	}{
		{"max_filters", int64(l.MaxFilters)}, {"guest_max_filters", int64(l.GuestMaxFilters)},
		{"max_one_time_keys_per_device", int64(l.MaxOneTimeKeysPerDevice)}, {"guest_max_one_time_keys_per_device", int64(l.GuestMaxOneTimeKeysPerDevice)},
		{"max_account_data_entries", int64(l.MaxAccountDataEntries)}, {"guest_max_account_data_entries", int64(l.GuestMaxAccountDataEntries)},
		{"max_account_data_bytes", l.MaxAccountDataBytes}, {"guest_max_account_data_bytes", l.GuestMaxAccountDataBytes},
		{"max_thread_receipts_per_room", int64(l.MaxThreadReceiptsPerRoom)}, {"guest_max_thread_receipts_per_room", int64(l.GuestMaxThreadReceiptsPerRoom)},
	} {
		// A slice, not a map: errors come out in the same order every run.
		if c.v < 0 {
			errs = append(errs, fmt.Errorf("account_limits.%s must be 0 (no cap) or positive", c.name))
		}
	}
	// One request must always fit an empty queue, or its sender would be
	// told to retry something that can never succeed.
	if l.MaxPendingToDeviceBytes != 0 && l.MaxPendingToDeviceBytes < maxRequestBytes {
		errs = append(errs, fmt.Errorf("account_limits.max_pending_to_device_bytes must be 0 (no cap) or at least limits.max_request_bytes (%d)", maxRequestBytes))
	}
	if l.InfoURI == "" {
		errs = append(errs, errors.New("account_limits.info_uri must be set: clients show it to users who reach a limit"))
	}
	if sync.InitialPresence < 0 {
		errs = append(errs, errors.New("sync_limits.initial_presence must not be negative (0: no cap; the default is 200)"))
	}
	if sync.ToDeviceBytes < 1 {
		errs = append(errs, errors.New("sync_limits.to_device_bytes must be at least 1 (the default is 1048576, 1 MiB)"))
	}
	return errs
}
