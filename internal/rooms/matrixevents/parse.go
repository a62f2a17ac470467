package matrixevents

import (
	"encoding/json"
	"fmt"
	"strconv"
)

// ParseTrusted loads an event this server already verified and stored. No
// hash or signature checks are made.
func ParseTrusted(roomVersion string, data []byte) (Event, error) {
	impl, err := lookupVersion(roomVersion)
	if err != nil {
		return Event{}, err
	}
	pdu, err := impl.NewEventFromTrustedJSON(data, false)
	if err != nil {
		return Event{}, fmt.Errorf("parse event: %s", libraryMessage(err))
	}
	return newEvent(pdu)
}

// ParseUntrusted loads an event from another server: it checks the JSON is
// canonical and well formed, and if the content hash does not match it
// returns the redacted form, as the spec requires. Signatures are NOT
// checked; the caller must verify them against the origin's keys.
func ParseUntrusted(roomVersion string, data []byte) (Event, error) {
	impl, err := lookupVersion(roomVersion)
	if err != nil {
		return Event{}, err
	}
	pdu, err := impl.NewEventFromUntrustedJSON(data)
	if err != nil {
		return Event{}, fmt.Errorf("parse event: %s", libraryMessage(err))
	}
	return newEvent(pdu)
}

// Redact applies the room version's redaction algorithm to event JSON and
// returns canonical JSON. unsigned is dropped; callers re-add
// unsigned.redacted_because when serving the event.
func Redact(roomVersion string, data []byte) ([]byte, error) {
	impl, err := lookupVersion(roomVersion)
	if err != nil {
		return nil, err
	}
	out, err := impl.RedactEventJSON(data)
	if err != nil {
		return nil, fmt.Errorf("redact event: %w", err)
	}
	if n, _ := strconv.Atoi(roomVersion); n >= 11 {
		if out, err = keepThirdPartyInviteSigned(data, out); err != nil {
			return nil, err
		}
	}
	return CanonicalJSON(out)
}

// keepThirdPartyInviteSigned restores content.third_party_invite.signed on
// member events, which v11+ redaction keeps but the pinned library drops.
func keepThirdPartyInviteSigned(original, redacted []byte) ([]byte, error) {
	var orig struct {
		Type    string `json:"type"`
		Content struct {
			ThirdPartyInvite struct {
				Signed json.RawMessage `json:"signed"`
			} `json:"third_party_invite"`
		} `json:"content"`
	}
	if json.Unmarshal(original, &orig) != nil || orig.Type != TypeMember || orig.Content.ThirdPartyInvite.Signed == nil {
		return redacted, nil
	}
	var ev map[string]json.RawMessage
	if err := json.Unmarshal(redacted, &ev); err != nil {
		return nil, fmt.Errorf("redact event: %w", err)
	}
	var content map[string]json.RawMessage
	if err := json.Unmarshal(ev["content"], &content); err != nil || content == nil {
		content = map[string]json.RawMessage{}
	}
	tpi, err := json.Marshal(map[string]json.RawMessage{"signed": orig.Content.ThirdPartyInvite.Signed})
	if err != nil {
		return nil, fmt.Errorf("redact event: %w", err)
	}
	content["third_party_invite"] = tpi
	if ev["content"], err = json.Marshal(content); err != nil {
		return nil, fmt.Errorf("redact event: %w", err)
	}
	return json.Marshal(ev)
}
