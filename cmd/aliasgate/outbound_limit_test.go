package main

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// TestOutboundProxyClientsAreRateLimited runs serve with an outbound route
// to a TLS processor and limits.outbound_client_rate: one outbound client
// sending charges through one tunnel is served up to its burst, then
// answered 429 rate_limited in the proxy's error shape, with Retry-After,
// and its aliases are no longer revealed to the processor; another
// outbound client is served meanwhile (a bucket per client), and the
// refusals are counted in aliasgate_rate_limited_total{api="outbound"}.
// Before, the outbound proxy had no per-client rate: an authenticated
// client (the merchant's backend, or whoever stole its credentials) could
// make the gateway reveal aliases as fast as it liked.
func TestOutboundProxyClientsAreRateLimited(t *testing.T) {
	var received atomic.Int64
	psp := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		received.Add(1)
		io.WriteString(w, `{"status":"authorized"}`)
	}))
	defer psp.Close()
	dir := t.TempDir()
	bundle := filepath.Join(dir, "psp.pem")
	os.WriteFile(bundle, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: psp.Certificate().Raw}), 0o600)
	routesFile := filepath.Join(dir, "routes.yaml")
	os.WriteFile(routesFile, []byte(`routes:
  - id: psp
    direction: outbound
    host: 127.0.0.1
    filters:
      - {id: reveal-out, operation: reveal, targets: [{json: card.number}]}
`), 0o600)
	data := filepath.Join(dir, "data")
	const burst = 4
	env := testEnv(map[string]string{"ALIASGATE_ROUTES_FILE": routesFile, "ALIASGATE_OUTBOUND_CA_BUNDLE": bundle,
		"ALIASGATE_OUTBOUND_ALLOW_PRIVATE_DESTINATIONS": "true",
		"ALIASGATE_LIMITS_OUTBOUND_CLIENT_RATE":         "1", "ALIASGATE_LIMITS_OUTBOUND_CLIENT_BURST": "4",
		"ALIASGATE_LIMITS_OUTBOUND_UNKNOWN_ALIASES": "1", "ALIASGATE_LIMITS_OUTBOUND_UNKNOWN_BURST": "1"})
	backend := createClient(t, env, data, "--name", "backend", "--account", "acct_1", "--outbound")
	other := createClient(t, env, data, "--name", "other", "--account", "acct_1", "--outbound")
	apiCred := createClient(t, env, data, "--name", "api", "--account", "acct_1", "--scopes", "aliases:write")
	caPEM, _, err := runCmd(t, env, "ca", "cert", "--data-dir", data)
	if err != nil {
		t.Fatal(err)
	}
	g := startGateway(t, env, "--data-dir", data, "--enable-vault-api")
	alias := apiAlias(t, g, apiCred, "4111111111111111")
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM([]byte(caPEM))
	through := func(c credential) *http.Client {
		pu, _ := url.Parse(g.outbound)
		pu.User = url.UserPassword(c.ID, c.Secret)
		return &http.Client{Transport: &http.Transport{Proxy: http.ProxyURL(pu), TLSClientConfig: &tls.Config{RootCAs: pool}},
			Timeout: 10 * time.Second}
	}
	chargeWith := func(c *http.Client, alias string) (*http.Response, string) {
		t.Helper()
		res, err := c.Post(psp.URL+"/charges", "application/json", strings.NewReader(`{"card":{"number":"`+alias+`"},"amount":100}`))
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res, string(b)
	}
	charge := func(c *http.Client) (*http.Response, string) { return chargeWith(c, alias) }

	c := through(backend)
	defer c.CloseIdleConnections()
	served := 0
	start := time.Now()
	var res *http.Response
	var body string
	for range 4 * burst {
		if res, body = charge(c); res.StatusCode != http.StatusOK {
			break
		}
		served++
	}
	// The CONNECT and burst-1 requests fit the burst, plus what refilled
	// at 1 a second meanwhile.
	if most := burst - 1 + int(time.Since(start)/time.Second) + 1; served < burst-1 || served > most {
		t.Fatalf("%d charges served before a refusal, want %d to %d", served, burst-1, most)
	}
	var doc struct {
		Error struct {
			Code string `json:"code"`
		} `json:"error"`
	}
	if res.StatusCode != http.StatusTooManyRequests || res.Header.Get("Retry-After") == "" || json.Unmarshal([]byte(body), &doc) != nil ||
		doc.Error.Code != "rate_limited" || res.Header.Get("Aliasgate-Error") != "rate_limited" {
		t.Fatalf("over the rate: %d %v: %s", res.StatusCode, res.Header, body)
	}
	if strings.Contains(body, "4111111111111111") || strings.Contains(body, alias) {
		t.Fatalf("the refusal carries card data or the alias: %s", body)
	}
	if n := received.Load(); n != int64(served) {
		t.Fatalf("the processor got %d charges, want the %d served", n, served)
	}

	// Another outbound client has a bucket of its own.
	oc := through(other)
	defer oc.CloseIdleConnections()
	if res, body := charge(oc); res.StatusCode != http.StatusOK {
		t.Fatalf("another outbound client: %d %s", res.StatusCode, body)
	}
	if v, ok := metricValue(t, g, `aliasgate_rate_limited_total{api="outbound"}`); !ok || v < 1 {
		t.Fatalf(`aliasgate_rate_limited_total{api="outbound"} = %v (present %v), want at least 1`, v, ok)
	}

	// limits.outbound_unknown_aliases: the other client's one unknown
	// alias spends its budget of 1, and its next charge, with a known
	// alias, is refused before anything is revealed.
	if res, body := chargeWith(oc, "tok_live_0000000000000000000000"); res.StatusCode != http.StatusUnprocessableEntity {
		t.Fatalf("an unknown alias: %d %s", res.StatusCode, body)
	}
	before := received.Load()
	res, body = charge(oc)
	if res.StatusCode != http.StatusTooManyRequests || !strings.Contains(body, `"too_many_unknown_aliases"`) || res.Header.Get("Retry-After") == "" {
		t.Fatalf("a known alias after the unknown-alias budget is spent: %d %v: %s", res.StatusCode, res.Header, body)
	}
	if received.Load() != before {
		t.Fatal("the processor got the charge refused for the unknown-alias budget")
	}
	if v, ok := metricValue(t, g, `aliasgate_abuse_refused_total{limit="outbound_unknown_aliases"}`); !ok || v != 1 {
		t.Fatalf(`aliasgate_abuse_refused_total{limit="outbound_unknown_aliases"} = %v (present %v), want 1`, v, ok)
	}
}

