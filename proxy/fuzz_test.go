package proxy

import (
	"bytes"
	"compress/gzip"
	"compress/zlib"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/aliasgate/aliasgate/internal/pan"
	"github.com/aliasgate/aliasgate/internal/vaulttok"
	"github.com/aliasgate/aliasgate/routes"
	"github.com/aliasgate/aliasgate/vault"
	"github.com/aliasgate/aliasgate/vault/memstore"
)

// fuzzRoutes puts one route per kind of filter behind the echo transport.
const fuzzRoutes = `
routes:
  - {id: json, direction: inbound, host: "*", path_prefix: /json, upstream: {{UP}}, leak_guard: block,
     filters: [{id: f, match: {content_type: json}, operation: redact,
       targets: [{json: card.number, format: FPE_SIX_T_FOUR}, {json: "items.#.cvc", storage: volatile}]}]}
  - {id: form, direction: inbound, host: "*", path_prefix: /form, upstream: {{UP}}, leak_guard: block,
     filters: [{id: f, operation: redact, targets: [{form: card_number}, {form: cvc, storage: volatile}]}]}
  - {id: xml, direction: inbound, host: "*", path_prefix: /xml, upstream: {{UP}}, leak_guard: block,
     filters: [{id: f, operation: redact, targets: [{xml: /payment/card/pan}]}]}
  - {id: regex, direction: inbound, host: "*", path_prefix: /regex, upstream: {{UP}}, leak_guard: block,
     filters: [{id: f, operation: redact, targets: [{regex: '[0-9]{13,19}', luhn: true, format: PFPT}]}]}
  - {id: header, direction: inbound, host: "*", path_prefix: /header, upstream: {{UP}},
     filters: [{id: f, operation: redact, targets: [{header: X-Card-Number}, {header: Authorization, pattern: '^Card (\d+)$'}]}]}
  - {id: pass, direction: inbound, host: "*", path_prefix: /pass, upstream: {{UP}}, leak_guard: log,
     filters: [{id: f, operation: redact, on_error: pass, targets: [{json: card.number}]}]}
  - {id: reveal, direction: inbound, host: "*", path_prefix: /reveal, upstream: {{UP}}, leak_guard: "off",
     filters: [{id: f, phase: response, operation: reveal, targets: [{json: card.number}]}]}
  - {id: respredact, direction: inbound, host: "*", path_prefix: /respredact, upstream: {{UP}}, leak_guard: block,
     filters: [{id: f, phase: response, operation: redact, targets: [{json: card.number}]}]}
  - {id: plain, direction: inbound, host: "*", path_prefix: /plain, upstream: {{UP}}}
`

var (
	fuzzPaths    = []string{"/json", "/form", "/xml", "/regex", "/header", "/pass", "/reveal", "/respredact", "/plain"}
	fuzzTypes    = []string{"application/json", "application/x-www-form-urlencoded", "multipart/form-data; boundary=XyZ", "application/xml", "text/plain", "application/octet-stream", ""}
	fuzzBlocking = map[string]bool{"/json": true, "/form": true, "/xml": true, "/regex": true, "/respredact": true}
)

// echoTransport is the upstream: it records each request and answers with
// its body, Content-Type and Content-Encoding.
type echoTransport struct {
	mu  sync.Mutex
	got []*http.Request
	bod [][]byte
}

func (e *echoTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	var b []byte
	if r.Body != nil {
		var err error
		if b, err = io.ReadAll(r.Body); err != nil {
			return nil, err
		}
		r.Body.Close()
	}
	e.mu.Lock()
	e.got = append(e.got, r)
	e.bod = append(e.bod, b)
	e.mu.Unlock()
	h := http.Header{}
	for _, k := range []string{"Content-Type", "Content-Encoding"} {
		if v := r.Header.Get(k); v != "" {
			h.Set(k, v)
		}
	}
	return &http.Response{StatusCode: 200, Header: h, Body: io.NopCloser(bytes.NewReader(b)),
		ContentLength: int64(len(b)), Request: r, ProtoMajor: 1, ProtoMinor: 1}, nil
}

