// Package s3fake runs an in-memory S3-compatible object store on a
// loopback port for tests of the S3 media store.
package s3fake

import (
	"encoding/pem"
	"io"
	"log"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"

	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
)

// Credentials the fake accepts (it checks none, but clients sign).
const (
	AccessKeyID     = "test-access-key"
	SecretAccessKey = "test-secret-key"
)

// Server is a running fake with one bucket.
type Server struct {
	// Endpoint is the base URL, http://127.0.0.1:port.
	Endpoint string
	Bucket   string
	// CAFile is the PEM certificate a StartTLS fake is trusted by.
	CAFile  string
	Backend *s3mem.Backend
	http    *httptest.Server
}

// Start runs a fake holding an empty bucket until the test ends.
func Start(t testing.TB, bucket string) *Server {
	t.Helper()
	return start(t, bucket, false)
}

// StartTLS is Start over https, with a certificate of its own CA, which
// CAFile holds.
func StartTLS(t testing.TB, bucket string) *Server {
	t.Helper()
	return start(t, bucket, true)
}

func start(t testing.TB, bucket string, useTLS bool) *Server {
	t.Helper()
	backend := s3mem.New()
	if err := backend.CreateBucket(bucket); err != nil {
		t.Fatalf("creating the fake bucket: %v", err)
	}
	fake := gofakes3.New(backend, gofakes3.WithLogger(gofakes3.DiscardLog()))
	ts := httptest.NewUnstartedServer(fake.Server())
	// The fake writes a second status on some errors; net/http's
	// complaint about it is noise here.
	ts.Config.ErrorLog = log.New(io.Discard, "", 0)
	s := &Server{Bucket: bucket, Backend: backend, http: ts}
	if useTLS {
		ts.StartTLS()
		s.CAFile = filepath.Join(t.TempDir(), "s3-ca.pem")
		cert := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ts.Certificate().Raw})
		if err := os.WriteFile(s.CAFile, cert, 0o600); err != nil {
			t.Fatal(err)
		}
	} else {
		ts.Start()
	}
	t.Cleanup(ts.Close)
	s.Endpoint = ts.URL
	return s
}

// Close stops answering, as a store that went down.
func (s *Server) Close() { s.http.Close() }

// Keys lists the object keys in the bucket.
func (s *Server) Keys(t testing.TB) []string {
	t.Helper()
	list, err := s.Backend.ListBucket(s.Bucket, nil, gofakes3.ListBucketPage{})
	if err != nil {
		t.Fatalf("listing the fake bucket: %v", err)
	}
	keys := make([]string, 0, len(list.Contents))
	for _, c := range list.Contents {
		keys = append(keys, c.Key)
	}
	return keys
}
