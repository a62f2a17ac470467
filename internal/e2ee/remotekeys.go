package e2ee

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"

	"foyer/internal/federationclient"
)

// DefaultRemoteTimeout is how long /keys/query and /keys/claim wait for
// other servers when the client names no timeout (the spec's default).
const DefaultRemoteTimeout = 10 * time.Second

// maxRemoteTimeout caps a client's timeout.
const maxRemoteTimeout = time.Minute

// RemoteTimeout is the wait for other servers a client asked for in ms
// (nil: the default), capped.
func RemoteTimeout(ms *int64) time.Duration {
	if ms == nil || *ms < 0 {
		return DefaultRemoteTimeout
	}
	return min(time.Duration(*ms)*time.Millisecond, maxRemoteTimeout)
}

// Bounds on what other servers' answers may put here.
const (
	// maxParallelServers is how many servers one query asks at once.
	maxParallelServers = 16
	// maxParallelFetches is how many users' lists one server is asked
	// for at once.
	maxParallelFetches = 8
	// maxRemoteDevices caps the devices kept of one remote user.
	maxRemoteDevices = 1000
	// maxRemoteKeyBytes caps one remote device's or cross-signing key.
	maxRemoteKeyBytes = 16 << 10
	// maxDisplayNameBytes caps a remote device's display name.
	maxDisplayNameBytes = 256
)

// failure is a failures entry: why a server gave no keys.
func failure(err error) map[string]any {
	status, msg := http.StatusServiceUnavailable, err.Error()
	if re, ok := federationclient.RemoteError(err); ok {
		status = re.Status
	}
	if errors.Is(err, context.DeadlineExceeded) {
		msg = "the server did not answer in time"
	}
	return map[string]any{"status": status, "message": msg}
}

// validRemoteDeviceKeys checks that a device key object another server
// sent is an object within size that claims no other user or device.
// One that names neither is kept as sent, as other servers do: the
// device itself is known, and clients verify the keys' own user_id,
// device_id and signatures before trusting them.
func validRemoteDeviceKeys(raw json.RawMessage, userID, deviceID string) bool {
	trimmed := bytes.TrimSpace(raw)
	if len(trimmed) == 0 || trimmed[0] != '{' || len(raw) > maxRemoteKeyBytes {
		return false
	}
	var dk deviceKeysJSON
	if json.Unmarshal(raw, &dk) != nil {
		return false
	}
	return (dk.UserID == "" || dk.UserID == userID) && (dk.DeviceID == "" || dk.DeviceID == deviceID)
}

// validRemoteCrossSigningKey checks a cross-signing key another server
// sent: the user's, of the usage, within size.
func validRemoteCrossSigningKey(raw json.RawMessage, userID, usage string) bool {
	if isNull(raw) || len(raw) > maxRemoteKeyBytes {
		return false
	}
	var k crossSigningJSON
	return json.Unmarshal(raw, &k) == nil && k.UserID == userID && contains(k.Usage, usage) && len(k.Keys) > 0
}

// remoteDeviceList turns a /user/devices answer into a list to cache,
// dropping what is not the user's or is beyond the bounds.
func remoteDeviceList(userID string, ans federationclient.UserDevices) (RemoteDeviceList, error) {
	if ans.UserID != userID {
		return RemoteDeviceList{}, errors.New("the answer is about another user")
	}
	l := RemoteDeviceList{UserID: userID, StreamID: ans.StreamID}
	seen := map[string]bool{}
	for _, d := range ans.Devices {
		if len(l.Devices) >= maxRemoteDevices {
			break
		}
		if d.DeviceID == "" || seen[d.DeviceID] || !validRemoteDeviceKeys(d.Keys, userID, d.DeviceID) {
			continue
		}
		seen[d.DeviceID] = true
		name := d.DisplayName
		if len(name) > maxDisplayNameBytes {
			name = ""
		}
		l.Devices = append(l.Devices, RemoteDevice{DeviceID: d.DeviceID, DisplayName: name, Keys: canonical(d.Keys)})
	}
	if validRemoteCrossSigningKey(ans.MasterKey, userID, KeyMaster) {
		l.MasterKey = canonical(ans.MasterKey)
	}
	if validRemoteCrossSigningKey(ans.SelfSigningKey, userID, KeySelfSigning) {
		l.SelfSigningKey = canonical(ans.SelfSigningKey)
	}
	return l, nil
}

// fetchDeviceList asks the user's server for their whole list, caches
// it, and records the change so room-mates' syncs wake and name the user
// in device_lists.changed (as a fetch may replace what they saw, or tell
// a client that asked before it came to ask again). A fetch of the same
// user already under way (a resync after an update, another client's
// query) is waited for instead of asking again: a client told of the
// change by it gets its answer.
func (s *Service) fetchDeviceList(ctx context.Context, userID string) (RemoteDeviceList, error) {
	return s.fed.fetching.do(ctx, userID, func() (RemoteDeviceList, error) { return s.fetchDeviceListNow(ctx, userID) })
}

