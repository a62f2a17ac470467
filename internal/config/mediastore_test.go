package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestConfigMediaStore(t *testing.T) {
	cfg := mustResolve(t, nil)
	if cfg.Media.Store != MediaStoreDirectory || cfg.Media.Directory != "" || cfg.Media.S3 != (MediaS3{}) {
		t.Fatalf("default media store = %q %q %+v, want the directory in the data dir", cfg.Media.Store, cfg.Media.Directory, cfg.Media.S3)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatalf("the default does not validate: %v", err)
	}

	file := writeConfig(t, `media:
  store: s3
  s3:
    endpoint: http://minio.internal:9000
    bucket: foyer-media
    region: eu-west-1
    access_key_id: AKID
    secret_access_key: from-the-file
    prefix: community/
    path_style: true
`)
	cfg = mustResolve(t, []string{"--config", file}, "FOYER_MEDIA_S3_SECRET_ACCESS_KEY=from-the-env")
	want := MediaS3{Endpoint: "http://minio.internal:9000", Bucket: "foyer-media", Region: "eu-west-1",
		AccessKeyID: "AKID", SecretAccessKey: "from-the-env", Prefix: "community/", PathStyle: true}
	if cfg.Media.Store != MediaStoreS3 || cfg.Media.S3 != want {
		t.Fatalf("media store from the file and environment = %q %+v", cfg.Media.Store, cfg.Media.S3)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatalf("a complete s3 section does not validate: %v", err)
	}

	cfg = mustResolve(t, nil, "FOYER_MEDIA_STORE=s3", "FOYER_MEDIA_S3_ENDPOINT=https://s3.amazonaws.com",
		"FOYER_MEDIA_S3_BUCKET=b-1.x", "FOYER_MEDIA_S3_ACCESS_KEY_ID=a", "FOYER_MEDIA_S3_SECRET_ACCESS_KEY=s",
		"FOYER_MEDIA_S3_PATH_STYLE=false", "FOYER_MEDIA_S3_TRUSTED_CA_FILE=")
	if err := cfg.Validate(); err != nil {
		t.Fatalf("the s3 store from the environment does not validate: %v", err)
	}
	cfg = mustResolve(t, nil, "FOYER_MEDIA_DIRECTORY=/srv/shared/media")
	if cfg.Media.Directory != "/srv/shared/media" {
		t.Fatalf("FOYER_MEDIA_DIRECTORY not applied: %q", cfg.Media.Directory)
	}
}

func TestConfigMediaStoreValidate(t *testing.T) {
	notPEM := filepath.Join(t.TempDir(), "not.pem")
	if err := os.WriteFile(notPEM, []byte("hello"), 0o600); err != nil {
		t.Fatal(err)
	}
	good := MediaS3{Endpoint: "https://s3.example.org", Bucket: "media", AccessKeyID: "a", SecretAccessKey: "very-secret-key"}
	for _, tc := range []struct {
		name  string
		edit  func(m *Media)
		error string
	}{
		{"unknown store", func(m *Media) { m.Store = "ftp" }, `media.store "ftp" is not directory or s3`},
		{"s3 settings without s3", func(m *Media) { m.S3 = good }, "media.s3.* is set but media.store is"},
		{"directory with s3", func(m *Media) { m.Store, m.S3, m.Directory = MediaStoreS3, good, "/srv/media" }, "media.directory is set but media.store is s3"},
		{"no endpoint", func(m *Media) { m.Store, m.S3 = MediaStoreS3, good; m.S3.Endpoint = "" }, "media.s3.endpoint"},
		{"endpoint without scheme", func(m *Media) { m.Store, m.S3 = MediaStoreS3, good; m.S3.Endpoint = "s3.example.org" }, "media.s3.endpoint"},
		{"endpoint with a path", func(m *Media) { m.Store, m.S3 = MediaStoreS3, good; m.S3.Endpoint = "https://s3.example.org/media" }, "media.s3.endpoint"},
		{"no bucket", func(m *Media) { m.Store, m.S3 = MediaStoreS3, good; m.S3.Bucket = "" }, "media.s3.bucket"},
		{"bad bucket", func(m *Media) { m.Store, m.S3 = MediaStoreS3, good; m.S3.Bucket = "My_Bucket" }, "media.s3.bucket"},
		{"no secret", func(m *Media) { m.Store, m.S3 = MediaStoreS3, good; m.S3.SecretAccessKey = "" }, "media.s3.secret_access_key are both required"},
		{"bad prefix", func(m *Media) { m.Store, m.S3 = MediaStoreS3, good; m.S3.Prefix = "a/../b" }, "media.s3.prefix"},
		{"CA file without certificates", func(m *Media) { m.Store, m.S3 = MediaStoreS3, good; m.S3.TrustedCAFile = notPEM }, "media.s3.trusted_ca_file"},
		{"missing CA file", func(m *Media) { m.Store, m.S3 = MediaStoreS3, good; m.S3.TrustedCAFile = notPEM + ".missing" }, "media.s3.trusted_ca_file"},
	} {
		cfg := Default()
		tc.edit(&cfg.Media)
		err := cfg.Validate()
		if err == nil || !strings.Contains(err.Error(), tc.error) {
			t.Errorf("%s: want an error with %q, got %v", tc.name, tc.error, err)
		}
		if err != nil && strings.Contains(err.Error(), good.SecretAccessKey) {
			t.Errorf("%s: the error shows the secret: %v", tc.name, err)
		}
	}
}
