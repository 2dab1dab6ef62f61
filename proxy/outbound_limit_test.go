package proxy

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aliasgate/aliasgate/internal/ratelimit"
	"github.com/aliasgate/aliasgate/routes/rewrite"
	"github.com/aliasgate/aliasgate/vault"
)

// keyedLimit is a token bucket of burst requests per key that does not
// refill during a test, recording the keys it was asked about.
type keyedLimit struct {
	l    *ratelimit.Limiter
	mu   sync.Mutex
	keys map[string]int
}

func newKeyedLimit(burst int) *keyedLimit {
	return &keyedLimit{l: ratelimit.NewPer(1, time.Hour, burst, nil), keys: map[string]int{}}
}

func (k *keyedLimit) allow(key string) (bool, time.Duration) {
	k.mu.Lock()
	k.keys[key]++
	k.mu.Unlock()
	return k.l.Allow(key)
}

// wantRateLimited checks a 429 rate_limited answer of the proxy: its
// error shape (the top-level "error" object, Aliasgate-Error), Retry-After
// and X-RateLimit-Remaining, and that it carries no card data.
func wantRateLimited(t *testing.T, what string, resp *http.Response, body string) {
	t.Helper()
	var doc struct {
		Error struct {
			Code string `json:"code"`
		} `json:"error"`
	}
	if resp.StatusCode != http.StatusTooManyRequests || json.Unmarshal([]byte(body), &doc) != nil || doc.Error.Code != "rate_limited" ||
		resp.Header.Get(ErrorHeader) != "rate_limited" || resp.Header.Get("Retry-After") == "" ||
		resp.Header.Get("X-RateLimit-Remaining") != "0" {
		t.Fatalf("%s: %d %v: %s, want 429 rate_limited with Retry-After", what, resp.StatusCode, resp.Header, body)
	}
	if strings.Contains(body, testPAN) || strings.Contains(body, "tok_") {
		t.Fatalf("%s: card data or an alias in the refusal: %s", what, body)
	}
}

// TestOutboundClientsAreRateLimited: every CONNECT, plain-HTTP request and
// request inside a tunnel of one proxy client takes from that client's
// bucket (OutboundOptions.Limit); over it the proxy answers 429
// rate_limited in its own error shape, reveals nothing and sends nothing,
// and the tunnel stays open. Another client of the proxy has a bucket of
// its own. Before, an authenticated outbound client (or a stolen
// credential) could make the gateway reveal aliases as fast as it liked.
func TestOutboundClientsAreRateLimited(t *testing.T) {
	psp := newTLSUpstream(t, nil)
	lim := newKeyedLimit(3)
	g := newOutGateway(t, nil, outOpts{allowPrivate: true, roots: []*x509.Certificate{psp.Certificate()}, limit: lim.allow})
	panA, cvcA := aliases(t, g.vault)
	c := g.client()
	defer c.CloseIdleConnections()
	u := "https://psp.example.com:" + psp.port() + "/v1/charges"
	charge := `{"card":{"number":"` + panA + `","cvc":"` + cvcA + `"}}`

	// The CONNECT and two requests fit a burst of 3.
	for i := range 2 {
		if resp, body := post(t, c, u, "application/json", charge); resp.StatusCode != 200 {
			t.Fatalf("request %d: %d %s", i+1, resp.StatusCode, body)
		}
	}
	for i := range 3 {
		resp, body := post(t, c, u, "application/json", charge)
		wantRateLimited(t, "a request inside the tunnel", resp, body)
		if resp.Close {
			t.Fatalf("refusal %d closed the tunnel", i+1)
		}
	}
	if n := len(psp.requests()); n != 2 {
		t.Fatalf("the processor got %d requests, want the 2 under the limit", n)
	}

	// A new CONNECT and a plain-HTTP request of the same client: its
	// bucket too.
	addr := g.srv.Listener.Addr().String()
	resp, _, _ := rawConnect(t, addr, "psp.example.com:"+psp.port(), "cli", "s3cret")
	wantRateLimited(t, "a CONNECT", resp, readAll(t, resp))
	pc := &http.Client{Transport: &http.Transport{Proxy: http.ProxyURL(g.proxied)}, Timeout: 10 * time.Second}
	resp, body := post(t, pc, "http://plain.example.com:"+psp.port()+"/pay", "application/json", `{}`)
	wantRateLimited(t, "a plain-HTTP request", resp, body)

	// Another client is served: a bucket per client.
	other := *g.proxied
	other.User = url.UserPassword("other", "s3cret")
	pool := x509.NewCertPool()
	pool.AddCert(g.ca.Certificate())
	oc := &http.Client{Transport: &http.Transport{Proxy: http.ProxyURL(&other), TLSClientConfig: &tls.Config{RootCAs: pool}}, Timeout: 10 * time.Second}
	defer oc.CloseIdleConnections()
	if resp, body := post(t, oc, u, "application/json", `{"amount":1}`); resp.StatusCode != 200 {
		t.Fatalf("another client: %d %s", resp.StatusCode, body)
	}
	// Wrong credentials reach no bucket (they are no client's: the
	// lockout's business).
	resp, _, _ = rawConnect(t, addr, "psp.example.com:"+psp.port(), "cli", "wrong")
	if resp.StatusCode != http.StatusProxyAuthRequired {
		t.Fatalf("wrong credentials: %d", resp.StatusCode)
	}
	lim.mu.Lock()
	defer lim.mu.Unlock()
	for k := range lim.keys {
		if k != "client:cli" && k != "client:other" {
			t.Errorf("limit asked about key %q, want the clients' only", k)
		}
	}
}

