package integration

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"foyer/internal/config"
	"foyer/internal/server"
	"foyer/internal/testharness"
	"foyer/internal/testharness/s3fake"
)

// s3MediaConfig points cfg's media at the fake's bucket.
func s3MediaConfig(cfg *config.Config, fake *s3fake.Server, prefix string) {
	cfg.Media.Store = config.MediaStoreS3
	cfg.Media.S3 = config.MediaS3{
		Endpoint:        fake.Endpoint,
		Bucket:          fake.Bucket,
		Region:          "us-east-1",
		AccessKeyID:     s3fake.AccessKeyID,
		SecretAccessKey: s3fake.SecretAccessKey,
		Prefix:          prefix,
		PathStyle:       true,
	}
}

// With media.store: s3, uploads (direct and asynchronous), downloads with
// ranges, and thumbnails work as with the directory, the content going to
// the bucket under its SHA-256 and nothing into the data dir.
func TestMediaStoreS3(t *testing.T) {
	testharness.EachBackend(t, func(t *testing.T, backend string) {
		fake := s3fake.Start(t, "foyer-media")
		cfg := testharness.Config(t, backend)
		s3MediaConfig(&cfg, fake, "community")
		hs := testharness.Start(t, cfg)
		user := hs.RegisterUser(t, "alice")

		body := bytes.Repeat([]byte("media in a bucket\n"), 1000)
		id := uploadMedia(t, hs, user.Token, "text/plain", "notes.txt", body)
		sum := sha256.Sum256(body)
		sha := hex.EncodeToString(sum[:])
		if keys := fake.Keys(t); len(keys) != 1 || keys[0] != "community/"+sha[0:2]+"/"+sha[2:4]+"/"+sha {
			t.Fatalf("bucket keys %v, want the upload under its SHA-256", keys)
		}

		r := mediaDo(t, hs, "GET", clientMedia+"/download/"+id, user.Token, nil)
		mediaExpect(t, "download", r, 200, "")
		if !bytes.Equal(r.Raw, body) || r.Header.Get("Content-Length") != "18000" {
			t.Fatalf("download: %d bytes, Content-Length %s", len(r.Raw), r.Header.Get("Content-Length"))
		}
		r = mediaDo(t, hs, "GET", clientMedia+"/download/"+id, user.Token, nil, "Range", "bytes=100-199")
		mediaExpect(t, "range", r, 206, "")
		if !bytes.Equal(r.Raw, body[100:200]) || r.Header.Get("Content-Range") != "bytes 100-199/18000" {
			t.Fatalf("range: %q, Content-Range %s", r.Raw, r.Header.Get("Content-Range"))
		}
		r = mediaDo(t, hs, "GET", clientMedia+"/download/"+id, user.Token, nil, "Range", "bytes=-5")
		if r.Status != 206 || !bytes.Equal(r.Raw, body[len(body)-5:]) {
			t.Fatalf("suffix range: %d %q", r.Status, r.Raw)
		}

		// The same bytes again: one object.
		id2 := uploadMedia(t, hs, user.Token, "text/plain", "again.txt", body)
		if id2 == id || len(fake.Keys(t)) != 1 {
			t.Fatalf("a second upload of the same bytes: id %s, keys %v", id2, fake.Keys(t))
		}

		// Thumbnails are generated from the bucket and stored there.
		img := pngOf(t, 640, 480)
		imgID := uploadMedia(t, hs, user.Token, "image/png", "pic.png", img)
		r = mediaDo(t, hs, "GET", clientMedia+"/thumbnail/"+imgID+"?width=96&height=96&method=crop", user.Token, nil)
		mediaExpect(t, "thumbnail", r, 200, "")
		if w, h, format := imageSize(t, r.Raw); w != 96 || h != 96 || format != "png" {
			t.Fatalf("thumbnail %dx%d %s", w, h, format)
		}
		if n := len(fake.Keys(t)); n != 3 {
			t.Fatalf("%d objects, want the text, the picture and its thumbnail", n)
		}
		again := mediaDo(t, hs, "GET", clientMedia+"/thumbnail/"+imgID+"?width=96&height=96&method=crop", user.Token, nil)
		if !bytes.Equal(again.Raw, r.Raw) {
			t.Fatal("the cached thumbnail differs")
		}

		// Asynchronous upload: the ID is served once its content is in.
		r = mediaDo(t, hs, "POST", "/_matrix/media/v1/create", user.Token, []byte("{}"), "Content-Type", "application/json")
		mediaExpect(t, "create", r, 200, "")
		created := strings.TrimPrefix(r.Str("content_uri"), "mxc://")
		r = mediaDo(t, hs, "PUT", "/_matrix/media/v3/upload/"+created, user.Token, []byte("later"), "Content-Type", "text/plain")
		mediaExpect(t, "async upload", r, 200, "")
		r = mediaDo(t, hs, "GET", clientMedia+"/download/"+created, user.Token, nil)
		if r.Status != 200 || string(r.Raw) != "later" {
			t.Fatalf("async download: %s", r)
		}

		// Unknown media is still 404.
		r = mediaDo(t, hs, "GET", clientMedia+"/download/localhost/nosuchmedia", user.Token, nil)
		mediaExpect(t, "unknown", r, 404, "M_NOT_FOUND")

		// Nothing went to the data dir but spool space, now empty.
		if _, err := os.Stat(filepath.Join(cfg.DataDir, "media")); !os.IsNotExist(err) {
			t.Errorf("the data dir has a media directory: %v", err)
		}
		if left, err := os.ReadDir(filepath.Join(cfg.DataDir, "media-spool")); err != nil || len(left) != 0 {
			t.Errorf("spool: %d files left, %v", len(left), err)
		}
	})
}

