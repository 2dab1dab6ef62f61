package proxy

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/aliasgate/aliasgate/routes/rewrite"
	"github.com/aliasgate/aliasgate/vault"
)

const accountRoutes = `routes:
  - id: narrow
    direction: outbound
    host: other.example.com
    accounts: [acct_other]
    filters:
      - {id: reveal, operation: reveal, targets: [{json: card.number}]}
  - id: psp
    direction: outbound
    host: psp.example.com
    filters:
      - {id: reveal, operation: reveal, targets: [{json: card.number}]}
`

// as returns a client of the proxy that authenticates as user.
func (g *outGateway) as(user string) *http.Client {
	pool := x509.NewCertPool()
	pool.AddCert(g.ca.Certificate())
	pu := *g.proxied
	pu.User = url.UserPassword(user, "s3cret")
	return &http.Client{Transport: &http.Transport{Proxy: http.ProxyURL(&pu), TLSClientConfig: &tls.Config{RootCAs: pool}},
		Timeout: 10 * time.Second}
}

// TestOutboundRevealsOnlyTheClientsAccount: a proxy client's reveals reach
// its own account's aliases; another account's alias is refused exactly as
// an alias that does not exist, and nothing reaches the processor. A route
// with accounts refuses the clients of the other accounts.
func TestOutboundRevealsOnlyTheClientsAccount(t *testing.T) {
	psp := newTLSUpstream(t, nil)
	tv := newTestVault(t)
	g := newOutGateway(t, tv, outOpts{allowPrivate: true, roots: []*x509.Certificate{psp.Certificate()}, routes: accountRoutes})
	defPAN, _ := aliases(t, tv) // the default account's (client cli)
	own, err := tv.tok.Redact(vault.WithAccount(context.Background(), "acct_other"), []rewrite.RedactItem{{Value: "5555555555554444"}})
	if err != nil {
		t.Fatal(err)
	}
	otherPAN := own[0]
	missing := "tok_test_1111111111111111111111"
	base := "https://psp.example.com:" + psp.port() + "/v1/charges"
	doc := func(a string) string { return `{"card":{"number":"` + a + `"}}` }

	other := g.as("other")
	respMissing, bodyMissing := post(t, other, base, "application/json", doc(missing))
	respForeign, bodyForeign := post(t, other, base, "application/json", doc(defPAN))
	if respForeign.StatusCode != http.StatusUnprocessableEntity || respForeign.StatusCode != respMissing.StatusCode ||
		bodyForeign != bodyMissing {
		t.Fatalf("foreign alias: %d %s; missing alias: %d %s (want the same refusal)", respForeign.StatusCode, bodyForeign,
			respMissing.StatusCode, bodyMissing)
	}
	if n := len(psp.requests()); n != 0 {
		t.Fatalf("the processor received %d requests", n)
	}
	// Each client reveals its own.
	if resp, body := post(t, other, base, "application/json", doc(otherPAN)); resp.StatusCode != 200 {
		t.Fatalf("own alias of acct_other: %d %s", resp.StatusCode, body)
	}
	if got := string(psp.last(t).Body); got != doc("5555555555554444") {
		t.Fatalf("processor got %q", got)
	}
	cli := g.as("cli")
	if resp, body := post(t, cli, base, "application/json", doc(otherPAN)); resp.StatusCode != http.StatusUnprocessableEntity {
		t.Fatalf("the default account's client revealed acct_other's alias: %d %s", resp.StatusCode, body)
	}
	if resp, body := post(t, cli, base, "application/json", doc(defPAN)); resp.StatusCode != 200 || string(psp.last(t).Body) != doc(testPAN) {
		t.Fatalf("own alias of the default account: %d %s", resp.StatusCode, body)
	}
	// The narrowed route: acct_other only.
	narrow := "https://other.example.com:" + psp.port() + "/v1/charges"
	before := len(psp.requests())
	resp, body := post(t, cli, narrow, "application/json", doc(defPAN))
	if resp.StatusCode != http.StatusForbidden || !strings.Contains(body, "account_not_allowed") || strings.Contains(body, testPAN) {
		t.Fatalf("narrowed route, other account: %d %s", resp.StatusCode, body)
	}
	if len(psp.requests()) != before {
		t.Fatal("a refused request reached the processor")
	}
	if resp, body := post(t, other, narrow, "application/json", doc(otherPAN)); resp.StatusCode != 200 {
		t.Fatalf("narrowed route, its account: %d %s", resp.StatusCode, body)
	}
}