// TestOutboundSendersWithoutClientsAreRateLimitedByAddress: without proxy
// credentials (outbound.require_auth off) the sender is its address.
func TestOutboundSendersWithoutClientsAreRateLimitedByAddress(t *testing.T) {
	psp := newTLSUpstream(t, nil)
	lim := newKeyedLimit(2)
	g := newOutGateway(t, nil, outOpts{allowPrivate: true, noAuth: true, roots: []*x509.Certificate{psp.Certificate()}, limit: lim.allow})
	c := g.client()
	defer c.CloseIdleConnections()
	u := "https://psp.example.com:" + psp.port() + "/v1/charges"
	if resp, body := post(t, c, u, "application/json", `{}`); resp.StatusCode != 200 {
		t.Fatalf("first request: %d %s", resp.StatusCode, body)
	}
	resp, body := post(t, c, u, "application/json", `{}`)
	wantRateLimited(t, "a request over the address's rate", resp, body)
	lim.mu.Lock()
	defer lim.mu.Unlock()
	if len(lim.keys) != 1 || lim.keys["source:127.0.0.1"] != 3 {
		t.Fatalf("keys asked %v, want source:127.0.0.1 three times", lim.keys)
	}
}

// TestOutboundUnknownAliasesAreBounded: each request refused for an alias
// the vault does not know (or another account's) is charged to its
// sender's budget (OutboundOptions.Misses); once it is spent, every
// request of a revealing route is answered 429 too_many_unknown_aliases
// before anything is revealed, known aliases too, so the answer no longer
// tells a right guess from a wrong one. Before, an outbound client could
// try aliases (one card's FPE aliases are 100,000 candidates) as fast as
// it could send them, each wrong one answered 422 and charged nowhere.
func TestOutboundUnknownAliasesAreBounded(t *testing.T) {
	psp := newTLSUpstream(t, nil)
	g := newOutGateway(t, nil, outOpts{allowPrivate: true, roots: []*x509.Certificate{psp.Certificate()},
		misses: ratelimit.NewPer(1, time.Hour, 2, nil)})
	panA, _ := aliases(t, g.vault)
	// An alias of another account: unknown to cli's account.
	otherA, err := g.vault.tok.Redact(vault.WithAccount(context.Background(), "acct_other"), []rewrite.RedactItem{{Value: "5555555555554444"}})
	if err != nil {
		t.Fatal(err)
	}
	c := g.client()
	defer c.CloseIdleConnections()
	u := "https://psp.example.com:" + psp.port() + "/v1/charges"
	charge := func(alias string) (*http.Response, string) {
		return post(t, c, u, "application/json", `{"card":{"number":"`+alias+`"}}`)
	}
	if resp, body := charge(panA); resp.StatusCode != 200 {
		t.Fatalf("a known alias: %d %s", resp.StatusCode, body)
	}
	for i, guess := range []string{"tok_test_1111111111111111111111", otherA[0]} {
		if resp, body := charge(guess); resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(body, "unknown_alias") {
			t.Fatalf("guess %d: %d %s", i+1, resp.StatusCode, body)
		}
	}
	for _, a := range []string{panA, "tok_test_2222222222222222222222"} {
		resp, body := charge(a)
		var doc struct {
			Error struct {
				Code string `json:"code"`
			} `json:"error"`
		}
		if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "" ||
			json.Unmarshal([]byte(body), &doc) != nil || doc.Error.Code != "too_many_unknown_aliases" || strings.Contains(body, "tok_") {
			t.Fatalf("after the budget is spent: %d %v: %s", resp.StatusCode, resp.Header, body)
		}
	}
	if n := len(psp.requests()); n != 1 {
		t.Fatalf("the processor got %d requests, want only the first", n)
	}
	// Another client's budget is its own.
	other := *g.proxied
	other.User = url.UserPassword("other", "s3cret")
	pool := x509.NewCertPool()
	pool.AddCert(g.ca.Certificate())
	oc := &http.Client{Transport: &http.Transport{Proxy: http.ProxyURL(&other), TLSClientConfig: &tls.Config{RootCAs: pool}}, Timeout: 10 * time.Second}
	defer oc.CloseIdleConnections()
	if resp, body := post(t, oc, u, "application/json", `{"card":{"number":"`+otherA[0]+`"}}`); resp.StatusCode != 200 {
		t.Fatalf("another client: %d %s", resp.StatusCode, body)
	}
}

