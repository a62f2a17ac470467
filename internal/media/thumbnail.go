package media

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/gif"
	"image/jpeg"
	"image/png"
	"io"
	"mime"
	"time"

	"golang.org/x/image/draw"
	"golang.org/x/image/webp"
)

// Box is one of the thumbnail sizes the server generates.
type Box struct {
	Width, Height int
	Method        string // "crop" or "scale"
}

// StandardBoxes are the sizes the spec says servers should produce.
// Thumbnails are only ever generated at these sizes (or, for a static
// frame of a GIF, at the original size), so the cache stays small however
// many sizes clients ask for.
var StandardBoxes = []Box{
	{32, 32, "crop"},
	{96, 96, "crop"},
	{320, 240, "scale"},
	{640, 480, "scale"},
	{800, 600, "scale"},
}

// thumbnailable are the content types we decode. The decoder is chosen by
// sniffing the bytes, not by the claimed type.
var thumbnailable = map[string]bool{
	"image/jpeg": true,
	"image/png":  true,
	"image/gif":  true,
	"image/webp": true,
}

var decoders = map[string]struct {
	decode       func(io.Reader) (image.Image, error)
	decodeConfig func(io.Reader) (image.Config, error)
}{
	"jpeg": {jpeg.Decode, jpeg.DecodeConfig},
	"png":  {png.Decode, png.DecodeConfig},
	"gif":  {gif.Decode, gif.DecodeConfig},
	"webp": {webp.Decode, webp.DecodeConfig},
}

// sniff names the image format of the first bytes of b, or "".
func sniff(b []byte) string {
	switch {
	case bytes.HasPrefix(b, []byte("\xff\xd8\xff")):
		return "jpeg"
	case bytes.HasPrefix(b, []byte("\x89PNG\r\n\x1a\n")):
		return "png"
	case bytes.HasPrefix(b, []byte("GIF87a")), bytes.HasPrefix(b, []byte("GIF89a")):
		return "gif"
	case len(b) >= 12 && string(b[0:4]) == "RIFF" && string(b[8:12]) == "WEBP":
		return "webp"
	}
	return ""
}

// Served is content to answer a thumbnail request with.
type Served struct {
	Blob        Blob
	ContentType string
	SHA256      string
	// Original is set when the original content is served, because it is
	// no larger than what was asked for.
	Original bool
	// ModifiedTS is when the served content was stored, for
	// Last-Modified; RemoteThumbnail sets it, callers of Thumbnail use
	// the record's UploadedTS.
	ModifiedTS int64
}

// fit is the size of ow x oh scaled down, keeping its aspect, to fit in
// w x h; it never scales up.
func fit(ow, oh, w, h int) (int, int) {
	if ow <= w && oh <= h {
		return ow, oh
	}
	if int64(w)*int64(oh) <= int64(h)*int64(ow) { // width is the bound
		return w, max(1, int((int64(oh)*int64(w)+int64(ow)/2)/int64(ow)))
	}
	return max(1, int((int64(ow)*int64(h)+int64(oh)/2)/int64(oh))), h
}

// ChooseBox picks the smallest standard box whose thumbnail of an ow x oh
// original is at least what the client asked for (w x h by method), never
// upscaling. ok is false when no thumbnail would be smaller than the
// original while big enough: the original is then the answer (spec:
// "servers should return the original content").
func ChooseBox(ow, oh, w, h int, method string) (b Box, ok bool) {
	bestArea := 0
	better := func(cand Box, tw, th int) {
		if !ok || tw*th < bestArea {
			b, ok, bestArea = cand, true, tw*th
		}
	}
	if method == "crop" {
		if ow < w || oh < h {
			return Box{}, false
		}
		for _, c := range StandardBoxes {
			if c.Method == "crop" && c.Width >= w && c.Height >= h &&
				c.Width <= ow && c.Height <= oh && (c.Width < ow || c.Height < oh) {
				better(c, c.Width, c.Height)
			}
		}
		if ok {
			return b, true
		}
		// No crop size is big enough: a scaled one that still covers the
		// request in both dimensions will do.
		for _, c := range StandardBoxes {
			if c.Method != "scale" {
				continue
			}
			tw, th := fit(ow, oh, c.Width, c.Height)
			if tw >= w && th >= h && (tw < ow || th < oh) {
				better(c, tw, th)
			}
		}
		return b, ok
	}
	fw, fh := fit(ow, oh, w, h)
	if fw == ow && fh == oh {
		return Box{}, false
	}
	for _, c := range StandardBoxes {
		if c.Method != "scale" {
			continue
		}
		tw, th := fit(ow, oh, c.Width, c.Height)
		if tw >= fw && th >= fh && (tw < ow || th < oh) {
			better(c, tw, th)
		}
	}
	return b, ok
}

