package proxy

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/aliasgate/aliasgate/internal/obs/obstest"
	"github.com/aliasgate/aliasgate/internal/pan"
	"github.com/aliasgate/aliasgate/routes"
	"github.com/aliasgate/aliasgate/routes/rewrite"
)

const testRoutes = `
routes:
  - id: json
    direction: inbound
    host: "*"
    path_prefix: /json
    upstream: {{UP}}
    filters:
      - id: card-json
        match: {content_type: json}
        operation: redact
        targets:
          - {json: card.number, format: FPE_SIX_T_FOUR, classifiers: [pan]}
          - {json: card.cvc, storage: volatile}
  - id: form
    direction: inbound
    host: "*"
    path_prefix: /form
    upstream: {{UP}}
    filters:
      - id: card-form
        match: {content_type: form}
        operation: redact
        targets: [{form: card_number}, {form: cvc, storage: volatile}]
  - id: header
    direction: inbound
    host: "*"
    path_prefix: /header
    upstream: {{UP}}
    filters:
      - id: card-header
        operation: redact
        targets: [{header: X-Card-Number}]
  - id: xml
    direction: inbound
    host: "*"
    path_prefix: /xml
    upstream: {{UP}}
    filters:
      - id: card-xml
        match: {content_type: xml}
        operation: redact
        targets: [{xml: /payment/card/pan}]
  - id: pass
    direction: inbound
    host: "*"
    path_prefix: /pass
    upstream: {{UP}}
    leak_guard: "off"
    filters:
      - id: card-pass
        operation: redact
        on_error: pass
        targets: [{json: card.number}]
  - id: reveal
    direction: inbound
    host: "*"
    path_prefix: /reveal
    upstream: {{UP}}
    leak_guard: "off"
    filters:
      - id: card-reveal
        phase: response
        operation: reveal
        targets: [{json: card.number}]
  - id: respredact
    direction: inbound
    host: "*"
    path_prefix: /respredact
    upstream: {{UP}}
    filters:
      - id: card-out
        phase: response
        operation: redact
        targets: [{json: card.number}]
  - id: leaklog
    direction: inbound
    host: "*"
    path_prefix: /leaklog
    upstream: {{UP}}
    leak_guard: log
    filters:
      - id: card-ll
        operation: redact
        targets: [{json: card.number}]
  - id: leakblock
    direction: inbound
    host: "*"
    path_prefix: /leakblock
    upstream: {{UP}}
    leak_guard: block
    filters:
      - id: card-lb
        operation: redact
        targets: [{json: card.number}]
  - id: plain
    direction: inbound
    host: "*"
    path_prefix: /plain
    upstream: {{UP}}
  - id: cards
    direction: inbound
    host: "*"
    path_prefix: /cards
    upstream: internal:cards
    filters:
      - id: card-internal
        operation: redact
        targets: [{json: pan}]
`

const cardJSON = `{"card":{"number":"` + testPAN + `","cvc":"` + testCVC + `"},"amount":100}`

func assertNoPAN(t *testing.T, what string, b []byte) {
	t.Helper()
	// Not obstest.AssertNoPAN: FPE aliases are Luhn-valid by design.
	if bytes.Contains(b, []byte(testPAN)) {
		t.Errorf("%s holds the PAN", what)
	}
}

func setup(t *testing.T, o gwOptions) (*gateway, *upstream) {
	t.Helper()
	up := newUpstream(t, nil)
	if o.logger == nil {
		o.logger = obstest.Logger(t)
	}
	g := newGateway(t, parseRoutes(t, testRoutes, up.URL), nil, o)
	return g, up
}

