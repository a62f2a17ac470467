package proofofwork

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestSolvedOnceThenUsed(t *testing.T) {
	iss := New(8, time.Minute)
	c := iss.Issue()
	if c.Bits != 8 || c.ExpiresAt <= time.Now().UnixMilli() {
		t.Fatalf("challenge: %+v", c)
	}
	nonce := Solve(c.Token, c.Bits)
	if err := iss.Verify(c.Token, nonce); err != nil {
		t.Fatalf("solved challenge refused: %v", err)
	}
	if err := iss.Verify(c.Token, nonce); !errors.Is(err, ErrUsed) {
		t.Fatalf("reused challenge: %v", err)
	}
	// Another challenge is independent.
	c2 := iss.Issue()
	if c2.Token == c.Token {
		t.Fatal("two challenges are the same")
	}
	if err := iss.Verify(c2.Token, Solve(c2.Token, c2.Bits)); err != nil {
		t.Fatal(err)
	}
}

func TestWrongNonce(t *testing.T) {
	iss := New(16, time.Minute)
	c := iss.Issue()
	// Find a nonce that does not have 16 zero bits (almost any).
	wrong := "x"
	for Solves(c.Token, wrong, 16) {
		wrong += "x"
	}
	for _, nonce := range []string{wrong, "", strings.Repeat("1", MaxNonceLength+1)} {
		if err := iss.Verify(c.Token, nonce); !errors.Is(err, ErrWrong) {
			t.Errorf("nonce %.10q: %v", nonce, err)
		}
	}
	// A wrong answer does not use the challenge up.
	if err := iss.Verify(c.Token, Solve(c.Token, 16)); err != nil {
		t.Fatal(err)
	}
}

func TestExpired(t *testing.T) {
	iss := New(4, time.Minute)
	now := time.Now()
	iss.now = func() time.Time { return now }
	c := iss.Issue()
	nonce := Solve(c.Token, c.Bits)
	iss.now = func() time.Time { return now.Add(time.Minute) }
	if err := iss.Verify(c.Token, nonce); !errors.Is(err, ErrExpired) {
		t.Fatalf("expired challenge: %v", err)
	}
}

func TestForged(t *testing.T) {
	iss := New(20, time.Minute)
	c := iss.Issue()
	payload, sig, _ := strings.Cut(c.Token, ".")
	raw, _ := decode(payload)
	// Lowering the difficulty in the payload breaks the signature.
	raw[1] = 1
	easier := encode(raw) + "." + sig
	// A challenge of another server (another key), or of this one before
	// a restart.
	other := New(1, time.Minute).Issue().Token
	for name, token := range map[string]string{
		"difficulty lowered": easier,
		"other key":          other,
		"no signature":       payload,
		"garbage":            "not.base64!",
		"empty":              "",
		"signature swapped":  payload + "." + strings.SplitN(other, ".", 2)[1],
	} {
		if err := iss.Verify(token, Solve(token, 1)); !errors.Is(err, ErrForged) {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func TestUsedRecordBounded(t *testing.T) {
	iss := New(1, time.Minute)
	now := time.Now()
	iss.now = func() time.Time { return now }
	c := iss.Issue()
	iss.mu.Lock()
	for n := 0; n < maxUsed; n++ {
		var id [16]byte
		id[0], id[1], id[2] = byte(n), byte(n>>8), byte(n>>16)
		id[15] = 0xff
		iss.used[id] = now.Add(time.Second).UnixMilli()
	}
	iss.mu.Unlock()
	if err := iss.Verify(c.Token, Solve(c.Token, 1)); !errors.Is(err, ErrBusy) {
		t.Fatalf("full record: %v", err)
	}
	// Once those expire they make room again.
	iss.now = func() time.Time { return now.Add(2 * time.Second) }
	if err := iss.Verify(c.Token, Solve(c.Token, 1)); err != nil {
		t.Fatal(err)
	}
	iss.Sweep()
	if len(iss.used) != 1 {
		t.Fatalf("after sweep: %d entries", len(iss.used))
	}
}

func TestLeadingZeroBits(t *testing.T) {
	for _, c := range []struct {
		b    []byte
		want int
	}{{[]byte{0x80}, 0}, {[]byte{0x01}, 7}, {[]byte{0, 0x10}, 11}, {[]byte{0, 0}, 16}} {
		if got := LeadingZeroBits(c.b); got != c.want {
			t.Errorf("%x: %d, want %d", c.b, got, c.want)
		}
	}
}

// BenchmarkVerify is the server's cost of checking one answer:
// go test ./internal/proofofwork -run '^$' -bench Verify -count 5
func BenchmarkVerify(b *testing.B) {
	iss := New(8, time.Hour)
	const pool = 1024
	tokens := make([]string, pool)
	nonces := make([]string, pool)
	for n := range pool {
		tokens[n] = iss.Issue().Token
		nonces[n] = Solve(tokens[n], 8)
	}
	n := 0
	for b.Loop() {
		if n%pool == 0 {
			// Each challenge is taken once: start the pool afresh.
			iss.used = map[[16]byte]int64{}
		}
		if err := iss.Verify(tokens[n%pool], nonces[n%pool]); err != nil {
			b.Fatal(err)
		}
		n++
	}
}