// Thumbnail answers a thumbnail request for uploaded media: a cached or
// freshly generated thumbnail, or the original when it is small enough.
// Only static thumbnails are generated; animated is honoured by serving
// an animated original as is only when animated is true.
func (s *Service) Thumbnail(ctx context.Context, rec Record, w, h int, method string, animated bool) (Served, error) {
	mt, _, _ := mime.ParseMediaType(rec.ContentType)
	if !thumbnailable[mt] {
		return Served{}, ErrCannotThumbnail
	}
	w, h = min(max(w, 1), 1<<16), min(max(h, 1), 1<<16)
	blob, err := s.Open(ctx, rec)
	if err != nil {
		return Served{}, err
	}
	cfg, format, err := s.decodeConfig(blob)
	if err != nil {
		blob.Close()
		return Served{}, err
	}
	box, ok := ChooseBox(cfg.Width, cfg.Height, w, h, method)
	if !ok {
		if format == "gif" && !animated {
			// The original may be animated: serve a static first frame.
			box = Box{cfg.Width, cfg.Height, "scale"}
		} else {
			if _, err := blob.Seek(0, io.SeekStart); err != nil {
				blob.Close()
				return Served{}, err
			}
			return Served{Blob: blob, ContentType: "image/" + format, SHA256: rec.SHA256, Original: true}, nil
		}
	}
	blob.Close()

	if t, err := s.getThumbnail(ctx, rec, box); err == nil {
		if tb, err := s.blobs.Open(ctx, t.SHA256); err == nil {
			return Served{Blob: tb, ContentType: t.ContentType, SHA256: t.SHA256}, nil
		}
	} else if !errors.Is(err, ErrNotFound) {
		return Served{}, err
	}

	// One generation per thumbnail, however many ask at once; it runs to
	// the end even if the first asker leaves, for the others and the cache.
	key := fmt.Sprintf("%s/%s/%dx%d/%s", rec.Origin, rec.MediaID, box.Width, box.Height, box.Method)
	v, err, _ := s.flight.Do(key, func() (any, error) {
		return s.generate(context.WithoutCancel(ctx), rec, box)
	})
	if err != nil {
		return Served{}, err
	}
	t := v.(Thumbnail)
	tb, err := s.blobs.Open(ctx, t.SHA256)
	if err != nil {
		return Served{}, err
	}
	return Served{Blob: tb, ContentType: t.ContentType, SHA256: t.SHA256}, nil
}

// decodeConfig reads an image's header and refuses sizes over the limits
// before anything is allocated for the pixels.
func (s *Service) decodeConfig(r io.Reader) (image.Config, string, error) {
	head := make([]byte, 16)
	n, _ := io.ReadFull(r, head)
	format := sniff(head[:n])
	d, ok := decoders[format]
	if !ok {
		return image.Config{}, "", ErrCannotThumbnail
	}
	cfg, err := d.decodeConfig(io.MultiReader(bytes.NewReader(head[:n]), r))
	if err != nil {
		return image.Config{}, "", ErrCannotThumbnail
	}
	if err := s.checkSize(cfg.Width, cfg.Height, cfg.ColorModel); err != nil {
		return image.Config{}, "", err
	}
	return cfg, format, nil
}

// bytesPerPixel is what a decoder allocates per pixel for a colour model.
func bytesPerPixel(m color.Model) int64 {
	switch m {
	case color.GrayModel, color.AlphaModel:
		return 1
	case color.Gray16Model, color.Alpha16Model:
		return 2
	case color.YCbCrModel:
		return 3 // at most, for 4:4:4
	case color.RGBA64Model, color.NRGBA64Model:
		return 8
	}
	if _, ok := m.(color.Palette); ok {
		return 1
	}
	return 4 // RGBA, NRGBA, CMYK, NYCbCrA and the rest
}

func (s *Service) checkSize(w, h int, m color.Model) error {
	lim := s.opts.Thumbnails
	if w <= 0 || h <= 0 {
		return ErrCannotThumbnail
	}
	px := int64(w) * int64(h)
	if w > lim.MaxSide || h > lim.MaxSide || px > lim.MaxPixels || px*bytesPerPixel(m) > lim.MaxDecodeBytes {
		return ErrImageTooLarge
	}
	return nil
}

// errDecodeTimeout stops a decoder that has run out of time.
var errDecodeTimeout = errors.New("decoding took too long")

// deadlineReader fails every read after the deadline, so a decoder that
// is too slow stops at its next read.
type deadlineReader struct {
	r        io.Reader
	deadline time.Time
}

func (d *deadlineReader) Read(p []byte) (int, error) {
	if time.Now().After(d.deadline) {
		return 0, errDecodeTimeout
	}
	return d.r.Read(p)
}

