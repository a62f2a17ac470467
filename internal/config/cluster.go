package config

import (
	"fmt"
	"net"
)

// Cluster is the cluster: section: how processes serving one PostgreSQL
// database reach each other. The process holding the writer lease takes
// the requests the others forward on Listen; they find it at Advertise
// through its heartbeat. Unused on SQLite (one process).
type Cluster struct {
	// Listen is where forwarded requests arrive; the default, loopback
	// with any free port, suits processes on one host.
	Listen string `yaml:"listen" env:"CLUSTER_LISTEN"`
	// Advertise is the host:port other processes dial to reach Listen;
	// empty means the bound address (the host name when bound to every
	// interface).
	Advertise string `yaml:"advertise" env:"CLUSTER_ADVERTISE"`
}

func defaultCluster() Cluster { return Cluster{Listen: "127.0.0.1:0"} }

func (c Cluster) validate() []error {
	var errs []error
	if _, _, err := net.SplitHostPort(c.Listen); err != nil {
		errs = append(errs, fmt.Errorf("cluster.listen %q is not host:port: %v", c.Listen, err))
	}
	if c.Advertise != "" {
		if _, port, err := net.SplitHostPort(c.Advertise); err != nil || port == "0" {
			errs = append(errs, fmt.Errorf("cluster.advertise %q is not host:port with a fixed port", c.Advertise))
		}
	}
	return errs
}