// A bucket that stops answering: uploads, downloads and thumbnails say
// the store is unavailable (503), never 500, and the database names
// nothing that was not stored.
func TestMediaStoreS3Unavailable(t *testing.T) {
	testharness.EachBackend(t, func(t *testing.T, backend string) {
		fake := s3fake.Start(t, "foyer-media")
		cfg := testharness.Config(t, backend)
		s3MediaConfig(&cfg, fake, "")
		hs := testharness.Start(t, cfg)
		user := hs.RegisterUser(t, "alice")
		id := uploadMedia(t, hs, user.Token, "image/png", "pic.png", pngOf(t, 200, 100))
		before := countRows(t, hs, "SELECT COUNT(*) FROM media")

		fake.Close()
		r := mediaDo(t, hs, "POST", "/_matrix/media/v3/upload", user.Token, []byte("lost"), "Content-Type", "text/plain")
		mediaExpect(t, "upload", r, 503, "M_UNKNOWN")
		if r.Str("error") != "media store unavailable" {
			t.Errorf("upload error %q", r.Str("error"))
		}
		r = mediaDo(t, hs, "GET", clientMedia+"/download/"+id, user.Token, nil)
		mediaExpect(t, "download", r, 503, "M_UNKNOWN")
		r = mediaDo(t, hs, "GET", clientMedia+"/thumbnail/"+id+"?width=32&height=32&method=crop", user.Token, nil)
		mediaExpect(t, "thumbnail", r, 503, "M_UNKNOWN")
		if after := countRows(t, hs, "SELECT COUNT(*) FROM media"); after != before {
			t.Fatalf("%d media rows after a failed upload, %d before", after, before)
		}
	})
}

