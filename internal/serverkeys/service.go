package serverkeys

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"log/slog"
	"strings"
	"sync"
	"time"

	"foyer/internal/rooms/matrixevents"
)

// OwnKeysLifetime is how far ahead our published keys' valid_until_ts
// lies: other servers cache them that long (at most; the spec caps it at
// 7 days for event signatures) and ask again afterwards.
const OwnKeysLifetime = 7 * 24 * time.Hour

// refetchInterval is the least time between two fetches of one server's
// keys, answered or not, so requests naming unknown key IDs cannot make
// this server hammer another.
const refetchInterval = time.Minute

// Options configure a Service.
type Options struct {
	ServerName string
	SigningKey *matrixevents.SigningKey
	// Permits says whether a server may federate (config.Federation);
	// nil permits every server.
	Permits func(serverName string) bool
	// Notaries are servers asked for a key when its own server does not
	// give it.
	Notaries []string
	// Now is the clock; nil is time.Now.
	Now func() time.Time
	// Log receives failed fetches; nil discards them.
	Log *slog.Logger
	// HTTP and Resolver are how remote keys are fetched: the outbound
	// client and server discovery. Without them remote keys are not
	// fetched (ErrNoOutbound).
	HTTP     Doer
	Resolver Resolver
}

// Service is the key store and fetcher.
type Service struct {
	opts  Options
	store Store

	mu       sync.Mutex
	doer     Doer
	resolver Resolver
	// lastFetch is when each server's keys were last asked for;
	// inFlight holds a channel closed when the running fetch ends.
	lastFetch map[string]time.Time
	inFlight  map[string]chan struct{}
}

// New returns the key service over store.
func New(store Store, opts Options) *Service {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	if opts.Permits == nil {
		opts.Permits = func(string) bool { return true }
	}
	return &Service{opts: opts, store: store, doer: opts.HTTP, resolver: opts.Resolver,
		lastFetch: map[string]time.Time{}, inFlight: map[string]chan struct{}{}}
}

// SetOutbound replaces the HTTP client and server discovery that remote
// keys are fetched through: tests point a server at others on loopback
// without TLS.
func (s *Service) SetOutbound(doer Doer, resolver Resolver) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.doer, s.resolver = doer, resolver
	clear(s.lastFetch)
}

// ServerName is ours.
func (s *Service) ServerName() string { return s.opts.ServerName }

// OwnKeys is our /_matrix/key/v2/server answer: our key, valid for
// OwnKeysLifetime from now, no old keys (Foyer has had one key so far),
// signed by that key.
func (s *Service) OwnKeys() ([]byte, error) {
	k := s.opts.SigningKey
	body := map[string]any{
		"server_name":     s.opts.ServerName,
		"valid_until_ts":  s.opts.Now().Add(OwnKeysLifetime).UnixMilli(),
		"verify_keys":     map[string]any{k.KeyID(): map[string]string{"key": k.PublicKeyBase64()}},
		"old_verify_keys": map[string]any{},
	}
	raw, err := json.Marshal(body)
	if err != nil {
		return nil, err
	}
	return matrixevents.SignJSON(s.opts.ServerName, k, raw)
}

// Permits reports whether serverName may federate with us.
func (s *Service) Permits(serverName string) bool { return s.opts.Permits(serverName) }

// RequestKey returns the key serverName signs requests with now: a
// current key within its validity, from the store or fetched.
func (s *Service) RequestKey(ctx context.Context, serverName, keyID string) (ed25519.PublicKey, error) {
	now := s.opts.Now().UnixMilli()
	return s.lookup(ctx, serverName, keyID, func(k Key) bool { return k.Current(now) })
}

// EventKey returns the key serverName signed an event sent at ts (ms)
// with: a current key valid until then, or an old key that expired after.
func (s *Service) EventKey(ctx context.Context, serverName, keyID string, ts int64) (ed25519.PublicKey, error) {
	return s.lookup(ctx, serverName, keyID, func(k Key) bool { return k.ValidAt(ts) })
}

// StoredEventKey is EventKey without fetching: ok is false when the key
// is not at hand, and EventKey would ask serverName for it.
func (s *Service) StoredEventKey(ctx context.Context, serverName, keyID string, ts int64) (ed25519.PublicKey, bool) {
	if strings.EqualFold(serverName, s.opts.ServerName) {
		k := s.opts.SigningKey
		return k.PublicKey(), k.KeyID() == keyID
	}
	if !s.opts.Permits(serverName) || !validServerName(serverName) {
		return nil, false
	}
	key, ok, err := s.store.Key(ctx, serverName, keyID)
	if err != nil || !ok || !key.ValidAt(ts) {
		return nil, false
	}
	return key.PublicKey, true
}

