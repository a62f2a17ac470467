package accounts

import (
	"context"
	"errors"
	"testing"
	"time"
)

type openIDRow struct {
	userID    string
	expiresTS int64
}

type memOpenIDStore struct{ rows map[string]openIDRow }

func (m *memOpenIDStore) Create(_ context.Context, hash, userID string, _, expiresTS int64) error {
	m.rows[hash] = openIDRow{userID, expiresTS}
	return nil
}

func (m *memOpenIDStore) UserFor(_ context.Context, hash string, now int64) (string, error) {
	r, ok := m.rows[hash]
	if !ok || r.expiresTS <= now {
		return "", ErrNotFound
	}
	return r.userID, nil
}

func TestOpenIDTokensProveTheirUserForAnHour(t *testing.T) {
	st := &memOpenIDStore{rows: map[string]openIDRow{}}
	o := NewOpenIDTokens(st)
	clock := time.Unix(2_000_000, 0)
	o.now = func() time.Time { return clock }
	ctx := context.Background()

	token, err := o.Issue(ctx, "@a:example.org")
	if err != nil {
		t.Fatal(err)
	}
	if _, stored := st.rows[token]; stored {
		t.Error("the token itself was stored; only its hash may be")
	}
	if _, stored := st.rows[HashToken(token)]; !stored {
		t.Fatal("the token's hash was not stored")
	}
	if u, err := o.UserFor(ctx, token); err != nil || u != "@a:example.org" {
		t.Errorf("UserFor = %q, %v; want @a:example.org", u, err)
	}
	if _, err := o.UserFor(ctx, "not-a-token"); !errors.Is(err, ErrNotFound) {
		t.Errorf("unknown token: err = %v, want ErrNotFound", err)
	}
	clock = clock.Add(OpenIDTokenLifetime)
	if _, err := o.UserFor(ctx, token); !errors.Is(err, ErrNotFound) {
		t.Errorf("expired token: err = %v, want ErrNotFound", err)
	}
}
