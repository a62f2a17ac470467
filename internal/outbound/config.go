package outbound

import "foyer/internal/config"

// OptionsFromConfig is the Options of the operator's outbound: section,
// with the default timeouts and limits.
func OptionsFromConfig(c config.Outbound) Options {
	return Options{AllowPrivateAddresses: c.AllowPrivateAddresses, TrustedCAFile: c.TrustedCAFile}
}