func (s *Service) lookup(ctx context.Context, serverName, keyID string, usable func(Key) bool) (ed25519.PublicKey, error) {
	if strings.EqualFold(serverName, s.opts.ServerName) {
		k := s.opts.SigningKey
		if k.KeyID() != keyID {
			return nil, ErrKeyNotFound
		}
		return k.PublicKey(), nil
	}
	if !s.opts.Permits(serverName) {
		return nil, ErrServerNotPermitted
	}
	if !validServerName(serverName) {
		return nil, ErrKeyNotFound
	}
	key, ok, err := s.store.Key(ctx, serverName, keyID)
	if err != nil {
		return nil, err
	}
	if ok && usable(key) {
		return key.PublicKey, nil
	}
	if err := s.refresh(ctx, serverName); err != nil {
		return nil, err
	}
	key, ok, err = s.store.Key(ctx, serverName, keyID)
	if err != nil {
		return nil, err
	}
	if !ok || !usable(key) {
		return nil, ErrKeyNotFound
	}
	return key.PublicKey, nil
}

// refresh fetches serverName's keys unless they were asked for within
// refetchInterval; concurrent callers share one fetch. A failed fetch is
// not an error here (it is logged): the caller then finds no usable key.
func (s *Service) refresh(ctx context.Context, serverName string) error {
	return s.fetchKeys(ctx, serverName, true)
}

// fetchKeys fetches serverName's keys, one fetch of a server at a time:
// a caller finding one running waits for it and takes its result. With
// throttle, a server asked within refetchInterval is not asked again.
func (s *Service) fetchKeys(ctx context.Context, serverName string, throttle bool) error {
	s.mu.Lock()
	if s.doer == nil || s.resolver == nil {
		s.mu.Unlock()
		return ErrNoOutbound
	}
	if done, busy := s.inFlight[serverName]; busy {
		s.mu.Unlock()
		select {
		case <-done:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	now := s.opts.Now()
	if last, ok := s.lastFetch[serverName]; throttle && ok && now.Sub(last) < refetchInterval {
		s.mu.Unlock()
		return nil
	}
	s.pruneLastFetch(now)
	s.lastFetch[serverName] = now
	done := make(chan struct{})
	s.inFlight[serverName] = done
	doer, resolver := s.doer, s.resolver
	s.mu.Unlock()

	defer func() {
		s.mu.Lock()
		delete(s.inFlight, serverName)
		close(done)
		s.mu.Unlock()
	}()
	return s.fetchAndStore(ctx, doer, resolver, serverName)
}

// pruneLastFetch forgets fetch times older than refetchInterval once the
// map grows, so it stays bounded by the servers of the last minute.
func (s *Service) pruneLastFetch(now time.Time) {
	if len(s.lastFetch) < 4096 {
		return
	}
	for name, t := range s.lastFetch {
		if now.Sub(t) >= refetchInterval {
			delete(s.lastFetch, name)
		}
	}
}

// fetchAndStore asks the server itself, then each notary, and stores the
// first checked answer.
func (s *Service) fetchAndStore(ctx context.Context, doer Doer, resolver Resolver, serverName string) error {
	f := fetcher{doer: doer, resolver: resolver, now: s.opts.Now}
	resp, err := f.direct(ctx, serverName)
	if err != nil {
		for _, notary := range s.opts.Notaries {
			if strings.EqualFold(notary, serverName) {
				continue
			}
			resp, err = f.viaNotary(ctx, notary, serverName, func(id string) (ed25519.PublicKey, error) {
				return s.notaryKey(ctx, f, notary, id)
			})
			if err == nil {
				break
			}
		}
	}
	if err != nil {
		s.opts.Log.WarnContext(ctx, "fetching a server's signing keys failed", "server", serverName, "err", err)
		return nil
	}
	// Stored even if the asker has gone: the next one needs it.
	return s.store.SaveResponse(context.WithoutCancel(ctx), resp, s.opts.Now().UnixMilli())
}

// notaryKey is a notary's current key, from the store or from the notary
// itself, never through another notary: notaries vouching for each other
// could otherwise wait on each other's fetches.
func (s *Service) notaryKey(ctx context.Context, f fetcher, notary, keyID string) (ed25519.PublicKey, error) {
	now := s.opts.Now().UnixMilli()
	if key, ok, err := s.store.Key(ctx, notary, keyID); err != nil {
		return nil, err
	} else if ok && key.Current(now) {
		return key.PublicKey, nil
	}
	resp, err := f.direct(ctx, notary)
	if err != nil {
		return nil, err
	}
	if err := s.store.SaveResponse(context.WithoutCancel(ctx), resp, now); err != nil {
		return nil, err
	}
	for _, k := range resp.Keys {
		if k.KeyID == keyID && k.Current(now) {
			return k.PublicKey, nil
		}
	}
	return nil, ErrKeyNotFound
}
