package inspector

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"golang.org/x/text/encoding"
	"golang.org/x/text/encoding/charmap"
	"golang.org/x/text/encoding/japanese"

	"github.com/aliasgate/aliasgate/internal/pan"
	"github.com/aliasgate/aliasgate/routes"
)

// TestViewShowsNoCardNumberReadInTheMessagesCharset: what a capture shows
// holds no card number as the app reads it, in the readings the leak guard
// takes (inbound second review): a header value read as ISO-8859-1 (Node,
// servlets, WSGI: "4111\xa01111…" grouped by no-break spaces or soft
// hyphens), a body in its declared legacy charset, and a form's percent
// escapes read in its charset ("%34%00%31%00…" in UTF-16LE, full-width
// digits "%82%53…" in Shift_JIS). The view showed each of them, masked by
// nothing (a raw \xa0 and "%00" are breakers to pan.Find), while the guard
// refused them. The same messages without a card number are shown as they
// were. A body the view cannot mask so is withheld.
func TestViewShowsNoCardNumberReadInTheMessagesCharset(t *testing.T) {
	r := newRules("shop", nil, routes.Request, nil, false, nil)
	// Full-width digits in Shift_JIS are 0x824F ('０') to 0x8258 ('９').
	sjis := func(ds string) string {
		var b strings.Builder
		for _, d := range ds {
			b.WriteString("%82%" + strings.ToUpper(string("0123456789abcdef"[(0x4F+int(d-'0'))>>4])+string("0123456789abcdef"[(0x4F+int(d-'0'))&15])))
		}
		return b.String()
	}
	utf16 := func(ds string) string {
		var b strings.Builder
		for _, d := range ds {
			b.WriteString("%3" + string(d) + "%00")
		}
		return b.String()
	}
	const card = "4111111111111111"
	for _, tt := range []struct {
		name   string
		ct     string
		header string // X-Note
		body   string
		enc    encoding.Encoding
		card   bool // holds a card number read so
	}{
		{"header no-break spaces", "text/plain", "4111\xa01111\xa01111\xa01111", "", charmap.ISO8859_1, true},
		{"header soft hyphens", "text/plain", "4111\xad1111\xad1111\xad1111", "", charmap.ISO8859_1, true},
		{"header name with an accent", "text/plain", "Zo\xeb 4111", "", charmap.ISO8859_1, false},
		{"windows-1252 body", "text/plain; charset=windows-1252", "", "note 4111\xa01111\xa01111\xa01111", charmap.Windows1252, true},
		{"windows-1252 body, no card", "text/plain; charset=windows-1252", "", "caf\xe9 1234\xa05678", charmap.Windows1252, false},
		{"Shift_JIS form", "application/x-www-form-urlencoded; charset=shift_jis", "", "note=" + sjis(card), japanese.ShiftJIS, true},
		{"Shift_JIS form, no card", "application/x-www-form-urlencoded; charset=shift_jis", "", "note=" + sjis("1234"), japanese.ShiftJIS, false},
		{"UTF-16LE form", "application/x-www-form-urlencoded; charset=utf-16le", "", "note=" + utf16(card), charmap.ISO8859_1, true},
	} {
		h := http.Header{"Content-Type": {tt.ct}}
		if tt.header != "" {
			h.Set("X-Note", tt.header)
		}
		v := makeView(h, []byte(tt.body), false, r, viewOptions{limit: 1 << 16, fields: true})
		// Everything the view shows, read as the app reads it: in the
		// charset, and percent-decoded first.
		shown := []string{v.Body}
		for _, l := range v.Headers {
			shown = append(shown, l.Value)
		}
		for _, f := range v.Fields {
			shown = append(shown, f.Value)
		}
		for _, s := range shown {
			// U+FFFD stands for a byte of the charset the view could not
			// show; between groups a reader sees it as a separator, as
			// pan.MaskReadable reads it.
			readings := []string{s, strings.ReplaceAll(s, "\uFFFD", " ")}
			if u, err := url.QueryUnescape(s); err == nil {
				readings = append(readings, u)
			}
			for _, rd := range readings {
				d, err := tt.enc.NewDecoder().String(rd)
				if err != nil {
					continue
				}
				// UTF-16 read with its NULs dropped, as ASCII digits are.
				if d = strings.ReplaceAll(d, "\x00", ""); pan.ContainsAllString(d) || pan.ContainsAllString(strings.ReplaceAll(rd, "\x00", "")) {
					t.Errorf("%s: shows %+q, which is a card number read as %+q", tt.name, s, d)
				}
			}
		}
		if !tt.card {
			// Nothing to hide: shown as it came.
			if tt.header != "" && (len(v.Headers) != 2 || v.Headers[1].Value != tt.header) {
				t.Errorf("%s: header shown as %+v", tt.name, v.Headers)
			}
			if tt.body != "" && (v.BodyKind == "withheld" || v.Body == "") {
				t.Errorf("%s: body withheld: %s", tt.name, v.Note)
			}
		}
	}
}
