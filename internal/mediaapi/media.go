package mediaapi

import (
	"errors"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"foyer/internal/httpapi"
	"foyer/internal/media"
	"foyer/internal/rooms/matrixevents"
)

const (
	mediaV3 = "/_matrix/media/v3"
	mediaR0 = "/_matrix/media/r0"
	mediaV1 = "/_matrix/media/v1"
)

// mediaRoutes is the content repository. Guests may download and
// thumbnail but not upload (G-53); the deprecated unauthenticated
// endpoints need no token at all and serve only what
// media.legacy_unauthenticated / media.freeze_legacy_after allow.
func (a *API) mediaRoutes() []httpapi.Route {
	maxUpload := a.Config.Media.MaxUploadBytes
	rs := []httpapi.Route{
		{Method: "POST", Path: mediaV3 + "/upload", Access: httpapi.UserOnly, MaxBody: maxUpload, RawBody: true, Handle: a.mediaUpload},
		{Method: "PUT", Path: mediaV3 + "/upload/{serverName}/{mediaId}", Access: httpapi.UserOnly, MaxBody: maxUpload, RawBody: true, Handle: a.mediaUploadTo},
		{Method: "POST", Path: mediaV1 + "/create", Access: httpapi.UserOnly, Handle: a.mediaCreate},
		{Method: "GET", Path: httpapi.ClientV1 + "/media/config", Access: httpapi.UserOnly, Handle: a.mediaConfig},
		{Method: "GET", Path: mediaV3 + "/config", Access: httpapi.UserOnly, Handle: a.mediaConfig},

		{Method: "GET", Path: httpapi.ClientV1 + "/media/download/{serverName}/{mediaId}", Access: httpapi.GuestOK, Handle: a.mediaDownload},
		{Method: "GET", Path: httpapi.ClientV1 + "/media/download/{serverName}/{mediaId}/{fileName}", Access: httpapi.GuestOK, Handle: a.mediaDownload},
		{Method: "GET", Path: httpapi.ClientV1 + "/media/thumbnail/{serverName}/{mediaId}", Access: httpapi.GuestOK, Handle: a.mediaThumbnail},
	}
	for _, prefix := range []string{mediaV3, mediaR0} {
		rs = append(rs,
			httpapi.Route{Method: "GET", Path: prefix + "/download/{serverName}/{mediaId}", Access: httpapi.Open, Handle: a.legacyMediaDownload},
			httpapi.Route{Method: "GET", Path: prefix + "/download/{serverName}/{mediaId}/{fileName}", Access: httpapi.Open, Handle: a.legacyMediaDownload},
			httpapi.Route{Method: "GET", Path: prefix + "/thumbnail/{serverName}/{mediaId}", Access: httpapi.Open, Handle: a.legacyMediaThumbnail},
		)
	}
	return rs
}

// mediaCSP is the spec's recommended policy for served content, plus
// media-src so that audio and video play in place.
const mediaCSP = "sandbox; default-src 'none'; script-src 'none'; plugin-types application/pdf; style-src 'unsafe-inline'; media-src 'self'; object-src 'self';"

func setMediaHeaders(h http.Header) {
	h.Set("Content-Security-Policy", mediaCSP)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cross-Origin-Resource-Policy", "cross-origin")
}

// inlineTypes may be served with Content-Disposition: inline (spec:
// "Serving inline content"); everything else is an attachment.
var inlineTypes = map[string]bool{
	"text/css": true, "text/plain": true, "text/csv": true,
	"application/json": true, "application/ld+json": true,
	"image/jpeg": true, "image/gif": true, "image/png": true, "image/apng": true,
	"image/webp": true, "image/avif": true,
	"video/mp4": true, "video/webm": true, "video/ogg": true, "video/quicktime": true,
	"audio/mp4": true, "audio/webm": true, "audio/aac": true, "audio/mpeg": true,
	"audio/ogg": true, "audio/wave": true, "audio/wav": true, "audio/x-wav": true,
	"audio/x-pn-wav": true, "audio/flac": true, "audio/x-flac": true,
}

// contentDisposition is inline for the safe types, attachment otherwise,
// with the filename when there is one (RFC 2231-encoded when not ASCII).
func contentDisposition(contentType, filename string) string {
	disp := "attachment"
	if mt, _, err := mime.ParseMediaType(contentType); err == nil && inlineTypes[mt] {
		disp = "inline"
	}
	if filename == "" {
		return disp
	}
	if v := mime.FormatMediaType(disp, map[string]string{"filename": filename}); v != "" {
		return v
	}
	return disp
}

