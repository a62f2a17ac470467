package push

import (
	"context"
	"encoding/json"
	"net/url"
	"strings"
	"unicode/utf8"

	"foyer/internal/refusal"
)

// Pusher is a configured push target, as GET /pushers lists it.
type Pusher struct {
	UserID            string          `json:"-"`
	DeviceID          string          `json:"-"`
	PushKey           string          `json:"pushkey"`
	Kind              string          `json:"kind"`
	AppID             string          `json:"app_id"`
	AppDisplayName    string          `json:"app_display_name"`
	DeviceDisplayName string          `json:"device_display_name"`
	ProfileTag        string          `json:"profile_tag,omitempty"`
	Lang              string          `json:"lang"`
	Data              json.RawMessage `json:"data"`
	CreatedTS         int64           `json:"-"`
}

// PusherInput is the body of POST /pushers/set. Kind nil means the body's
// kind was null: delete the pusher.
type PusherInput struct {
	PushKey           *string
	AppID             *string
	Kind              *string
	AppDisplayName    *string
	DeviceDisplayName *string
	ProfileTag        *string
	Lang              *string
	Data              json.RawMessage
	Append            bool
}

// Spec limits on pusher identifiers.
const (
	maxAppIDChars     = 64
	maxPushKeyBytes   = 512
	pushGatewayPath   = "/_matrix/push/v1/notify"
	pusherKindHTTP    = "http"
	pusherKindEmail   = "email"
	formatEventIDOnly = "event_id_only"
)

// SetPusher creates, replaces or (kind null) deletes the caller's pusher
// identified by app_id and pushkey. Only http pushers are supported
// (email pushers need a mail setup this server does not have); their
// data.url must be an HTTPS URL with the path /_matrix/push/v1/notify, as
// the spec requires. Unless append is set,
// other users' pushers with the same app_id and pushkey are removed.
func (s *Service) SetPusher(ctx context.Context, userID, deviceID string, in PusherInput) error {
	var missing []string
	if in.AppID == nil || *in.AppID == "" {
		missing = append(missing, "app_id")
	}
	if in.PushKey == nil || *in.PushKey == "" {
		missing = append(missing, "pushkey")
	}
	if in.Kind != nil {
		if in.AppDisplayName == nil {
			missing = append(missing, "app_display_name")
		}
		if in.DeviceDisplayName == nil {
			missing = append(missing, "device_display_name")
		}
		if in.Lang == nil {
			missing = append(missing, "lang")
		}
		if in.Data == nil {
			missing = append(missing, "data")
		}
	}
	if len(missing) > 0 {
		return refusal.New(refusal.MissingParam, "Missing parameters: %s", strings.Join(missing, ", "))
	}
	if utf8.RuneCountInString(*in.AppID) > maxAppIDChars {
		return refusal.New(refusal.InvalidParam, "app_id is longer than %d characters", maxAppIDChars)
	}
	if len(*in.PushKey) > maxPushKeyBytes {
		return refusal.New(refusal.InvalidParam, "pushkey is longer than %d bytes", maxPushKeyBytes)
	}
	if in.Kind == nil {
		return s.store.DeletePusher(ctx, userID, *in.AppID, *in.PushKey)
	}
	switch *in.Kind {
	case pusherKindHTTP:
	case pusherKindEmail:
		return refusal.New(refusal.InvalidParam, "email pushers are not supported by this server (it sends no email); use an http pusher")
	default:
		return refusal.New(refusal.InvalidParam, "unknown pusher kind %q; use http", *in.Kind)
	}
	data, err := validateHTTPPusherData(in.Data)
	if err != nil {
		return err
	}
	p := Pusher{
		UserID:            userID,
		DeviceID:          deviceID,
		PushKey:           *in.PushKey,
		Kind:              *in.Kind,
		AppID:             *in.AppID,
		AppDisplayName:    *in.AppDisplayName,
		DeviceDisplayName: *in.DeviceDisplayName,
		Lang:              *in.Lang,
		Data:              data,
		CreatedTS:         s.now().UnixMilli(),
	}
	if in.ProfileTag != nil {
		p.ProfileTag = *in.ProfileTag
	}
	return s.store.PutPusher(ctx, p, !in.Append)
}

func validateHTTPPusherData(raw json.RawMessage) (json.RawMessage, error) {
	var data map[string]json.RawMessage
	if err := json.Unmarshal(raw, &data); err != nil || data == nil {
		return nil, refusal.New(refusal.BadJSON, "data must be an object")
	}
	rawURL, ok := data["url"]
	if !ok {
		return nil, refusal.New(refusal.MissingParam, "data.url is required for http pushers")
	}
	var u string
	if err := json.Unmarshal(rawURL, &u); err != nil {
		return nil, refusal.New(refusal.BadJSON, "data.url must be a string")
	}
	parsed, err := url.Parse(u)
	if err != nil || parsed.Host == "" || parsed.User != nil {
		return nil, refusal.New(refusal.InvalidParam, "data.url %q is not a valid URL", u)
	}
	if parsed.Scheme != "https" {
		return nil, refusal.New(refusal.InvalidParam, "data.url must be an https URL")
	}
	if parsed.Path != pushGatewayPath {
		return nil, refusal.New(refusal.InvalidParam, "data.url must have the path %s", pushGatewayPath)
	}
	// Only event_id_only changes what is sent; other formats are kept
	// and get full notifications, as on Synapse (clients send others).
	if rawFormat, ok := data["format"]; ok {
		var f string
		if err := json.Unmarshal(rawFormat, &f); err != nil {
			return nil, refusal.New(refusal.InvalidParam, "data.format must be a string (%q is the one format defined)", formatEventIDOnly)
		}
	}
	return compactJSON(raw), nil
}

// Pushers lists the user's pushers.
func (s *Service) Pushers(ctx context.Context, userID string) ([]Pusher, error) {
	ps, err := s.store.Pushers(ctx, userID)
	if ps == nil {
		ps = []Pusher{}
	}
	return ps, err
}
