package proxy

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/aliasgate/aliasgate/internal/obs/obstest"
	"github.com/aliasgate/aliasgate/routes/rewrite"
)

// TestRevealedResponsesAreNotStored: the upstream of a route that reveals
// in its answers writes its caching headers for the aliases it holds, and
// marked an answer shared-cacheable (Cache-Control: public, and the
// CDN-Cache-Control, Surrogate-Control and vendor fields a CDN obeys
// before Cache-Control). The gateway revealed the card number into it and
// left them: a CDN or shared cache in front of the gateway would serve the
// card number to other clients, and a browser keep it on disk. An answer
// a response filter revealed into is sent with Cache-Control: no-store and
// without the CDN fields; one it revealed nothing into keeps its headers.
func TestRevealedResponsesAreNotStored(t *testing.T) {
	tv := newTestVault(t)
	toks, err := tv.tok.Redact(context.Background(), []rewrite.RedactItem{{Value: testPAN}})
	if err != nil {
		t.Fatal(err)
	}
	number := toks[0]
	up := newUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Type", "application/json")
		h.Set("Cache-Control", "public, max-age=3600")
		h.Set("Expires", "Thu, 01 Dec 2044 16:00:00 GMT")
		h.Set("CDN-Cache-Control", "max-age=600")
		h.Set("Surrogate-Control", "max-age=600")
		h.Set("Cloudflare-CDN-Cache-Control", "max-age=600")
		_, _ = w.Write([]byte(`{"card":{"number":"` + number + `"}}`))
	})
	g := newGateway(t, parseRoutes(t, testRoutes, up.URL), tv, gwOptions{logger: obstest.Logger(t)})
	resp, body := g.do(t, "GET", "/reveal", "", nil, nil)
	if resp.StatusCode != 200 || !strings.Contains(string(body), testPAN) {
		t.Fatalf("status %d, revealed %v", resp.StatusCode, strings.Contains(string(body), testPAN))
	}
	if cc := resp.Header.Values("Cache-Control"); len(cc) != 1 || cc[0] != "no-store" {
		t.Errorf("Cache-Control %q on an answer holding a revealed card number, want no-store", cc)
	}
	for _, k := range []string{"Cdn-Cache-Control", "Surrogate-Control", "Cloudflare-Cdn-Cache-Control", "Expires"} {
		if v := resp.Header.Get(k); v != "" {
			t.Errorf("%s %q on an answer holding a revealed card number", k, v)
		}
	}

	// Nothing revealed (the alias is gone): the upstream's headers stand.
	number = "tok_nothing_here"
	resp, _ = g.do(t, "GET", "/reveal", "", nil, nil)
	if resp.Header.Get("Cache-Control") != "public, max-age=3600" || resp.Header.Get("Cdn-Cache-Control") == "" {
		t.Errorf("nothing revealed: Cache-Control %q, CDN-Cache-Control %q", resp.Header.Get("Cache-Control"), resp.Header.Get("Cdn-Cache-Control"))
	}
}
