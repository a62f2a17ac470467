package storage

import (
	"context"
	"errors"
	"strings"
	"testing"

	"foyer/internal/urlpreview"
)

// The preview cache answers a URL until its preview expires, keeps one
// (the newest) per URL, drops expired ones as new ones come, and takes
// URLs longer than an index entry may be.
func TestURLPreviewStore(t *testing.T) {
	eachDB(t, func(t *testing.T, db *DB) {
		ctx := context.Background()
		s := NewURLPreviewStore(db)
		long := "https://example.org/" + strings.Repeat("a", 10000)
		for _, url := range []string{"https://example.org/a", long} {
			if _, err := s.GetURLPreview(ctx, url, 0); !errors.Is(err, urlpreview.ErrNotCached) {
				t.Fatalf("empty cache: %v", err)
			}
			if err := s.PutURLPreview(ctx, urlpreview.Cached{URL: url, OpenGraph: []byte(`{"og:title":"one"}`), FetchedTS: 1000, ExpiresTS: 2000}); err != nil {
				t.Fatal(err)
			}
			og, err := s.GetURLPreview(ctx, url, 1999)
			if err != nil || string(og) != `{"og:title":"one"}` {
				t.Fatalf("live preview: %s, %v", og, err)
			}
			if _, err := s.GetURLPreview(ctx, url, 2000); !errors.Is(err, urlpreview.ErrNotCached) {
				t.Fatalf("expired preview: %v", err)
			}
			if err := s.PutURLPreview(ctx, urlpreview.Cached{URL: url, OpenGraph: []byte(`{"og:title":"two"}`), FetchedTS: 1500, ExpiresTS: 3000}); err != nil {
				t.Fatal(err)
			}
			if og, err := s.GetURLPreview(ctx, url, 2500); err != nil || string(og) != `{"og:title":"two"}` {
				t.Fatalf("replaced preview: %s, %v", og, err)
			}
		}
		// A preview fetched later drops the ones expired by then.
		if err := s.PutURLPreview(ctx, urlpreview.Cached{URL: "https://example.org/b", OpenGraph: []byte(`{}`), FetchedTS: 5000, ExpiresTS: 6000}); err != nil {
			t.Fatal(err)
		}
		var n int
		if err := db.Read.QueryRow(`SELECT COUNT(*) FROM url_previews`).Scan(&n); err != nil || n != 1 {
			t.Fatalf("%d previews left (%v), want only the live one", n, err)
		}
	})
}
