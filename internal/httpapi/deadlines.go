package httpapi

import (
	"net/http"
	"time"

	"foyer/internal/config"
)

// The server bounds every request by http.read_timeout and
// http.write_timeout. Handlers whose answers are long by design move their
// own deadlines here, after authentication, so that only a caller the
// server knows gets the longer limit.

// AllowLongPoll lets a long-poll hold its answer for wait and still have
// http.write_timeout to write it: a client that stops reading is dropped
// then, not held forever.
func AllowLongPoll(w http.ResponseWriter, hc config.HTTP, wait time.Duration) {
	setWriteDeadline(w, wait+hc.WriteTimeout)
}

// AllowUpload gives a media upload http.upload_timeout to send its body,
// and http.write_timeout after that to be answered.
func AllowUpload(w http.ResponseWriter, hc config.HTTP) {
	up := hc.UploadTimeout
	if up <= 0 {
		return
	}
	rc := http.NewResponseController(w)
	// An unsupported writer (a test recorder) has no deadlines to move.
	_ = rc.SetReadDeadline(time.Now().Add(up))
	setWriteDeadline(w, up+hc.WriteTimeout)
}

// AllowDownload gives a media download or thumbnail
// http.download_timeout to be written, from when its content is found.
func AllowDownload(w http.ResponseWriter, hc config.HTTP) {
	setWriteDeadline(w, hc.DownloadTimeout)
}

func setWriteDeadline(w http.ResponseWriter, d time.Duration) {
	if d <= 0 {
		return
	}
	_ = http.NewResponseController(w).SetWriteDeadline(time.Now().Add(d))
}
