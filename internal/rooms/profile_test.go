package rooms

import "testing"

func TestValidMXC(t *testing.T) {
	for s, want := range map[string]bool{
		"mxc://localhost/abc":            true,
		"mxc://matrix.org:8448/A_b-9":    true,
		"mxc://[::1]:8448/abc":           true,
		"mxc://localhost/":               false,
		"mxc://localhost":                false,
		"mxc:///abc":                     false,
		"mxc://localhost/a/b":            false,
		"mxc://localhost/a.b":            false,
		"mxc://bad host/abc":             false,
		"https://localhost/abc":          false,
		"":                               false,
		"MXC://localhost/abc":            false,
		"mxc://localhost/abc?x=1":        false,
		"mxc://localhost/abc#fragment":   false,
		"mxc://localhost/ünicode":        false,
		"mxc://localhost/abc\x00":        false,
		"mxc://localhost/abc def":        false,
		"mxc://localhost:notaport/abc":   false,
		"mxc://local_host.example/media": false,
	} {
		if got := ValidMXC(s); got != want {
			t.Errorf("ValidMXC(%q) = %v, want %v", s, got, want)
		}
	}
}

func TestDirectoryTokens(t *testing.T) {
	for _, n := range []int{0, 1, 20, 12345} {
		if got, ok := parseDirectoryToken(formatDirectoryToken(n)); !ok || got != n {
			t.Errorf("round trip of %d: %d %v", n, got, ok)
		}
	}
	for _, bad := range []string{"", "p", "p-1", "t5", "5", "px", "p1.5"} {
		if _, ok := parseDirectoryToken(bad); ok {
			t.Errorf("%q accepted", bad)
		}
	}
}
