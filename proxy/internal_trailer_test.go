package proxy

import (
	"io"
	"net/http"
	"strings"
	"testing"
)

// TestInternalAnswerTrailersDoNotPassTheRoutesFilters: an in-process
// upstream's trailer fields set after its header were dropped from its
// answer on a route that reads it, but one set before it through
// http.TrailerPrefix went into the answer's header map under its prefixed
// name, which no header target names, and net/http sent it as a trailer:
// a card number in trailer X-Card reached the client in clear through a
// route whose response filter redacts X-Card (an external upstream's
// trailer of that name is redacted). An in-process answer's trailers are
// dropped however they were set.
func TestInternalAnswerTrailersDoNotPassTheRoutesFilters(t *testing.T) {
	const doc = `routes:
  - id: hide
    direction: inbound
    host: "*"
    path_prefix: /hide
    upstream: internal:cards
    leak_guard: "off"
    filters:
      - id: hide-card
        phase: response
        operation: redact
        targets: [{header: X-Card}]
`
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set(http.TrailerPrefix+"X-Card", testPAN)
		_, _ = io.WriteString(w, "answer")
		w.Header().Set(http.TrailerPrefix+"X-Late", testPAN)
	})
	g := newGateway(t, parseRoutes(t, doc, "http://127.0.0.1:1"), nil, gwOptions{internal: map[string]http.Handler{"internal:cards": h}})
	resp, body := g.do(t, "GET", "/hide/x", "", nil, nil)
	if resp.StatusCode != http.StatusOK || string(body) != "answer" {
		t.Fatalf("%d %q", resp.StatusCode, body)
	}
	for _, fields := range []http.Header{resp.Header, resp.Trailer} {
		for k, vs := range fields {
			for _, v := range vs {
				if strings.Contains(v, testPAN) {
					t.Errorf("the card number in clear in field %s of the answer", k)
				}
			}
		}
	}
}
