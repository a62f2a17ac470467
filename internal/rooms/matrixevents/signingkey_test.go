package matrixevents

import (
	"crypto/ed25519"
	"os"
	"path/filepath"
	"regexp"
	"testing"
)

func TestSigningKeyLineRoundTrip(t *testing.T) {
	k1, err := NewSigningKey()
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`^ed25519:a_[A-Za-z0-9]{4}$`).MatchString(k1.KeyID()) {
		t.Errorf("key ID %q", k1.KeyID())
	}
	if !regexp.MustCompile(`^ed25519 a_[A-Za-z0-9]{4} [A-Za-z0-9+/]{43}$`).MatchString(k1.Line()) {
		t.Errorf("line %q", k1.Line())
	}
	k2, err := ParseSigningKeyLine(k1.Line(), "test")
	if err != nil {
		t.Fatal(err)
	}
	if k2.KeyID() != k1.KeyID() || !k2.PublicKey().Equal(k1.PublicKey()) || k2.Line() != k1.Line() {
		t.Errorf("reparsed %s/%s, want %s/%s", k2.KeyID(), k2.PublicKeyBase64(), k1.KeyID(), k1.PublicKeyBase64())
	}
	if len(k1.PublicKeyBase64()) != 43 {
		t.Errorf("public key base64 %q should be unpadded", k1.PublicKeyBase64())
	}
}

func TestSigningKeyFileReadsSynapseFormat(t *testing.T) {
	dir := t.TempDir()
	if _, ok, err := ReadSigningKeyFile(dir); ok || err != nil {
		t.Fatalf("no file: ok %v err %v", ok, err)
	}
	// Seed of 32 zero bytes, padded as some tools write it.
	line := "ed25519 a_test AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n"
	if err := os.WriteFile(filepath.Join(dir, SigningKeyFile), []byte("\n"+line), 0o600); err != nil {
		t.Fatal(err)
	}
	k, ok, err := ReadSigningKeyFile(dir)
	if err != nil || !ok {
		t.Fatal(ok, err)
	}
	if k.KeyID() != "ed25519:a_test" {
		t.Errorf("key ID %q", k.KeyID())
	}
	want := ed25519.NewKeyFromSeed(make([]byte, 32)).Public().(ed25519.PublicKey)
	if !k.PublicKey().Equal(want) {
		t.Error("wrong key loaded")
	}
}

func TestSigningKeyRejectsGarbage(t *testing.T) {
	for _, content := range []string{"", "rsa a_x AAAA\n", "ed25519 a_x !!!\n", "ed25519 a_x AAAA\n"} {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, SigningKeyFile), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, _, err := ReadSigningKeyFile(dir); err == nil {
			t.Errorf("content %q accepted", content)
		}
		if _, err := ParseSigningKeyLine(content, "test"); err == nil {
			t.Errorf("line %q accepted", content)
		}
	}
}

func TestSignAndVerifyJSON(t *testing.T) {
	k := testKey(t)
	signed, err := SignJSON(server, k, []byte(`{"b":1,"a":"x","unsigned":{"age":1}}`))
	if err != nil {
		t.Fatal(err)
	}
	if err := VerifyJSON(server, k.KeyID(), k.PublicKey(), signed); err != nil {
		t.Errorf("verify own signature: %v", err)
	}
	other := testKey(t)
	if err := VerifyJSON(server, k.KeyID(), other.PublicKey(), signed); err == nil {
		t.Error("verified with the wrong key")
	}
}

// Event signatures cover the redacted event, so verifying one exercises
// BuildEvent, Redact and VerifyJSON together.
func TestBuiltEventSignatureVerifies(t *testing.T) {
	r := newTestRoom(t, DefaultRoomVersion)
	ev := r.send(alice, "m.room.message", nil, map[string]string{"body": "signed"})
	redacted, err := Redact(r.version, ev.JSON())
	if err != nil {
		t.Fatal(err)
	}
	if err := VerifyJSON(server, r.key.KeyID(), r.key.PublicKey(), redacted); err != nil {
		t.Errorf("event signature: %v", err)
	}
}