// mediaError turns the media service's errors into Matrix errors.
func mediaError(err error) error {
	var mbe *http.MaxBytesError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &mbe):
		return httpapi.ErrTooLarge("cannot upload files larger than %d bytes", mbe.Limit)
	case errors.Is(err, media.ErrTooLarge):
		return httpapi.ErrTooLarge("the upload is larger than the limit of this server")
	case errors.Is(err, media.ErrRead):
		return httpapi.ErrUnknown(http.StatusBadRequest, "the upload was cut off before all its content arrived")
	case errors.Is(err, media.ErrNotFound):
		return httpapi.ErrNotFound("media not found")
	case errors.Is(err, media.ErrBlobNotFound):
		// A record whose content is gone (deleted from the store, or a
		// server pointed at another store): nothing to serve.
		return httpapi.ErrNotFound("media not found")
	case errors.Is(err, media.ErrNotYetUploaded):
		return httpapi.ErrNotYetUploaded("content has not yet been uploaded")
	case errors.Is(err, media.ErrAlreadyUploaded):
		return httpapi.ErrCannotOverwriteMedia("media already uploaded")
	case errors.Is(err, media.ErrForbidden):
		return httpapi.ErrForbidden("this media ID was created by another user")
	case errors.Is(err, media.ErrTooManyPending):
		e := httpapi.ErrLimitExceeded(time.Minute)
		e.Message = "too many pending uploads; upload the content of the media IDs you created first"
		return e
	case errors.Is(err, media.ErrCannotThumbnail):
		return httpapi.ErrUnknown(http.StatusBadRequest, "cannot generate thumbnails for the requested content")
	case errors.Is(err, media.ErrImageTooLarge):
		return httpapi.ErrTooLarge("content is too large to thumbnail")
	// Remote media errors follow the reference server: 502 for a fetch
	// that failed or timed out, 502 M_TOO_LARGE for content over our limit.
	case errors.Is(err, media.ErrRemoteTooLarge):
		return httpapi.NewError(http.StatusBadGateway, "M_TOO_LARGE", "the remote content is larger than this server accepts")
	case errors.Is(err, media.ErrRemoteUnavailable):
		return httpapi.ErrUnknown(http.StatusBadGateway, "failed to fetch remote media")
	case errors.Is(err, media.ErrStoreUnavailable):
		return httpapi.ErrUnknown(http.StatusServiceUnavailable, "media store unavailable")
	case errors.Is(err, media.ErrRemoteForbidden):
		return httpapi.ErrForbidden("federation with the server of this media is not permitted")
	}
	return err
}

// uploadFilename is the optional filename query parameter.
func uploadFilename(r *http.Request) (string, error) {
	name := r.URL.Query().Get("filename")
	if len(name) > 255 || !utf8.ValidString(name) {
		return "", httpapi.ErrInvalidParam("filename must be valid UTF-8 of at most 255 bytes")
	}
	if strings.ContainsFunc(name, unicode.IsControl) {
		return "", httpapi.ErrInvalidParam("filename must not contain control characters")
	}
	return name, nil
}

func (a *API) mediaUpload(w http.ResponseWriter, r *http.Request) error {
	httpapi.AllowUpload(w, a.Config.HTTP)
	svc := a.Media
	filename, err := uploadFilename(r)
	if err != nil {
		return err
	}
	rec, err := svc.Upload(r.Context(), httpapi.Principal(r).UserID, r.Header.Get("Content-Type"), filename, r.Body)
	if err != nil {
		return mediaError(err)
	}
	httpapi.WriteJSON(w, http.StatusOK, map[string]string{"content_uri": rec.MXC()})
	return nil
}

func (a *API) mediaCreate(w http.ResponseWriter, r *http.Request) error {
	svc := a.Media
	rec, err := svc.Create(r.Context(), httpapi.Principal(r).UserID)
	if err != nil {
		return mediaError(err)
	}
	httpapi.WriteJSON(w, http.StatusOK, map[string]any{"content_uri": rec.MXC(), "unused_expires_at": rec.ExpiresTS})
	return nil
}

func (a *API) mediaUploadTo(w http.ResponseWriter, r *http.Request) error {
	httpapi.AllowUpload(w, a.Config.HTTP)
	svc := a.Media
	filename, err := uploadFilename(r)
	if err != nil {
		return err
	}
	err = svc.UploadTo(r.Context(), httpapi.Principal(r).UserID, r.PathValue("serverName"), r.PathValue("mediaId"),
		r.Header.Get("Content-Type"), filename, r.Body)
	if err != nil {
		return mediaError(err)
	}
	httpapi.WriteJSON(w, http.StatusOK, struct{}{})
	return nil
}

