package config

// E2EE configures the server's checks on uploaded encryption keys.
type E2EE struct {
	// VerifyKeySignatures refuses device keys (and signed one-time and
	// fallback keys) not signed by the device's own ed25519 key. Clients
	// always sign; turning it off accepts keys as Synapse and Dendrite
	// do, unchecked, which conformance suites that upload placeholder keys
	// (SyTest) rely on. Clients verify the signatures themselves either way.
	VerifyKeySignatures bool `yaml:"verify_key_signatures" env:"E2EE_VERIFY_KEY_SIGNATURES"`
}
