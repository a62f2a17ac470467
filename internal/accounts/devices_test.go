package accounts

import (
	"context"
	"testing"
	"time"
)

// touchStore records TouchDevice calls; the other Store methods are not
// used by these tests.
type touchStore struct {
	Store
	touches []int64
	users   map[string]User
}

func (t *touchStore) TouchDevice(_ context.Context, _, _, _, _ string, ts int64) error {
	t.touches = append(t.touches, ts)
	return nil
}

func (t *touchStore) GetUser(_ context.Context, userID string) (User, error) {
	u, ok := t.users[userID]
	if !ok {
		return User{}, ErrNotFound
	}
	return u, nil
}

func TestRecordDeviceUseWritesAtMostOnceAMinute(t *testing.T) {
	st := &touchStore{}
	s := NewService(st, "example.org", nil, 8)
	clock := time.Unix(1_000_000, 0)
	s.now = func() time.Time { return clock }
	ctx := context.Background()

	use := func(device string) {
		t.Helper()
		if err := s.RecordDeviceUse(ctx, "@a:example.org", device, "192.0.2.1", "client"); err != nil {
			t.Fatal(err)
		}
	}
	use("D1")
	clock = clock.Add(30 * time.Second)
	use("D1") // within the minute: dropped
	use("D2") // another device: written
	clock = clock.Add(31 * time.Second)
	use("D1") // a minute after the first write: written
	if len(st.touches) != 3 {
		t.Fatalf("touches written = %d, want 3: %v", len(st.touches), st.touches)
	}
	if want := time.Unix(1_000_061, 0).UnixMilli(); st.touches[2] != want {
		t.Errorf("last touch at %d, want %d", st.touches[2], want)
	}
}

func TestHasPassword(t *testing.T) {
	st := &touchStore{users: map[string]User{
		"@full:example.org":  {UserID: "@full:example.org", PasswordHash: "hash"},
		"@named:example.org": {UserID: "@named:example.org"},
	}}
	s := NewService(st, "example.org", nil, 8)
	ctx := context.Background()
	if has, err := s.HasPassword(ctx, "@full:example.org"); err != nil || !has {
		t.Errorf("full account: HasPassword = %v, %v; want true", has, err)
	}
	if has, err := s.HasPassword(ctx, "@named:example.org"); err != nil || has {
		t.Errorf("named guest: HasPassword = %v, %v; want false", has, err)
	}
	if _, err := s.HasPassword(ctx, "@nobody:example.org"); err != ErrNotFound {
		t.Errorf("unknown user: err = %v, want ErrNotFound", err)
	}
}
