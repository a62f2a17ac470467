package integration

import (
	"crypto/rand"
	"fmt"
	"io"
	"net/http"
	"testing"

	"foyer/internal/testharness"
)

// benchGet fetches url with token and discards the body, failing on a
// status other than 200. It returns the bytes read.
func benchGet(b *testing.B, client *http.Client, url, token string) int64 {
	req, err := http.NewRequest("GET", url, nil)
	if err != nil {
		b.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := client.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	n, err := io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if err != nil || resp.StatusCode != 200 {
		b.Fatalf("GET %s: %d %v", url, resp.StatusCode, err)
	}
	return n
}

// BenchmarkMediaDownload measures authenticated downloads over HTTP from
// a server on SQLite: MB/s is the content served.
func BenchmarkMediaDownload(b *testing.B) {
	hs := testharness.Start(b, testharness.Config(b, "sqlite"))
	user := hs.RegisterUser(b, "bench")
	client := benchClient()
	for _, size := range []int{4 << 10, 1 << 20, 16 << 20} {
		body := make([]byte, size)
		_, _ = rand.Read(body)
		id := uploadMedia(b, hs, user.Token, "application/octet-stream", "blob.bin", body)
		url := hs.URL + clientMedia + "/download/" + id
		b.Run(fmt.Sprintf("%dKiB", size>>10), func(b *testing.B) {
			b.SetBytes(int64(size))
			b.ResetTimer()
			for b.Loop() {
				if n := benchGet(b, client, url, user.Token); n != int64(size) {
					b.Fatalf("read %d bytes, want %d", n, size)
				}
			}
		})
		b.Run(fmt.Sprintf("%dKiB-parallel", size>>10), func(b *testing.B) {
			b.SetBytes(int64(size))
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					benchGet(b, client, url, user.Token)
				}
			})
		})
	}
}

// BenchmarkMediaThumbnail measures thumbnails over HTTP from a server on
// SQLite: "cached" serves one already generated, "generate" makes a new
// one from a 1000x800 original each time (the upload is not timed).
func BenchmarkMediaThumbnail(b *testing.B) {
	hs := testharness.Start(b, testharness.Config(b, "sqlite"))
	user := hs.RegisterUser(b, "bench")
	client := benchClient()
	for _, f := range []struct {
		name, ct string
		body     []byte
	}{
		{"png", "image/png", pngOf(b, 1000, 800)},
		{"jpeg", "image/jpeg", jpegOf(b, 1000, 800)},
	} {
		id := uploadMedia(b, hs, user.Token, f.ct, "", f.body)
		b.Run(f.name+"-cached", func(b *testing.B) {
			url := hs.URL + clientMedia + "/thumbnail/" + id + "?width=320&height=240&method=scale"
			benchGet(b, client, url, user.Token) // generate it once
			b.ResetTimer()
			for b.Loop() {
				benchGet(b, client, url, user.Token)
			}
		})
		b.Run(f.name+"-generate", func(b *testing.B) {
			for i := 0; b.Loop(); i++ {
				b.StopTimer()
				// Different bytes each time, so nothing is shared.
				body := append([]byte(nil), f.body...)
				body = append(body, byte(i), byte(i>>8), byte(i>>16))
				nid := uploadMedia(b, hs, user.Token, f.ct, "", body)
				b.StartTimer()
				benchGet(b, client, hs.URL+clientMedia+"/thumbnail/"+nid+"?width=320&height=240&method=scale", user.Token)
			}
		})
	}
}
