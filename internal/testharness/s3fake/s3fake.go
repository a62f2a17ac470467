// Package s3fake runs an in-memory S3-compatible object store on a
// loopback port for tests of the S3 media store.
package s3fake

import (
	"io"
	"log"
	"net/http/httptest"
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
	Backend  *s3mem.Backend
	http     *httptest.Server
}

// Start runs a fake holding an empty bucket until the test ends.
func Start(t testing.TB, bucket string) *Server {
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
	ts.Start()
	t.Cleanup(ts.Close)
	return &Server{Endpoint: ts.URL, Bucket: bucket, Backend: backend, http: ts}
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