func TestRequestRedactJSON(t *testing.T) {
	g, up := setup(t, gwOptions{})
	resp, body := g.do(t, "POST", "/json/pay?order=42&x=y", "application/json", strings.NewReader(cardJSON), nil)
	if resp.StatusCode != 200 {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	got := up.last(t)
	assertNoPAN(t, "upstream body", got.Body)
	var doc struct {
		Card   struct{ Number, CVC string } `json:"card"`
		Amount int
	}
	if err := json.Unmarshal(got.Body, &doc); err != nil {
		t.Fatalf("upstream body is not JSON: %v", err)
	}
	n := doc.Card.Number
	if len(n) != 16 || n[:6] != testPAN[:6] || n[12:] != testPAN[12:] || n == testPAN || !pan.Valid(n) {
		t.Errorf("card.number is not an FPE_SIX_T_FOUR alias (len %d)", len(n))
	}
	if !strings.HasPrefix(doc.Card.CVC, "tok_test_") || doc.Amount != 100 {
		t.Errorf("cvc %q amount %d", doc.Card.CVC, doc.Amount)
	}
	if got.Method != "POST" || got.Path != "/json/pay" || got.Query != "order=42&x=y" {
		t.Errorf("upstream got %s %s ?%s", got.Method, got.Path, got.Query)
	}
	if got.Header.Get("Content-Length") != fmt.Sprint(len(got.Body)) {
		t.Errorf("Content-Length %q for %d bytes", got.Header.Get("Content-Length"), len(got.Body))
	}
	if got.Header.Get("X-Forwarded-For") != "127.0.0.1" || got.Header.Get("X-Forwarded-Host") == "" || got.Header.Get("X-Forwarded-Proto") != "http" {
		t.Errorf("forwarded headers: %v", got.Header)
	}
	if c := g.filterCount("json", "card-json", "applied"); c != 1 {
		t.Errorf("applied count %v", c)
	}
	// The FPE alias is Luhn-valid but is an alias of this vault: no leak.
	if c := g.leakCount("json", "log"); c != 0 {
		t.Errorf("FPE alias counted as a leak: %v", c)
	}
	// The same PAN gives the same alias (persistent) and the alias reveals.
	vals, err := g.vault.tok.Reveal(context.Background(), []string{n})
	if err != nil || vals[0] != testPAN {
		t.Errorf("alias does not reveal to the PAN (err %v)", err)
	}
}

func TestRequestRedactChunkedJSON(t *testing.T) {
	g, up := setup(t, gwOptions{})
	// io.MultiReader hides the length: the client sends it chunked.
	resp, body := g.do(t, "POST", "/json", "application/json", io.MultiReader(strings.NewReader(cardJSON)), nil)
	if resp.StatusCode != 200 {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	got := up.last(t)
	assertNoPAN(t, "upstream body", got.Body)
	if got.Header.Get("Content-Length") != fmt.Sprint(len(got.Body)) {
		t.Errorf("Content-Length not recomputed")
	}
}

func TestRequestRedactForm(t *testing.T) {
	g, up := setup(t, gwOptions{})
	form := "amount=5&card_number=" + testPAN + "&cvc=" + testCVC
	resp, body := g.do(t, "POST", "/form", "application/x-www-form-urlencoded", strings.NewReader(form), nil)
	if resp.StatusCode != 200 {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	got := up.last(t)
	assertNoPAN(t, "upstream body", got.Body)
	v, err := url.ParseQuery(string(got.Body))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(v.Get("card_number"), "tok_test_") || !strings.HasPrefix(v.Get("cvc"), "tok_test_") || v.Get("amount") != "5" {
		t.Errorf("form not redacted: %d fields", len(v))
	}
}

func TestRequestRedactHeader(t *testing.T) {
	g, up := setup(t, gwOptions{})
	resp, body := g.do(t, "GET", "/header", "", nil, map[string]string{"X-Card-Number": testPAN})
	if resp.StatusCode != 200 {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	got := up.last(t)
	if h := got.Header.Get("X-Card-Number"); !strings.HasPrefix(h, "tok_test_") {
		t.Errorf("header not redacted")
	}
}

func TestRequestRedactXML(t *testing.T) {
	g, up := setup(t, gwOptions{})
	doc := `<?xml version="1.0"?><payment><card><pan>` + testPAN + `</pan></card><amount>5</amount></payment>`
	resp, body := g.do(t, "POST", "/xml", "application/xml", strings.NewReader(doc), nil)
	if resp.StatusCode != 200 {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	got := up.last(t)
	assertNoPAN(t, "upstream body", got.Body)
	if !bytes.Contains(got.Body, []byte("<pan>tok_test_")) || !bytes.Contains(got.Body, []byte("<amount>5</amount>")) {
		t.Errorf("xml not redacted as expected")
	}
}

func gz(t testing.TB, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	w := gzip.NewWriter(&buf)
	_, _ = w.Write(b)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestRequestRedactGzip(t *testing.T) {
	g, up := setup(t, gwOptions{})
	resp, body := g.do(t, "POST", "/json", "application/json", bytes.NewReader(gz(t, []byte(cardJSON))),
		map[string]string{"Content-Encoding": "gzip"})
	if resp.StatusCode != 200 {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	got := up.last(t)
	if got.Header.Get("Content-Encoding") != "gzip" || got.Header.Get("Content-Length") != fmt.Sprint(len(got.Body)) {
		t.Fatalf("encoding %q length %q for %d bytes", got.Header.Get("Content-Encoding"), got.Header.Get("Content-Length"), len(got.Body))
	}
	zr, err := gzip.NewReader(bytes.NewReader(got.Body))
	if err != nil {
		t.Fatal(err)
	}
	plain, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	assertNoPAN(t, "decoded upstream body", plain)
	if !bytes.Contains(plain, []byte(`"cvc":"tok_test_`)) {
		t.Errorf("gzip body not redacted")
	}
}

func TestInternalUpstreamGetsRedactedBody(t *testing.T) {
	var seen []byte
	cards := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen, _ = io.ReadAll(r.Body)
		w.WriteHeader(201)
	})
	fallback := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(299) })
	g, up := setup(t, gwOptions{internal: map[string]http.Handler{"internal:cards": cards}, fallback: fallback})
	resp, body := g.do(t, "POST", "/cards", "application/vnd.api+json", strings.NewReader(`{"pan":"`+testPAN+`"}`), nil)
	if resp.StatusCode != 201 {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	assertNoPAN(t, "internal upstream body", seen)
	if !bytes.Contains(seen, []byte(`"pan":"tok_test_`)) {
		t.Errorf("internal upstream did not get an alias")
	}
	// No route: the fallback (built-in mounts) answers, the upstream sees nothing.
	resp, _ = g.do(t, "GET", "/other", "", nil, nil)
	if resp.StatusCode != 299 || len(up.requests()) != 0 {
		t.Errorf("fallback: status %d, upstream got %d", resp.StatusCode, len(up.requests()))
	}
}

func TestUnmatchedStreamsUntouched(t *testing.T) {
	g, up := setup(t, gwOptions{})
	// A route without filters, and a body the json filter's match excludes
	// (not JSON), are forwarded byte for byte, even with a PAN in them.
	raw := []byte("\x00\x01binary " + testPAN2 + " \xff")
	resp, _ := g.do(t, "PUT", "/plain/x", "application/octet-stream", bytes.NewReader(raw), nil)
	if resp.StatusCode != 200 || !bytes.Equal(up.last(t).Body, raw) || up.last(t).Method != "PUT" {
		t.Fatalf("plain route: status %d, body changed", resp.StatusCode)
	}
	// On a route that redacts request bodies, a body no filter matched is
	// refused (fail closed): a binary body as UTF-16/32-like (NUL bytes),
	// a text one as matching no filter.
	before := len(up.requests())
	resp, _ = g.do(t, "POST", "/json", "application/octet-stream", bytes.NewReader(raw), nil)
	if resp.StatusCode != 415 || len(up.requests()) != before {
		t.Fatalf("binary body on a redacting route: status %d, upstream got %d", resp.StatusCode, len(up.requests())-before)
	}
	resp, _ = g.do(t, "POST", "/json", "application/octet-stream", strings.NewReader("binary "+testPAN2), nil)
	if resp.StatusCode != 422 || len(up.requests()) != before {
		t.Fatalf("unmatched body on a redacting route: status %d, upstream got %d", resp.StatusCode, len(up.requests())-before)
	}
}

// failClosed sends a request that must be refused with status and checks
// that the upstream received nothing and the error holds no PAN.
func failClosed(t *testing.T, g *gateway, up *upstream, status int, path, ctype string, body io.Reader, hdr map[string]string) []byte {
	t.Helper()
	resp, b := g.do(t, "POST", path, ctype, body, hdr)
	if resp.StatusCode != status {
		t.Errorf("status %d, want %d: %s", resp.StatusCode, status, b)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.Contains(ct, "json") {
		t.Errorf("error content type %q", ct)
	}
	var doc struct {
		Errors []struct{ Status, Code string } `json:"errors"`
	}
	if err := json.Unmarshal(b, &doc); err != nil || len(doc.Errors) != 1 || doc.Errors[0].Status != fmt.Sprint(status) {
		t.Errorf("not a JSON:API error: %s", b)
	}
	obstest.AssertNoPAN(t, "error body", b)
	if n := len(up.requests()); n != 0 {
		t.Errorf("upstream received %d request(s)", n)
	}
	return b
}

func TestFailClosed(t *testing.T) {
	const max = 64 << 10
	t.Run("malformed", func(t *testing.T) {
		g, up := setup(t, gwOptions{})
		failClosed(t, g, up, 400, "/json", "application/json", strings.NewReader(`{"card":{"number":"`+testPAN+`"`), nil)
		if c := g.filterCount("json", "card-json", "rejected"); c != 1 {
			t.Errorf("rejected count %v", c)
		}
	})
	t.Run("wrong target type", func(t *testing.T) {
		g, up := setup(t, gwOptions{})
		failClosed(t, g, up, 422, "/json", "application/json", strings.NewReader(`{"card":{"number":{"n":"`+testPAN+`"}}}`), nil)
	})
	t.Run("oversized chunked", func(t *testing.T) {
		g, up := setup(t, gwOptions{maxBody: max})
		big := `{"card":{"number":"` + testPAN + `"},"pad":"` + strings.Repeat("a", 2*max) + `"}`
		failClosed(t, g, up, 413, "/json", "application/json", io.MultiReader(strings.NewReader(big)), nil)
	})
	t.Run("oversized with length", func(t *testing.T) {
		g, up := setup(t, gwOptions{maxBody: max})
		big := `{"pad":"` + strings.Repeat("a", 2*max) + `"}`
		failClosed(t, g, up, 413, "/json", "application/json", strings.NewReader(big), nil)
	})
	t.Run("gzip bomb", func(t *testing.T) {
		g, up := setup(t, gwOptions{maxBody: max})
		bomb := gz(t, append([]byte(`{"pad":"`), bytes.Repeat([]byte("0"), 8<<20)...))
		if len(bomb) > max {
			t.Fatalf("bomb is %d bytes compressed", len(bomb))
		}
		failClosed(t, g, up, 413, "/json", "application/json", bytes.NewReader(bomb), map[string]string{"Content-Encoding": "gzip"})
	})
	t.Run("corrupt gzip", func(t *testing.T) {
		g, up := setup(t, gwOptions{})
		failClosed(t, g, up, 400, "/json", "application/json", strings.NewReader("not gzip"), map[string]string{"Content-Encoding": "gzip"})
	})
	t.Run("brotli", func(t *testing.T) {
		g, up := setup(t, gwOptions{})
		failClosed(t, g, up, 415, "/json", "application/json", strings.NewReader("\x1b\x03\x00"), map[string]string{"Content-Encoding": "br"})
	})
	t.Run("vault closed", func(t *testing.T) {
		g, up := setup(t, gwOptions{})
		g.vault.persistent.Close()
		failClosed(t, g, up, 503, "/json", "application/json", strings.NewReader(cardJSON), nil)
	})
	t.Run("value refused by format", func(t *testing.T) {
		g, up := setup(t, gwOptions{})
		failClosed(t, g, up, 422, "/json", "application/json", strings.NewReader(`{"card":{"number":"abc"}}`), nil)
	})
	t.Run("leak block", func(t *testing.T) {
		g, up := setup(t, gwOptions{})
		failClosed(t, g, up, 422, "/leakblock", "application/json",
			strings.NewReader(`{"card":{"number":"`+testPAN+`"},"note":"`+testPAN2+`"}`), nil)
		if c := g.leakCount("leakblock", "block"); c != 1 {
			t.Errorf("leak count %v", c)
		}
	})
}

func TestOnErrorPassForwardsUnchanged(t *testing.T) {
	g, up := setup(t, gwOptions{})
	bad := `{"card": "x"` // malformed
	resp, _ := g.do(t, "POST", "/pass", "application/json", strings.NewReader(bad), nil)
	if resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	if got := up.last(t).Body; string(got) != bad {
		t.Errorf("body changed")
	}
	if c := g.filterCount("pass", "card-pass", "passed_on_error"); c != 1 {
		t.Errorf("passed_on_error count %v", c)
	}
}

func TestLeakGuardLog(t *testing.T) {
	c := obstest.NewCapture(t)
	g, up := setup(t, gwOptions{logger: c.Logger})
	// card.number is redacted (FPE-less UUID alias); the note is not.
	in := `{"card":{"number":"` + testPAN + `"},"note":"` + testPAN2 + `"}`
	resp, _ := g.do(t, "POST", "/leaklog", "application/json", strings.NewReader(in), nil)
	if resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	got := up.last(t).Body
	if bytes.Contains(got, []byte(testPAN)) || !bytes.Contains(got, []byte(testPAN2)) {
		t.Errorf("log mode must forward the body with its redactions")
	}
	if n := g.leakCount("leaklog", "log"); n != 1 {
		t.Errorf("leak count %v", n)
	}
	lines := c.Messages("proxy: leak guard found card-like numbers no filter redacted")
	if len(lines) != 1 || lines[0]["route"] != "leaklog" || lines[0]["offsets"] == nil {
		t.Errorf("leak log lines: %v", lines)
	}
	// An FPE alias in the body is not a leak.
	toks, err := g.vault.tok.Redact(context.Background(), []rewrite.RedactItem{{Value: testPAN2, Format: "FPE_SIX_T_FOUR"}})
	if err != nil || !pan.Valid(toks[0]) {
		t.Fatalf("FPE alias: %v", err)
	}
	in = `{"card":{"number":"` + testPAN + `"},"ref":"` + toks[0] + `"}`
	if resp, _ = g.do(t, "POST", "/leaklog", "application/json", strings.NewReader(in), nil); resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	if n := g.leakCount("leaklog", "log"); n != 1 {
		t.Errorf("FPE alias counted as a leak: %v", n)
	}
}

func TestResponseReveal(t *testing.T) {
	tv := newTestVault(t)
	toks, err := tv.tok.Redact(context.Background(), []rewrite.RedactItem{{Value: testPAN}})
	if err != nil {
		t.Fatal(err)
	}
	up := newUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Accept-Encoding") != "gzip" { // the transport's own
			t.Errorf("Accept-Encoding towards the upstream: %q", r.Header.Get("Accept-Encoding"))
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Content-Encoding", "gzip")
		_, _ = w.Write(gz(t, []byte(`{"card":{"number":"`+toks[0]+`"}}`)))
	})
	g := newGateway(t, parseRoutes(t, testRoutes, up.URL), tv, gwOptions{logger: obstest.Logger(t)})
	resp, body := g.do(t, "GET", "/reveal", "", nil, map[string]string{"Accept-Encoding": "br"})
	if resp.StatusCode != 200 || string(body) != `{"card":{"number":"`+testPAN+`"}}` {
		t.Errorf("status %d, body revealed: %v", resp.StatusCode, bytes.Contains(body, []byte(testPAN)))
	}
	if resp.Header.Get("Content-Length") != fmt.Sprint(len(body)) {
		t.Errorf("Content-Length %q for %d", resp.Header.Get("Content-Length"), len(body))
	}
}

func TestResponseRedactAndFailure(t *testing.T) {
	reply := `{"card":{"number":"` + testPAN + `"}}`
	up := newUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, reply)
	})
	tv := newTestVault(t)
	g := newGateway(t, parseRoutes(t, testRoutes, up.URL), tv, gwOptions{logger: obstest.Logger(t)})
	resp, body := g.do(t, "GET", "/respredact", "", nil, nil)
	if resp.StatusCode != 200 || !bytes.Contains(body, []byte(`"number":"tok_test_`)) {
		t.Errorf("status %d: %s", resp.StatusCode, body)
	}
	assertNoPAN(t, "client body", body)

	// A response filter that fails: the request was delivered, so the
	// response goes on with its status, never unrewritten: the leak guard
	// masks the card number, the headers say what happened.
	reply = `{"card":{"number":` + testPAN + `` // malformed
	resp, body = g.do(t, "GET", "/respredact", "", nil, nil)
	masked := testPAN[:6] + strings.Repeat("*", len(testPAN)-10) + testPAN[len(testPAN)-4:]
	if resp.StatusCode != 200 || string(body) != `{"card":{"number":`+masked || resp.Header.Get(FilterFailedHeader) == "" || resp.Header.Get(RedactedHeader) != "1" {
		t.Errorf("malformed response: status %d %v: %s", resp.StatusCode, resp.Header, body)
	}
	assertNoPAN(t, "client body", body)
	reply = `{"card":{"number":"` + testPAN + `"}}`
	tv.persistent.Close()
	resp, body = g.do(t, "GET", "/respredact", "", nil, nil)
	if resp.StatusCode != 200 || string(body) != `{"card":{"number":"`+masked+`"}}` || resp.Header.Get(FilterFailedHeader) == "" {
		t.Errorf("vault closed: status %d: %s", resp.StatusCode, body)
	}
	assertNoPAN(t, "client body", body)

	// A response the guard cannot read (brotli): withheld, 502, and the
	// client told that its request was delivered.
	up2 := newUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Content-Encoding", "br")
		_, _ = io.WriteString(w, "\x1b\x00\x00")
	})
	g2 := newGateway(t, parseRoutes(t, testRoutes, up2.URL), newTestVault(t), gwOptions{logger: obstest.Logger(t)})
	resp, body = g2.do(t, "GET", "/respredact", "", nil, nil)
	if resp.StatusCode != 502 || resp.Header.Get(DeliveredHeader) != "true" {
		t.Errorf("unreadable response: status %d %v: %s", resp.StatusCode, resp.Header, body)
	}
}

