package federationapi

import (
	"encoding/json"
	"net/http"
	"strconv"

	"foyer/internal/httpapi"
)

// serverKeys is GET /_matrix/key/v2/server: our signed keys. The
// deprecated /_matrix/key/v2/server/{keyId} is no longer in the spec and
// is not served.
func (a *API) serverKeys(w http.ResponseWriter, r *http.Request) error {
	raw, err := a.Keys.OwnKeys()
	if err != nil {
		return err
	}
	writeRawJSON(w, raw)
	return nil
}

// queryKeys is GET /_matrix/key/v2/query/{serverName}: this server as a
// notary for all of one server's keys; the deprecated form with a
// {keyId} asks for that key.
func (a *API) queryKeys(w http.ResponseWriter, r *http.Request) error {
	minValid := a.now()
	if v := r.URL.Query().Get("minimum_valid_until_ts"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return httpapi.ErrInvalidParam("minimum_valid_until_ts must be an integer timestamp in milliseconds")
		}
		minValid = n
	}
	var keyIDs []string
	if id := r.PathValue("keyId"); id != "" {
		keyIDs = []string{id}
	}
	answers, err := a.Keys.NotaryQuery(r.Context(), r.PathValue("serverName"), keyIDs, minValid)
	if err != nil {
		return err
	}
	httpapi.WriteJSON(w, http.StatusOK, map[string]any{"server_keys": answers})
	return nil
}

// maxNotaryServers bounds the servers one batch query may ask about,
// since each may cost a fetch.
const maxNotaryServers = 100

// queryKeysBatch is POST /_matrix/key/v2/query: this server as a notary
// for several servers, each for the key IDs its criteria name (all its
// keys when they name none). A server's minimum_valid_until_ts is the
// latest its criteria ask for; a criterion without one asks for now.
func (a *API) queryKeysBatch(w http.ResponseWriter, r *http.Request) error {
	var req struct {
		ServerKeys map[string]map[string]struct {
			MinimumValidUntilTS *int64 `json:"minimum_valid_until_ts"`
		} `json:"server_keys"`
	}
	if err := httpapi.ReadJSON(r, &req); err != nil {
		return err
	}
	if req.ServerKeys == nil {
		return httpapi.ErrBadJSON("server_keys is required")
	}
	if len(req.ServerKeys) > maxNotaryServers {
		return httpapi.ErrBadJSON("at most %d servers may be queried at once", maxNotaryServers)
	}
	answers := []json.RawMessage{}
	for server, criteria := range req.ServerKeys {
		now := a.now()
		minValid, anyCriterion := now, false
		keyIDs := make([]string, 0, len(criteria))
		for id, c := range criteria {
			keyIDs = append(keyIDs, id)
			asked := now
			if c.MinimumValidUntilTS != nil {
				asked = *c.MinimumValidUntilTS
			}
			if !anyCriterion || asked > minValid {
				minValid, anyCriterion = asked, true
			}
		}
		got, err := a.Keys.NotaryQuery(r.Context(), server, keyIDs, minValid)
		if err != nil {
			return err
		}
		answers = append(answers, got...)
	}
	httpapi.WriteJSON(w, http.StatusOK, map[string]any{"server_keys": answers})
	return nil
}

func writeRawJSON(w http.ResponseWriter, raw []byte) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(raw)
}
