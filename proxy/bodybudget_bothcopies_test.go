package proxy

import (
	"crypto/x509"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/aliasgate/aliasgate/internal/bodybudget"
)

// TestRewrittenBodyAndTheBodyReadAreBothHeld: from the filters' rewrite to
// the end of the phase both the body read and the body the filters made
// are in memory, and the budget holds both: its peak is at least their
// sum, where it held only the longer of the two (the growth reserved), so
// a sender's bodies in memory reached about twice what was counted against
// limits.max_buffered_bytes and its share. Once the body read is dropped
// its bytes go back: when the upstream receives the request the budget
// holds the body forwarded, no more (a reveal made the body shorter: the
// body read was held until the exchange ended). Through the inbound
// proxy's redaction (an alias longer than the number) and the outbound
// proxy's reveal (a number shorter than the alias); all given back after.
func TestRewrittenBodyAndTheBodyReadAreBothHeld(t *testing.T) {
	var atUpstream atomic.Int64
	reply := func(b **bodybudget.Budget) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			atUpstream.Store((*b).Used())
			w.WriteHeader(http.StatusNoContent) // no answer body to hold
		}
	}
	pad := `,"pad":"` + strings.Repeat("x", 2000) + `"}`

	t.Run("inbound redact", func(t *testing.T) {
		b := bodybudget.New(1<<20, 0)
		up := newUpstream(t, reply(&b))
		g := newGateway(t, parseRoutes(t, growRoutes, up.URL), nil, gwOptions{budget: b})
		sent := `{"card":{"number":"` + testPAN + `"}` + pad
		resp, body := g.do(t, "POST", "/grow", "application/json", strings.NewReader(sent), nil)
		if resp.StatusCode != http.StatusNoContent {
			t.Fatalf("%d %s", resp.StatusCode, obstestMask(string(body)))
		}
		fwd := int64(len(up.last(t).Body))
		if fwd <= int64(len(sent)) {
			t.Fatalf("the body forwarded (%d bytes) is not longer than the body sent (%d)", fwd, len(sent))
		}
		checkBothHeld(t, b, int64(len(sent)), fwd, atUpstream.Load())
	})

	t.Run("outbound reveal", func(t *testing.T) {
		b := bodybudget.New(1<<20, 0)
		psp := newTLSUpstream(t, reply(&b))
		g := newOutGateway(t, nil, outOpts{allowPrivate: true, roots: []*x509.Certificate{psp.Certificate()},
			routes: budgetRoutes, budget: b})
		panA, _ := aliases(t, g.vault)
		sent := `{"card":{"number":"` + panA + `"}` + pad
		resp, body := post(t, g.client(psp.Certificate()), "https://psp.example.com:"+psp.port()+"/v1/charges", "application/json", sent)
		if resp.StatusCode != http.StatusNoContent {
			t.Fatalf("%d %s", resp.StatusCode, obstestMask(body))
		}
		got := psp.last(t).Body
		if !strings.Contains(string(got), testPAN) {
			t.Fatalf("the processor got no card number: %s", obstestMask(string(got)))
		}
		checkBothHeld(t, b, int64(len(sent)), int64(len(got)), atUpstream.Load())
	})
}

// checkBothHeld checks the budget's counts for one exchange whose body of
// read bytes the filters rewrote into fwd bytes; held is what the budget
// held when the upstream received the request.
func checkBothHeld(t *testing.T, b *bodybudget.Budget, read, fwd, held int64) {
	t.Helper()
	if p := b.Peak(); p < read+fwd {
		t.Errorf("peak %d bytes: the body read (%d) and the body rewritten (%d) were in memory at once, %d bytes", p, read, fwd, read+fwd)
	}
	if held != fwd {
		t.Errorf("the budget held %d bytes when the upstream received the request, want the %d forwarded (the body read was dropped)", held, fwd)
	}
	waitGivenBack(t, b, "exchange over")
}
