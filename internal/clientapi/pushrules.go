package clientapi

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strings"

	"foyer/internal/httpapi"
	"foyer/internal/push"
)

// pushRoutes are push rules and pushers. Reading push rules is open to
// guests (older SDKs fail to start without them, G-14): a guest reads the
// server defaults; changing rules and pushers is for users.
func (a *API) pushRoutes() []httpapi.Route {
	const rule = httpapi.ClientV3 + "/pushrules/global/{kind}/{ruleId}"
	return []httpapi.Route{
		{Method: "GET", Path: httpapi.ClientV3 + "/pushrules/", Access: httpapi.GuestOK, Handle: a.getPushRulesTree},
		{Method: "GET", Path: httpapi.ClientV3 + "/pushrules/global/", Access: httpapi.GuestOK, Handle: a.getPushRulesTree},
		{Method: "GET", Path: rule, Access: httpapi.GuestOK, Handle: a.getPushRule},
		{Method: "PUT", Path: rule, Access: httpapi.UserOnly, Handle: a.putPushRule},
		{Method: "DELETE", Path: rule, Access: httpapi.UserOnly, Handle: a.deletePushRule},
		{Method: "GET", Path: rule + "/enabled", Access: httpapi.GuestOK, Handle: a.getPushRuleEnabled},
		{Method: "PUT", Path: rule + "/enabled", Access: httpapi.UserOnly, Handle: a.putPushRuleEnabled},
		{Method: "GET", Path: rule + "/actions", Access: httpapi.GuestOK, Handle: a.getPushRuleActions},
		{Method: "PUT", Path: rule + "/actions", Access: httpapi.UserOnly, Handle: a.putPushRuleActions},
		{Method: "GET", Path: httpapi.ClientV3 + "/pushers", Access: httpapi.UserOnly, Handle: a.getPushers},
		{Method: "POST", Path: httpapi.ClientV3 + "/pushers/set", Access: httpapi.UserOnly, Handle: a.setPusher},
	}
}

// getPushRulesTree serves GET /pushrules/ ({global: ruleset}) and
// GET /pushrules/global/ (the ruleset). Both patterns end in a slash, so
// net/http also sends them every deeper path no other route takes; of
// those, /pushrules/global/{kind}/ answers the kind's rules (as other
// homeservers do) and the rest are unrecognised.
func (a *API) getPushRulesTree(w http.ResponseWriter, r *http.Request) error {
	_, rest, ok := strings.Cut(r.URL.Path, "/pushrules/")
	if !ok {
		return httpapi.ErrUnrecognized(http.StatusNotFound, "unrecognised request: %s %s", r.Method, r.URL.Path)
	}
	parts := strings.Split(strings.TrimSuffix(rest, "/"), "/")
	if rest == "" {
		parts = nil
	}
	rs, err := a.Push.Rules(r.Context(), httpapi.Principal(r).UserID)
	if err != nil {
		return err
	}
	switch {
	case len(parts) == 0:
		httpapi.WriteJSON(w, http.StatusOK, map[string]push.RuleSet{"global": rs})
		return nil
	case len(parts) == 1 && parts[0] == "global":
		httpapi.WriteJSON(w, http.StatusOK, rs)
		return nil
	case len(parts) == 2 && parts[0] == "global":
		k, ok := push.ParseKind(parts[1])
		if !ok {
			return httpapi.ErrInvalidParam("unknown push rule kind %q; use override, content, room, sender or underride", parts[1])
		}
		httpapi.WriteJSON(w, http.StatusOK, rs.Kind(k))
		return nil
	}
	return httpapi.ErrUnrecognized(http.StatusNotFound, "unrecognised request: %s %s", r.Method, r.URL.Path)
}

// pushRuleParams reads {kind} and {ruleId} of an existing rule: one of a
// kind this server does not have (another server's, such as
// "postcontent") does not exist, 404 as the spec answers a missing rule,
// so clients probing for it carry on.
func pushRuleParams(r *http.Request) (push.Kind, string, error) {
	k, ok := push.ParseKind(r.PathValue("kind"))
	if !ok {
		return "", "", httpapi.ErrNotFound("there is no push rule %q of kind %q: this server has the kinds override, content, room, sender and underride", r.PathValue("ruleId"), r.PathValue("kind"))
	}
	return k, r.PathValue("ruleId"), nil
}

func (a *API) pushRule(r *http.Request) (push.Rule, error) {
	k, id, err := pushRuleParams(r)
	if err != nil {
		return push.Rule{}, err
	}
	rule, err := a.Push.Rule(r.Context(), httpapi.Principal(r).UserID, k, id)
	return rule, err
}

func (a *API) getPushRule(w http.ResponseWriter, r *http.Request) error {
	rule, err := a.pushRule(r)
	if err != nil {
		return err
	}
	httpapi.WriteJSON(w, http.StatusOK, rule)
	return nil
}

func (a *API) getPushRuleEnabled(w http.ResponseWriter, r *http.Request) error {
	rule, err := a.pushRule(r)
	if err != nil {
		return err
	}
	httpapi.WriteJSON(w, http.StatusOK, map[string]bool{"enabled": rule.Enabled})
	return nil
}

