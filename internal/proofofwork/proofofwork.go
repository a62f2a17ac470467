// Package proofofwork is Foyer's own check that a client spent some CPU
// before it gets a guest account: the server hands out a signed, expiring
// challenge; the client finds a nonce such that SHA-256(challenge ":"
// nonce) starts with the challenge's number of zero bits; the server
// checks the signature, the expiry and the hash (microseconds), and takes
// each challenge once.
//
// Challenges need no storage: they carry their own expiry and difficulty
// under an HMAC with a key made at start. A restart therefore voids every
// challenge handed out before it, which also makes the in-memory record of
// used challenges enough: nothing it forgets can be presented again.
package proofofwork

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"math/bits"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Why an answer is refused.
var (
	// ErrForged: not a challenge this server signed (or since its start).
	ErrForged = errors.New("the challenge was not issued by this server, or the server has restarted since: solve the new challenge")
	// ErrExpired: signed here, but too old.
	ErrExpired = errors.New("the challenge has expired: solve the new challenge")
	// ErrUsed: this challenge already completed a stage.
	ErrUsed = errors.New("the challenge has already been used: solve the new challenge")
	// ErrWrong: the nonce does not give enough zero bits.
	ErrWrong = errors.New("the nonce does not solve the challenge")
	// ErrBusy: the record of used challenges is full; the caller is asked
	// to come back once old ones have expired.
	ErrBusy = errors.New("too many challenges solved recently: try again in a minute")
)

// Bounds of what a client may send and what an operator may ask.
const (
	MinBits = 1
	MaxBits = 32
	// MaxNonceLength bounds the nonce a client sends.
	MaxNonceLength = 64
	// payloadLength is version, bits, expiry (ms) and 16 random bytes.
	payloadLength = 1 + 1 + 8 + 16
	version       = 1
	// maxUsed caps the record of used challenges; each entry lives until
	// its challenge expires.
	maxUsed = 200_000
)

// Challenge is what a client is asked to solve.
type Challenge struct {
	// Token is the opaque challenge string the hash starts with.
	Token string
	Bits  int
	// ExpiresAt is in milliseconds since the Unix epoch.
	ExpiresAt int64
}

// Issuer hands out and checks challenges.
type Issuer struct {
	key  []byte
	bits int
	ttl  time.Duration
	now  func() time.Time

	mu   sync.Mutex
	used map[[16]byte]int64 // challenge id → expiry (ms)
	// swept is when expired entries were last forgotten (ms).
	swept int64
}

// New makes an issuer of challenges of the given difficulty that stay
// valid for ttl, with a fresh random key.
func New(difficulty int, ttl time.Duration) *Issuer {
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		panic("proofofwork: no randomness: " + err.Error())
	}
	return &Issuer{key: key, bits: difficulty, ttl: ttl, now: time.Now, used: map[[16]byte]int64{}}
}

// Bits is the difficulty of new challenges.
func (i *Issuer) Bits() int { return i.bits }

// Issue makes a new challenge.
func (i *Issuer) Issue() Challenge {
	expires := i.now().Add(i.ttl).UnixMilli()
	payload := make([]byte, payloadLength)
	payload[0] = version
	payload[1] = byte(i.bits)
	binary.BigEndian.PutUint64(payload[2:10], uint64(expires))
	_, _ = rand.Read(payload[10:])
	token := encode(payload) + "." + encode(i.sign(payload))
	return Challenge{Token: token, Bits: i.bits, ExpiresAt: expires}
}

// Verify checks nonce against challenge token and, when it solves it,
// records the challenge as used. The order of the checks keeps the cheap
// ones first; a refusal is one of the package's errors.
func (i *Issuer) Verify(token, nonce string) error {
	payloadPart, sigPart, ok := strings.Cut(token, ".")
	if !ok {
		return ErrForged
	}
	payload, err1 := decode(payloadPart)
	sig, err2 := decode(sigPart)
	if err1 != nil || err2 != nil || len(payload) != payloadLength || payload[0] != version ||
		!hmac.Equal(sig, i.sign(payload)) {
		return ErrForged
	}
	difficulty := int(payload[1])
	expires := int64(binary.BigEndian.Uint64(payload[2:10]))
	now := i.now().UnixMilli()
	if now >= expires {
		return ErrExpired
	}
	if nonce == "" || len(nonce) > MaxNonceLength || !Solves(token, nonce, difficulty) {
		return ErrWrong
	}
	var id [16]byte
	copy(id[:], payload[10:])
	i.mu.Lock()
	defer i.mu.Unlock()
	if _, seen := i.used[id]; seen {
		return ErrUsed
	}
	if now-i.swept >= i.ttl.Milliseconds() {
		// Once per lifetime of a challenge: the record holds at most two
		// lifetimes' worth of answers.
		i.forgetExpiredLocked(now)
		i.swept = now
	}
	if len(i.used) >= maxUsed {
		i.forgetExpiredLocked(now)
		if len(i.used) >= maxUsed {
			return ErrBusy
		}
	}
	i.used[id] = expires
	return nil
}

// Sweep forgets used challenges that have expired; the server calls it
// now and then so the record stays as small as the recent traffic.
func (i *Issuer) Sweep() {
	i.mu.Lock()
	defer i.mu.Unlock()
	i.forgetExpiredLocked(i.now().UnixMilli())
}

func (i *Issuer) forgetExpiredLocked(now int64) {
	for id, exp := range i.used {
		if exp <= now {
			delete(i.used, id)
		}
	}
}

// Solves reports whether SHA-256(token ":" nonce) starts with at least
// difficulty zero bits. Clients compute the same hash.
func Solves(token, nonce string, difficulty int) bool {
	sum := sha256.Sum256([]byte(token + ":" + nonce))
	return LeadingZeroBits(sum[:]) >= difficulty
}

// LeadingZeroBits counts the zero bits at the start of b.
func LeadingZeroBits(b []byte) int {
	n := 0
	for _, c := range b {
		if c != 0 {
			return n + bits.LeadingZeros8(c)
		}
		n += 8
	}
	return n
}

func (i *Issuer) sign(payload []byte) []byte {
	mac := hmac.New(sha256.New, i.key)
	mac.Write(payload)
	return mac.Sum(nil)
}

func encode(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

func decode(s string) ([]byte, error) { return base64.RawURLEncoding.DecodeString(s) }

// Solve finds a nonce for token by counting up from 0, as a client would.
// Expected work doubles with each bit of difficulty.
func Solve(token string, difficulty int) string {
	for n := uint64(0); ; n++ {
		nonce := strconv.FormatUint(n, 10)
		if Solves(token, nonce, difficulty) {
			return nonce
		}
	}
}
