package config

import (
	"flag"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// resolve parses args like `foyer serve` does and resolves them over env.
func resolve(t *testing.T, args []string, env ...string) (Config, error) {
	t.Helper()
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	f := RegisterFlags(fs)
	if err := fs.Parse(args); err != nil {
		t.Fatalf("parsing %q: %v", args, err)
	}
	return f.Resolve(fs, env)
}

func mustResolve(t *testing.T, args []string, env ...string) Config {
	t.Helper()
	cfg, err := resolve(t, args, env...)
	if err != nil {
		t.Fatalf("Resolve(%q, %q): %v", args, env, err)
	}
	return cfg
}

func writeConfig(t *testing.T, yaml string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "foyer.yaml")
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// Defaults < config file < FOYER_* environment < flags given.
func TestConfigPrecedence(t *testing.T) {
	file := writeConfig(t, "server_name: a.example\nlisten: 127.0.0.1:1111\nlog_level: warn\n")
	cases := []struct {
		name string
		args []string
		env  []string
		want string
	}{
		{"defaults", nil, nil, "localhost"},
		{"file", []string{"--config", file}, nil, "a.example"},
		{"file via FOYER_CONFIG", nil, []string{"FOYER_CONFIG=" + file}, "a.example"},
		{"env over file", []string{"--config", file}, []string{"FOYER_SERVER_NAME=b.example"}, "b.example"},
		{"env without file", nil, []string{"FOYER_SERVER_NAME=b.example"}, "b.example"},
		{"flag over env and file", []string{"--config", file, "--server-name", "c.example"}, []string{"FOYER_SERVER_NAME=b.example"}, "c.example"},
		{"flag over file", []string{"--config", file, "--server-name", "c.example"}, nil, "c.example"},
		{"flag alone", []string{"--server-name", "c.example"}, nil, "c.example"},
		{"variables without the prefix are ignored", nil, []string{"SERVER_NAME=x.example", "foyer_server_name=y.example"}, "localhost"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg := mustResolve(t, c.args, c.env...)
			if cfg.ServerName != c.want {
				t.Errorf("server name %q, want %q", cfg.ServerName, c.want)
			}
		})
	}

	// Settings the winning layer does not mention come from lower ones.
	cfg := mustResolve(t, []string{"--config", file, "--server-name", "c.example"}, "FOYER_LOG_LEVEL=debug")
	if cfg.Listen != "127.0.0.1:1111" || cfg.LogLevel != "debug" || cfg.DataDir != Default().DataDir {
		t.Errorf("listen %q, log level %q, data dir %q: want the file's, the env's and the default", cfg.Listen, cfg.LogLevel, cfg.DataDir)
	}
	// A flag given with the default's value still wins over the env.
	cfg = mustResolve(t, []string{"--server-name", "localhost"}, "FOYER_SERVER_NAME=b.example")
	if cfg.ServerName != "localhost" {
		t.Errorf("--server-name localhost lost to the environment: %q", cfg.ServerName)
	}
	// --config beats FOYER_CONFIG.
	other := writeConfig(t, "server_name: other.example\n")
	cfg = mustResolve(t, []string{"--config", file}, "FOYER_CONFIG="+other)
	if cfg.ServerName != "a.example" {
		t.Errorf("--config lost to FOYER_CONFIG: %q", cfg.ServerName)
	}
}

func TestConfigGuestsFlag(t *testing.T) {
	if cfg := mustResolve(t, nil, "FOYER_GUESTS=false"); cfg.Guests {
		t.Error("FOYER_GUESTS=false left guests on")
	}
	// The flag's default (true) does not override the environment...
	if cfg := mustResolve(t, []string{"--data-dir", "x"}, "FOYER_GUESTS=false"); cfg.Guests {
		t.Error("an unset --guests overrode FOYER_GUESTS=false")
	}
	// ...but a given flag does.
	if cfg := mustResolve(t, []string{"--guests=true"}, "FOYER_GUESTS=false"); !cfg.Guests {
		t.Error("--guests=true lost to FOYER_GUESTS=false")
	}
	if cfg := mustResolve(t, []string{"--guests=false"}); cfg.Guests {
		t.Error("--guests=false left guests on")
	}
}