func (s *Service) fetchDeviceListNow(ctx context.Context, userID string) (RemoteDeviceList, error) {
	ans, err := s.fed.remote.UserDevices(ctx, serverOf(userID), userID)
	if err != nil {
		return RemoteDeviceList{}, err
	}
	l, err := remoteDeviceList(userID, ans)
	if err != nil {
		return RemoteDeviceList{}, err
	}
	// The answer is in: keep it even if the wait for it has just ended.
	ctx = context.WithoutCancel(ctx)
	pos, done, err := s.positions.Reserve(ctx)
	if err != nil {
		return RemoteDeviceList{}, err
	}
	err = s.fed.store.ReplaceRemoteDeviceList(ctx, l, pos)
	done()
	if err != nil {
		return RemoteDeviceList{}, err
	}
	s.wakeMates(ctx, userID, pos)
	return l, nil
}

// fillFromList puts a cached list's keys (narrowed to devices, when
// given) into a query's answer.
func fillFromList(out *QueryResult, l RemoteDeviceList, devices []string) {
	if out.DeviceKeys[l.UserID] == nil {
		out.DeviceKeys[l.UserID] = map[string]json.RawMessage{}
	}
	for _, d := range l.Devices {
		if len(devices) > 0 && !contains(devices, d.DeviceID) {
			continue
		}
		var unsigned map[string]any
		if d.DisplayName != "" {
			unsigned = map[string]any{"device_display_name": d.DisplayName}
		}
		out.DeviceKeys[l.UserID][d.DeviceID] = withSignatures(d.Keys, nil, unsigned)
	}
	if l.MasterKey != nil {
		out.MasterKeys[l.UserID] = l.MasterKey
	}
	if l.SelfSigningKey != nil {
		out.SelfSigningKeys[l.UserID] = l.SelfSigningKey
	}
}

// queryRemote fills out with other servers' users' keys. The lists of
// users who share a room with a local user are cached: served from the
// cache when it is current, else fetched whole (/user/devices) and kept;
// other users' keys are asked with one /user/keys/query per server. Each
// server is asked in parallel, all within timeout.
func (s *Service) queryRemote(ctx context.Context, users map[string][]string, timeout time.Duration, out *QueryResult) {
	// The timeout bounds what other servers take, not reading the cache.
	remoteCtx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	byServer := map[string][]string{}
	ids := make([]string, 0, len(users))
	for u := range users {
		out.DeviceKeys[u] = map[string]json.RawMessage{}
		if server := serverOf(u); server != "" {
			byServer[server] = append(byServer[server], u)
			ids = append(ids, u)
		}
	}
	sort.Strings(ids)
	cached, err := s.fed.store.RemoteDeviceLists(ctx, ids)
	if err != nil {
		s.log.WarnContext(ctx, "reading cached remote device lists", "err", err)
		cached = nil
	}
	servers := make([]string, 0, len(byServer))
	for server := range byServer {
		servers = append(servers, server)
	}
	sort.Strings(servers)
	var mu sync.Mutex
	check := s.newShareCheck()
	parallel(servers, maxParallelServers, func(server string) {
		var plain, fetch []string
		for _, u := range byServer[server] {
			shares, err := check.shares(ctx, u)
			if err != nil {
				s.log.WarnContext(ctx, "checking whether a remote user shares a room", "user_id", u, "err", err)
			}
			l, ok := cached[u]
			switch {
			case shares && ok && !l.Stale:
				mu.Lock()
				fillFromList(out, l, users[u])
				mu.Unlock()
			case shares:
				fetch = append(fetch, u)
			default:
				plain = append(plain, u)
			}
		}
		var failed error
		var failedMu sync.Mutex
		parallel(fetch, maxParallelFetches, func(u string) {
			l, err := s.fetchDeviceList(remoteCtx, u)
			if err != nil {
				failedMu.Lock()
				failed = err
				failedMu.Unlock()
				// The server is named in failures; what was last known
				// of the user's devices is still given, not emptied.
				if stale, ok := cached[u]; ok {
					mu.Lock()
					fillFromList(out, stale, users[u])
					mu.Unlock()
				}
				return
			}
			mu.Lock()
			fillFromList(out, l, users[u])
			mu.Unlock()
		})
		if len(plain) > 0 {
			req := make(map[string][]string, len(plain))
			for _, u := range plain {
				req[u] = append([]string{}, users[u]...)
			}
			ans, err := s.fed.remote.QueryKeys(remoteCtx, server, req)
			if err != nil {
				failed = err
			} else {
				mu.Lock()
				mergeQueryAnswer(out, req, ans)
				mu.Unlock()
			}
		}
		if failed != nil {
			s.log.DebugContext(ctx, "a server gave no keys", "server", server, "err", failed)
			mu.Lock()
			out.Failures[server] = failure(failed)
			mu.Unlock()
		}
	})
}