func (a *API) mediaConfig(w http.ResponseWriter, r *http.Request) error {
	svc := a.Media
	httpapi.WriteJSON(w, http.StatusOK, map[string]any{"m.upload.size": svc.MaxUploadBytes()})
	return nil
}

// timeoutParam is timeout_ms: how long to wait for pending content,
// 20 s by default; the service caps it.
func timeoutParam(r *http.Request) (time.Duration, error) {
	v := r.URL.Query().Get("timeout_ms")
	if v == "" {
		return 20 * time.Second, nil
	}
	ms, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return 0, httpapi.ErrInvalidParam("timeout_ms must be an integer")
	}
	return time.Duration(min(max(ms, 0), 1<<31)) * time.Millisecond, nil
}

func (a *API) mediaDownload(w http.ResponseWriter, r *http.Request) error {
	return a.serveDownload(w, r, false)
}

func (a *API) legacyMediaDownload(w http.ResponseWriter, r *http.Request) error {
	return a.serveDownload(w, r, true)
}

func (a *API) mediaThumbnail(w http.ResponseWriter, r *http.Request) error {
	return a.serveThumbnail(w, r, false)
}

func (a *API) legacyMediaThumbnail(w http.ResponseWriter, r *http.Request) error {
	return a.serveThumbnail(w, r, true)
}

// lookupMedia finds uploaded media for a download or thumbnail, applying
// the legacy endpoints' switch and freeze. Other servers' media comes
// from the cache or is fetched (see remoteFetchAllowed).
func (a *API) lookupMedia(w http.ResponseWriter, r *http.Request, legacy bool) (*media.Service, media.Record, error) {
	svc := a.Media
	if legacy && !svc.LegacyEnabled() {
		return nil, media.Record{}, httpapi.ErrNotFound("unauthenticated media access is switched off; use /_matrix/client/v1/media")
	}
	wait, err := timeoutParam(r)
	if err != nil {
		return nil, media.Record{}, err
	}
	origin, mediaID := r.PathValue("serverName"), r.PathValue("mediaId")
	var rec media.Record
	if svc.IsLocal(origin) {
		rec, err = svc.Get(r.Context(), origin, mediaID, wait)
	} else {
		fetch, ferr := a.remoteFetchAllowed(w, r, origin, legacy)
		if ferr != nil {
			return nil, media.Record{}, ferr
		}
		rec, err = svc.GetRemote(r.Context(), origin, mediaID, fetch)
	}
	if err != nil {
		return nil, media.Record{}, mediaError(err)
	}
	if legacy && !svc.LegacyServes(rec) {
		return nil, media.Record{}, httpapi.ErrNotFound("this media is only served by the authenticated /_matrix/client/v1/media endpoints")
	}
	return svc, rec, nil
}

// remoteFetchAllowed says whether a request for media of origin (not cached)
// may fetch it, and gives the request the time a fetch may take. The
// legacy endpoints fetch only while they would serve what is fetched now
// (media.freeze_legacy_after), and not with allow_remote=false, which is
// how servers ask each other without causing fetches in turn.
func (a *API) remoteFetchAllowed(w http.ResponseWriter, r *http.Request, origin string, legacy bool) (bool, error) {
	if !matrixevents.ValidServerName(origin) {
		return false, httpapi.ErrNotFound("media not found")
	}
	if legacy {
		allowRemote, given, err := httpapi.BoolParam(r, "allow_remote")
		if err != nil {
			return false, err
		}
		if (given && !allowRemote) || !a.Media.LegacyServes(media.Record{UploadedTS: time.Now().UnixMilli()}) {
			return false, nil
		}
	}
	_ = http.NewResponseController(w).SetWriteDeadline(time.Now().Add(a.Media.RemoteFetchTimeout() + a.Config.HTTP.WriteTimeout))
	return true, nil
}

