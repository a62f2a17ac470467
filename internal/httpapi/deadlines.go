package httpapi

import (
	"net/http"
	"time"
)

// The server bounds every request by http.read_timeout and
// http.write_timeout. Handlers whose answers are long by design move their
// own deadlines here, after authentication, so that only a caller the
// server knows gets the longer limit.

// allowLongPoll lets a long-poll hold its answer for wait and still have
// http.write_timeout to write it: a client that stops reading is dropped
// then, not held forever.
func (a *API) allowLongPoll(w http.ResponseWriter, wait time.Duration) {
	a.setWriteDeadline(w, wait+a.Config.HTTP.WriteTimeout)
}

// allowUpload gives a media upload http.upload_timeout to send its body,
// and http.write_timeout after that to be answered.
func (a *API) allowUpload(w http.ResponseWriter) {
	up := a.Config.HTTP.UploadTimeout
	if up <= 0 {
		return
	}
	rc := http.NewResponseController(w)
	// An unsupported writer (a test recorder) has no deadlines to move.
	_ = rc.SetReadDeadline(time.Now().Add(up))
	a.setWriteDeadline(w, up+a.Config.HTTP.WriteTimeout)
}

// allowDownload gives a media download or thumbnail
// http.download_timeout to be written, from when its content is found.
func (a *API) allowDownload(w http.ResponseWriter) {
	a.setWriteDeadline(w, a.Config.HTTP.DownloadTimeout)
}

func (a *API) setWriteDeadline(w http.ResponseWriter, d time.Duration) {
	if d <= 0 {
		return
	}
	_ = http.NewResponseController(w).SetWriteDeadline(time.Now().Add(d))
}
