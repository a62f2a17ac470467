// Package media is Foyer's content repository: uploads (direct and
// asynchronous), downloads and thumbnails. Content lives in a Store keyed
// by SHA-256; what each mxc:// URI names lives in the database behind
// MetadataStore.
package media

import (
	"context"
	"crypto/rand"
	"errors"
	"strings"
)

// Record is one media ID: an mxc://Origin/MediaID URI and, once uploaded,
// the content it names.
type Record struct {
	Origin      string
	MediaID     string
	UserID      string // the uploader
	ContentType string
	UploadName  string // the filename given at upload, may be ""
	SHA256      string // "" while an asynchronous upload is pending
	Size        int64
	CreatedTS   int64 // when the ID was made
	UploadedTS  int64 // when the content arrived; 0 while pending
	ExpiresTS   int64 // a pending ID unused by then is void; 0 for none
}

// Uploaded reports whether the record has content.
func (r Record) Uploaded() bool { return r.UploadedTS != 0 }

// MXC is the record's content URI.
func (r Record) MXC() string { return "mxc://" + r.Origin + "/" + r.MediaID }

// Thumbnail is a generated thumbnail of a record, cached by the size box
// and method it was generated for.
type Thumbnail struct {
	Origin      string
	MediaID     string
	Width       int // the box: one of the standard sizes
	Height      int
	Method      string // "crop" or "scale"
	ContentType string
	SHA256      string
	Size        int64
	// ActualWidth and ActualHeight are the image's own dimensions.
	ActualWidth  int
	ActualHeight int
	CreatedTS    int64
}

// MetadataStore is the database side of the repository. The
// implementation is internal/storage's MediaStore, tested on SQLite and
// PostgreSQL.
type MetadataStore interface {
	// InsertMedia fails with ErrIDTaken if the ID exists.
	InsertMedia(ctx context.Context, r Record) error
	// GetMedia returns ErrNotFound for an unknown ID.
	GetMedia(ctx context.Context, origin, mediaID string) (Record, error)
	// CompletePending attaches content to a pending record; it fails with
	// ErrAlreadyUploaded if the record already has content and ErrNotFound
	// if there is no such record.
	CompletePending(ctx context.Context, r Record) error
	// CountPending counts userID's pending records not expired at now.
	CountPending(ctx context.Context, userID string, now int64) (int, error)
	// GetThumbnail returns ErrNotFound when none is cached.
	GetThumbnail(ctx context.Context, origin, mediaID string, width, height int, method string) (Thumbnail, error)
	// InsertThumbnail keeps the first row when two race.
	InsertThumbnail(ctx context.Context, t Thumbnail) error
}

// Errors of the service, mapped to Matrix errors by the HTTP layer.
var (
	ErrNotFound        = errors.New("media not found")
	ErrIDTaken         = errors.New("media ID taken")
	ErrNotYetUploaded  = errors.New("media not yet uploaded")
	ErrAlreadyUploaded = errors.New("media already uploaded")
	ErrForbidden       = errors.New("media belongs to another user")
	ErrTooLarge        = errors.New("content is larger than the upload limit")
	ErrTooManyPending  = errors.New("too many pending uploads")
	// ErrCannotThumbnail: the content is not an image we can thumbnail.
	ErrCannotThumbnail = errors.New("cannot generate a thumbnail of this content")
	// ErrImageTooLarge: the image is too large (or too slow) to decode.
	ErrImageTooLarge = errors.New("image is too large to thumbnail")
)

// ValidMediaID reports whether id uses only the characters the spec
// allows in a media ID (A-Za-z0-9, _ and -), which also rules out any
// path traversal.
func ValidMediaID(id string) bool {
	if id == "" || len(id) > 255 {
		return false
	}
	for _, c := range id {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

const idAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"

// NewMediaID returns 24 random alphanumeric characters (about 143 bits).
func NewMediaID() string {
	b := make([]byte, 24)
	if _, err := rand.Read(b); err != nil {
		panic("crypto/rand failed: " + err.Error())
	}
	var sb strings.Builder
	for _, c := range b {
		// The slight modulo bias costs a fraction of a bit of the ~143.
		sb.WriteByte(idAlphabet[int(c)%len(idAlphabet)])
	}
	return sb.String()
}