func (a *API) serveDownload(w http.ResponseWriter, r *http.Request, legacy bool) error {
	setMediaHeaders(w.Header())
	svc, rec, err := a.lookupMedia(w, r, legacy)
	if err != nil {
		return err
	}
	httpapi.AllowDownload(w, a.Config.HTTP)
	blob, err := svc.Open(r.Context(), rec)
	if err != nil {
		return mediaError(err)
	}
	defer blob.Close()
	filename := rec.UploadName
	if fn := r.PathValue("fileName"); fn != "" {
		filename = fn
	}
	ct := rec.ContentType
	if ct == "" {
		ct = "application/octet-stream"
	}
	h := w.Header()
	h.Set("Content-Type", ct)
	h.Set("Content-Disposition", contentDisposition(ct, filename))
	h.Set("ETag", `"`+rec.SHA256+`"`)
	// The content of an mxc:// URI never changes.
	h.Set("Cache-Control", "private, max-age=31536000, immutable")
	http.ServeContent(w, r, "", time.UnixMilli(rec.UploadedTS), blob)
	return nil
}

// thumbnailParams reads width, height, method and animated.
func thumbnailParams(r *http.Request) (width, height int, method string, animated bool, err error) {
	q := r.URL.Query()
	dim := func(name string) (int, error) {
		v := q.Get(name)
		if v == "" {
			return 0, httpapi.ErrMissingParam("%s is required", name)
		}
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return 0, httpapi.ErrInvalidParam("%s must be a positive integer", name)
		}
		return n, nil
	}
	if width, err = dim("width"); err != nil {
		return
	}
	if height, err = dim("height"); err != nil {
		return
	}
	switch method = q.Get("method"); method {
	case "":
		method = "scale"
	case "scale", "crop":
	default:
		err = httpapi.ErrInvalidParam("method must be crop or scale")
		return
	}
	animated, _, err = httpapi.BoolParam(r, "animated")
	return
}

func (a *API) serveThumbnail(w http.ResponseWriter, r *http.Request, legacy bool) error {
	setMediaHeaders(w.Header())
	if legacy && !a.Media.LegacyEnabled() {
		return httpapi.ErrNotFound("unauthenticated media access is switched off; use /_matrix/client/v1/media")
	}
	width, height, method, animated, err := thumbnailParams(r)
	if err != nil {
		return err
	}
	served, err := a.lookupThumbnail(w, r, legacy, width, height, method, animated)
	if err != nil {
		return err
	}
	defer served.Blob.Close()
	ext := strings.TrimPrefix(served.ContentType, "image/")
	h := w.Header()
	h.Set("Content-Type", served.ContentType)
	h.Set("Content-Disposition", `inline; filename="thumbnail.`+ext+`"`)
	h.Set("ETag", `"`+served.SHA256+`"`)
	h.Set("Cache-Control", "private, max-age=31536000, immutable")
	http.ServeContent(w, r, "", time.UnixMilli(served.ModifiedTS), served.Blob)
	return nil
}

// lookupThumbnail finds or makes the thumbnail to serve. Other servers'
// media is thumbnailed from the cached original, or by the origin, or
// from the original fetched when the origin has no thumbnail to give.
func (a *API) lookupThumbnail(w http.ResponseWriter, r *http.Request, legacy bool, width, height int, method string, animated bool) (media.Served, error) {
	svc := a.Media
	origin, mediaID := r.PathValue("serverName"), r.PathValue("mediaId")
	if !svc.IsLocal(origin) {
		if _, err := timeoutParam(r); err != nil {
			return media.Served{}, err
		}
		fetch, err := a.remoteFetchAllowed(w, r, origin, legacy)
		if err != nil {
			return media.Served{}, err
		}
		if legacy {
			// The freeze is judged on the original, which must be cached
			// from before it, as for downloads.
			rec, err := svc.GetRemote(r.Context(), origin, mediaID, fetch)
			if err != nil {
				return media.Served{}, mediaError(err)
			}
			if !svc.LegacyServes(rec) {
				return media.Served{}, httpapi.ErrNotFound("this media is only served by the authenticated /_matrix/client/v1/media endpoints")
			}
		}
		served, err := svc.RemoteThumbnail(r.Context(), origin, mediaID, width, height, method, animated, fetch)
		if err != nil {
			return media.Served{}, mediaError(err)
		}
		httpapi.AllowDownload(w, a.Config.HTTP)
		return served, nil
	}
	svc, rec, err := a.lookupMedia(w, r, legacy)
	if err != nil {
		return media.Served{}, err
	}
	httpapi.AllowDownload(w, a.Config.HTTP)
	served, err := svc.Thumbnail(r.Context(), rec, width, height, method, animated)
	if err != nil {
		return media.Served{}, mediaError(err)
	}
	served.ModifiedTS = rec.UploadedTS
	return served, nil
}
