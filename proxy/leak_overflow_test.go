package proxy

import (
	"bytes"
	"math/rand"
	"net/http"
	"strings"
	"testing"

	"github.com/aliasgate/aliasgate/internal/pan"
)

// overflowText is text holding more card-like windows than the leak guard
// keeps from one body (maxFound): one-digit groups joined by single
// spaces, ended by a comma.
func overflowText(t *testing.T) []byte {
	t.Helper()
	r := rand.New(rand.NewSource(1))
	var b bytes.Buffer
	for b.Len() < 600000 {
		b.WriteByte(byte('0' + r.Intn(10)))
		b.WriteByte(' ')
	}
	b.WriteString(",")
	if _, more := pan.FindMax(b.Bytes(), maxFound); !more {
		t.Fatal("the text does not overflow the guard's bound")
	}
	return b.Bytes()
}

// TestRedactOverflowMasksOrRefusesEveryNumber: a body with more card-like
// numbers than the guard keeps counts as card data, and redact masked its
// plain text whole and let the rest go: the numbers of the headers, of a
// body read without its NUL bytes (UTF-16: masking the raw body finds
// nothing), in exponent notation and in the query reached the upstream in
// clear. Each is now masked or, where it cannot be, refused as in any
// message; block still refuses.
func TestRedactOverflowMasksOrRefusesEveryNumber(t *testing.T) {
	ov := overflowText(t)
	g, up := guardedGateway(t, "redact", "block")
	utf16 := func(s []byte) []byte {
		out := make([]byte, 0, 2*len(s))
		for _, c := range s {
			out = append(out, c, 0)
		}
		return out
	}
	cases := []struct {
		name, path, ctype string
		body              []byte
		hdr               map[string]string
		masked            bool // redact passes it with the header masked; else refused
	}{
		{name: "header", ctype: "text/plain", body: ov, hdr: map[string]string{"X-Note": "card " + testPAN}, masked: true},
		{name: "utf-16 body", ctype: "text/plain; charset=utf-16le", body: utf16(append(append([]byte{}, ov...), " card "+testPAN+"."...))},
		{name: "exponent", ctype: "application/json", body: append(append([]byte{}, ov...), " 4111111111111111000e-3"...)},
		{name: "query", path: "?card=" + testPAN, ctype: "text/plain", body: ov},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := len(up.requests())
			resp, b := g.do(t, "POST", "/redact"+c.path, c.ctype, bytes.NewReader(c.body), c.hdr)
			if !c.masked {
				if resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(string(b), "card_data_leak") {
					t.Fatalf("want 422 card_data_leak, got %d %.200s", resp.StatusCode, b)
				}
				if len(up.requests()) != before {
					t.Fatal("the upstream got the message")
				}
			} else {
				if resp.StatusCode != http.StatusOK {
					t.Fatalf("want 200, got %d %.200s", resp.StatusCode, b)
				}
				got := up.last(t)
				if h := got.Header.Get("X-Note"); h != "card "+pan.Mask(testPAN) {
					t.Errorf("X-Note reached the upstream as %q", h)
				}
				if pan.Contains(got.Body) {
					t.Error("the body reached the upstream with card numbers")
				}
			}
			before = len(up.requests())
			resp, b = g.do(t, "POST", "/block"+c.path, c.ctype, bytes.NewReader(c.body), c.hdr)
			if resp.StatusCode != http.StatusUnprocessableEntity || len(up.requests()) != before {
				t.Errorf("block: want 422 and nothing sent, got %d %.200s", resp.StatusCode, b)
			}
		})
	}
}
