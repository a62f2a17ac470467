package matrixevents

import (
	"bufio"
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// SigningKeyFile is the name of a key file in a data dir (Synapse's
// format, one line "ed25519 <version> <unpadded base64 seed>"), taken
// into the database on a server's first start.
const SigningKeyFile = "signing.key"

// SigningKey is the server's ed25519 event and request signing key. The
// private half stays inside this package; callers sign through SignJSON or
// BuildEvent.
type SigningKey struct {
	id   string // "ed25519:a_XXXX"
	priv ed25519.PrivateKey
}

// KeyID returns the full key ID, e.g. "ed25519:a_AbCd".
func (k *SigningKey) KeyID() string { return k.id }

// PublicKey returns the public half, for /_matrix/key/v2/server.
func (k *SigningKey) PublicKey() ed25519.PublicKey {
	return k.priv.Public().(ed25519.PublicKey)
}

// PublicKeyBase64 returns the public key in Matrix's unpadded base64.
func (k *SigningKey) PublicKeyBase64() string {
	return base64.RawStdEncoding.EncodeToString(k.PublicKey())
}

// ReadSigningKeyFile reads dir/signing.key without creating it; ok is
// false when there is none.
func ReadSigningKeyFile(dir string) (key *SigningKey, ok bool, err error) {
	path := filepath.Join(dir, SigningKeyFile)
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("read signing key: %w", err)
	}
	key, err = parseSigningKey(data, path)
	return key, err == nil, err
}

// NewSigningKey makes a fresh key with a random key ID.
func NewSigningKey() (*SigningKey, error) { return generateSigningKey() }

// Line is the key in the one-line signing.key format, for storing it.
func (k *SigningKey) Line() string { return strings.TrimSpace(string(formatSigningKey(k))) }

// ParseSigningKeyLine reads a key written by Line; source names where it
// came from, for errors.
func ParseSigningKeyLine(line, source string) (*SigningKey, error) {
	return parseSigningKey([]byte(line), source)
}

func generateSigningKey() (*SigningKey, error) {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate signing key: %w", err)
	}
	suffix, err := randomAlphanumeric(4)
	if err != nil {
		return nil, err
	}
	return &SigningKey{id: "ed25519:a_" + suffix, priv: priv}, nil
}

func randomAlphanumeric(n int) (string, error) {
	const alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("generate key id: %w", err)
	}
	for i := range b {
		// 256 % 62 bias is irrelevant for a key label.
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return string(b), nil
}

func formatSigningKey(k *SigningKey) []byte {
	version := strings.TrimPrefix(k.id, "ed25519:")
	seed := base64.RawStdEncoding.EncodeToString(k.priv.Seed())
	return []byte("ed25519 " + version + " " + seed + "\n")
}

// parseSigningKey uses the first non-empty line; Synapse files may list
// more keys but the first is the one in use.
func parseSigningKey(data []byte, path string) (*SigningKey, error) {
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) == 0 {
			continue
		}
		if len(fields) != 3 || fields[0] != "ed25519" {
			return nil, fmt.Errorf("signing key %s: expected \"ed25519 <key id> <seed>\"", path)
		}
		// Accept both "a_XXXX" (Synapse) and "ed25519:a_XXXX".
		version := strings.TrimPrefix(fields[1], "ed25519:")
		if version == "" {
			return nil, fmt.Errorf("signing key %s: empty key id", path)
		}
		seed, err := base64.RawStdEncoding.DecodeString(strings.TrimRight(fields[2], "="))
		if err != nil {
			return nil, fmt.Errorf("signing key %s: bad base64 seed: %w", path, err)
		}
		if len(seed) != ed25519.SeedSize {
			return nil, fmt.Errorf("signing key %s: seed is %d bytes, want %d", path, len(seed), ed25519.SeedSize)
		}
		return &SigningKey{id: "ed25519:" + version, priv: ed25519.NewKeyFromSeed(seed)}, nil
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("signing key %s: %w", path, err)
	}
	return nil, fmt.Errorf("signing key %s: file is empty", path)
}
