package proxy

import (
	"crypto/x509"
	"strings"
	"testing"
)

// TestRouteRemovedByAReloadEndsItsInterceptedTunnels: an intercepted
// tunnel went on forwarding its requests to a host whose outbound route a
// reload had removed (the host no longer routed, not in passthrough),
// untouched, for as long as the client kept the connection alive, while a
// new CONNECT to it was refused 403 by default deny. The reloaded policy
// applies inside the tunnel now, as a revoked client's does: 403
// destination_not_allowed, the tunnel ended, nothing sent.
func TestRouteRemovedByAReloadEndsItsInterceptedTunnels(t *testing.T) {
	psp := newTLSUpstream(t, nil)
	g := newOutGateway(t, nil, outOpts{allowPrivate: true, roots: []*x509.Certificate{psp.Certificate()}})
	panA, _ := aliases(t, g.vault)
	c := g.client()
	url := "https://psp.example.com:" + psp.port() + "/v1/charges"
	if resp, body := post(t, c, url, "application/json", `{"card":{"number":"`+panA+`"}}`); resp.StatusCode != 200 {
		t.Fatalf("before the reload: %d %s", resp.StatusCode, body)
	}
	sent := len(psp.requests())

	g.ob.table.Store(parseRoutes(t, "routes: []\n", "")) // a reload that removes every route
	resp, err := c.Post(url, "application/json", strings.NewReader(`{"card":{"number":"`+panA+`"}}`))
	if err == nil {
		resp.Body.Close()
		if resp.StatusCode != 403 {
			t.Errorf("a request in the tunnel after its route was removed: %d, want 403", resp.StatusCode)
		}
		if !resp.Close {
			t.Error("the refusal does not end the tunnel")
		}
	}
	if n := len(psp.requests()) - sent; n != 0 {
		t.Errorf("%d requests forwarded to a host no route names any more", n)
	}
	// A new tunnel is refused at its CONNECT (default deny), as before.
	if resp, err := c.Post(url, "application/json", strings.NewReader(`{}`)); err == nil {
		resp.Body.Close()
		t.Errorf("a new tunnel to the host no route names: %d, want the CONNECT refused", resp.StatusCode)
	}
}
