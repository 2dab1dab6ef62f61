package proxy

import (
	"context"
	"crypto/x509"
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/aliasgate/aliasgate/routes/rewrite"
)

// fixedPayments resolves the card reference "card_1" to the test card (the
// fallback: its PAN and CVC), as the Card Management API does for a card
// without a network token on a route with fallback: pan.
type fixedPayments struct{}

func (fixedPayments) Payment(_ context.Context, ref string, _ bool, _ string) (rewrite.Payment, error) {
	if ref != "card_1" {
		return nil, codedRefusal("unknown_card")
	}
	return rewrite.Payment{rewrite.RoleCard: testPAN, rewrite.RoleCVC: testCVC}, nil
}

const networkTokenRoutes = `routes:
  - id: pay-tls
    direction: outbound
    host: psp.example.com
    filters:
      - id: pay
        phase: request
        operation: network_token
        fallback: pan
        targets:
          - {json: card.number, role: card}
          - {json: card.cvc, role: cvc}
  - id: pay-plain
    direction: outbound
    host: a1.example.com
    filters:
      - id: pay
        phase: request
        operation: network_token
        fallback: pan
        targets:
          - {json: card.number, role: card}
          - {json: card.cvc, role: cvc}
`

// TestNetworkTokenPaymentsOverTLSOnly: a network_token route puts card
// data into the request (the network token PAN and its cryptogram, or with
// fallback: pan the PAN and CVC), as a reveal does, so it is held to the
// same rule: over TLS only. Plain HTTP, absolute-form or inside a CONNECT,
// is refused (403 reveal_needs_tls) before the card reference is resolved,
// and the destination gets nothing; over TLS the payment goes through.
func TestNetworkTokenPaymentsOverTLSOnly(t *testing.T) {
	psp := newTLSUpstream(t, nil)
	plain := newUpstream(t, nil)
	_, pport, _ := net.SplitHostPort(plain.Listener.Addr().String())
	g := newOutGateway(t, nil, outOpts{allowPrivate: true, roots: []*x509.Certificate{psp.Certificate()},
		routes: networkTokenRoutes, payments: fixedPayments{}})
	body := `{"card":{"number":"card_1","cvc":""}}`
	want := `{"card":{"number":"` + testPAN + `","cvc":"` + testCVC + `"}}`
	c := g.client()

	// Over TLS the card data goes to the processor.
	resp, got := post(t, c, "https://psp.example.com:"+psp.port()+"/v1", "application/json", body)
	if resp.StatusCode != http.StatusOK || string(psp.last(t).Body) != want {
		t.Fatalf("over TLS: %d %s", resp.StatusCode, got)
	}

	// Absolute-form http://: refused.
	resp, got = post(t, c, "http://a1.example.com:"+pport+"/v1", "application/json", body)
	if resp.StatusCode != http.StatusForbidden || resp.Header.Get(ErrorHeader) != "reveal_needs_tls" {
		t.Errorf("absolute-form: %d %s", resp.StatusCode, obstestMask(got))
	}

	// Plain HTTP inside a CONNECT: refused.
	r, conn, br := rawConnect(t, g.srv.Listener.Addr().String(), "a1.example.com:"+pport, "cli", "s3cret")
	if r.StatusCode != http.StatusOK {
		t.Fatalf("CONNECT: %d", r.StatusCode)
	}
	req, _ := http.NewRequest(http.MethodPost, "http://a1.example.com:"+pport+"/v1", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if err := req.Write(conn); err != nil {
		t.Fatal(err)
	}
	in, err := http.ReadResponse(br, req)
	if err != nil {
		t.Fatal(err)
	}
	if b := readAll(t, in); in.StatusCode != http.StatusForbidden || in.Header.Get(ErrorHeader) != "reveal_needs_tls" {
		t.Errorf("plain inside CONNECT: %d %s", in.StatusCode, obstestMask(b))
	}

	for _, r := range plain.requests() {
		t.Errorf("the cleartext destination got %q", obstestMask(string(r.Body)))
	}
}
