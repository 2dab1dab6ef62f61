package dispatch_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
	"unicode/utf16"

	"github.com/aliasgate/aliasgate/internal/pan"
	"github.com/aliasgate/aliasgate/webhooks"
)

// utf16Text spells s in UTF-16 (little or big endian).
func utf16Text(s string, bigEndian bool) string {
	var b strings.Builder
	for _, u := range utf16.Encode([]rune(s)) {
		if bigEndian {
			b.WriteByte(byte(u >> 8))
			b.WriteByte(byte(u))
		} else {
			b.WriteByte(byte(u))
			b.WriteByte(byte(u >> 8))
		}
	}
	return b.String()
}

// TestExcerptMasksCardNumbersInEverySpelling: a receiver that echoes a
// card number in its answer, in any spelling (digits split by tabs or
// line breaks, UTF-16, HTML entities, an exponent number, around invalid
// UTF-8), leaves none of the number's middle digits in the delivery log:
// the excerpt is made printable, then masked, then cut.
func TestExcerptMasksCardNumbersInEverySpelling(t *testing.T) {
	p := "453957876362148"
	p += string(pan.CheckDigit([]byte(p)))
	g := p[:4] + " " + p[4:8] + " " + p[8:12] + " " + p[12:]
	answers := map[string]string{
		"plain":          "card " + p + " refused",
		"tabs":           strings.ReplaceAll(g, " ", "\t"),
		"newlines":       strings.ReplaceAll(g, " ", "\n"),
		"crs":            strings.ReplaceAll(g, " ", "\r"),
		"crlfs":          strings.ReplaceAll(g, " ", "\r\n"),
		"utf16le-crlfs":  utf16Text(strings.ReplaceAll(g, " ", "\r\n"), false),
		"tab-and-space":  p[:4] + "\t" + p[4:8] + " " + p[8:12] + "\t" + p[12:],
		"utf16le":        utf16Text(`{"pan":"`+p+`"}`, false),
		"utf16be":        utf16Text(`{"pan":"`+g+`"}`, true),
		"utf16le-tabs":   utf16Text(strings.ReplaceAll(g, " ", "\t"), false),
		"html-entities":  htmlEntities(p),
		"exponent":       `{"n":` + p + `000e-3}`,
		"invalid-utf8":   "\xff\xfe" + g + "\xc3",
		"nbsp":           strings.ReplaceAll(g, " ", "\u00a0"),
		"json-escaped":   `"` + strings.ReplaceAll(p, "5", `\u0035`) + `"`,
		"binary-around":  "\x00\x01\x02" + p + "\x1b[0m",
		"long-then-card": strings.Repeat("x", 150) + "\t" + g,
		// Mixed and other separators (second review): two shown as two
		// spaces, or a byte shown as '?', left the digits in clear.
		"space-and-tab":    strings.ReplaceAll(g, " ", " \t"),
		"space-and-lf":     strings.ReplaceAll(g, " ", " \n"),
		"double-crlf":      strings.ReplaceAll(g, " ", "\r\n\r\n"),
		"vertical-tab":     strings.ReplaceAll(g, " ", "\v"),
		"form-feed":        strings.ReplaceAll(g, " ", "\f"),
		"latin1-nbsp":      strings.ReplaceAll(g, " ", "\xa0"),
		"utf16le-nbsp":     utf16Text(strings.ReplaceAll(g, " ", "\u00a0"), false),
		"zero-width-space": strings.ReplaceAll(g, " ", "\u200b"),
		"em-space":         strings.ReplaceAll(g, " ", "\u2003"),
		"dashes-and-tab":   strings.ReplaceAll(g, " ", "-\t"),
		"cut-at-the-end":   strings.Repeat("x", webhooks.ExcerptLen-10) + " " + p,
		// A run of 20+ digits is no card number to internal/pan, but
		// the cut can leave one of its first 16 at the excerpt's end.
		"cut-leaves-a-number":         strings.Repeat("x", webhooks.ExcerptLen-len(p)-1) + " " + p + "0000",
		"cut-leaves-a-grouped-number": strings.Repeat("x", webhooks.ExcerptLen-len(g)-1) + " " + g + " 0000 1111",
	}
	var names []string
	mux := http.NewServeMux()
	var eps []webhooks.Endpoint
	for name, body := range answers {
		names = append(names, name)
		mux.HandleFunc("/"+name, func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(http.StatusBadRequest)
			io.WriteString(w, body)
		})
	}
	srv := httptest.NewServer(mux)
	defer srv.Close()
	for _, name := range names {
		eps = append(eps, endpoint(name, srv.URL+"/"+name))
	}
	s := boltStore(t)
	opts := fast(eps...)
	opts.RetryFor = time.Millisecond // one attempt, then failed
	o, d, err := newPair(s, opts)
	if err != nil {
		t.Fatal(err)
	}
	start(t, d)
	if err := o.Publish(context.Background(), "acct1", "card.updated", []byte(`{"card_id":"CRD1"}`)); err != nil {
		t.Fatal(err)
	}
	middle := p[6:12]
	for _, dl := range waitState(t, s, len(names), webhooks.StateFailed) {
		for _, a := range dl.Attempts {
			digits := strings.Map(func(r rune) rune {
				if r >= '0' && r <= '9' {
					return r
				}
				return -1
			}, a.Excerpt)
			if a.Status != http.StatusBadRequest || len(a.Excerpt) > webhooks.ExcerptLen || strings.Contains(digits, middle) ||
				pan.ContainsAllString(a.Excerpt) {
				t.Errorf("%s: the excerpt keeps the card number's middle digits: %q", dl.Endpoint, a.Excerpt)
			}
		}
	}
}

// htmlEntities spells s as decimal character references.
func htmlEntities(s string) string {
	var b strings.Builder
	for _, r := range s {
		fmt.Fprintf(&b, "&#%d;", r)
	}
	return b.String()
}