// TestOutboundUnknownCardReferencesSpendTheBudget runs serve with a
// network_token route (fallback: pan) and limits.outbound_unknown_aliases:
// card references that are no card of the client's account (a made-up
// alias, a card id of nobody's) are refused 422 unknown_card by the Card
// Management API and each spends the client's budget of unknown aliases;
// once it is spent, the account's own card is refused 429
// too_many_unknown_aliases and the processor gets nothing. Before, an
// unknown_card was charged nowhere: a network_token route answered guesses
// at the client's rate.
func TestOutboundUnknownCardReferencesSpendTheBudget(t *testing.T) {
	var received atomic.Int64
	psp := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		received.Add(1)
		io.WriteString(w, `{"status":"authorized"}`)
	}))
	defer psp.Close()
	dir := t.TempDir()
	bundle := filepath.Join(dir, "psp.pem")
	os.WriteFile(bundle, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: psp.Certificate().Raw}), 0o600)
	routesFile := filepath.Join(dir, "routes.yaml")
	os.WriteFile(routesFile, []byte(`routes:
  - id: psp
    direction: outbound
    host: 127.0.0.1
    filters:
      - id: pay
        operation: network_token
        fallback: pan
        targets:
          - {json: card.number, role: card}
          - {json: card.cvc, role: cvc}
`), 0o600)
	data := filepath.Join(dir, "data")
	env := testEnv(map[string]string{"ALIASGATE_ROUTES_FILE": routesFile, "ALIASGATE_OUTBOUND_CA_BUNDLE": bundle,
		"ALIASGATE_OUTBOUND_ALLOW_PRIVATE_DESTINATIONS": "true",
		"ALIASGATE_LIMITS_OUTBOUND_UNKNOWN_ALIASES":     "1", "ALIASGATE_LIMITS_OUTBOUND_UNKNOWN_BURST": "2"})
	backend := createClient(t, env, data, "--name", "backend", "--account", "acct_1", "--outbound")
	shop := createClient(t, env, data, "--name", "shop", "--account", "acct_1", "--scopes", "cards:read,cards:write")
	caPEM, _, err := runCmd(t, env, "ca", "cert", "--data-dir", data)
	if err != nil {
		t.Fatal(err)
	}
	g := startGateway(t, env, "--data-dir", data)
	bearer := bearerToken(t, g, shop)
	status, b := call(t, "POST", g.inbound+"/cards", "application/vnd.api+json",
		`{"data":{"attributes":{"pan":"4111111111111111","cvc":"123","exp_month":4,"exp_year":30}}}`, bearer)
	var doc struct {
		Data struct {
			Attributes struct {
				PANAlias string `json:"pan_alias"`
			} `json:"attributes"`
		} `json:"data"`
	}
	if json.Unmarshal(b, &doc) != nil || status != 201 || doc.Data.Attributes.PANAlias == "" {
		t.Fatalf("create card: %d %s", status, b)
	}
	panAlias := doc.Data.Attributes.PANAlias
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM([]byte(caPEM))
	pu, _ := url.Parse(g.outbound)
	pu.User = url.UserPassword(backend.ID, backend.Secret)
	c := &http.Client{Transport: &http.Transport{Proxy: http.ProxyURL(pu), TLSClientConfig: &tls.Config{RootCAs: pool}}, Timeout: 10 * time.Second}
	defer c.CloseIdleConnections()
	pay := func(ref string) (*http.Response, string) {
		t.Helper()
		res, err := c.Post(psp.URL+"/charges", "application/json", strings.NewReader(`{"amount":100,"card":{"number":"`+ref+`","cvc":""}}`))
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		rb, _ := io.ReadAll(res.Body)
		return res, string(rb)
	}
	// The card's alias with its last character changed: "x", or "y" when
	// it ends in "x" (1 in 62 random aliases; the guess was then the
	// card's alias, 200).
	last := "x"
	if strings.HasSuffix(panAlias, last) {
		last = "y"
	}
	for _, guess := range []string{panAlias[:len(panAlias)-1] + last, "CRD0000000000000000000000"} {
		if res, body := pay(guess); res.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(body, `"unknown_card"`) {
			t.Fatalf("guess %q: %d %s", guess, res.StatusCode, body)
		}
	}
	res, body := pay(panAlias)
	if res.StatusCode != http.StatusTooManyRequests || !strings.Contains(body, `"too_many_unknown_aliases"`) || res.Header.Get("Retry-After") == "" {
		t.Fatalf("the account's card after two unknown references: %d %v: %s", res.StatusCode, res.Header, body)
	}
	if strings.Contains(body, "4111111111111111") {
		t.Fatalf("the refusal carries the card number: %s", body)
	}
	if n := received.Load(); n != 0 {
		t.Fatalf("the processor got %d charges, want none", n)
	}
}