func (a *API) getPushRuleActions(w http.ResponseWriter, r *http.Request) error {
	rule, err := a.pushRule(r)
	if err != nil {
		return err
	}
	httpapi.WriteJSON(w, http.StatusOK, map[string]any{"actions": rule.Actions})
	return nil
}

type putPushRuleRequest struct {
	Actions    []json.RawMessage `json:"actions"`
	Conditions []json.RawMessage `json:"conditions"`
	Pattern    *string           `json:"pattern"`
}

func (a *API) putPushRule(w http.ResponseWriter, r *http.Request) error {
	if _, ok := push.ParseKind(r.PathValue("kind")); !ok {
		return httpapi.ErrInvalidParam("unknown push rule kind %q; use override, content, room, sender or underride", r.PathValue("kind"))
	}
	k, id, err := pushRuleParams(r)
	if err != nil {
		return err
	}
	var req putPushRuleRequest
	if err := httpapi.ReadJSON(r, &req); err != nil {
		return err
	}
	q := r.URL.Query()
	err = a.Push.PutRule(r.Context(), httpapi.Principal(r).UserID, k, id, push.RuleInput{
		Actions: req.Actions, Conditions: req.Conditions, Pattern: req.Pattern,
	}, q.Get("before"), q.Get("after"))
	if err != nil {
		return err
	}
	httpapi.WriteJSON(w, http.StatusOK, struct{}{})
	return nil
}

func (a *API) deletePushRule(w http.ResponseWriter, r *http.Request) error {
	k, id, err := pushRuleParams(r)
	if err != nil {
		return err
	}
	if err := a.Push.DeleteRule(r.Context(), httpapi.Principal(r).UserID, k, id); err != nil {
		return err
	}
	httpapi.WriteJSON(w, http.StatusOK, struct{}{})
	return nil
}

func (a *API) putPushRuleEnabled(w http.ResponseWriter, r *http.Request) error {
	k, id, err := pushRuleParams(r)
	if err != nil {
		return err
	}
	var req struct {
		Enabled *bool `json:"enabled"`
	}
	if err := httpapi.ReadJSON(r, &req); err != nil {
		return err
	}
	if req.Enabled == nil {
		return httpapi.ErrMissingParam("enabled is required")
	}
	if err := a.Push.SetEnabled(r.Context(), httpapi.Principal(r).UserID, k, id, *req.Enabled); err != nil {
		return err
	}
	httpapi.WriteJSON(w, http.StatusOK, struct{}{})
	return nil
}

func (a *API) putPushRuleActions(w http.ResponseWriter, r *http.Request) error {
	k, id, err := pushRuleParams(r)
	if err != nil {
		return err
	}
	var req struct {
		Actions []json.RawMessage `json:"actions"`
	}
	if err := httpapi.ReadJSON(r, &req); err != nil {
		return err
	}
	if err := a.Push.SetActions(r.Context(), httpapi.Principal(r).UserID, k, id, req.Actions); err != nil {
		return err
	}
	httpapi.WriteJSON(w, http.StatusOK, struct{}{})
	return nil
}

func (a *API) getPushers(w http.ResponseWriter, r *http.Request) error {
	ps, err := a.Push.Pushers(r.Context(), httpapi.Principal(r).UserID)
	if err != nil {
		return err
	}
	httpapi.WriteJSON(w, http.StatusOK, map[string]any{"pushers": ps})
	return nil
}

type setPusherRequest struct {
	PushKey           *string         `json:"pushkey"`
	AppID             *string         `json:"app_id"`
	Kind              json.RawMessage `json:"kind"`
	AppDisplayName    *string         `json:"app_display_name"`
	DeviceDisplayName *string         `json:"device_display_name"`
	ProfileTag        *string         `json:"profile_tag"`
	Lang              *string         `json:"lang"`
	Data              json.RawMessage `json:"data"`
	Append            bool            `json:"append"`
}

func (a *API) setPusher(w http.ResponseWriter, r *http.Request) error {
	var req setPusherRequest
	if err := httpapi.ReadJSON(r, &req); err != nil {
		return err
	}
	// kind is required; null deletes the pusher.
	if req.Kind == nil {
		return httpapi.ErrMissingParam("Missing parameters: kind")
	}
	in := push.PusherInput{
		PushKey: req.PushKey, AppID: req.AppID, AppDisplayName: req.AppDisplayName,
		DeviceDisplayName: req.DeviceDisplayName, ProfileTag: req.ProfileTag, Lang: req.Lang,
		Data: req.Data, Append: req.Append,
	}
	if !bytes.Equal(bytes.TrimSpace(req.Kind), []byte("null")) {
		var kind string
		if err := json.Unmarshal(req.Kind, &kind); err != nil {
			return httpapi.ErrBadJSON("kind must be of type string or null")
		}
		in.Kind = &kind
	}
	if bytes.Equal(bytes.TrimSpace(req.Data), []byte("null")) {
		in.Data = nil
	}
	s := httpapi.Principal(r)
	if err := a.Push.SetPusher(r.Context(), s.UserID, s.DeviceID, in); err != nil {
		return err
	}
	httpapi.WriteJSON(w, http.StatusOK, struct{}{})
	return nil
}