// RegistrationExplicit is set exactly when some layer names the mode.
func TestConfigRegistrationExplicit(t *testing.T) {
	withReg := writeConfig(t, "registration: open\n")
	withoutReg := writeConfig(t, "server_name: a.example\n")
	cases := []struct {
		name string
		args []string
		env  []string
		want bool
	}{
		{"default", nil, nil, false},
		{"file without registration", []string{"--config", withoutReg}, nil, false},
		{"file", []string{"--config", withReg}, nil, true},
		{"env", nil, []string{"FOYER_REGISTRATION=open"}, true},
		{"flag", []string{"--registration", "open"}, nil, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg := mustResolve(t, c.args, c.env...)
			if cfg.RegistrationExplicit != c.want {
				t.Errorf("RegistrationExplicit = %v, want %v", cfg.RegistrationExplicit, c.want)
			}
			if cfg.Registration != RegistrationOpen {
				t.Errorf("registration %q", cfg.Registration)
			}
		})
	}
	if cfg := mustResolve(t, []string{"--registration", "token"}, "FOYER_REGISTRATION=closed"); cfg.Registration != RegistrationToken {
		t.Errorf("--registration token lost to the env: %q", cfg.Registration)
	}
}

// Every kind of setting can come from the file and from the environment.
func TestConfigFileAndEnvTypes(t *testing.T) {
	file := writeConfig(t, `
server_name: file.example
data_dir: /var/lib/foyer
guests: false
shutdown_timeout: 7s
limits:
  max_request_bytes: 200000
rate_limits:
  login:
    per_second: 3
    burst: 9
passwords:
  memory_kib: 1024
  iterations: 3
  max_concurrent: 2
  min_length: 8
`)
	cfg := mustResolve(t, []string{"--config", file})
	if cfg.ServerName != "file.example" || cfg.DataDir != "/var/lib/foyer" || cfg.Guests ||
		cfg.ShutdownTimeout != 7*time.Second || cfg.Limits.MaxRequestBytes != 200000 ||
		cfg.RateLimit.Login != (Rate{PerSecond: 3, Burst: 9}) ||
		cfg.RateLimit.Registration != Default().RateLimit.Registration ||
		cfg.Passwords != (Passwords{MemoryKiB: 1024, Iterations: 3, MaxConcurrent: 2, MinLength: 8}) {
		t.Errorf("from the file: %+v", cfg)
	}

	cfg = mustResolve(t, []string{"--config", file},
		"FOYER_GUESTS=true",
		"FOYER_SHUTDOWN_TIMEOUT=1m30s",
		"FOYER_MAX_REQUEST_BYTES=70000",
		"FOYER_RATE_LOGIN=off",
		"FOYER_RATE_REGISTRATION=0.25/4",
		"FOYER_PASSWORD_MEMORY_KIB=64",
		"FOYER_PASSWORD_ITERATIONS=1",
		"FOYER_LOG_FORMAT=json",
	)
	if !cfg.Guests || cfg.ShutdownTimeout != 90*time.Second || cfg.Limits.MaxRequestBytes != 70000 ||
		cfg.RateLimit.Login != (Rate{}) || cfg.RateLimit.Registration != (Rate{PerSecond: 0.25, Burst: 4}) ||
		cfg.Passwords.MemoryKiB != 64 || cfg.Passwords.Iterations != 1 || cfg.Passwords.MaxConcurrent != 2 ||
		cfg.LogFormat != "json" || cfg.ServerName != "file.example" {
		t.Errorf("env over the file: %+v", cfg)
	}
}