// A server does not start on a bucket it cannot use, and says why.
func TestMediaStoreS3StartupCheck(t *testing.T) {
	fake := s3fake.Start(t, "foyer-media")
	cfg := testharness.Config(t, "sqlite")
	s3MediaConfig(&cfg, fake, "")
	cfg.Media.S3.Bucket = "not-there"
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	srv, err := server.New(context.Background(), cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err == nil {
		_ = srv.Stop(context.Background())
		t.Fatal("the server started without its bucket")
	}
	if !strings.Contains(err.Error(), `media bucket "not-there" does not exist`) {
		t.Fatalf("error %q does not name the missing bucket", err)
	}
	if strings.Contains(err.Error(), s3fake.SecretAccessKey) {
		t.Fatalf("the error shows the secret: %q", err)
	}
}

// Processes serving one community from one PostgreSQL database, each
// with its own data dir, share their media through one store: a shared
// directory (media.directory) or one bucket. One process serves a
// database at a time for now (docs/scaling.md), so they take turns here:
// what one stored, the next serves, thumbnails and asynchronous uploads
// included.
func TestMediaStoreSharedByTwoServers(t *testing.T) {
	for _, store := range []string{config.MediaStoreDirectory, config.MediaStoreS3} {
		t.Run(store, func(t *testing.T) {
			first := testharness.Config(t, "postgres")
			second := testharness.Config(t, "postgres")
			second.DatabaseURL = first.DatabaseURL
			if store == config.MediaStoreS3 {
				fake := s3fake.Start(t, "shared-media")
				s3MediaConfig(&first, fake, "")
				s3MediaConfig(&second, fake, "")
			} else {
				shared := filepath.Join(t.TempDir(), "shared-media")
				first.Media.Directory, second.Media.Directory = shared, shared
			}
			a := testharness.Start(t, first)
			user := a.RegisterUser(t, "alice")
			body := []byte("stored through the first server")
			id := uploadMedia(t, a, user.Token, "text/plain", "shared.txt", body)
			imgID := uploadMedia(t, a, user.Token, "image/png", "pic.png", pngOf(t, 640, 480))
			r := mediaDo(t, a, "POST", "/_matrix/media/v1/create", user.Token, []byte("{}"), "Content-Type", "application/json")
			mediaExpect(t, "create", r, 200, "")
			created := strings.TrimPrefix(r.Str("content_uri"), "mxc://")
			a.Stop(t)

			// Stored through a, served by b, whole and by range.
			b := testharness.Start(t, second)
			r = mediaDo(t, b, "GET", clientMedia+"/download/"+id, user.Token, nil)
			if r.Status != 200 || !bytes.Equal(r.Raw, body) {
				t.Fatalf("download from the second server: %s", r)
			}
			r = mediaDo(t, b, "GET", clientMedia+"/download/"+id, user.Token, nil, "Range", "bytes=7-12")
			if r.Status != 206 || string(r.Raw) != "throug" {
				t.Fatalf("range from the second server: %d %q", r.Status, r.Raw)
			}
			// b makes a thumbnail; an ID created on a gets its content
			// through b.
			thumb := clientMedia + "/thumbnail/" + imgID + "?width=64&height=64&method=crop"
			rb := mediaDo(t, b, "GET", thumb, user.Token, nil)
			mediaExpect(t, "thumbnail from the second server", rb, 200, "")
			r = mediaDo(t, b, "PUT", "/_matrix/media/v3/upload/"+created, user.Token, []byte("uploaded to b"), "Content-Type", "text/plain")
			mediaExpect(t, "async upload to the second server", r, 200, "")
			b.Stop(t)

			// a serves b's thumbnail (the one row and object) and upload.
			a.Resume(t)
			ra := mediaDo(t, a, "GET", thumb, user.Token, nil)
			if ra.Status != 200 || !bytes.Equal(ra.Raw, rb.Raw) {
				t.Fatalf("the first server's thumbnail differs: %d, %d bytes", ra.Status, len(ra.Raw))
			}
			if n := countRows(t, a, "SELECT COUNT(*) FROM media_thumbnails"); n != 1 {
				t.Fatalf("%d thumbnail rows, want the one both serve", n)
			}
			r = mediaDo(t, a, "GET", clientMedia+"/download/"+created, user.Token, nil)
			if r.Status != 200 || string(r.Raw) != "uploaded to b" {
				t.Fatalf("download from the first server: %s", r)
			}
		})
	}
}

// Other servers' media fetched over federation is cached in the bucket:
// the original and the origin's thumbnail, served from there once the
// origin is down.
func TestMediaStoreS3CachesRemoteMedia(t *testing.T) {
	testharness.EachBackend(t, func(t *testing.T, backend string) {
		fake := s3fake.Start(t, "foyer-media")
		servers := testharness.StartFederation(t, backend, 2, func(i int, cfg *config.Config) {
			if i == 0 {
				s3MediaConfig(cfg, fake, "")
			}
		})
		a, b := servers[0], servers[1]
		alice, bob := a.RegisterUser(t, "alice"), b.RegisterUser(t, "bob")
		picture := pngOf(t, 400, 300)
		mxc := uploadMedia(t, b, bob.Token, "image/png", "photo.png", picture)
		other := uploadMedia(t, b, bob.Token, "image/png", "", pngOf(t, 200, 100))

		r := mediaDo(t, a, "GET", clientMedia+"/download/"+mxc, alice.Token, nil)
		if r.Status != 200 || !bytes.Equal(r.Raw, picture) {
			t.Fatalf("download through A: %d, %d bytes", r.Status, len(r.Raw))
		}
		r = mediaDo(t, a, "GET", clientMedia+"/thumbnail/"+other+"?width=32&height=32&method=crop", alice.Token, nil)
		mediaExpect(t, "B's thumbnail through A", r, 200, "")
		thumb := r.Raw
		if n := len(fake.Keys(t)); n != 2 {
			t.Fatalf("%d objects in A's bucket, want B's picture and B's thumbnail", n)
		}

		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := b.Server.Stop(ctx); err != nil {
			t.Fatal(err)
		}
		r = mediaDo(t, a, "GET", clientMedia+"/download/"+mxc, alice.Token, nil, "Range", "bytes=0-7")
		if r.Status != 206 || !bytes.Equal(r.Raw, picture[:8]) {
			t.Fatalf("cached range with B down: %d %q", r.Status, r.Raw)
		}
		r = mediaDo(t, a, "GET", clientMedia+"/thumbnail/"+other+"?width=32&height=32&method=crop", alice.Token, nil)
		if r.Status != 200 || !bytes.Equal(r.Raw, thumb) {
			t.Fatalf("cached thumbnail with B down: %d, %d bytes", r.Status, len(r.Raw))
		}
		r = mediaDo(t, a, "GET", clientMedia+"/thumbnail/"+mxc+"?width=96&height=96&method=crop", alice.Token, nil)
		mediaExpect(t, "thumbnail A makes of the cached original", r, 200, "")
	})
}

// A preview's image is stored in the bucket like any upload; with the
// bucket down, previewing an image URL says the store is unavailable
// while a page previews without its image.
func TestMediaStoreS3URLPreviewImages(t *testing.T) {
	testharness.EachBackend(t, func(t *testing.T, backend string) {
		site := startLinkSite(t)
		fake := s3fake.Start(t, "foyer-media")
		cfg := previewConfig(t, backend)
		s3MediaConfig(&cfg, fake, "")
		// The store's retries of a closed bucket take about a second on a
		// loaded machine: the preview must not time out first.
		cfg.Media.URLPreviewTimeout = 10 * time.Second
		hs := testharness.Start(t, cfg)
		alice := hs.RegisterUser(t, "alice")

		r := hs.Do(t, "GET", previewPath(previewV1, site.URL+"/page"), alice.Token, nil)
		expect(t, r, 200, "")
		sum := sha256.Sum256(site.png)
		sha := hex.EncodeToString(sum[:])
		if keys := fake.Keys(t); len(keys) != 1 || !strings.HasSuffix(keys[0], sha) {
			t.Fatalf("bucket keys %v, want the preview's image", keys)
		}
		dl := mediaDo(t, hs, "GET", clientMedia+"/download/"+strings.TrimPrefix(r.Str("og:image"), "mxc://"), alice.Token, nil)
		if dl.Status != 200 || !bytes.Equal(dl.Raw, site.png) {
			t.Fatalf("the preview image downloads as %d, %d bytes", dl.Status, len(dl.Raw))
		}

		fake.Close()
		r = hs.Do(t, "GET", previewPath(previewV1, site.URL+"/photo"), alice.Token, nil)
		expect(t, r, 503, "M_UNKNOWN")
		// Another URL of the same page: not cached, its image not stored.
		r = hs.Do(t, "GET", previewPath(previewV1, site.URL+"/page?again"), alice.Token, nil)
		expect(t, r, 200, "")
		if r.Str("og:title") != "A & B: the story" || r.JSON["og:image"] != nil {
			t.Fatalf("the page with the bucket down: %s", r)
		}
	})
}

// The directory store failing (here: its paths turned into files, which
// even root cannot write through) answers 503 "media store unavailable"
// and leaves no record of the failed upload.
func TestMediaStoreDirectoryUnavailable(t *testing.T) {
	testharness.EachBackend(t, func(t *testing.T, backend string) {
		hs := testharness.StartBackend(t, backend)
		user := hs.RegisterUser(t, "alice")
		body := []byte("on disk")
		id := uploadMedia(t, hs, user.Token, "text/plain", "a.txt", body)
		sum := sha256.Sum256(body)
		sha := hex.EncodeToString(sum[:])
		root := filepath.Join(hs.Config.DataDir, "media")
		before := countRows(t, hs, "SELECT COUNT(*) FROM media")

		blockWith := func(dir string) {
			t.Helper()
			if err := os.RemoveAll(dir); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(dir, nil, 0o600); err != nil {
				t.Fatal(err)
			}
		}
		blockWith(filepath.Join(root, "tmp"))
		blockWith(filepath.Join(root, sha[0:2], sha[2:4]))

		r := mediaDo(t, hs, "POST", "/_matrix/media/v3/upload", user.Token, []byte("new"), "Content-Type", "text/plain")
		mediaExpect(t, "upload", r, 503, "M_UNKNOWN")
		if r.Str("error") != "media store unavailable" {
			t.Errorf("upload error %q", r.Str("error"))
		}
		r = mediaDo(t, hs, "GET", clientMedia+"/download/"+id, user.Token, nil)
		mediaExpect(t, "download", r, 503, "M_UNKNOWN")
		if after := countRows(t, hs, "SELECT COUNT(*) FROM media"); after != before {
			t.Fatalf("%d media rows after a failed upload, %d before", after, before)
		}
	})
}

// An https endpoint with a private CA: trusted through
// media.s3.trusted_ca_file, refused at start without it.
func TestMediaStoreS3TrustedCA(t *testing.T) {
	fake := s3fake.StartTLS(t, "foyer-media")
	cfg := testharness.Config(t, "sqlite")
	s3MediaConfig(&cfg, fake, "")
	srv, err := server.New(context.Background(), cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err == nil {
		_ = srv.Stop(context.Background())
		t.Fatal("the server trusted a certificate of an unknown CA")
	}
	if !strings.Contains(err.Error(), "cannot be reached") || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("error %q does not say the certificate was refused", err)
	}

	cfg.Media.S3.TrustedCAFile = fake.CAFile
	hs := testharness.Start(t, cfg)
	user := hs.RegisterUser(t, "alice")
	id := uploadMedia(t, hs, user.Token, "text/plain", "a.txt", []byte("over https"))
	r := mediaDo(t, hs, "GET", clientMedia+"/download/"+id, user.Token, nil)
	if r.Status != 200 || string(r.Raw) != "over https" || len(fake.Keys(t)) != 1 {
		t.Fatalf("download over https: %s", r)
	}
}
