package clientapi

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/url"
	"slices"
	"sync"
	"time"

	"foyer/internal/accounts"
	"foyer/internal/appservice"
	"foyer/internal/httpapi"
)

// askAppServiceForUser asks the service whose namespace holds an unknown
// local userID whether it has it; true when it says yes (and so should
// have registered it).
func (a *API) askAppServiceForUser(r *http.Request, userID string) bool {
	if a.AppServiceClient == nil {
		return false
	}
	if _, server, ok := accounts.SplitUserID(userID); !ok || server != a.Config.ServerName {
		return false
	}
	as := a.AppServices.UserQueryTarget(userID)
	if as == nil {
		return false
	}
	if _, err := a.Accounts.GetUser(r.Context(), userID); err == nil {
		return false // it exists: asking changes nothing
	}
	ok, err := a.AppServiceClient.QueryUser(r.Context(), as, userID)
	if err != nil {
		a.Log.WarnContext(r.Context(), "asking an application service about a user", "appservice", as.ID, "err", err)
	}
	return ok
}

// pingAppService is POST /_matrix/client/v1/appservice/{appserviceId}/ping:
// a service asks the server to ping it, to learn that the two can talk.
func (a *API) pingAppService(w http.ResponseWriter, r *http.Request) error {
	as := a.appServiceOf(r)
	if as == nil || as.ID != r.PathValue("appserviceId") {
		return httpapi.ErrForbidden("the access token is not that of application service %s", r.PathValue("appserviceId"))
	}
	var req struct {
		TransactionID string `json:"transaction_id"`
	}
	if err := httpapi.ReadJSON(r, &req); err != nil {
		return err
	}
	if !as.HasURL() {
		return httpapi.NewError(http.StatusBadRequest, "M_URL_NOT_SET", "the application service has no url")
	}
	start := time.Now()
	err := a.AppServiceClient.Ping(r.Context(), as, req.TransactionID)
	var se *appservice.StatusError
	var ne net.Error
	switch {
	case err == nil:
		httpapi.WriteJSON(w, http.StatusOK, map[string]int64{"duration_ms": time.Since(start).Milliseconds()})
		return nil
	case errors.As(err, &se):
		e := httpapi.NewError(http.StatusBadGateway, "M_BAD_STATUS", "the application service answered %d", se.Status)
		e.Extra = map[string]any{"status": se.Status, "body": se.Body}
		return e
	case errors.Is(err, context.DeadlineExceeded) || errors.As(err, &ne) && ne.Timeout():
		return httpapi.NewError(http.StatusGatewayTimeout, "M_CONNECTION_TIMEOUT", "the application service did not answer in time")
	default:
		return httpapi.NewError(http.StatusBadGateway, "M_CONNECTION_FAILED", "could not reach the application service")
	}
}

// servicesSpeaking are the services with a url that speak protocol (any
// protocol when it is empty).
func (a *API) servicesSpeaking(protocol string) []*appservice.Service {
	var out []*appservice.Service
	for _, as := range a.AppServices.All() {
		if as.HasURL() && (protocol == "" || slices.Contains(as.Protocols, protocol)) {
			out = append(out, as)
		}
	}
	return out
}

// protocolOf asks the first service that speaks protocol to describe it,
// naming each instance by "{service id}|{network id}" as the directory's
// third_party_instance_id takes it.
func (a *API) protocolOf(ctx context.Context, protocol string) (map[string]any, bool) {
	if desc, ok := a.protocols.get(protocol); ok {
		return desc, true
	}
	// Several services may bridge one protocol (one per network, say):
	// the first answer describes it and every answer adds its
	// instances, as Synapse merges them.
	var merged map[string]any
	instances := []any{}
	for _, as := range a.servicesSpeaking(protocol) {
		raw, err := a.AppServiceClient.ThirdParty(ctx, as, "protocol/"+protocol, nil)
		if err != nil {
			a.Log.WarnContext(ctx, "asking an application service about a protocol", "appservice", as.ID, "protocol", protocol, "err", err)
			continue
		}
		var p map[string]any
		if json.Unmarshal(raw, &p) != nil {
			continue
		}
		if insts, ok := p["instances"].([]any); ok {
			for _, i := range insts {
				if inst, ok := i.(map[string]any); ok {
					if nid, ok := inst["network_id"].(string); ok {
						inst["instance_id"] = as.ID + "|" + nid
					}
					instances = append(instances, inst)
				}
			}
		}
		if merged == nil {
			merged = p
		}
	}
	if merged == nil {
		return nil, false
	}
	merged["instances"] = instances
	a.protocols.put(protocol, merged)
	return merged, true
}

// lookupQuery is the client's query for a third-party lookup, without
// its access token: the service gets the search fields only.
func lookupQuery(r *http.Request) url.Values {
	q := r.URL.Query()
	q.Del("access_token")
	return q
}

// protocolCache keeps each protocol's merged description for a while,
// as Synapse does: clients ask for it often, and it changes when a bridge
// is reconfigured.
type protocolCache struct {
	mu      sync.Mutex
	entries map[string]protocolEntry
}

type protocolEntry struct {
	desc    map[string]any
	expires time.Time
}

// protocolCacheFor is how long a description is kept.
const protocolCacheFor = 5 * time.Minute

func (c *protocolCache) get(protocol string) (map[string]any, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[protocol]
	if !ok || time.Now().After(e.expires) {
		return nil, false
	}
	return e.desc, true
}

func (c *protocolCache) put(protocol string, desc map[string]any) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.entries == nil {
		c.entries = map[string]protocolEntry{}
	}
	c.entries[protocol] = protocolEntry{desc: desc, expires: time.Now().Add(protocolCacheFor)}
}

func (a *API) thirdPartyProtocols(w http.ResponseWriter, r *http.Request) error {
	out := map[string]any{}
	for _, as := range a.servicesSpeaking("") {
		for _, p := range as.Protocols {
			if _, done := out[p]; done {
				continue
			}
			if desc, ok := a.protocolOf(r.Context(), p); ok {
				out[p] = desc
			}
		}
	}
	httpapi.WriteJSON(w, http.StatusOK, out)
	return nil
}

func (a *API) thirdPartyProtocol(w http.ResponseWriter, r *http.Request) error {
	p := r.PathValue("protocol")
	desc, ok := a.protocolOf(r.Context(), p)
	if !ok {
		return httpapi.ErrNotFound("no bridge on this server speaks the protocol %q", p)
	}
	httpapi.WriteJSON(w, http.StatusOK, desc)
	return nil
}

// thirdPartyLookup forwards a location or user lookup (kind) to the
// services that speak the protocol in the path, or to every service, and
// answers what they found together.
func (a *API) thirdPartyLookup(kind string) httpapi.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		protocol := r.PathValue("protocol")
		path := kind
		if protocol != "" {
			path += "/" + protocol
		}
		// A protocol no service speaks finds nothing, as in Synapse.
		services := a.servicesSpeaking(protocol)
		found := []json.RawMessage{}
		for _, as := range services {
			raw, err := a.AppServiceClient.ThirdParty(r.Context(), as, path, lookupQuery(r))
			if err != nil {
				continue // a service that does not know says 404
			}
			var list []json.RawMessage
			if json.Unmarshal(raw, &list) == nil {
				found = append(found, list...)
			}
		}
		httpapi.WriteJSON(w, http.StatusOK, found)
		return nil
	}
}
