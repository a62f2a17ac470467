package config

import "flag"

// flagValues collects the command-line flags. Only flags the user actually
// gave override the file and environment.
type flagValues struct {
	set map[string]bool

	configFile   string
	serverName   string
	listen       string
	tlsListen    string
	tlsCert      string
	tlsKey       string
	dataDir      string
	databaseURL  string
	registration string
	guests       bool
	logLevel     string
}

func (v *flagValues) register(fs *flag.FlagSet) {
	fs.StringVar(&v.configFile, "config", "", "YAML configuration `file` (also FOYER_CONFIG)")
	fs.StringVar(&v.serverName, "server-name", "", "the server name in user IDs, e.g. example.org (default localhost)")
	fs.StringVar(&v.listen, "listen", "", "plain HTTP `host:port` (default 127.0.0.1:8008)")
	fs.StringVar(&v.tlsListen, "tls-listen", "", "HTTPS `host:port`")
	fs.StringVar(&v.tlsCert, "tls-cert", "", "TLS certificate `file` (PEM) for --tls-listen")
	fs.StringVar(&v.tlsKey, "tls-key", "", "TLS private key `file` (PEM) for --tls-listen")
	fs.StringVar(&v.dataDir, "data-dir", "", "`directory` for the SQLite database and signing key (default ./foyer-data)")
	fs.StringVar(&v.databaseURL, "database-url", "", "postgres://... to use PostgreSQL instead of SQLite")
	fs.StringVar(&v.registration, "registration", "", "who may register: open, token or closed (default open)")
	fs.BoolVar(&v.guests, "guests", true, "allow guest accounts (--guests=false to refuse them)")
	fs.StringVar(&v.logLevel, "log-level", "", "debug, info, warn or error")
}

func (v *flagValues) apply(cfg *Config) {
	setString := func(name string, dst *string, val string) {
		if v.set[name] {
			*dst = val
		}
	}
	setString("server-name", &cfg.ServerName, v.serverName)
	setString("listen", &cfg.Listen, v.listen)
	setString("tls-listen", &cfg.TLSListen, v.tlsListen)
	setString("tls-cert", &cfg.TLSCert, v.tlsCert)
	setString("tls-key", &cfg.TLSKey, v.tlsKey)
	setString("data-dir", &cfg.DataDir, v.dataDir)
	setString("database-url", &cfg.DatabaseURL, v.databaseURL)
	setString("log-level", &cfg.LogLevel, v.logLevel)
	if v.set["registration"] {
		cfg.Registration = v.registration
		cfg.RegistrationExplicit = true
	}
	if v.set["guests"] {
		cfg.Guests = v.guests
	}
}

// visit records which flags were given; called after Parse by Load.
func (v *flagValues) visit(fs *flag.FlagSet) {
	v.set = map[string]bool{}
	fs.Visit(func(f *flag.Flag) { v.set[f.Name] = true })
}
