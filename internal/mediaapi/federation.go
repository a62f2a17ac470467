package mediaapi

import (
	"io"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"strings"

	"foyer/internal/config"
	"foyer/internal/httpapi"
	"foyer/internal/media"
)

// FederationDownload is GET /_matrix/federation/v1/media/download/{mediaId}
// for the federation router, which authenticates the calling server: our
// own media only (the spec's servers never proxy each other's), waiting
// up to timeout_ms for pending content as the client endpoint does. The
// authenticated-media freeze does not apply: it concerns unauthenticated
// clients only.
func FederationDownload(cfg config.Config, svc *media.Service) httpapi.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		rec, err := federationLookup(r, svc)
		if err != nil {
			return err
		}
		blob, err := svc.Open(r.Context(), rec)
		if err != nil {
			return err
		}
		defer blob.Close()
		ct := rec.ContentType
		if ct == "" {
			ct = "application/octet-stream"
		}
		httpapi.AllowDownload(w, cfg.HTTP)
		writeMultipartMedia(w, ct, contentDisposition(ct, rec.UploadName), blob)
		return nil
	}
}

// FederationThumbnail is GET /_matrix/federation/v1/media/thumbnail/{mediaId}:
// a thumbnail of our own media, made or chosen as for our clients.
func FederationThumbnail(cfg config.Config, svc *media.Service) httpapi.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		width, height, method, animated, err := thumbnailParams(r)
		if err != nil {
			return err
		}
		rec, err := federationLookup(r, svc)
		if err != nil {
			return err
		}
		served, err := svc.Thumbnail(r.Context(), rec, width, height, method, animated)
		if err != nil {
			return mediaError(err)
		}
		defer served.Blob.Close()
		ext := strings.TrimPrefix(served.ContentType, "image/")
		httpapi.AllowDownload(w, cfg.HTTP)
		writeMultipartMedia(w, served.ContentType, `inline; filename="thumbnail.`+ext+`"`, served.Blob)
		return nil
	}
}

func federationLookup(r *http.Request, svc *media.Service) (media.Record, error) {
	wait, err := timeoutParam(r)
	if err != nil {
		return media.Record{}, err
	}
	rec, err := svc.Get(r.Context(), svc.ServerName(), r.PathValue("mediaId"), wait)
	if err != nil {
		return media.Record{}, mediaError(err)
	}
	return rec, nil
}

// writeMultipartMedia answers with the spec's multipart/mixed: a JSON
// metadata part (an empty object), then the content with its
// Content-Type and Content-Disposition, streamed from content. A failure
// while streaming leaves the answer without its closing boundary, which
// the receiver sees as cut off rather than as complete content.
func writeMultipartMedia(w http.ResponseWriter, contentType, disposition string, content io.Reader) {
	mw := multipart.NewWriter(w)
	w.Header().Set("Content-Type", "multipart/mixed; boundary="+mw.Boundary())
	w.WriteHeader(http.StatusOK)
	meta, err := mw.CreatePart(textproto.MIMEHeader{"Content-Type": {"application/json"}})
	if err != nil {
		return
	}
	if _, err := io.WriteString(meta, "{}"); err != nil {
		return
	}
	part, err := mw.CreatePart(textproto.MIMEHeader{
		"Content-Type":        {contentType},
		"Content-Disposition": {disposition},
	})
	if err != nil {
		return
	}
	if _, err := io.Copy(part, content); err != nil {
		return
	}
	_ = mw.Close()
}