func TestUpstreamErrors(t *testing.T) {
	t.Run("down", func(t *testing.T) {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := l.Addr().String()
		l.Close()
		g := newGateway(t, parseRoutes(t, testRoutes, "http://"+addr), nil, gwOptions{logger: obstest.Logger(t)})
		resp, body := g.do(t, "POST", "/json?q="+testPAN, "application/json", strings.NewReader(cardJSON), nil)
		if resp.StatusCode != 502 || !strings.Contains(string(body), "upstream_unavailable") {
			t.Errorf("status %d: %s", resp.StatusCode, body)
		}
	})
	t.Run("slow", func(t *testing.T) {
		up := newUpstream(t, func(w http.ResponseWriter, r *http.Request) {
			select {
			case <-time.After(3 * time.Second):
			case <-r.Context().Done():
			}
		})
		g := newGateway(t, parseRoutes(t, testRoutes, up.URL), nil, gwOptions{logger: obstest.Logger(t), timeout: 200 * time.Millisecond})
		start := time.Now()
		resp, body := g.do(t, "GET", "/plain", "", nil, nil)
		if resp.StatusCode != 504 || !strings.Contains(string(body), "upstream_timeout") {
			t.Errorf("status %d: %s", resp.StatusCode, body)
		}
		if d := time.Since(start); d > 2*time.Second {
			t.Errorf("took %s", d)
		}
	})
}

