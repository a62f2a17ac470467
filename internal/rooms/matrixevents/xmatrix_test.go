package matrixevents

import (
	"net/http"

	gmsl "github.com/matrix-org/gomatrixserverlib"
	"github.com/matrix-org/gomatrixserverlib/fclient"
	"testing"
)

func TestXMatrixSignedRequestVerifies(t *testing.T) {
	key, err := NewSigningKey()
	if err != nil {
		t.Fatal(err)
	}
	body := []byte(`{"pdus":[],"edus":[{"edu_type":"m.typing"}]}`)
	req, _ := http.NewRequest("PUT", "https://b.example/_matrix/federation/v1/send/1?x=y", nil)
	if err := SignRequest(req, key, "a.example", "b.example", body); err != nil {
		t.Fatal(err)
	}
	x, err := ParseXMatrix(req.Header.Get("Authorization"))
	if err != nil {
		t.Fatal(err)
	}
	if x.Origin != "a.example" || x.Destination != "b.example" || x.KeyID != key.KeyID() {
		t.Fatalf("parsed %+v", x)
	}
	pub := key.PublicKey()
	uri := "/_matrix/federation/v1/send/1?x=y"
	if err := VerifyXMatrix(x, "b.example", "PUT", uri, body, pub); err != nil {
		t.Fatalf("untouched request: %v", err)
	}
	// The same content in another key order or spacing is the same JSON.
	if err := VerifyXMatrix(x, "b.example", "PUT", uri, []byte(`{ "edus":[{"edu_type":"m.typing"}], "pdus":[] }`), pub); err != nil {
		t.Fatalf("reordered body: %v", err)
	}
	tampered := map[string]func() error{
		"method": func() error { return VerifyXMatrix(x, "b.example", "POST", uri, body, pub) },
		"uri": func() error {
			return VerifyXMatrix(x, "b.example", "PUT", "/_matrix/federation/v1/send/2?x=y", body, pub)
		},
		"query":       func() error { return VerifyXMatrix(x, "b.example", "PUT", "/_matrix/federation/v1/send/1", body, pub) },
		"body":        func() error { return VerifyXMatrix(x, "b.example", "PUT", uri, []byte(`{"pdus":[1],"edus":[]}`), pub) },
		"no body":     func() error { return VerifyXMatrix(x, "b.example", "PUT", uri, nil, pub) },
		"destination": func() error { return VerifyXMatrix(x, "c.example", "PUT", uri, body, pub) },
		"origin": func() error {
			y := x
			y.Origin = "evil.example"
			return VerifyXMatrix(y, "b.example", "PUT", uri, body, pub)
		},
	}
	other, err := NewSigningKey()
	if err != nil {
		t.Fatal(err)
	}
	tampered["other key"] = func() error { return VerifyXMatrix(x, "b.example", "PUT", uri, body, other.PublicKey()) }
	for name, verify := range tampered {
		if verify() == nil {
			t.Errorf("tampered %s: verified", name)
		}
	}
}

func TestParseXMatrixForms(t *testing.T) {
	cases := map[string]XMatrix{
		`X-Matrix origin="a.example",destination="b.example",key="ed25519:k1",sig="c2ln"`: {"a.example", "b.example", "ed25519:k1", "c2ln"},
		// Names in any case, unquoted values with colons, spaces around
		// commas, unknown parameters, no destination.
		`x-matrix  Origin=a.example:8448 , KEY=ed25519:k1,	sig="c2ln", extra="z"`: {"a.example:8448", "", "ed25519:k1", "c2ln"},
		`X-Matrix origin="a\"b",key="ed25519:k\\1",sig=c2ln`:                      {`a"b`, "", `ed25519:k\1`, "c2ln"},
	}
	for header, want := range cases {
		got, err := ParseXMatrix(header)
		if err != nil || got != want {
			t.Errorf("%s: got %+v, %v; want %+v", header, got, err, want)
		}
	}
	for _, bad := range []string{
		"", "Bearer abc", `X-Matrix origin="a.example",key="ed25519:k1"`, `X-Matrix origin="a.example,key=k,sig=s`,
		`X-Matrix origin="a" key="k" sig="s"`,
	} {
		if _, err := ParseXMatrix(bad); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
}

// Our X-Matrix signatures are gomatrixserverlib's (so Dendrite's), byte
// for byte, and its headers parse and verify here.
func TestXMatrixMatchesGomatrixserverlib(t *testing.T) {
	key, err := NewSigningKey()
	if err != nil {
		t.Fatal(err)
	}
	uri := "/_matrix/federation/v1/send/txn1?a=b%20c"
	content := map[string]any{"pdus": []any{}, "origin": "a.example", "n": 1}
	fr := fclient.NewFederationRequest("PUT", "a.example", "b.example", uri)
	if err := fr.SetContent(content); err != nil {
		t.Fatal(err)
	}
	if err := fr.Sign("a.example", gmsl.KeyID(key.KeyID()), key.priv); err != nil {
		t.Fatal(err)
	}
	hreq, err := fr.HTTPRequest()
	if err != nil {
		t.Fatal(err)
	}
	theirs, err := ParseXMatrix(hreq.Header.Get("Authorization"))
	if err != nil {
		t.Fatal(err)
	}
	if err := VerifyXMatrix(theirs, "b.example", "PUT", uri, fr.Content(), key.PublicKey()); err != nil {
		t.Fatalf("gomatrixserverlib's signature: %v", err)
	}
	ours, err := XMatrixAuthorization(key, "a.example", "b.example", "PUT", uri, fr.Content())
	if err != nil {
		t.Fatal(err)
	}
	parsed, err := ParseXMatrix(ours)
	if err != nil {
		t.Fatal(err)
	}
	if parsed.Signature != theirs.Signature {
		t.Fatalf("signatures differ: ours %s, gomatrixserverlib %s", parsed.Signature, theirs.Signature)
	}
}