// signableKeysOf returns the cross-signing keys of another user that the
// caller may sign (with its user-signing key): a local user's stored
// keys, or another server's user's master key as their server (or the
// current cache) gives it.
func (s *Service) signableKeysOf(ctx context.Context, userID string) (map[string]CrossSigningKey, error) {
	if s.fed == nil || s.isLocal(userID) {
		return s.crossSigningKeys(ctx, userID)
	}
	res := &QueryResult{DeviceKeys: map[string]map[string]json.RawMessage{}, MasterKeys: map[string]json.RawMessage{},
		SelfSigningKeys: map[string]json.RawMessage{}, Failures: map[string]any{}}
	s.queryRemote(ctx, map[string][]string{userID: nil}, DefaultRemoteTimeout, res)
	out := map[string]CrossSigningKey{}
	raw := res.MasterKeys[userID]
	var k crossSigningJSON
	if raw == nil || json.Unmarshal(raw, &k) != nil {
		return out, nil
	}
	for id, pub := range k.Keys {
		if p, ok := strings.CutPrefix(id, "ed25519:"); ok && p == pub {
			out[KeyMaster] = CrossSigningKey{UserID: userID, Type: KeyMaster, PublicKey: pub, Keys: raw}
		}
	}
	return out, nil
}

// addOwnSignatures merges into the master keys of other servers' users
// the signatures the caller made on them with its user-signing key,
// which are kept here and shown to the caller alone.
func (s *Service) addOwnSignatures(ctx context.Context, caller string, out *QueryResult) error {
	var users []string
	for u := range out.MasterKeys {
		if !s.isLocal(u) {
			users = append(users, u)
		}
	}
	if caller == "" || len(users) == 0 {
		return nil
	}
	sort.Strings(users)
	sigs, err := s.store.Signatures(ctx, users)
	if err != nil {
		return err
	}
	byUser := map[string][]Signature{}
	for _, sig := range sigs {
		if sig.SignerUserID == caller {
			byUser[sig.TargetUserID] = append(byUser[sig.TargetUserID], sig)
		}
	}
	for u, sigs := range byUser {
		var k crossSigningJSON
		if json.Unmarshal(out.MasterKeys[u], &k) != nil {
			continue
		}
		var on []Signature
		for _, sig := range sigs {
			if k.Keys["ed25519:"+sig.TargetKeyID] == sig.TargetKeyID {
				on = append(on, sig)
			}
		}
		out.MasterKeys[u] = withSignatures(out.MasterKeys[u], on, nil)
	}
	return nil
}

// mergeQueryAnswer puts into out the keys of a /user/keys/query answer
// that are of the users (and devices) asked.
func mergeQueryAnswer(out *QueryResult, asked map[string][]string, ans federationclient.KeysQuery) {
	for u, devices := range ans.DeviceKeys {
		want, ok := asked[u]
		if !ok {
			continue
		}
		n := 0
		for d, raw := range devices {
			if n >= maxRemoteDevices || (len(want) > 0 && !contains(want, d)) || !validRemoteDeviceKeys(raw, u, d) {
				continue
			}
			out.DeviceKeys[u][d] = raw
			n++
		}
	}
	for u, raw := range ans.MasterKeys {
		if _, ok := asked[u]; ok && validRemoteCrossSigningKey(raw, u, KeyMaster) {
			out.MasterKeys[u] = raw
		}
	}
	for u, raw := range ans.SelfSigningKeys {
		if _, ok := asked[u]; ok && validRemoteCrossSigningKey(raw, u, KeySelfSigning) {
			out.SelfSigningKeys[u] = raw
		}
	}
}

// claimRemote claims other servers' users' keys from their servers, in
// parallel, within timeout, into keys; servers that did not answer go to
// failures.
func (s *Service) claimRemote(ctx context.Context, req map[string]map[string]string, timeout time.Duration, keys map[string]map[string]map[string]json.RawMessage, failures map[string]any) {
	remoteCtx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	byServer := map[string]map[string]map[string]string{}
	for u, devices := range req {
		server := serverOf(u)
		if server == "" {
			continue
		}
		if byServer[server] == nil {
			byServer[server] = map[string]map[string]string{}
		}
		byServer[server][u] = devices
	}
	servers := make([]string, 0, len(byServer))
	for server := range byServer {
		servers = append(servers, server)
	}
	sort.Strings(servers)
	var mu sync.Mutex
	parallel(servers, maxParallelServers, func(server string) {
		asked := byServer[server]
		ans, err := s.fed.remote.ClaimKeys(remoteCtx, server, asked)
		mu.Lock()
		defer mu.Unlock()
		if err != nil {
			s.log.DebugContext(ctx, "a server gave no one-time keys", "server", server, "err", err)
			failures[server] = failure(err)
			return
		}
		for u, devices := range ans.OneTimeKeys {
			for d, byID := range devices {
				alg, ok := asked[u][d]
				if !ok {
					continue
				}
				// One key per device, of the algorithm asked.
				for id, key := range byID {
					if !strings.HasPrefix(id, alg+":") || len(id)+len(key) > maxKeyBytes {
						continue
					}
					if keys[u] == nil {
						keys[u] = map[string]map[string]json.RawMessage{}
					}
					keys[u][d] = map[string]json.RawMessage{id: key}
					break
				}
			}
		}
	})
}