// peekWave is a budget of unknown aliases that reports each Peek on
// peeked, so a test can hold requests between their Peek and the reveal.
type peekWave struct {
	*ratelimit.Limiter
	peeked chan struct{}
}

func (p peekWave) Peek(key string) (bool, time.Duration) {
	ok, wait := p.Limiter.Peek(key)
	p.peeked <- struct{}{}
	return ok, wait
}

// TestOutboundConcurrentUnknownAliasesAreAllCharged: a wave of requests
// that all pass the budget's Peek before any of them is charged (their
// bodies come after it) meets as many unknown aliases as it has requests;
// each is charged, leaving the sender in debt, so it then waits for the
// budget to refill all of them. Before, a charge found the bucket empty
// after the first burst's worth and took nothing (Limiter.Charge refuses
// a cost of 1 under 1 token): the sender waited 2 s for one token and
// sent the next wave, as many guesses a wave as it had requests in
// flight (one card's FPE aliases in minutes, not the 55 hours of 30 a
// minute).
func TestOutboundConcurrentUnknownAliasesAreAllCharged(t *testing.T) {
	psp := newTLSUpstream(t, nil)
	t0 := time.Now()
	budget := peekWave{Limiter: ratelimit.NewPer(30, time.Minute, 2, func() time.Time { return t0 }), peeked: make(chan struct{}, 64)}
	g := newOutGateway(t, nil, outOpts{allowPrivate: true, roots: []*x509.Certificate{psp.Certificate()}, misses: budget})
	c := g.client()
	defer c.CloseIdleConnections()
	u := "https://psp.example.com:" + psp.port() + "/v1/charges"
	const wave = 8
	writers := make([]*io.PipeWriter, wave)
	codes := make(chan int, wave)
	for i := range wave {
		pr, pw := io.Pipe()
		writers[i] = pw
		go func() {
			resp, err := c.Post(u, "application/json", pr)
			if err != nil {
				codes <- 0
				return
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			_ = resp.Body.Close()
			codes <- resp.StatusCode
		}()
	}
	for range wave {
		select {
		case <-budget.peeked:
		case <-time.After(10 * time.Second):
			t.Fatal("the wave's requests did not all reach the budget")
		}
	}
	for i, pw := range writers {
		_, _ = io.WriteString(pw, fmt.Sprintf(`{"card":{"number":"tok_test_%030d"}}`, i))
		_ = pw.Close()
	}
	guesses := 0
	for range wave {
		if code := <-codes; code == http.StatusUnprocessableEntity {
			guesses++
		}
	}
	if guesses != wave {
		t.Fatalf("%d of the wave's %d guesses were answered 422, want all (they passed the Peek together)", guesses, wave)
	}
	resp, body := post(t, c, u, "application/json", `{"card":{"number":"tok_test_999999999999999999999999999999"}}`)
	<-budget.peeked
	after, _ := strconv.Atoi(resp.Header.Get("Retry-After"))
	// 2 tokens, 8 charged: 6 in debt, 7 to refill at 30 a minute.
	if resp.StatusCode != http.StatusTooManyRequests || after < 14 {
		t.Fatalf("after a wave of %d unknown aliases: %d Retry-After %q %s, want 429 for at least 14 s (every miss charged)",
			wave, resp.StatusCode, resp.Header.Get("Retry-After"), body)
	}
	if n := len(psp.requests()); n != 0 {
		t.Fatalf("the processor got %d requests", n)
	}
}

// TestOutboundUnknownCardReferencesAreBounded: a network_token filter's
// card reference the account has no card for (an alias that does not
// exist or is no card's, a card id of nobody's or of another account) is
// refused 422 unknown_card: the same answer to a guess as unknown_alias,
// and charged to the same budget. Before, it was charged nowhere: a route
// with a network_token filter let an outbound client try PAN aliases (or
// card ids) at the client's rate, 1,000 a second.
func TestOutboundUnknownCardReferencesAreBounded(t *testing.T) {
	psp := newTLSUpstream(t, nil)
	t0 := time.Now()
	g := newOutGateway(t, nil, outOpts{allowPrivate: true, roots: []*x509.Certificate{psp.Certificate()},
		routes: networkTokenRoutes, payments: fixedPayments{},
		misses: ratelimit.NewPer(30, time.Minute, 2, func() time.Time { return t0 })})
	c := g.client()
	defer c.CloseIdleConnections()
	u := "https://psp.example.com:" + psp.port() + "/v1"
	pay := func(ref string) (*http.Response, string) {
		return post(t, c, u, "application/json", `{"card":{"number":"`+ref+`","cvc":""}}`)
	}
	for i, guess := range []string{"tok_test_1111111111111111111111", "card_2"} {
		if resp, body := pay(guess); resp.StatusCode != http.StatusUnprocessableEntity || resp.Header.Get(ErrorHeader) != "unknown_card" {
			t.Fatalf("guess %d: %d %s", i+1, resp.StatusCode, body)
		}
	}
	for _, ref := range []string{"tok_test_2222222222222222222222", "card_1"} {
		resp, body := pay(ref)
		if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get(ErrorHeader) != "too_many_unknown_aliases" ||
			resp.Header.Get("Retry-After") == "" {
			t.Fatalf("%s after the budget is spent: %d %v: %s", ref, resp.StatusCode, resp.Header, body)
		}
	}
	if n := len(psp.requests()); n != 0 {
		t.Fatalf("the processor got %d requests, want none", n)
	}
}
