package config

import (
	"crypto/x509"
	"fmt"
	"os"
)

// Outbound is the outbound: section, for every request Foyer makes to an
// address that users or remote servers choose (federation, push
// gateways, URL previews).
type Outbound struct {
	// AllowPrivateAddresses lets those requests reach loopback, private,
	// link-local and other non-public addresses; off, they are refused.
	AllowPrivateAddresses bool `yaml:"allow_private_addresses" env:"OUTBOUND_ALLOW_PRIVATE_ADDRESSES"`
	// TrustedCAFile is a PEM file of CA certificates trusted in addition
	// to the system's (tests, private networks). There is no switch to
	// skip certificate verification.
	TrustedCAFile string `yaml:"trusted_ca_file" env:"OUTBOUND_TRUSTED_CA_FILE"`
}

func (o Outbound) validate() []error {
	if o.TrustedCAFile == "" {
		return nil
	}
	pem, err := os.ReadFile(o.TrustedCAFile)
	if err != nil {
		return []error{fmt.Errorf("outbound.trusted_ca_file: %v: give a readable PEM file of CA certificates", err)}
	}
	if !x509.NewCertPool().AppendCertsFromPEM(pem) {
		return []error{fmt.Errorf("outbound.trusted_ca_file %s holds no PEM certificate: give a file of -----BEGIN CERTIFICATE----- blocks", o.TrustedCAFile)}
	}
	return nil
}
