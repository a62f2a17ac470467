package server

import (
	"foyer/internal/config"
	"foyer/internal/storage"
)

// accountLimits are the per-account caps the stores enforce.
func accountLimits(l config.AccountLimits) storage.AccountLimits {
	return storage.AccountLimits{
		User: storage.AccountCaps{
			Filters:               l.MaxFilters,
			OneTimeKeysPerDevice:  l.MaxOneTimeKeysPerDevice,
			AccountDataEntries:    l.MaxAccountDataEntries,
			AccountDataBytes:      l.MaxAccountDataBytes,
			ThreadReceiptsPerRoom: l.MaxThreadReceiptsPerRoom,
		},
		Guest: storage.AccountCaps{
			Filters:               l.GuestMaxFilters,
			OneTimeKeysPerDevice:  l.GuestMaxOneTimeKeysPerDevice,
			AccountDataEntries:    l.GuestMaxAccountDataEntries,
			AccountDataBytes:      l.GuestMaxAccountDataBytes,
			ThreadReceiptsPerRoom: l.GuestMaxThreadReceiptsPerRoom,
		},
		InfoURI: l.InfoURI,
	}
}
