package rooms

import "testing"

func TestServerACLAllows(t *testing.T) {
	acl := `{"allow":["*"],"deny":["evil.com","*.evil.com","ba?.org"],"allow_ip_literals":false}`
	cases := map[string]bool{
		"good.org":          true,
		"evil.com":          false,
		"EVIL.com:8448":     false,
		"sub.evil.com":      false,
		"bad.org":           false,
		"baad.org":          true,
		"1.2.3.4":           false,
		"[::1]:8448":        false,
		"notevil.com":       true,
		"evil.com.good.org": true,
	}
	for server, want := range cases {
		if got := ServerACLAllows([]byte(acl), server); got != want {
			t.Errorf("%s: %v, want %v", server, got, want)
		}
	}
	if ServerACLAllows([]byte(`{}`), "good.org") {
		t.Error("an ACL without allow admitted a server")
	}
	if ServerACLAllows([]byte(`{"allow":["*.org"]}`), "1.2.3.4") {
		t.Error("an IP literal matched *.org")
	}
	if !ServerACLAllows([]byte(`{"allow":["*"],"allow_ip_literals":"no"}`), "1.2.3.4") {
		t.Error("a non-boolean allow_ip_literals denied an IP literal")
	}
}
