package config

import "testing"

func TestServerNoticesLocalpart(t *testing.T) {
	for lp, ok := range map[string]bool{"": true, "_server": true, "_notices.bot": true, "server": false, "_": false, "_Server": false, "_a b": false} {
		if errs := (ServerNotices{SystemUserLocalpart: lp}).validate(); (len(errs) == 0) != ok {
			t.Errorf("%q: %v", lp, errs)
		}
	}
}
