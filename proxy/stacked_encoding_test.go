package proxy

import (
	"bytes"
	"compress/gzip"
	"compress/zlib"
	"crypto/x509"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/aliasgate/aliasgate/internal/obs/obstest"
)

// stackedRoutes are the routes whose responses must never reach the client
// with a card number: the guard blocks or masks, or a response filter
// redacts (the guard left at its default, log).
var stackedRoutes = "routes:\n" +
	inboundRoute("block", "block", "    leak_guard: block\n") +
	inboundRoute("redact", "redact", "    leak_guard: redact\n") +
	inboundRoute("filter", "filter", responseRedact("")) +
	inboundRoute("stream", "stream", "    leak_guard: \"off\"\n"+headerRedact)

// peel undoes every gzip and zlib layer it finds on b: what a client that
// tries the usual decoders reads.
func peel(b []byte) []byte {
	for range 8 {
		var r io.ReadCloser
		var err error
		if r, err = gzip.NewReader(bytes.NewReader(b)); err != nil {
			if r, err = zlib.NewReader(bytes.NewReader(b)); err != nil {
				return b
			}
		}
		d, err := io.ReadAll(r)
		if err != nil || len(d) == 0 {
			return b
		}
		b = d
	}
	return b
}

func zl(t testing.TB, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	w := zlib.NewWriter(&buf)
	if _, err := w.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestStackedContentEncodingsAreRefusedOnResponses: an upstream's response
// in two content codings, written as two Content-Encoding fields whose first
// is gzip, reached the client with its card number. The transport, which
// asked for gzip itself, took off the outer gzip and deleted every
// Content-Encoding field: the guard and the filters read the inner coding's
// bytes as an identity body, found nothing, and the client got the card
// number one gunzip away. A stacked coding the guard cannot read is refused
// (502), as when the fields come in one line.
func TestStackedContentEncodingsAreRefusedOnResponses(t *testing.T) {
	card := []byte(`{"card":{"number":"` + testPAN + `"}}`)
	answers := []struct {
		name      string
		encodings []string
		body      []byte
	}{
		{"gzip field twice", []string{"gzip", "gzip"}, gz(t, gz(t, card))},
		{"gzip then deflate field", []string{"gzip", "deflate"}, gz(t, zl(t, card))},
		{"GZIP then x-gzip field", []string{"GZIP", "x-gzip"}, gz(t, gz(t, card))},
		{"gzip then identity, gzip", []string{"gzip", "identity, gzip"}, gz(t, gz(t, card))},
		{"gzip then an unknown coding", []string{"gzip", "x-custom"}, gz(t, gz(t, card))},
	}
	var answer int
	up := newUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		a := answers[answer]
		w.Header().Set("Content-Type", "application/json")
		for _, e := range a.encodings {
			w.Header().Add("Content-Encoding", e)
		}
		_, _ = w.Write(a.body)
	})
	g := newGateway(t, parseRoutes(t, stackedRoutes, up.URL), nil, gwOptions{logger: obstest.Logger(t)})
	for i, a := range answers {
		for _, route := range []string{"/block", "/redact", "/filter"} {
			answer = i
			resp, body := g.do(t, "GET", route+"/x", "", nil, map[string]string{"Accept-Encoding": "identity"})
			if bytes.Contains(peel(body), []byte(testPAN)) {
				t.Errorf("%s through %s: status %d, the client got the card number (Content-Encoding %q)",
					a.name, route, resp.StatusCode, resp.Header.Values("Content-Encoding"))
			}
			if resp.StatusCode != http.StatusBadGateway || resp.Header.Get(DeliveredHeader) != "true" ||
				!strings.Contains(string(body), "unsupported_content_encoding") {
				t.Errorf("%s through %s: status %d %s, want 502 unsupported_content_encoding", a.name, route, resp.StatusCode, body)
			}
		}
	}

	// One gzip coding is read and the client, which asked for none, gets
	// the body decoded, as before, also where the body streams unread
	// (/stream: no body target, the guard off).
	answers = append(answers[:0], struct {
		name      string
		encodings []string
		body      []byte
	}{"gzip", []string{"gzip"}, gz(t, []byte(`{"ok":true}`))})
	answer = 0
	for _, route := range []string{"/block", "/redact", "/filter", "/stream"} {
		// Accept-Encoding set: the test's client decodes nothing itself.
		resp, body := g.do(t, "GET", route+"/x", "", nil, map[string]string{"Accept-Encoding": "identity"})
		if resp.StatusCode != 200 || string(body) != `{"ok":true}` || resp.Header.Get("Content-Encoding") != "" {
			t.Errorf("one gzip coding through %s: status %d, Content-Encoding %q: %q", route, resp.StatusCode, resp.Header.Get("Content-Encoding"), body)
		}
	}
}

// TestStackedContentEncodingsAreRefusedOnOutboundResponses is
// TestStackedContentEncodingsAreRefusedOnResponses through the outbound
// proxy: a processor's answer in two codings, gzip written first, reached
// the merchant past the route's response filter and guard.
func TestStackedContentEncodingsAreRefusedOnOutboundResponses(t *testing.T) {
	echo := []byte(`{"echo":{"pan":"` + testPAN + `"}}`)
	var encodings []string
	var body []byte
	psp := newTLSUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		for _, e := range encodings {
			w.Header().Add("Content-Encoding", e)
		}
		_, _ = w.Write(body)
	})
	g := newOutGateway(t, nil, outOpts{allowPrivate: true, roots: []*x509.Certificate{psp.Certificate()}})
	c := g.client()
	u := "https://psp.example.com:" + psp.port() + "/v1/charges"
	for _, a := range []struct {
		encodings []string
		body      []byte
	}{
		{[]string{"gzip", "gzip"}, gz(t, gz(t, echo))},
		{[]string{"gzip", "deflate"}, gz(t, zl(t, echo))},
	} {
		encodings, body = a.encodings, a.body
		resp, got := post(t, c, u, "application/json", `{"amount":1}`)
		if bytes.Contains(peel([]byte(got)), []byte(testPAN)) {
			t.Errorf("%q: status %d, the merchant got the card number", a.encodings, resp.StatusCode)
		}
		if resp.StatusCode != http.StatusBadGateway || !strings.Contains(got, "unsupported_content_encoding") {
			t.Errorf("%q: status %d %q, want 502 unsupported_content_encoding", a.encodings, resp.StatusCode, got)
		}
	}
	// One gzip coding: read, and the merchant gets the body decoded.
	encodings, body = []string{"gzip"}, gz(t, echo)
	resp, got := post(t, c, u, "application/json", `{"amount":1}`)
	if resp.StatusCode != 200 || strings.Contains(got, testPAN) || !strings.Contains(got, `"pan":"tok_`) {
		t.Errorf("one gzip coding: status %d: %q", resp.StatusCode, got)
	}
}
