package urlpreview

import (
	"errors"
	"io"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/net/html"
	"golang.org/x/net/html/atom"
)

// Bounds on what a page may contribute, whatever its size: the answer is
// for a small card in a timeline.
const (
	maxKeys           = 50   // properties kept from one page
	maxKeyBytes       = 50   // a property's name
	maxValueRunes     = 1000 // a property's value; longer ones are dropped
	maxDescription    = 500  // descriptions are cut (at a word) to this many runes
	maxCapturedText   = 4096 // bytes of <title> or <h1> text kept
	maxTokenBytes     = 1 << 20
	maxKeptBytes      = 16 << 10 // of any one value read, before it is cleaned and judged
	minFallbackImgDim = 10       // an <img> smaller than this is an icon or a tracker
)

// pageMeta is what a page says about itself, as read from its HTML.
type pageMeta struct {
	props       map[string]string // og:, article:, profile: meta tags, first value of each
	twitter     map[string]string // twitter: meta tags, renamed og:
	title       string            // <title>
	heading     string            // the first <h1>
	description string            // <meta name="description">
	itemImage   string            // <meta itemprop="image">
	image       string            // the largest <img> with dimensions, or the first <img>
	imageArea   float64
	icon        string // <link rel="icon">
}

// readPage tokenizes the HTML document r (UTF-8) to its end. It stops
// early, without error, at a token too large to hold; a read error of r
// (the page size cap, the time limit) is returned.
func readPage(r io.Reader) (*pageMeta, error) {
	m := &pageMeta{props: map[string]string{}, twitter: map[string]string{}}
	z := html.NewTokenizer(r)
	z.SetMaxBuf(maxTokenBytes)
	var capture *strings.Builder // the text of the <title> or <h1> being read
	var title, heading strings.Builder
	titleDone, headingDone := false, false
	for {
		switch z.Next() {
		case html.ErrorToken:
			m.title = cleanText(title.String())
			m.heading = cleanText(heading.String())
			err := z.Err()
			if errors.Is(err, io.EOF) || errors.Is(err, html.ErrBufferExceeded) {
				return m, nil
			}
			return m, err
		case html.TextToken:
			if capture != nil && capture.Len() < maxCapturedText {
				capture.Write(z.Text())
			}
		case html.EndTagToken:
			name, _ := z.TagName()
			switch atom.Lookup(name) {
			case atom.Title:
				if capture == &title {
					titleDone = true
					capture = nil
				}
			case atom.H1:
				if capture == &heading {
					headingDone = true
					capture = nil
				}
			}
		case html.StartTagToken, html.SelfClosingTagToken:
			name, hasAttr := z.TagName()
			tag := atom.Lookup(name)
			switch tag {
			case atom.Title:
				if !titleDone {
					capture = &title
				}
				continue
			case atom.H1:
				if !headingDone && capture == nil {
					capture = &heading
				}
				continue
			}
			if !hasAttr {
				continue
			}
			switch tag {
			case atom.Meta:
				m.meta(attrs(z))
			case atom.Img:
				m.img(attrs(z))
			case atom.Link:
				a := attrs(z)
				if m.icon == "" && a["href"] != "" && hasToken(a["rel"], "icon") {
					m.icon = truncate(a["href"], maxKeptBytes)
				}
			}
		}
	}
}

// attrs are a tag's attributes, the first of each name.
func attrs(z *html.Tokenizer) map[string]string {
	a := map[string]string{}
	for {
		k, v, more := z.TagAttr()
		if _, dup := a[string(k)]; !dup {
			a[string(k)] = string(v)
		}
		if !more {
			return a
		}
	}
}

func hasToken(list, token string) bool {
	for _, f := range strings.Fields(list) {
		if strings.EqualFold(f, token) {
			return true
		}
	}
	return false
}

