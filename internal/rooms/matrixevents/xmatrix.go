package matrixevents

import (
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
)

// XMatrix is the content of a federation request's
// `Authorization: X-Matrix ...` header (server-server API, Request
// Authentication).
type XMatrix struct {
	Origin string
	// Destination is empty when the sender left it out, which the spec
	// still allows for older servers.
	Destination string
	KeyID       string
	Signature   string
}

// ErrNotXMatrix is returned by ParseXMatrix for a header of another scheme.
var ErrNotXMatrix = errors.New("the Authorization header is not of the X-Matrix scheme")

// ParseXMatrix reads an Authorization header value of the X-Matrix scheme:
// comma-separated name=value parameters, names case-insensitive, values
// quoted or not (colons allowed unquoted), backslash escapes inside quotes,
// unknown parameters ignored.
func ParseXMatrix(header string) (XMatrix, error) {
	scheme, params, ok := strings.Cut(strings.TrimSpace(header), " ")
	if !ok || !strings.EqualFold(scheme, "X-Matrix") {
		return XMatrix{}, ErrNotXMatrix
	}
	var x XMatrix
	rest := params
	for {
		rest = strings.TrimLeft(rest, " \t")
		if rest == "" {
			break
		}
		name, after, ok := strings.Cut(rest, "=")
		if !ok {
			return XMatrix{}, fmt.Errorf("X-Matrix parameter %q has no value", rest)
		}
		name = strings.ToLower(strings.TrimSpace(name))
		var value string
		value, rest, ok = readParamValue(after)
		if !ok {
			return XMatrix{}, fmt.Errorf("X-Matrix parameter %q has an unterminated value", name)
		}
		switch name {
		case "origin":
			x.Origin = value
		case "destination":
			x.Destination = value
		case "key":
			x.KeyID = value
		case "sig":
			x.Signature = value
		}
		rest = strings.TrimLeft(rest, " \t")
		if rest == "" {
			break
		}
		if rest[0] != ',' {
			return XMatrix{}, fmt.Errorf("X-Matrix parameters must be separated by commas")
		}
		rest = rest[1:]
	}
	if x.Origin == "" || x.KeyID == "" || x.Signature == "" {
		return XMatrix{}, errors.New("X-Matrix needs origin, key and sig")
	}
	return x, nil
}

// readParamValue reads one quoted or bare value from the start of s and
// returns it with what follows.
func readParamValue(s string) (value, rest string, ok bool) {
	s = strings.TrimLeft(s, " \t")
	if !strings.HasPrefix(s, `"`) {
		end := strings.IndexByte(s, ',')
		if end < 0 {
			return strings.TrimSpace(s), "", true
		}
		return strings.TrimSpace(s[:end]), s[end:], true
	}
	var b strings.Builder
	for i := 1; i < len(s); i++ {
		switch s[i] {
		case '\\':
			if i+1 >= len(s) {
				return "", "", false
			}
			i++
			b.WriteByte(s[i])
		case '"':
			return b.String(), s[i+1:], true
		default:
			b.WriteByte(s[i])
		}
	}
	return "", "", false
}

// requestSigningJSON is the canonical JSON the spec signs for a request:
// method, uri (path and query as sent), origin, destination and, when
// there is a body, its parsed content.
func requestSigningJSON(method, uri, origin, destination string, content []byte) ([]byte, error) {
	obj := map[string]any{
		"method":      method,
		"uri":         uri,
		"origin":      origin,
		"destination": destination,
	}
	if len(strings.TrimSpace(string(content))) > 0 {
		if !json.Valid(content) {
			return nil, errors.New("the request body is not JSON")
		}
		obj["content"] = json.RawMessage(content)
	}
	raw, err := json.Marshal(obj)
	if err != nil {
		return nil, err
	}
	return CanonicalJSON(raw)
}

// XMatrixAuthorization returns the Authorization header value that signs a
// request from origin to destination with key.
func XMatrixAuthorization(key *SigningKey, origin, destination, method, uri string, content []byte) (string, error) {
	if key == nil {
		return "", errors.New("sign request: no signing key")
	}
	msg, err := requestSigningJSON(method, uri, origin, destination, content)
	if err != nil {
		return "", err
	}
	sig := base64.RawStdEncoding.EncodeToString(ed25519.Sign(key.priv, msg))
	return fmt.Sprintf(`X-Matrix origin="%s",destination="%s",key="%s",sig="%s"`, origin, destination, key.id, sig), nil
}

// SignRequest sets req's Authorization header for a federation request
// from origin to destination. body must be the bytes req sends (nil for
// none); the signed uri is req.URL's path and query.
func SignRequest(req *http.Request, key *SigningKey, origin, destination string, body []byte) error {
	auth, err := XMatrixAuthorization(key, origin, destination, req.Method, req.URL.RequestURI(), body)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", auth)
	return nil
}

// VerifyXMatrix checks that x.Signature signs the request (method, uri,
// content) from x.Origin to destination with publicKey.
func VerifyXMatrix(x XMatrix, destination, method, uri string, content []byte, publicKey ed25519.PublicKey) error {
	sig, err := DecodeBase64(x.Signature)
	if err != nil || len(sig) != ed25519.SignatureSize {
		return errors.New("the X-Matrix signature is not a base64 ed25519 signature")
	}
	if len(publicKey) != ed25519.PublicKeySize {
		return errors.New("the origin's key is not an ed25519 public key")
	}
	msg, err := requestSigningJSON(method, uri, x.Origin, destination, content)
	if err != nil {
		return err
	}
	if !ed25519.Verify(publicKey, msg, sig) {
		return errors.New("the X-Matrix signature does not match the request")
	}
	return nil
}

// DecodeBase64 reads Matrix's unpadded base64, tolerating padding and the
// URL-safe alphabet some implementations send.
func DecodeBase64(s string) ([]byte, error) {
	s = strings.TrimRight(s, "=")
	if b, err := base64.RawStdEncoding.DecodeString(s); err == nil {
		return b, nil
	}
	return base64.RawURLEncoding.DecodeString(s)
}