func TestStreamingResponseOutlivesTimeout(t *testing.T) {
	// The upstream timeout bounds the wait for headers, not a body that
	// streams longer.
	up := newUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/octet-stream")
		for i := 0; i < 4; i++ {
			_, _ = w.Write([]byte("chunk"))
			w.(http.Flusher).Flush()
			time.Sleep(100 * time.Millisecond)
		}
	})
	g := newGateway(t, parseRoutes(t, testRoutes, up.URL), nil, gwOptions{logger: obstest.Logger(t), timeout: 150 * time.Millisecond})
	resp, body := g.do(t, "GET", "/plain", "", nil, nil)
	if resp.StatusCode != 200 || string(body) != strings.Repeat("chunk", 4) {
		t.Errorf("status %d body %q", resp.StatusCode, body)
	}
}

// TestSidecarExampleRoutes runs the routes of examples/sidecar through the
// proxy, with the upstream pointed at a test server.
func TestSidecarExampleRoutes(t *testing.T) {
	set, err := routes.LoadFile("../examples/sidecar/routes.yaml", routes.Options{})
	if err != nil {
		t.Fatal(err)
	}
	up := newUpstream(t, nil)
	u, _ := url.Parse(up.URL)
	for _, r := range set.Routes {
		r.UpstreamURL = u
	}
	g := newGateway(t, set, nil, gwOptions{logger: obstest.Logger(t)})
	resp, body := g.do(t, "POST", "/checkout", "application/json", strings.NewReader(cardJSON), nil)
	if resp.StatusCode != 200 || !bytes.Contains(up.last(t).Body, []byte(`"cvc":"tok_test_`)) {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	assertNoPAN(t, "upstream body", up.last(t).Body)
	resp, _ = g.do(t, "POST", "/checkout", "application/x-www-form-urlencoded", strings.NewReader("card_number="+testPAN+"&cvc=737"), nil)
	if resp.StatusCode != 200 {
		t.Fatalf("form status %d", resp.StatusCode)
	}
	assertNoPAN(t, "upstream body", up.last(t).Body)
	n := len(up.requests())
	resp, _ = g.do(t, "POST", "/checkout", "application/json", strings.NewReader(`{"card":{"number":"`+testPAN+`"},"note":"`+testPAN2+`"}`), nil)
	if resp.StatusCode != 422 || len(up.requests()) != n {
		t.Fatalf("leak block: status %d", resp.StatusCode)
	}
}

func TestUpgradePassesThrough(t *testing.T) {
	up := newUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Upgrade") != "websocket" {
			w.WriteHeader(400)
			return
		}
		conn, brw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			return
		}
		defer conn.Close()
		_, _ = brw.WriteString("HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n")
		_ = brw.Flush()
		line, _ := brw.ReadString('\n')
		_, _ = brw.WriteString("echo:" + line)
		_ = brw.Flush()
	})
	g := newGateway(t, parseRoutes(t, testRoutes, up.URL), nil, gwOptions{logger: obstest.Logger(t)})
	conn, err := net.Dial("tcp", strings.TrimPrefix(g.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
	_, _ = io.WriteString(conn, "GET /plain/ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n")
	buf := make([]byte, 4096)
	var got []byte
	for !bytes.Contains(got, []byte("\r\n\r\n")) {
		n, err := conn.Read(buf)
		if err != nil {
			t.Fatalf("reading 101: %v (%q)", err, got)
		}
		got = append(got, buf[:n]...)
	}
	if !bytes.HasPrefix(got, []byte("HTTP/1.1 101")) {
		t.Fatalf("no 101: %q", got)
	}
	_, _ = io.WriteString(conn, "hello\n")
	rest := got[bytes.Index(got, []byte("\r\n\r\n"))+4:]
	for !bytes.Contains(rest, []byte("\n")) {
		n, err := conn.Read(buf)
		if err != nil {
			t.Fatalf("reading echo: %v", err)
		}
		rest = append(rest, buf[:n]...)
	}
	if string(rest) != "echo:hello\n" {
		t.Errorf("got %q", rest)
	}
}

// TestLeakGuardMadeAliases: the guard lets through the FPE aliases the
// request's own filters made (Luhn-valid card-like numbers) without asking
// the vault, and nothing else: a card number beside them, in any spelling,
// even the one the filter redacted elsewhere, is refused.
func TestLeakGuardMadeAliases(t *testing.T) {
	const doc = `routes:
  - id: fpeblock
    direction: inbound
    host: "*"
    upstream: {{UP}}
    leak_guard: block
    filters:
      - id: card-fpe
        operation: redact
        targets: [{json: card.number, format: FPE_SIX_T_FOUR}, {json: card.other, format: FPE_SIX_T_FOUR}]
`
	up := newUpstream(t, nil)
	g := newGateway(t, parseRoutes(t, doc, up.URL), nil, gwOptions{logger: obstest.Logger(t)})
	grouped := testPAN2[:4] + " " + testPAN2[4:8] + " " + testPAN2[8:12] + " " + testPAN2[12:]
	for _, tc := range []struct {
		name, body string
		hdr        map[string]string
		status     int
	}{
		{"one made alias", `{"card":{"number":"` + testPAN + `"}}`, nil, 200},
		{"two made aliases", `{"card":{"number":"` + testPAN + `","other":"` + testPAN2 + `"}}`, nil, 200},
		{"made alias and another card", `{"card":{"number":"` + testPAN + `"},"note":"` + testPAN2 + `"}`, nil, 422},
		{"made alias and the same card unredacted", `{"card":{"number":"` + testPAN + `"},"note":"` + testPAN + `"}`, nil, 422},
		{"made alias and a grouped card", `{"card":{"number":"` + testPAN + `"},"note":"` + grouped + `"}`, nil, 422},
		{"made alias and a card in a header", `{"card":{"number":"` + testPAN + `"}}`, map[string]string{"X-Ref": testPAN2}, 422},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := len(up.requests())
			resp, b := g.do(t, "POST", "/pay", "application/json", strings.NewReader(tc.body), tc.hdr)
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tc.status, b)
			}
			reqs := up.requests()
			if tc.status != 200 {
				if len(reqs) != before {
					t.Errorf("a refused request reached the upstream")
				}
				return
			}
			if len(reqs) != before+1 {
				t.Fatalf("upstream got %d requests, want %d", len(reqs), before+1)
			}
			got := reqs[len(reqs)-1].Body
			if bytes.Contains(got, []byte(testPAN)) || bytes.Contains(got, []byte(testPAN2)) {
				t.Errorf("upstream body holds a card number: %s", got)
			}
		})
	}
}
