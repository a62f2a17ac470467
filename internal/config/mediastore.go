package config

import (
	"crypto/x509"
	"fmt"
	"net/url"
	"os"
	"regexp"
	"strings"
)

// Media stores: where uploaded, thumbnailed and cached content is kept.
const (
	MediaStoreDirectory = "directory"
	MediaStoreS3        = "s3"
)

// MediaS3 is the media.s3: section, the bucket of an S3-compatible
// object store (AWS S3, MinIO, Garage, Ceph, R2...) used when
// media.store is s3. Its endpoint is the operator's choice, so the
// outbound guard against private addresses does not apply to it.
type MediaS3 struct {
	// Endpoint is the store's URL, such as https://s3.eu-west-1.amazonaws.com
	// or http://minio.internal:9000.
	Endpoint string `yaml:"endpoint" env:"MEDIA_S3_ENDPOINT"`
	Bucket   string `yaml:"bucket" env:"MEDIA_S3_BUCKET"`
	// Region is the bucket's region; empty asks the store.
	Region      string `yaml:"region" env:"MEDIA_S3_REGION"`
	AccessKeyID string `yaml:"access_key_id" env:"MEDIA_S3_ACCESS_KEY_ID"`
	// SecretAccessKey signs requests; it is sent nowhere and never logged.
	SecretAccessKey string `yaml:"secret_access_key" env:"MEDIA_S3_SECRET_ACCESS_KEY"`
	// Prefix goes before every object key, to share a bucket.
	Prefix string `yaml:"prefix" env:"MEDIA_S3_PREFIX"`
	// PathStyle addresses the bucket as endpoint/bucket instead of
	// bucket.endpoint, as MinIO and most self-hosted stores want.
	PathStyle bool `yaml:"path_style" env:"MEDIA_S3_PATH_STYLE"`
	// TrustedCAFile is a PEM file of CA certificates trusted for the
	// endpoint in addition to the system's.
	TrustedCAFile string `yaml:"trusted_ca_file" env:"MEDIA_S3_TRUSTED_CA_FILE"`
}

// bucketNameRE is S3's bucket naming rule, loosely: what every
// S3-compatible store accepts.
var bucketNameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$`)

func (m Media) validateStore() []error {
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	switch m.Store {
	case MediaStoreDirectory:
		if m.S3 != (MediaS3{}) {
			add("media.s3.* is set but media.store is %q: set media.store: s3 to use the bucket, or remove media.s3", m.Store)
		}
		return errs
	case MediaStoreS3:
	default:
		add("media.store %q is not directory or s3", m.Store)
		return errs
	}
	if m.Directory != "" {
		add("media.directory is set but media.store is s3: remove one of them")
	}
	s := m.S3
	if u, err := url.Parse(s.Endpoint); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" ||
		(u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.User != nil {
		add("media.s3.endpoint %q is not the store's base URL, such as https://s3.eu-west-1.amazonaws.com or http://minio.internal:9000", s.Endpoint)
	}
	if !bucketNameRE.MatchString(s.Bucket) {
		add("media.s3.bucket %q is not a bucket name: 3 to 63 lowercase letters, digits, dots and hyphens", s.Bucket)
	}
	if s.AccessKeyID == "" || s.SecretAccessKey == "" {
		add("media.s3.access_key_id and media.s3.secret_access_key are both required with media.store: s3")
	}
	if strings.Contains(s.Prefix, "//") || strings.Contains(s.Prefix, "..") {
		add("media.s3.prefix %q must not hold // or ..", s.Prefix)
	}
	if s.TrustedCAFile != "" {
		if _, err := s.RootCAs(); err != nil {
			add("%v", err)
		}
	}
	return errs
}

// RootCAs are the system's CAs and those of TrustedCAFile.
func (s MediaS3) RootCAs() (*x509.CertPool, error) {
	pool, err := x509.SystemCertPool()
	if err != nil || pool == nil {
		pool = x509.NewCertPool()
	}
	if s.TrustedCAFile == "" {
		return pool, nil
	}
	pem, err := os.ReadFile(s.TrustedCAFile)
	if err != nil {
		return nil, fmt.Errorf("media.s3.trusted_ca_file: %v: give a readable PEM file of CA certificates", err)
	}
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("media.s3.trusted_ca_file %s holds no PEM certificate: give a file of -----BEGIN CERTIFICATE----- blocks", s.TrustedCAFile)
	}
	return pool, nil
}
