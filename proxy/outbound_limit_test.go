package proxy

import (
	"context"
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

	"github.com/aliasgate/aliasgate/internal/obs"
	"github.com/aliasgate/aliasgate/internal/obs/obstest"
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

// otherClient is client for the gateway's second proxy client, "other"
// (of the account acct_other).
func (g *outGateway) otherClient() *http.Client {
	other := *g.proxied
	other.User = url.UserPassword("other", "s3cret")
	c := g.client()
	c.Transport.(*http.Transport).Proxy = http.ProxyURL(&other)
	return c
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
	oc := g.otherClient()
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
	oc := g.otherClient()
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

// batchRoutes reveal a list of aliases in one request: strictly at
// psp.example.com, with on_error: pass at lenient.example.com.
const batchRoutes = `routes:
  - id: lenient
    direction: outbound
    host: lenient.example.com
    filters:
      - {id: reveal-pass, phase: request, operation: reveal, on_error: pass, targets: [{json: "items.#.number"}]}
  - id: psp
    direction: outbound
    host: psp.example.com
    filters:
      - {id: reveal, phase: request, operation: reveal, targets: [{json: "items.#.number"}, {json: card.cvc}]}
`

// batch is a JSON body of the batch routes holding each of numbers.
func batch(numbers ...string) string {
	items := make([]string, len(numbers))
	for i, n := range numbers {
		items[i] = `{"number":"` + n + `"}`
	}
	return `{"items":[` + strings.Join(items, ",") + `]}`
}

// newMissGateway is an outbound gateway with routes (and payments, if not
// nil) to a recording processor, with a budget of unknown aliases of
// burst per sender that does not refill during the test, and metrics.
func newMissGateway(t *testing.T, routes string, payments CardPayments, burst int) (*upstream, *missGateway) {
	t.Helper()
	psp := newTLSUpstream(t, nil)
	t0 := time.Now()
	m := obs.NewMetrics()
	g := newOutGateway(t, nil, outOpts{allowPrivate: true, roots: []*x509.Certificate{psp.Certificate()}, routes: routes,
		payments: payments, metrics: m, logger: obstest.Logger(t),
		misses: ratelimit.NewPer(30, time.Minute, burst, func() time.Time { return t0 })})
	return psp, &missGateway{g, m}
}

// missGateway is newMissGateway's gateway and its metrics.
type missGateway struct {
	*outGateway
	m *obs.Metrics
}

// filterResults is aliasgate_proxy_filter_results_total{route,filter,result}.
func (g *missGateway) filterResults(route, filter, result string) float64 {
	return counterValue(g.m.ProxyFilterResults.WithLabelValues(route, filter, result))
}

// wantMissesSpent checks a 429 too_many_unknown_aliases answer with
// Retry-After that carries no alias.
func wantMissesSpent(t *testing.T, what string, resp *http.Response, body string) {
	t.Helper()
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get(ErrorHeader) != "too_many_unknown_aliases" ||
		resp.Header.Get("Retry-After") == "" || strings.Contains(body, "tok_") {
		t.Fatalf("%s: %d %v: %s, want 429 too_many_unknown_aliases with Retry-After", what, resp.StatusCode, resp.Header, body)
	}
}

// TestOutboundPassedUnknownAliasesAreNotCharged: a reveal filter with
// on_error: pass says the values at its targets may be other than aliases
// (another provider's token, a number a backend in scope sends in clear,
// VGS's behaviour for an alias it does not hold), and forwards them as
// they are. Charging them to the sender's budget of unknown aliases (as
// the outbound charge review first did) stopped all of the sender's
// revealing traffic after 30 such values a minute: a merchant's payments
// refused for a route doing what it says. They are not charged; each is
// logged and counted (passed_on_error), and the route's strict filters
// keep the bound.
func TestOutboundPassedUnknownAliasesAreNotCharged(t *testing.T) {
	psp, g := newMissGateway(t, batchRoutes, nil, 3)
	panA, _ := aliases(t, g.vault)
	c := g.client()
	defer c.CloseIdleConnections()
	lenient := "https://lenient.example.com:" + psp.port() + "/v1/charges"
	for i := range 10 {
		other := fmt.Sprintf("tok_test_%022d", i)
		resp, body := post(t, c, lenient, "application/json", batch(panA, other))
		if resp.StatusCode != 200 {
			t.Fatalf("passed value %d: %d %s", i+1, resp.StatusCode, body)
		}
		if got := string(psp.last(t).Body); got != batch(testPAN, other) {
			t.Fatalf("passed value %d: the processor got %q", i+1, got)
		}
	}
	strict := "https://psp.example.com:" + psp.port() + "/v1/charges"
	if resp, body := post(t, c, strict, "application/json", batch(panA)); resp.StatusCode != 200 {
		t.Fatalf("a known alias on the strict route after ten passed values: %d %s", resp.StatusCode, body)
	}
	if n := g.filterResults("lenient", "reveal-pass", "passed_on_error"); n != 10 {
		t.Errorf("passed_on_error counted %v, want 10", n)
	}
	// The strict route's guesses still spend the budget.
	for i := range 3 {
		resp, _ := post(t, c, strict, "application/json", batch(fmt.Sprintf("tok_test_%022d", 100+i)))
		if resp.StatusCode != http.StatusUnprocessableEntity {
			t.Fatalf("strict guess %d: %d, want 422", i+1, resp.StatusCode)
		}
	}
	resp, body := post(t, c, lenient, "application/json", batch(panA))
	wantMissesSpent(t, "a known alias once three refused guesses spent the budget", resp, body)
}

// TestOutboundEveryUnknownAliasOfARequestIsCharged: a request whose
// reveal targets hold several unknown aliases is charged one for each
// (each distinct value: the same guess twice is one guess), not one for
// the request. A request that meets more unknown aliases than its
// sender's budget holds is charged all of them, into debt. Before, a
// batch of 50 guesses cost 1.
func TestOutboundEveryUnknownAliasOfARequestIsCharged(t *testing.T) {
	psp, g := newMissGateway(t, batchRoutes, nil, 6)
	panA, _ := aliases(t, g.vault)
	c := g.client()
	defer c.CloseIdleConnections()
	strict := "https://psp.example.com:" + psp.port() + "/v1/charges"
	// Four distinct guesses (one twice) in a list, one in another target:
	// 5 charged, 1 left.
	g1, g2, g3, g4, g5 := "tok_test_1111111111111111111111", "tok_test_2222222222222222222222",
		"tok_test_3333333333333333333333", "tok_test_4444444444444444444444", "tok_test_5555555555555555555555"
	body := strings.TrimSuffix(batch(g1, panA, g2, g3, g1, g4), "}") + `,"card":{"cvc":"` + g5 + `"}}`
	if resp, body := post(t, c, strict, "application/json", body); resp.StatusCode != http.StatusUnprocessableEntity ||
		resp.Header.Get(ErrorHeader) != "unknown_alias" {
		t.Fatalf("a batch of guesses: %d %s", resp.StatusCode, body)
	}
	if resp, body := post(t, c, strict, "application/json", batch(panA)); resp.StatusCode != 200 {
		t.Fatalf("a known alias with 1 of the budget left: %d %s", resp.StatusCode, body)
	}
	if resp, body := post(t, c, strict, "application/json", batch(g5)); resp.StatusCode != http.StatusUnprocessableEntity {
		t.Fatalf("the last guess of the budget: %d %s", resp.StatusCode, body)
	}
	resp, got := post(t, c, strict, "application/json", batch(panA))
	wantMissesSpent(t, "a known alias once the batch and one guess spent the budget", resp, got)

	// A batch larger than the budget: charged whole, into debt.
	oc := g.otherClient()
	defer oc.CloseIdleConnections()
	more := []string{g1, g2, g3, g4, g5, "tok_test_6666666666666666666666", "tok_test_7777777777777777777777", "tok_test_8888888888888888888888"}
	if resp, body := post(t, oc, strict, "application/json", batch(more...)); resp.StatusCode != http.StatusUnprocessableEntity {
		t.Fatalf("a batch larger than the budget: %d %s", resp.StatusCode, body)
	}
	resp, got = post(t, oc, strict, "application/json", batch(panA))
	wantMissesSpent(t, "a known alias after a batch larger than the budget", resp, got)
}

// TestOutboundPassedUnknownCardReferencesAreNotCharged: a network_token
// filter with on_error: pass forwards a card reference that is no card of
// the account as it is; as with reveal filters, such values are not
// charged (the route says they may be other values), and the sender's
// known cards go on being paid.
func TestOutboundPassedUnknownCardReferencesAreNotCharged(t *testing.T) {
	routes := `routes:
  - id: pay
    direction: outbound
    host: psp.example.com
    filters:
      - {id: pay, phase: request, operation: network_token, fallback: pan, on_error: pass,
         targets: [{json: card.number, role: card}, {json: card.cvc, role: cvc}]}
`
	psp, g := newMissGateway(t, routes, fixedPayments{}, 2)
	c := g.client()
	defer c.CloseIdleConnections()
	u := "https://psp.example.com:" + psp.port() + "/v1"
	pay := func(ref string) (*http.Response, string) {
		return post(t, c, u, "application/json", `{"card":{"number":"`+ref+`","cvc":""}}`)
	}
	for i := range 6 {
		if resp, body := pay(fmt.Sprintf("card_%d", 2+i)); resp.StatusCode != 200 {
			t.Fatalf("passed reference %d: %d %s", i+1, resp.StatusCode, body)
		}
	}
	if resp, body := pay("card_1"); resp.StatusCode != 200 {
		t.Fatalf("a known card after six passed references: %d %s", resp.StatusCode, body)
	}
	if n := len(psp.requests()); n != 7 {
		t.Fatalf("the processor got %d requests, want 7", n)
	}
}
