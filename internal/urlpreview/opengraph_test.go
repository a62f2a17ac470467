package urlpreview

import (
	"errors"
	"io"
	"maps"
	"strings"
	"testing"
	"unicode/utf8"
)

func previewOf(t *testing.T, page string) map[string]string {
	t.Helper()
	m, err := readPage(strings.NewReader(page))
	if err != nil {
		t.Fatal(err)
	}
	return m.openGraph()
}

func TestOpenGraphFromPages(t *testing.T) {
	for _, tc := range []struct {
		name, page string
		want       map[string]string
	}{
		{"open graph first, its first value of each",
			`<meta property="og:title" content="One"><meta property="og:title" content="Two">
			<meta property="OG:Description" content="Desc"><meta property="article:author" content="Ann">
			<title>Title</title><meta name="description" content="Meta">`,
			map[string]string{"og:title": "One", "og:description": "Desc", "article:author": "Ann"}},
		{"og: written as name=",
			`<meta name="og:title" content="Named">`,
			map[string]string{"og:title": "Named"}},
		{"twitter fills gaps only, without card/site/creator",
			`<meta property="og:title" content="OG"><meta name="twitter:title" content="TW">
			<meta name="twitter:description" content="TW desc"><meta name="twitter:card" content="summary">
			<meta name="twitter:site" content="@x"><meta name="twitter:image" content="/tw.png">`,
			map[string]string{"og:title": "OG", "og:description": "TW desc", "og:image": "/tw.png"}},
		{"title, then h1; meta description; blank content ignored",
			`<html><head><meta property="og:title" content="  "><meta name="description" content="D"></head>
			<body><h1>Big <b>heading</b></h1></body></html>`,
			map[string]string{"og:title": "Big heading", "og:description": "D"}},
		{"title text is not markup, script text is not a tag",
			`<title>a &lt;b&gt; &amp; c</title><script>document.write('<meta property="og:title" content="no">')</script>`,
			map[string]string{"og:title": "a <b> & c"}},
		{"image: itemprop, then the largest sized img, then any img, then the icon",
			`<img src="/tiny.png" width="5" height="5"><img src="/small.png" width="20" height="20"><img src="/big.png" width="200" height="100">`,
			map[string]string{"og:image": "/big.png"}},
		{"unsized img", `<img src="/any.png"><link rel="icon" href="/favicon.ico">`, map[string]string{"og:image": "/any.png"}},
		{"icon", `<link rel="shortcut icon" href="/favicon.ico">`, map[string]string{"og:image": "/favicon.ico"}},
		{"itemprop", `<meta itemprop="image" content="/item.png"><img src="/big.png" width="200" height="100">`, map[string]string{"og:image": "/item.png"}},
		{"white space and control characters", "<title>\n\ta\u0007  b\n</title>", map[string]string{"og:title": "a b"}},
		{"empty page", ``, map[string]string{}},
		{"not html at all", "\x00\x01\x02garbage<<<>>>", map[string]string{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := previewOf(t, tc.page); !maps.Equal(got, tc.want) {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
		})
	}
}

func TestOpenGraphBounds(t *testing.T) {
	var page strings.Builder
	for i := range 80 {
		page.WriteString(`<meta property="og:k` + strings.Repeat("x", i%3) + string(rune('a'+i%26)) + `" content="v">`)
	}
	page.WriteString(`<meta property="og:` + strings.Repeat("n", 60) + `" content="long name">`)
	page.WriteString(`<meta property="og:site_name" content="` + strings.Repeat("s", 1001) + `">`)
	page.WriteString(`<meta property="og:description" content="` + strings.Repeat("word ", 300) + `">`)
	got := previewOf(t, page.String())
	if len(got) > maxKeys {
		t.Fatalf("%d properties kept, want at most %d", len(got), maxKeys)
	}
	for k := range got {
		if len(k) > maxKeyBytes {
			t.Fatalf("overlong name %q kept", k)
		}
	}
	if _, ok := got["og:site_name"]; ok {
		t.Fatal("overlong value kept")
	}
	if d := got["og:description"]; d != "" && (utf8.RuneCountInString(d) > maxDescription || !strings.HasSuffix(d, "word…")) {
		t.Fatalf("description not cut at a word: %q", d)
	}
}

func TestSummarize(t *testing.T) {
	if got := summarize("short", 10); got != "short" {
		t.Fatal(got)
	}
	if got := summarize("one two three four five", 12); got != "one two…" {
		t.Fatalf("%q", got)
	}
	if got := summarize(strings.Repeat("é", 20), 10); got != strings.Repeat("é", 9)+"…" {
		t.Fatalf("%q", got)
	}
}

// A read error (the size cap) is the page's error; a token too large to
// hold ends the page without one.
func TestReadPageErrors(t *testing.T) {
	if _, err := readPage(capBody(strings.NewReader(strings.Repeat("<p>x</p>", 100)), 50)); !errors.Is(err, errOverLimit) {
		t.Fatalf("over the cap: %v", err)
	}
	huge := `<meta property="og:title" content="kept"><script>` + strings.Repeat("x", maxTokenBytes+10) + `</script><meta property="og:description" content="lost">`
	m, err := readPage(io.MultiReader(strings.NewReader(huge)))
	if err != nil || m.openGraph()["og:title"] != "kept" {
		t.Fatalf("huge token: %v %v", m, err)
	}
}
