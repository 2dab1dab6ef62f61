package proxy

import (
	"bytes"
	"compress/gzip"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/aliasgate/aliasgate/internal/bodybudget"
)

// growRoutes redacts card.number into a UUID alias (tok_…), longer than
// the 16 digits it replaces.
const growRoutes = `routes:
  - id: grow
    direction: inbound
    host: "*"
    path_prefix: /grow
    upstream: {{UP}}
    leak_guard: "off"
    filters:
      - id: uuid
        match: {content_type: json}
        operation: redact
        targets:
          - {json: card.number, format: UUID}
`

// TestRewrittenBodyIsHeldUnderMaxBodyAndTheBudget: a request body the
// filters rewrite longer (an alias longer than the number it replaces) is
// held as the body read is. Over limits.max_body it is refused 413
// body_too_large, nothing forwarded, where the gateway forwarded a body
// longer than max_body; its growth is reserved of the body budget (the
// budget's peak counts the body forwarded, and a growth that does not fit
// is refused 503 gateway_busy), where only the body read was, so the
// gateway held more than limits.max_buffered_bytes; and all of it is given
// back once the exchange is over. A gzip body's encoded copy too.
func TestRewrittenBodyIsHeldUnderMaxBodyAndTheBudget(t *testing.T) {
	const maxBody = 4096
	card := func(pad int) string {
		return `{"card":{"number":"` + testPAN + `"},"pad":"` + strings.Repeat("x", pad) + `"}`
	}
	gzipped := func(s string) []byte {
		var b bytes.Buffer
		w := gzip.NewWriter(&b)
		_, _ = io.WriteString(w, s)
		_ = w.Close()
		return b.Bytes()
	}
	up := newUpstream(t, nil)
	for _, c := range []struct {
		name   string
		body   []byte
		gzip   bool
		budget int64 // 0: 64 × max_body
		status int
		code   string
	}{
		{"a small body made longer", []byte(card(10)), false, 0, http.StatusOK, ""},
		{"a body made longer than max_body", []byte(card(maxBody - len(card(0)) - 4)), false, 0, http.StatusRequestEntityTooLarge, "body_too_large"},
		{"a body at max_body made longer", []byte(card(maxBody - len(card(0)))), false, 0, http.StatusRequestEntityTooLarge, "body_too_large"},
		{"a growth the budget has no room for", []byte(card(1000)), false, int64(len(card(1000))), http.StatusServiceUnavailable, "gateway_busy"},
		{"a gzip body made longer", gzipped(card(10)), true, 0, http.StatusOK, ""},
		{"a gzip body decoded and made longer than max_body", gzipped(card(maxBody - len(card(0)) - 4)), true, 0, http.StatusRequestEntityTooLarge, "body_too_large"},
	} {
		size := c.budget
		if size == 0 {
			size = 64 * maxBody
		}
		b := bodybudget.New(size, 0)
		g := newGateway(t, parseRoutes(t, growRoutes, up.URL), nil, gwOptions{budget: b, maxBody: maxBody})
		before := len(up.requests())
		hdr := map[string]string{}
		if c.gzip {
			hdr["Content-Encoding"] = "gzip"
		}
		resp, body := g.do(t, "POST", "/grow", "application/json", bytes.NewReader(c.body), hdr)
		got := up.requests()
		if resp.StatusCode != c.status || c.code != "" && !strings.Contains(string(body), `"`+c.code+`"`) {
			t.Errorf("%s: %d %s, want %d %s", c.name, resp.StatusCode, obstestMask(string(body)), c.status, c.code)
		}
		if forwarded := len(got) > before; forwarded != (c.status == http.StatusOK) {
			t.Errorf("%s: forwarded %v, answered %d", c.name, forwarded, resp.StatusCode)
		}
		waitGivenBack(t, b, c.name)
		if c.status != http.StatusOK || len(got) == 0 {
			continue
		}
		fwd := got[len(got)-1].Body
		if c.gzip {
			zr, err := gzip.NewReader(bytes.NewReader(fwd))
			if err != nil {
				t.Fatalf("%s: the upstream got no gzip body: %v", c.name, err)
			}
			fwd, _ = io.ReadAll(zr)
		}
		sent := int64(len(fwd)) // decoded
		if !c.gzip && sent <= int64(len(c.body)) {
			t.Fatalf("%s: the upstream got %d bytes, not longer than the %d sent: the alias format does not make it longer", c.name, sent, len(c.body))
		}
		// What was held at once covers at least the body forwarded.
		if p := b.Peak(); p < sent {
			t.Errorf("%s: the budget's peak is %d bytes, the body forwarded %d: its growth was not reserved", c.name, p, sent)
		}
	}
}

// TestRewrittenAnswerOverMaxBodyIsWithheld: an answer a response filter
// makes longer than limits.max_body is withheld as one read over it is
// (502 body_too_large, marked delivered), where the gateway sent it on.
func TestRewrittenAnswerOverMaxBodyIsWithheld(t *testing.T) {
	const maxBody = 4096
	answer := func(pad int) string {
		return `{"card":{"number":"` + testPAN + `"},"pad":"` + strings.Repeat("x", pad) + `"}`
	}
	for _, c := range []struct {
		name   string
		body   string
		status int
	}{
		{"an answer made longer under max_body", answer(10), http.StatusOK},
		{"an answer made longer than max_body", answer(maxBody - len(answer(0)) - 4), http.StatusBadGateway},
	} {
		up := newUpstream(t, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			_, _ = io.WriteString(w, c.body)
		})
		doc := strings.Replace(growRoutes, "      - id: uuid\n", "      - id: uuid\n        phase: response\n", 1)
		b := bodybudget.New(64*maxBody, 0)
		g := newGateway(t, parseRoutes(t, doc, up.URL), nil, gwOptions{budget: b, maxBody: maxBody})
		resp, body := g.do(t, "GET", "/grow", "", nil, nil)
		if resp.StatusCode != c.status {
			t.Errorf("%s: %d %.200s, want %d", c.name, resp.StatusCode, obstestMask(string(body)), c.status)
		}
		if c.status != http.StatusOK && (!strings.Contains(string(body), `"body_too_large"`) || resp.Header.Get(DeliveredHeader) != "true") {
			t.Errorf("%s: %v %.200s, want body_too_large, delivered", c.name, resp.Header, obstestMask(string(body)))
		}
		if c.status == http.StatusOK && (strings.Contains(string(body), testPAN) || int64(len(body)) > maxBody || b.Peak() < int64(len(body))) {
			t.Errorf("%s: %d bytes answered (peak %d): %.200s", c.name, len(body), b.Peak(), obstestMask(string(body)))
		}
		waitGivenBack(t, b, c.name)
	}
}