// generate decodes the original, scales or crops it to box, stores the
// result and records it. It decodes at most Concurrency images at once.
func (s *Service) generate(ctx context.Context, rec Record, box Box) (Thumbnail, error) {
	lim := s.opts.Thumbnails
	ctx, cancel := context.WithTimeout(ctx, lim.DecodeTimeout+30*time.Second)
	defer cancel()
	select {
	case s.decodeSem <- struct{}{}:
	case <-ctx.Done():
		return Thumbnail{}, ErrImageTooLarge
	}
	defer func() { <-s.decodeSem }()

	blob, err := s.Open(ctx, rec)
	if err != nil {
		return Thumbnail{}, err
	}
	defer blob.Close()
	cfg, format, err := s.decodeConfig(blob)
	if err != nil {
		return Thumbnail{}, err
	}
	if _, err := blob.Seek(0, io.SeekStart); err != nil {
		return Thumbnail{}, err
	}
	start := time.Now()
	src, err := decoders[format].decode(&deadlineReader{r: blob, deadline: start.Add(lim.DecodeTimeout)})
	if errors.Is(err, errDecodeTimeout) {
		s.opts.Log.Warn("thumbnail decoding timed out", "mxc", rec.MXC(), "width", cfg.Width, "height", cfg.Height)
		return Thumbnail{}, ErrImageTooLarge
	}
	if err != nil {
		return Thumbnail{}, ErrCannotThumbnail
	}
	sb := src.Bounds()
	if err := s.checkSize(sb.Dx(), sb.Dy(), src.ColorModel()); err != nil {
		return Thumbnail{}, err
	}

	dst := resize(src, box)
	var buf bytes.Buffer
	contentType := "image/png"
	if format == "jpeg" {
		contentType = "image/jpeg"
		err = jpeg.Encode(&buf, dst, &jpeg.Options{Quality: 85})
	} else {
		err = (&png.Encoder{CompressionLevel: png.DefaultCompression}).Encode(&buf, dst)
	}
	if err != nil {
		return Thumbnail{}, fmt.Errorf("encoding a thumbnail: %w", err)
	}
	sha, size, err := s.blobs.Put(ctx, &buf)
	if err != nil {
		return Thumbnail{}, err
	}
	db := dst.Bounds()
	t := Thumbnail{
		Origin: rec.Origin, MediaID: rec.MediaID,
		Width: box.Width, Height: box.Height, Method: box.Method,
		ContentType: contentType, SHA256: sha, Size: size,
		ActualWidth: db.Dx(), ActualHeight: db.Dy(),
		CreatedTS: time.Now().UnixMilli(),
	}
	if err := s.insertThumbnail(ctx, t); err != nil {
		return Thumbnail{}, err
	}
	return t, nil
}

// getThumbnail and insertThumbnail keep the thumbnails made of other
// servers' media apart from those of our own, as their originals are.
func (s *Service) getThumbnail(ctx context.Context, rec Record, box Box) (Thumbnail, error) {
	if !s.IsLocal(rec.Origin) {
		return s.opts.RemoteCache.GetRemoteThumbnail(ctx, rec.Origin, rec.MediaID, box.Width, box.Height, box.Method)
	}
	return s.meta.GetThumbnail(ctx, rec.Origin, rec.MediaID, box.Width, box.Height, box.Method)
}

func (s *Service) insertThumbnail(ctx context.Context, t Thumbnail) error {
	if !s.IsLocal(t.Origin) {
		return s.opts.RemoteCache.InsertRemoteThumbnail(ctx, t)
	}
	return s.meta.InsertThumbnail(ctx, t)
}

// resize scales src to fit box ("scale") or to fill it, cropping the
// centre ("crop"). It returns src itself when the size is unchanged.
func resize(src image.Image, box Box) image.Image {
	sb := src.Bounds()
	ow, oh := sb.Dx(), sb.Dy()
	if box.Method == "crop" {
		// The largest centred part of src with the box's aspect.
		cw, ch := ow, oh
		if int64(ow)*int64(box.Height) > int64(oh)*int64(box.Width) {
			cw = max(1, int(int64(oh)*int64(box.Width)/int64(box.Height)))
		} else {
			ch = max(1, int(int64(ow)*int64(box.Height)/int64(box.Width)))
		}
		x0, y0 := sb.Min.X+(ow-cw)/2, sb.Min.Y+(oh-ch)/2
		dst := image.NewRGBA(image.Rect(0, 0, box.Width, box.Height))
		draw.CatmullRom.Scale(dst, dst.Bounds(), src, image.Rect(x0, y0, x0+cw, y0+ch), draw.Src, nil)
		return dst
	}
	tw, th := fit(ow, oh, box.Width, box.Height)
	if tw == ow && th == oh {
		return src
	}
	dst := image.NewRGBA(image.Rect(0, 0, tw, th))
	draw.CatmullRom.Scale(dst, dst.Bounds(), src, sb, draw.Src, nil)
	return dst
}