func (m *pageMeta) meta(a map[string]string) {
	content := truncate(strings.TrimSpace(a["content"]), maxKeptBytes)
	if content == "" {
		return
	}
	// Open Graph says property=; many pages write name= instead.
	for _, key := range []string{a["property"], a["name"]} {
		key = strings.ToLower(strings.TrimSpace(key))
		switch {
		case strings.HasPrefix(key, "og:"), strings.HasPrefix(key, "article:"), strings.HasPrefix(key, "profile:"):
			m.keep(m.props, key, content)
		case strings.HasPrefix(key, "twitter:"):
			switch key {
			case "twitter:card", "twitter:creator", "twitter:site": // no Open Graph counterpart
			default:
				m.keep(m.twitter, "og:"+strings.TrimPrefix(key, "twitter:"), content)
			}
		case key == "description":
			if m.description == "" {
				m.description = content
			}
		}
	}
	if m.itemImage == "" && strings.EqualFold(strings.TrimSpace(a["itemprop"]), "image") {
		m.itemImage = content
	}
}

func (m *pageMeta) keep(into map[string]string, key, value string) {
	if _, seen := into[key]; seen || len(into) >= maxKeys || len(key) > maxKeyBytes {
		return
	}
	into[key] = value
}

func (m *pageMeta) img(a map[string]string) {
	src := truncate(strings.TrimSpace(a["src"]), maxKeptBytes)
	if src == "" {
		return
	}
	w, werr := strconv.ParseFloat(strings.TrimSpace(a["width"]), 64)
	h, herr := strconv.ParseFloat(strings.TrimSpace(a["height"]), 64)
	if werr == nil && herr == nil && w > minFallbackImgDim && h > minFallbackImgDim {
		if area := w * h; area > m.imageArea {
			m.image, m.imageArea = src, area
		}
		return
	}
	if m.image == "" {
		m.image = src // any image, until a sized one turns up
	}
}

// openGraph is the preview of a page: its Open Graph properties, then
// Twitter's where Open Graph says nothing, then what the HTML itself
// gives for the title, description and image. og:image is still the
// page's URL for it here (relative or not).
func (m *pageMeta) openGraph() map[string]string {
	og := map[string]string{}
	for k, v := range m.props {
		og[k] = v
	}
	for k, v := range m.twitter {
		if _, ok := og[k]; !ok && len(og) < maxKeys {
			og[k] = v
		}
	}
	if og["og:title"] == "" {
		og["og:title"] = firstNonEmpty(m.title, m.heading)
	}
	if og["og:description"] == "" {
		og["og:description"] = m.description
	}
	if og["og:image"] == "" {
		og["og:image"] = firstNonEmpty(m.itemImage, m.image, m.icon)
	}
	for k, v := range og {
		v = cleanText(v)
		if k == "og:description" {
			v = summarize(v, maxDescription)
		}
		if v == "" || utf8.RuneCountInString(v) > maxValueRunes {
			delete(og, k)
			continue
		}
		og[k] = v
	}
	return og
}

func firstNonEmpty(values ...string) string {
	for _, v := range values {
		if strings.TrimSpace(v) != "" {
			return v
		}
	}
	return ""
}

// cleanText makes s valid UTF-8 without control characters and with
// each run of white space one space.
func cleanText(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	var b strings.Builder
	space := false
	for _, r := range s {
		switch {
		case unicode.IsSpace(r):
			space = b.Len() > 0
			continue
		case unicode.IsControl(r):
			continue
		}
		if space {
			b.WriteByte(' ')
			space = false
		}
		b.WriteRune(r)
	}
	return b.String()
}

// truncate cuts s to at most n bytes, at a character boundary, so that
// a page's huge attribute holds no more memory than a preview can use.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// summarize cuts s to at most max runes, at a word boundary when there
// is one in the second half, ending it with an ellipsis.
func summarize(s string, max int) string {
	if utf8.RuneCountInString(s) <= max {
		return s
	}
	runes := []rune(s)[:max-1]
	cut := string(runes)
	if i := strings.LastIndexByte(cut, ' '); i > len(cut)/2 {
		cut = cut[:i]
	}
	return strings.TrimSpace(cut) + "…"
}