func TestConfigResolveErrors(t *testing.T) {
	cases := []struct {
		name string
		yaml string // written to a config file when not empty
		env  []string
		want []string // substrings of the error
	}{
		{"missing file", "", []string{"FOYER_CONFIG=/nonexistent/foyer.yaml"}, []string{"reading config file"}},
		{"bad YAML", "server_name: [unclosed\n", nil, []string{"not valid YAML"}},
		{"unknown key", "server_nmae: a.example\n", nil, []string{"server_nmae"}},
		{"wrong type", "guests: sometimes\n", nil, []string{"config file"}},
		{"bad bool", "", []string{"FOYER_GUESTS=sometimes"}, []string{"FOYER_GUESTS", "sometimes"}},
		{"bad duration", "", []string{"FOYER_SHUTDOWN_TIMEOUT=10"}, []string{"FOYER_SHUTDOWN_TIMEOUT"}},
		{"bad number", "", []string{"FOYER_PASSWORD_MEMORY_KIB=-1"}, []string{"FOYER_PASSWORD_MEMORY_KIB"}},
		{"bad rate", "", []string{"FOYER_RATE_LOGIN=fast"}, []string{"FOYER_RATE_LOGIN", "PER_SECOND/BURST"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var args []string
			if c.yaml != "" {
				args = []string{"--config", writeConfig(t, c.yaml)}
			}
			_, err := resolve(t, args, c.env...)
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
	// An empty file is no error and changes nothing.
	if cfg := mustResolve(t, []string{"--config", writeConfig(t, "# nothing\n")}); cfg.ServerName != "localhost" {
		t.Errorf("empty file: %+v", cfg)
	}
}

func TestConfigParseRate(t *testing.T) {
	good := map[string]Rate{
		"off":    {},
		"0":      {},
		"0.5/20": {PerSecond: 0.5, Burst: 20},
		"10/1":   {PerSecond: 10, Burst: 1},
		"2/0":    {PerSecond: 2, Burst: 0}, // parses; Validate refuses it
	}
	for in, want := range good {
		got, err := ParseRate(in)
		if err != nil || got != want {
			t.Errorf("ParseRate(%q) = %+v, %v; want %+v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "fast", "1", "1/", "/5", "x/5", "1/x", "1/2.5", "OFF"} {
		if r, err := ParseRate(in); err == nil {
			t.Errorf("ParseRate(%q) = %+v, want an error", in, r)
		}
	}
}

func TestConfigIsLoopback(t *testing.T) {
	for addr, want := range map[string]bool{
		"127.0.0.1:8008": true,
		"127.1.2.3:1":    true,
		"localhost:8008": true,
		"[::1]:8008":     true,
		"0.0.0.0:8008":   false,
		"[::]:8008":      false,
		":8008":          false,
		"10.0.0.1:8008":  false,
		"example.org:80": false,
		"127.0.0.1":      false, // not HOST:PORT
	} {
		if got := IsLoopback(addr); got != want {
			t.Errorf("IsLoopback(%q) = %v, want %v", addr, got, want)
		}
	}
}

func TestConfigValidate(t *testing.T) {
	if err := (&Config{}).Validate(); err == nil {
		t.Fatal("the zero Config validated")
	}
	def := Default()
	if err := def.Validate(); err != nil {
		t.Fatalf("Default() does not validate: %v", err)
	}

	cases := []struct {
		name   string
		change func(c *Config)
		want   string // substring of the error; "" means valid
	}{
		{"bad server name", func(c *Config) { c.ServerName = "exa mple" }, "is not a valid server name"},
		{"empty server name", func(c *Config) { c.ServerName = "" }, "is not a valid server name"},
		{"server name with port", func(c *Config) { c.ServerName = "example.org:8448" }, ""},
		{"IPv6 server name", func(c *Config) { c.ServerName = "[::1]:8448" }, ""},
		{"no listener", func(c *Config) { c.Listen = "" }, "nothing to listen on"},
		{"listen without port", func(c *Config) { c.Listen = "127.0.0.1" }, "--listen \"127.0.0.1\" is not HOST:PORT"},
		{"tls without cert", func(c *Config) { c.TLSListen = "127.0.0.1:8448" }, "--tls-listen needs both --tls-cert FILE and --tls-key FILE"},
		{"cert without tls", func(c *Config) { c.TLSCert = "cert.pem" }, "--tls-listen is not"},
		{"tls listen only", func(c *Config) {
			c.Listen, c.TLSListen, c.TLSCert, c.TLSKey = "", "127.0.0.1:8448", "c", "k"
		}, ""},
		{"bad registration", func(c *Config) { c.Registration = "invite" }, "registration \"invite\" is not one of open, token, closed"},
		{"no data dir", func(c *Config) { c.DataDir = "" }, "set --data-dir DIR"},
		{"postgres without data dir", func(c *Config) { c.DataDir, c.DatabaseURL = "", "postgres://u@h/db" }, "signing key"},
		{"postgres", func(c *Config) { c.DatabaseURL = "postgresql://u@h/db" }, ""},
		{"mysql", func(c *Config) { c.DatabaseURL = "mysql://u@h/db" }, "database_url must be a postgres://"},
		{"bad log level", func(c *Config) { c.LogLevel = "loud" }, "log_level \"loud\""},
		{"upper-case log level", func(c *Config) { c.LogLevel = "DEBUG" }, ""},
		{"bad log format", func(c *Config) { c.LogFormat = "xml" }, "log_format \"xml\""},
		{"zero shutdown timeout", func(c *Config) { c.ShutdownTimeout = 0 }, "shutdown_timeout must be positive"},
		{"small request cap", func(c *Config) { c.Limits.MaxRequestBytes = 1000 }, "limits.max_request_bytes must be at least 65536"},
		{"rate without burst", func(c *Config) { c.RateLimit.Login = Rate{PerSecond: 1} }, "rate_limits.login"},
		{"negative rate", func(c *Config) { c.RateLimit.GuestRegistration = Rate{PerSecond: -1, Burst: 1} }, "rate_limits.guest_registration"},
		{"rate off", func(c *Config) { c.RateLimit = RateLimit{} }, ""},
		{"weak argon2", func(c *Config) { c.Passwords.MemoryKiB = 4 }, "passwords: memory_kib >= 8"},
		{"no hashing slots", func(c *Config) { c.Passwords.MaxConcurrent = 0 }, "max_concurrent >= 1"},

		// Open registration on a public address must be asked for.
		{"open on all interfaces, defaulted", func(c *Config) { c.Listen = "0.0.0.0:8008" },
			"registration would be open to anyone who can reach 0.0.0.0:8008; pass --registration open"},
		{"open on an empty host, defaulted", func(c *Config) { c.Listen = ":8008" }, "pass --registration open"},
		{"open on public TLS, defaulted", func(c *Config) {
			c.TLSListen, c.TLSCert, c.TLSKey = "[::]:8448", "c", "k"
		}, "anyone who can reach [::]:8448"},
		{"open on all interfaces, explicit", func(c *Config) { c.Listen, c.RegistrationExplicit = "0.0.0.0:8008", true }, ""},
		{"token on all interfaces", func(c *Config) { c.Listen, c.Registration = "0.0.0.0:8008", RegistrationToken }, ""},
		{"open on localhost", func(c *Config) { c.Listen = "localhost:8008" }, ""},
		{"open on ::1", func(c *Config) { c.Listen = "[::1]:8008" }, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg := Default()
			c.change(&cfg)
			err := cfg.Validate()
			switch {
			case c.want == "" && err != nil:
				t.Errorf("unexpected error: %v", err)
			case c.want != "" && err == nil:
				t.Errorf("no error, want one mentioning %q", c.want)
			case c.want != "" && !strings.Contains(err.Error(), c.want):
				t.Errorf("error %q does not mention %q", err, c.want)
			}
		})
	}

	// Every problem is reported at once, one per line.
	cfg := Default()
	cfg.ServerName, cfg.LogLevel, cfg.ShutdownTimeout = "", "loud", 0
	err := cfg.Validate()
	if err == nil {
		t.Fatal("no error")
	}
	for _, w := range []string{"server name", "log_level", "shutdown_timeout"} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q does not mention %q", err, w)
		}
	}
	if n := strings.Count(err.Error(), "\n") + 1; n != 3 {
		t.Errorf("%d lines for 3 problems: %q", n, err)
	}
}

// A config resolved from the flags `foyer serve` is usually given
// validates; the same on a public address without --registration does
// not, and the message says which flag to add.
func TestConfigResolveThenValidate(t *testing.T) {
	cfg := mustResolve(t, []string{"--listen", "0.0.0.0:8008", "--data-dir", t.TempDir()})
	err := cfg.Validate()
	if err == nil || !strings.Contains(err.Error(), "--registration open") {
		t.Errorf("public listen with defaulted registration: %v", err)
	}
	for _, extra := range [][]string{{"--registration", "open"}, {"--registration", "closed"}} {
		cfg := mustResolve(t, append([]string{"--listen", "0.0.0.0:8008", "--data-dir", t.TempDir()}, extra...))
		if err := cfg.Validate(); err != nil {
			t.Errorf("%q: %v", extra, err)
		}
	}
	cfg = mustResolve(t, []string{"--listen", "0.0.0.0:8008"}, "FOYER_REGISTRATION=open")
	if err := cfg.Validate(); err != nil {
		t.Errorf("FOYER_REGISTRATION=open: %v", err)
	}
}