// TestInboundRouteActsForItsAccount: an inbound route's redactions belong
// to its account (account key), with aliases of their own; its response
// reveals reach that account's aliases only.
func TestInboundRouteActsForItsAccount(t *testing.T) {
	var reply string
	up := newUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(reply))
	})
	set := parseRoutes(t, `routes:
  - id: shop_a
    direction: inbound
    host: "*"
    path_prefix: /a
    upstream: {{UP}}
    account: acct_a
    leak_guard: "off"
    filters:
      - {id: redact, operation: redact, targets: [{json: pan, format: UUID}]}
      - {id: reveal, phase: response, operation: reveal, on_error: pass, targets: [{json: shown}]}
  - id: shop_default
    direction: inbound
    host: "*"
    path_prefix: /d
    upstream: {{UP}}
    leak_guard: "off"
    filters:
      - {id: redact, operation: redact, targets: [{json: pan, format: UUID}]}
      - {id: reveal, phase: response, operation: reveal, on_error: pass, targets: [{json: shown}]}
`, up.URL)
	g := newGateway(t, set, nil, gwOptions{})
	redact := func(path string) string {
		t.Helper()
		reply = `{}`
		if resp, body := g.do(t, "POST", path, "application/json", strings.NewReader(`{"pan":"`+testPAN+`"}`), nil); resp.StatusCode != 200 {
			t.Fatalf("%s: %d %s", path, resp.StatusCode, body)
		}
		var doc struct{ Pan string }
		if err := json.Unmarshal(up.last(t).Body, &doc); err != nil || !strings.HasPrefix(doc.Pan, "tok_") {
			t.Fatalf("upstream got %q (%v)", up.last(t).Body, err)
		}
		return doc.Pan
	}
	aliasA, aliasD := redact("/a/pay"), redact("/d/pay")
	if aliasA == aliasD {
		t.Fatal("the same PAN has one alias in two accounts")
	}
	if again := redact("/a/pay"); again != aliasA {
		t.Fatal("acct_a's alias is not deterministic")
	}
	bg := context.Background()
	if v, err := g.vault.tok.Reveal(vault.WithAccount(bg, "acct_a"), []string{aliasA}); err != nil || v[0] != testPAN {
		t.Fatalf("acct_a does not reveal its alias: %v", err)
	}
	if v, err := g.vault.tok.Reveal(bg, []string{aliasA}); err == nil && v[0] == testPAN {
		t.Fatal("the default account revealed acct_a's alias")
	}
	reveal := func(path, alias string) string {
		t.Helper()
		reply = `{"shown":"` + alias + `"}`
		resp, body := g.do(t, "GET", path, "", nil, nil)
		if resp.StatusCode != 200 {
			t.Fatalf("%s: %d %s", path, resp.StatusCode, body)
		}
		return string(body)
	}
	if got := reveal("/a/order", aliasA); !strings.Contains(got, testPAN) {
		t.Fatalf("acct_a's route does not reveal its alias: %s", got)
	}
	if got := reveal("/d/order", aliasA); strings.Contains(got, testPAN) {
		t.Fatalf("the default account's route revealed acct_a's alias: %s", got)
	}
	if got := reveal("/a/order", aliasD); strings.Contains(got, testPAN) {
		t.Fatalf("acct_a's route revealed the default account's alias: %s", got)
	}
}
