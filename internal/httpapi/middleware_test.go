package httpapi

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"foyer/internal/config"
	"foyer/internal/metrics"
)

func newBareAPI(t *testing.T) (*API, *strings.Builder) {
	logs := &strings.Builder{}
	a := New(Deps{
		Config:  config.Default(),
		Log:     slog.New(slog.NewTextHandler(logs, nil)),
		Metrics: metrics.New(),
	})
	return a, logs
}

func TestPanicInHandlerIs500WithLogLine(t *testing.T) {
	a, logs := newBareAPI(t)
	a.mux.Handle("GET /boom", a.wrap(Route{Method: "GET", Path: "/boom", Access: Open, Handle: func(w http.ResponseWriter, r *http.Request) error {
		panic("kaboom")
	}}))
	srv := httptest.NewServer(a)
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/boom")
	if err != nil {
		t.Fatalf("connection dropped: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var e map[string]string
	_ = json.Unmarshal(body, &e)
	if resp.StatusCode != 500 || e["errcode"] != "M_UNKNOWN" {
		t.Fatalf("got %d %s", resp.StatusCode, body)
	}
	if !strings.Contains(logs.String(), "kaboom") {
		t.Fatalf("panic not logged: %s", logs)
	}
}

func TestDecodeJSONErrors(t *testing.T) {
	var v struct {
		Name string `json:"name"`
		N    int    `json:"n"`
	}
	for body, code := range map[string]string{
		``:              "M_NOT_JSON",
		`{`:             "M_NOT_JSON",
		`nonsense`:      "M_NOT_JSON",
		`[1]`:           "M_BAD_JSON",
		`"str"`:         "M_BAD_JSON",
		`{"name": 1}`:   "M_BAD_JSON",
		`{"n": "five"}`: "M_BAD_JSON",
	} {
		err := DecodeJSON([]byte(body), &v)
		me, ok := err.(*Error)
		if !ok || me.Code != code || me.Status != 400 {
			t.Errorf("%q: got %v, want %s", body, err, code)
		}
	}
	if err := DecodeJSON([]byte(`{"name":"x","n":2,"extra":true}`), &v); err != nil {
		t.Fatalf("valid body refused: %v", err)
	}
}
