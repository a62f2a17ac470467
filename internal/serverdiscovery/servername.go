package serverdiscovery

import (
	"errors"
	"net/netip"
	"strconv"
	"strings"
)

// ErrInvalidServerName is returned (wrapped) for a name outside the spec's
// server name grammar.
var ErrInvalidServerName = errors.New("invalid server name")

// serverName is a parsed server name: a DNS name or IP literal, and the
// port it carries (0 when none).
type serverName struct {
	// raw is the name as given (with brackets and port); it is what the
	// Host header carries.
	raw string
	// host is the DNS name, or the IP address without brackets.
	host string
	ip   netip.Addr // valid when the host is an IP literal
	port int
}

// parseServerName parses the spec's grammar: hostname [ ":" port ], the
// hostname an IPv4 literal, an IPv6 literal in brackets, or a DNS name.
func parseServerName(s string) (serverName, error) {
	bad := func() (serverName, error) {
		return serverName{}, errInvalid(s)
	}
	if s == "" || len(s) > 255 {
		return bad()
	}
	name := serverName{raw: s}
	hostPart, portPart := s, ""
	if strings.HasPrefix(s, "[") {
		end := strings.IndexByte(s, ']')
		if end < 0 {
			return bad()
		}
		ip, err := netip.ParseAddr(s[1:end])
		if err != nil || !ip.Is6() || ip.Zone() != "" {
			return bad()
		}
		name.ip, name.host = ip, ip.String()
		rest := s[end+1:]
		if rest != "" {
			if !strings.HasPrefix(rest, ":") {
				return bad()
			}
			portPart = rest[1:]
		}
	} else {
		if i := strings.LastIndexByte(s, ':'); i >= 0 {
			hostPart, portPart = s[:i], s[i+1:]
			if portPart == "" {
				return bad()
			}
		}
		if hostPart == "" || !validDNSName(hostPart) {
			return bad()
		}
		if ip, err := netip.ParseAddr(hostPart); err == nil && ip.Is4() {
			name.ip = ip
		}
		name.host = hostPart
	}
	if portPart != "" {
		if len(portPart) > 5 {
			return bad()
		}
		port, err := strconv.Atoi(portPart)
		if err != nil || port < 1 || port > 65535 || strings.TrimLeft(portPart, "0123456789") != "" {
			return bad()
		}
		name.port = port
	}
	return name, nil
}

// validDNSName accepts the characters of the spec's dns-name (and so
// IPv4 literals): letters, digits, '-' and '.'.
func validDNSName(s string) bool {
	if len(s) > 253 {
		return false
	}
	for _, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '.':
		default:
			return false
		}
	}
	return true
}

func errInvalid(s string) error {
	return &invalidNameError{name: s}
}

type invalidNameError struct{ name string }

func (e *invalidNameError) Error() string {
	return strconv.Quote(e.name) + " is not a valid server name"
}
func (e *invalidNameError) Unwrap() error { return ErrInvalidServerName }