func (e *echoTransport) take() ([]*http.Request, [][]byte) {
	e.mu.Lock()
	defer e.mu.Unlock()
	g, b := e.got, e.bod
	e.got, e.bod = nil, nil
	return g, b
}

type fuzzProxy struct {
	h    http.Handler
	up   *echoTransport
	tv   *testVault
	log  *bytes.Buffer
	done func()
}

func newFuzzProxy(tb testing.TB) *fuzzProxy {
	tb.Helper()
	up := &echoTransport{}
	// Not newTestVault: its stores close when the first input's test ends.
	ps := memstore.New(memstore.Options{SweepInterval: -1})
	vs := memstore.New(memstore.Options{SweepInterval: -1})
	kr, err := vault.OpenKeyring(context.Background(), ps, bytes.Repeat([]byte{7}, 32))
	if err != nil {
		tb.Fatal(err)
	}
	svc, err := vault.New(ps, vs, kr, vault.Options{Env: "test"})
	if err != nil {
		tb.Fatal(err)
	}
	tv := &testVault{svc: svc, persistent: ps, tok: vaulttok.New(svc)}
	buf := &bytes.Buffer{}
	logger := slog.New(slog.NewJSONHandler(buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	in, err := NewInbound(InboundOptions{
		Table: routes.NewTable(parseRoutes(tb, fuzzRoutes, "http://upstream.test")), Tokenizer: tv.tok,
		MaxBody: 64 << 10, Transport: up, Logger: logger,
	})
	if err != nil {
		tb.Fatal(err)
	}
	return &fuzzProxy{h: in, up: up, tv: tv, log: buf, done: func() { ps.Close(); vs.Close() }}
}

// nonAliases returns the card-like runs of b that are not aliases of the
// vault.
func (p *fuzzProxy) nonAliases(t *testing.T, b []byte) []string {
	var list []string
	for _, c := range pan.Find(b) {
		list = append(list, string(b[c.Start:c.End]))
	}
	if len(list) == 0 {
		return nil
	}
	got, err := p.tv.tok.Reveal(context.Background(), list)
	if err != nil {
		t.Fatalf("reveal: %v", err)
	}
	var out []string
	for i, v := range got {
		if v == "" {
			out = append(out, list[i])
		}
	}
	return out
}

func compress(enc string, b []byte) []byte {
	var buf bytes.Buffer
	var w io.WriteCloser
	if enc == "gzip" {
		w = gzip.NewWriter(&buf)
	} else {
		w = zlib.NewWriter(&buf)
	}
	w.Write(b)
	w.Close()
	return buf.Bytes()
}

// FuzzInbound sends arbitrary bodies, media types, content encodings and
// card headers through the inbound proxy to an echo upstream, on routes with
// JSON, form, multipart, XML, regex, header, on_error: pass, and response
// filters. It never panics and never answers 500; a request the gateway
// refuses (400, 413, 415, 422, 503) reaches the upstream not at all; a
// route with leak_guard: block never lets a card-like number that is not an
// alias reach the upstream or the client (for the media types it scans,
// identity-encoded); a targeted header never reaches the upstream in clear;
// error bodies and the log never hold a card-like number.
func FuzzInbound(f *testing.F) {
	for _, s := range []struct {
		route, ct, enc uint8
		body, hdr      string
	}{
		{0, 0, 0, `{"card":{"number":"4111111111111111"},"items":[{"cvc":"123"},{"cvc":456}]}`, ""},
		{0, 0, 0, `{"card":{"number":"4111111111111111","number":"5555555555554444"}}`, ""},
		{0, 0, 1, `{"card":{"number":"4111111111111111"},"note":"5555555555554444"}`, ""},
		{0, 0, 3, `{"card":{"number":"4111111111111111"}}`, ""},
		{0, 0, 0, strings.Repeat(`[`, 200) + strings.Repeat(`]`, 200), ""},
		{1, 1, 0, "card_number=4111111111111111&cvc=123&amount=10", ""},
		{1, 2, 0, "--XyZ\r\nContent-Disposition: form-data; name=card_number\r\n\r\n4111111111111111\r\n--XyZ--\r\n", ""},
		{2, 3, 0, `<payment><card><pan>4111111111111111</pan></card></payment>`, ""},
		{2, 3, 2, `<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "4111111111111111">]><payment><card><pan>&a;</pan></card></payment>`, ""},
		{3, 4, 0, "pay 4111111111111111 and 5555555555554444 now", ""},
		{4, 6, 0, "", "4111111111111111"},
		{5, 0, 0, `{"card":`, ""},
		{6, 0, 0, `{"card":{"number":"tok_test_x"}}`, ""},
		{7, 0, 0, `{"card":{"number":"4111111111111111"}}`, ""},
		{8, 5, 0, "\x00\x01 4111111111111111", ""},
		{0, 7, 4, "x", "Card 4111111111111111"},
	} {
		f.Add(s.route, s.ct, s.enc, []byte(s.body), s.hdr, "")
	}
	var p *fuzzProxy
	runs := 0
	f.Cleanup(func() {
		if p != nil {
			p.done()
		}
	})
	f.Fuzz(func(t *testing.T, route, ctSel, encSel uint8, body []byte, cardHeader, freeType string) {
		if p == nil || runs%5000 == 0 {
			if p != nil {
				p.done()
			}
			p = newFuzzProxy(t)
		}
		runs++
		path := fuzzPaths[int(route)%len(fuzzPaths)]
		ct := freeType
		if int(ctSel) < len(fuzzTypes) {
			ct = fuzzTypes[ctSel]
		}
		enc := ""
		sent := body
		switch encSel % 6 {
		case 1:
			enc, sent = "gzip", compress("gzip", body)
		case 2:
			enc, sent = "deflate", compress("deflate", body)
		case 3:
			enc = "gzip" // raw bytes: mostly not gzip
		case 4:
			enc = "br"
		case 5:
			enc = freeType
		}
		r := httptest.NewRequest("POST", path+"/x", bytes.NewReader(sent))
		if ct != "" && !strings.ContainsAny(ct, "\r\n") {
			r.Header.Set("Content-Type", ct)
		}
		if enc != "" && !strings.ContainsAny(enc, "\r\n") {
			r.Header.Set("Content-Encoding", enc)
		}
		if cardHeader != "" {
			r.Header.Set("X-Card-Number", cardHeader)
			r.Header.Set("Authorization", cardHeader)
		}
		w := httptest.NewRecorder()
		p.h.ServeHTTP(w, r)
		got, bodies := p.up.take()
		logged := p.log.Bytes()
		defer p.log.Reset()

		if w.Code == http.StatusInternalServerError {
			t.Fatalf("%s: 500: %s", path, w.Body)
		}
		switch w.Code {
		case 400, 413, 415, 422, 503:
			if len(got) != 0 {
				t.Fatalf("%s: refused with %d but the upstream got the request", path, w.Code)
			}
			if pan.Contains(w.Body.Bytes()) {
				t.Fatalf("%s: error body holds a card-like number", path)
			}
		case 200:
			if len(got) != 1 {
				t.Fatalf("%s: 200 but the upstream got %d requests", path, len(got))
			}
		case 502:
			if pan.Contains(w.Body.Bytes()) {
				t.Fatalf("%s: error body holds a card-like number", path)
			}
		default:
			t.Fatalf("%s: unexpected status %d: %s", path, w.Code, w.Body)
		}
		// The guard reads bodies of every media type.
		if fuzzBlocking[path] && enc == "" {
			if len(got) == 1 {
				if left := p.nonAliases(t, bodies[0]); len(left) > 0 {
					t.Fatalf("%s: the upstream got %d card-like numbers that are not aliases", path, len(left))
				}
			}
			if w.Code == 200 {
				if left := p.nonAliases(t, w.Body.Bytes()); len(left) > 0 {
					t.Fatalf("%s: the client got %d card-like numbers that are not aliases", path, len(left))
				}
			}
		}
		if path == "/header" && len(got) == 1 && strings.TrimSpace(cardHeader) != "" {
			if v := got[0].Header.Get("X-Card-Number"); v == cardHeader {
				t.Fatalf("the upstream got the card header in clear")
			}
		}
		if pan.Contains(logged) {
			t.Fatalf("%s: the log holds a card-like number: %s", path, pan.Mask(string(logged)))
		}
	})
}
