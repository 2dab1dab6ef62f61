package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/aliasgate/aliasgate/auth"
	"github.com/aliasgate/aliasgate/internal/lockout"
	"github.com/aliasgate/aliasgate/internal/obs/obstest"
)

// countingClients is the gateway's client store with its reads of one
// client counted (clientStoreHook).
type countingClients struct {
	clientStore
	id    string
	reads *atomic.Int64
}

func (c countingClients) GetClient(ctx context.Context, id string) ([]byte, bool, error) {
	if id == c.id {
		c.reads.Add(1)
	}
	return c.clientStore.GetClient(ctx, id)
}

// countClientReads makes the next gateway started count the reads of
// client id in its client store.
func countClientReads(t *testing.T, id string) *atomic.Int64 {
	t.Helper()
	reads := new(atomic.Int64)
	clientStoreHook = func(s auth.ClientStore) auth.ClientStore {
		return countingClients{clientStore: s.(clientStore), id: id, reads: reads}
	}
	t.Cleanup(func() { clientStoreHook = nil })
	return reads
}

// lockoutCall sends a request from c and returns its status, Retry-After,
// Content-Type and body.
func lockoutCall(t *testing.T, c *http.Client, method, u, ctype, body string, setup func(*http.Request)) (int, string, string, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, u, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	if setup != nil {
		setup(req)
	}
	res, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, res.Header.Get("Retry-After"), res.Header.Get("Content-Type"), b
}

// TestClientCredentialGuessesLockOutTheirAddress: on a running gateway, a
// guesser at one address sends wrong client secrets to POST /oauth/token
// (a real client id, so that each costs a read of its record), forged
// bearer tokens to the vault API, and forged bearer tokens to the Card
// Management API, at /cards and through an inbound route to
// internal:cards, and wrong proxy credentials to the outbound proxy.
// Before, every guess was checked (a store read, a signature check) and
// answered 401 (407), without end and without a trace.
// Now each address gets lockout.DefaultFree failures and the one that
// locks it out, then 429 with Retry-After in the API's own error shape
// (OAuth's {"error"}, the vault API's VGS errors, JSON:API locked_out, the
// outbound proxy's errors),
// its credentials not checked at all, the right ones neither: the
// client's record is not read again, and aliasgate_client_lockouts_total
// counts one lockout per address however many requests follow. Meanwhile
// the clients at 127.0.0.1 are served with their right credentials, the
// lockout is logged with the address, and no secret, token or card number
// reaches the log.
func TestClientCredentialGuessesLockOutTheirAddress(t *testing.T) {
	dir := t.TempDir()
	rf := writeIn(t, dir, "routes.yaml", []byte(`routes:
  - id: wallet
    direction: inbound
    host: wallet.example
    path_prefix: /cards
    upstream: internal:cards
`))
	env := testEnv(map[string]string{"ALIASGATE_ROUTES_FILE": rf, "ALIASGATE_VAULT_API_ENABLED": "true",
		"ALIASGATE_LOG_LEVEL": "debug", "ALIASGATE_LIMITS_CLIENT_RATE": "100000", "ALIASGATE_LIMITS_CLIENT_BURST": "100000"})
	data := filepath.Join(dir, "data")
	victim := createClient(t, env, data, "--name", "victim", "--scopes", "aliases:write,aliases:reveal")
	api := createClient(t, env, data, "--name", "api", "--scopes", "aliases:write,aliases:reveal")
	wallet := createClient(t, env, data, "--name", "wallet", "--scopes", "cards:read,cards:write")
	ob := createClient(t, env, data, "--name", "backend", "--outbound")
	reads := countClientReads(t, victim.ID)
	g := startGateway(t, env, "--data-dir", data)
	apiTok, walletTok := bearerToken(t, g, api), bearerToken(t, g, wallet)

	// What the guesses carry: a card number as the secret and as the
	// token, so that the log check below sees any of them logged.
	const guessedSecret = "4111111111111111-not-the-secret"
	forged := "Bearer eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiI0MTExMTExMTExMTExMTExIn0.4111111111111111"
	oauthForm := "grant_type=client_credentials"
	wrongBasic := func(r *http.Request) { r.SetBasicAuth(victim.ID, guessedSecret) }
	forgedBearer := func(r *http.Request) { r.Header.Set("Authorization", forged) }
	onWallet := func(setup func(*http.Request)) func(*http.Request) {
		return func(r *http.Request) { setup(r); r.Host = "wallet.example" }
	}
	type oauthErr struct {
		Error string `json:"error"`
	}
	type vgsErrs struct {
		Errors []struct {
			Status int    `json:"status"`
			Code   string `json:"code"`
		} `json:"errors"`
	}
	type jsonAPIErrs struct {
		Errors []struct {
			Status string `json:"status"`
			Code   string `json:"code"`
		} `json:"errors"`
	}
	surfaces := []struct {
		name, addr, method, path, ctype, body string
		guess, right                          func(*http.Request)
		wantOK                                int
		// shape checks an error answer of the API: its own error shape
		// with the status and, for a lockout, the code.
		shape func(t *testing.T, status int, ctype string, body []byte)
	}{
		{"/oauth/token", "127.0.0.2", "POST", "/oauth/token", "application/x-www-form-urlencoded", oauthForm,
			wrongBasic, basicAuth(api), 200,
			func(t *testing.T, status int, ctype string, body []byte) {
				var e oauthErr
				want := map[int]string{401: "invalid_client", 429: "temporarily_unavailable"}[status]
				if !strings.HasPrefix(ctype, "application/json") || json.Unmarshal(body, &e) != nil || e.Error != want {
					t.Errorf("/oauth/token %d: %s %s, want OAuth's {\"error\":%q}", status, ctype, body, want)
				}
			}},
		{"vault API", "127.0.0.3", "POST", "/aliases", "application/json", `{"data":[{"value":"x"}]}`,
			forgedBearer, apiTok, 201,
			func(t *testing.T, status int, ctype string, body []byte) {
				var e vgsErrs
				want := map[int]string{401: "unauthorized", 429: "locked_out"}[status]
				if json.Unmarshal(body, &e) != nil || len(e.Errors) != 1 || e.Errors[0].Status != status || e.Errors[0].Code != want {
					t.Errorf("vault API %d: %s %s, want the VGS errors of code %s", status, ctype, body, want)
				}
			}},
		{"/cards", "127.0.0.4", "GET", "/cards", "", "", forgedBearer, walletTok, 200,
			func(t *testing.T, status int, ctype string, body []byte) {
				var e jsonAPIErrs
				want := map[int]string{401: "unauthorized", 429: "locked_out"}[status]
				if ctype != jsonAPIType || json.Unmarshal(body, &e) != nil || len(e.Errors) != 1 || e.Errors[0].Code != want {
					t.Errorf("/cards %d: %s %s, want a JSON:API error of code %s", status, ctype, body, want)
				}
			}},
		{"route to internal:cards", "127.0.0.5", "GET", "/cards", "", "", onWallet(forgedBearer), onWallet(walletTok), 200,
			func(t *testing.T, status int, ctype string, body []byte) {
				var e jsonAPIErrs
				want := map[int]string{401: "unauthorized", 429: "locked_out"}[status]
				if ctype != jsonAPIType || json.Unmarshal(body, &e) != nil || len(e.Errors) != 1 || e.Errors[0].Code != want {
					t.Errorf("route %d: %s %s, want a JSON:API error of code %s", status, ctype, body, want)
				}
			}},
	}
	for i, s := range surfaces {
		guesser := loopbackClient(t, s.addr)
		for n := range lockout.DefaultFree + 1 {
			status, _, ctype, body := lockoutCall(t, guesser, s.method, g.inbound+s.path, s.ctype, s.body, s.guess)
			if status != http.StatusUnauthorized {
				t.Fatalf("%s: guess %d: %d %s", s.name, n+1, status, body)
			}
			s.shape(t, status, ctype, body)
		}
		readsLocked := reads.Load()
		for range 20 {
			status, after, ctype, body := lockoutCall(t, guesser, s.method, g.inbound+s.path, s.ctype, s.body, s.guess)
			if status != http.StatusTooManyRequests || after == "" {
				t.Fatalf("%s: a guess from the locked-out address: %d, Retry-After %q: %s", s.name, status, after, body)
			}
			s.shape(t, status, ctype, body)
		}
		// The right credentials from the locked-out address are not
		// checked either.
		if status, after, _, body := lockoutCall(t, guesser, s.method, g.inbound+s.path, s.ctype, s.body, s.right); status != http.StatusTooManyRequests || after == "" {
			t.Fatalf("%s: the right credentials from the locked-out address: %d %s", s.name, status, body)
		}
		if got := reads.Load(); got != readsLocked {
			t.Fatalf("%s: %d reads of the guessed client's record while its guesser was locked out", s.name, got-readsLocked)
		}
		// Another address with the right credentials is served.
		if status, _, _, body := lockoutCall(t, http.DefaultClient, s.method, g.inbound+s.path, s.ctype, s.body, s.right); status != s.wantOK {
			t.Fatalf("%s: the right credentials from 127.0.0.1 meanwhile: %d %s", s.name, status, body)
		}
		_, body := call(t, "GET", g.admin+"/metrics", "", "", nil)
		if want := "\naliasgate_client_lockouts_total " + string(rune('1'+i)) + "\n"; !strings.Contains(string(body), want) {
			t.Fatalf("%s: metrics want %q:\n%s", s.name, strings.TrimSpace(want), body)
		}
	}
	if reads.Load() != lockout.DefaultFree+1 {
		t.Fatalf("%d reads of the guessed client's record, want one per guess checked (%d)", reads.Load(), lockout.DefaultFree+1)
	}

	// The outbound proxy's Proxy-Authorization: the same rule, under
	// the peer's address, 429 in the proxy's error shape.
	proxyCall := func(addr string, c credential) (int, string, []byte) {
		t.Helper()
		pu, _ := url.Parse(g.outbound)
		pu.User = url.UserPassword(c.ID, c.Secret)
		tr := &http.Transport{Proxy: http.ProxyURL(pu), DialContext: loopbackDialer(addr).DialContext}
		defer tr.CloseIdleConnections()
		res, err := (&http.Client{Transport: tr}).Get("http://127.0.0.1:9/nowhere")
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, res.Header.Get("Retry-After"), b
	}
	wrongProxy := credential{ID: victim.ID, Secret: guessedSecret}
	for n := range lockout.DefaultFree + 1 {
		if status, _, body := proxyCall("127.0.0.6", wrongProxy); status != http.StatusProxyAuthRequired {
			t.Fatalf("outbound proxy: guess %d: %d %s", n+1, status, body)
		}
	}
	readsLocked := reads.Load()
	for _, c := range []credential{wrongProxy, ob} {
		if status, after, body := proxyCall("127.0.0.6", c); status != http.StatusTooManyRequests || after == "" || !strings.Contains(string(body), `"locked_out"`) {
			t.Fatalf("outbound proxy: from the locked-out address: %d, Retry-After %q: %s", status, after, body)
		}
	}
	if reads.Load() != readsLocked {
		t.Fatalf("outbound proxy: %d reads of the guessed client's record while its guesser was locked out", reads.Load()-readsLocked)
	}
	if status, _, body := proxyCall("127.0.0.1", ob); status == http.StatusProxyAuthRequired || status == http.StatusTooManyRequests {
		t.Fatalf("outbound proxy: the right credentials from 127.0.0.1 meanwhile: %d %s", status, body)
	}
	if _, body := call(t, "GET", g.admin+"/metrics", "", "", nil); !strings.Contains(string(body), "\naliasgate_client_lockouts_total 5\n") {
		t.Fatalf("metrics after the outbound proxy's lockout:\n%s", body)
	}
	// The outbound proxy's lockout is a table of its own: the address
	// locked out of it still gets its API calls checked (and the other
	// way round: 127.0.0.2, locked out of the APIs, still reaches the
	// outbound proxy), so guesses on one listener from an address the
	// merchant's backend shares do not stop its traffic on the other.
	if status, _, _, body := lockoutCall(t, loopbackClient(t, "127.0.0.6"), "GET", g.inbound+"/cards", "", "", walletTok); status != http.StatusOK {
		t.Fatalf("the outbound proxy's guesser at /cards with right credentials: %d %s", status, body)
	}
	if status, _, body := proxyCall("127.0.0.2", ob); status == http.StatusProxyAuthRequired || status == http.StatusTooManyRequests {
		t.Fatalf("outbound proxy: the right credentials from an address locked out of the APIs: %d %s", status, body)
	}
	// The guesser's address is locked out of every API (one table):
	// /oauth/token's guesser does not get free guesses at the vault API.
	if status, _, _, body := lockoutCall(t, loopbackClient(t, "127.0.0.2"), "GET", g.inbound+"/cards", "", "", walletTok); status != http.StatusTooManyRequests {
		t.Fatalf("the token endpoint's guesser at /cards: %d %s", status, body)
	}
	log := g.stderr.String()
	for _, s := range surfaces {
		if !strings.Contains(log, `"msg":"auth: address locked out after failed client credentials"`) || !strings.Contains(log, `"address":"`+s.addr+`"`) {
			t.Fatalf("the lockout of %s is not logged with its address:\n%s", s.addr, log)
		}
	}
	if !strings.Contains(log, `"msg":"proxy: address locked out after failed proxy credentials"`) || !strings.Contains(log, `"address":"127.0.0.6"`) {
		t.Fatalf("the outbound proxy's lockout is not logged with its address:\n%s", log)
	}
	obstest.AssertNoPAN(t, "the gateway's log", []byte(log))
	for _, secret := range []string{guessedSecret, forged[len("Bearer "):], victim.Secret, api.Secret, wallet.Secret, ob.Secret} {
		if strings.Contains(log, secret) || strings.Contains(log, url.QueryEscape(secret)) {
			t.Fatalf("a secret or token in the log: %q", secret)
		}
	}
}

// TestClientLockoutCountsTheSourceOfTrustedProxiesOnly: behind a load
// balancer listed in limits.trusted_proxies (127.0.0.1), failed client
// credentials are charged to the client's address the balancer reports
// (the rightmost X-Forwarded-For address that is not a trusted proxy), so
// a guesser behind it is locked out and another client behind the same
// balancer, and the balancer's own address, are served. A sender that is
// not a trusted proxy (127.0.0.2) is charged under its own address
// whatever X-Forwarded-For it writes: a new forged address per guess
// does not get it new free guesses.
func TestClientLockoutCountsTheSourceOfTrustedProxiesOnly(t *testing.T) {
	dir := t.TempDir()
	env := testEnv(map[string]string{"ALIASGATE_LIMITS_TRUSTED_PROXIES": "127.0.0.1",
		"ALIASGATE_LIMITS_CLIENT_RATE": "100000", "ALIASGATE_LIMITS_CLIENT_BURST": "100000"})
	data := filepath.Join(dir, "data")
	api := createClient(t, env, data, "--name", "api", "--scopes", "aliases:write,aliases:reveal")
	g := startGateway(t, env, "--data-dir", data)
	token := func(c *http.Client, xff string, right bool) (int, string) {
		t.Helper()
		status, after, _, _ := lockoutCall(t, c, "POST", g.inbound+"/oauth/token", "application/x-www-form-urlencoded",
			"grant_type=client_credentials", func(r *http.Request) {
				if right {
					r.SetBasicAuth(api.ID, api.Secret)
				} else {
					r.SetBasicAuth(api.ID, "not-the-secret")
				}
				if xff != "" {
					r.Header.Set("X-Forwarded-For", xff)
				}
			})
		return status, after
	}
	lb := http.DefaultClient // 127.0.0.1, the trusted balancer
	for n := range lockout.DefaultFree + 1 {
		if status, _ := token(lb, "203.0.113.7", false); status != http.StatusUnauthorized {
			t.Fatalf("guess %d behind the balancer: %d", n+1, status)
		}
	}
	for _, xff := range []string{"203.0.113.7", "198.51.100.1, 203.0.113.7"} {
		if status, after := token(lb, xff, true); status != http.StatusTooManyRequests || after == "" {
			t.Fatalf("the guesser behind the balancer (X-Forwarded-For %q): %d, Retry-After %q", xff, status, after)
		}
	}
	for _, xff := range []string{"203.0.113.8", "203.0.113.7, 203.0.113.8", ""} {
		if status, _ := token(lb, xff, true); status != http.StatusOK {
			t.Fatalf("another client behind the balancer (X-Forwarded-For %q): %d", xff, status)
		}
	}
	direct := loopbackClient(t, "127.0.0.2")
	for n := range lockout.DefaultFree + 1 {
		if status, _ := token(direct, "192.0.2."+string(rune('1'+n%9)), false); status != http.StatusUnauthorized {
			t.Fatalf("direct guess %d: %d", n+1, status)
		}
	}
	if status, after := token(direct, "192.0.2.99", true); status != http.StatusTooManyRequests || after == "" {
		t.Fatalf("the direct guesser with a new X-Forwarded-For: %d, Retry-After %q", status, after)
	}
}

// TestRightCredentialsSentAtOnceFromOneAddressAreServed: the API clients
// behind one address (a backend's workers) send more requests at once
// than the lockout's free failures, each with right credentials: all are
// served. Every check is charged before it runs (so that guesses sent at
// once get no extra checks); those past the free failures wait for the
// verdict of the checks still running instead of being answered 429.
func TestRightCredentialsSentAtOnceFromOneAddressAreServed(t *testing.T) {
	dir := t.TempDir()
	env := testEnv(map[string]string{"ALIASGATE_VAULT_API_ENABLED": "true",
		"ALIASGATE_LIMITS_CLIENT_RATE": "100000", "ALIASGATE_LIMITS_CLIENT_BURST": "100000"})
	data := filepath.Join(dir, "data")
	api := createClient(t, env, data, "--name", "api", "--scopes", "aliases:write,aliases:reveal")
	g := startGateway(t, env, "--data-dir", data)
	const n = 4 * lockout.DefaultFree
	statuses := make(chan int, 2*n)
	tok := bearerToken(t, g, api)
	for i := range 2 * n {
		go func() {
			setup, path, body := basicAuth(api), "/oauth/token", "grant_type=client_credentials"
			ctype := "application/x-www-form-urlencoded"
			if i%2 == 1 {
				setup, path, body, ctype = tok, "/aliases", `{"data":[{"value":"x"}]}`, "application/json"
			}
			req, _ := http.NewRequest("POST", g.inbound+path, strings.NewReader(body))
			req.Header.Set("Content-Type", ctype)
			setup(req)
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				statuses <- 0
				return
			}
			_, _ = io.Copy(io.Discard, res.Body)
			res.Body.Close()
			statuses <- res.StatusCode
		}()
	}
	for range 2 * n {
		if s := <-statuses; s != http.StatusOK && s != http.StatusCreated {
			t.Errorf("a request with right credentials sent at once with %d others: %d", 2*n-1, s)
		}
	}
}

// TestARateLimitedRequestDoesNotClearItsAddress: a guesser holding
// credentials of its own (a client of any account) sends its wrong guesses
// at another client's secret, and between every few of them a request with
// its own right credentials, which its client's rate limit refuses (429
// rate_limited). Before, the right credentials passed the lockout's check,
// which cleared the address, and only then was the rate limit asked: every
// refused request gave the guesser its free failures again, without end
// (DECISIONS said the succeeding client's rate limit bounds that; it did
// not). Now a request its client's rate limit refuses does not clear the
// address (nor is it charged): between two requests of the guesser that
// are served, at most the free failures and the one that locks the address
// out are checked, at the token endpoint and at the vault API.
func TestARateLimitedRequestDoesNotClearItsAddress(t *testing.T) {
	dir := t.TempDir()
	env := testEnv(map[string]string{"ALIASGATE_VAULT_API_ENABLED": "true",
		"ALIASGATE_LIMITS_CLIENT_RATE": "1", "ALIASGATE_LIMITS_CLIENT_BURST": "1"})
	data := filepath.Join(dir, "data")
	victim := createClient(t, env, data, "--name", "victim", "--scopes", "aliases:write,aliases:reveal")
	tokMine := createClient(t, env, data, "--name", "mine", "--scopes", "aliases:reveal")
	basicMine := createClient(t, env, data, "--name", "mine2", "--scopes", "aliases:reveal")
	g := startGateway(t, env, "--data-dir", data)
	mineTok := bearerToken(t, g, tokMine) // the one request of its bucket
	form := "application/x-www-form-urlencoded"
	wrong := func(r *http.Request) { r.SetBasicAuth(victim.ID, "not-the-secret") }
	for _, s := range []struct {
		name, addr, method, path, ctype, body string
		right                                 func(*http.Request)
	}{
		{"/oauth/token", "127.0.0.21", "POST", "/oauth/token", form, "grant_type=client_credentials", basicAuth(basicMine)},
		{"vault API", "127.0.0.22", "GET", "/aliases/tok_sandbox_notanalias", "", "", mineTok},
	} {
		c := loopbackClient(t, s.addr)
		checked, locked := 0, false
		for round := 0; round < 5 && !locked; round++ {
			// The guesser's own request until its client's rate limit
			// refuses one: a served one clears the address, rightly.
			for {
				status, _, _, body := lockoutCall(t, c, s.method, g.inbound+s.path, s.ctype, s.body, s.right)
				if status == http.StatusTooManyRequests {
					if strings.Contains(string(body), "locked_out") || strings.Contains(string(body), "failed client credentials") {
						locked = true
					}
					break
				}
				if status == http.StatusUnauthorized {
					t.Fatalf("%s: the guesser's right credentials: %d %s", s.name, status, body)
				}
				checked = 0
			}
			for range lockout.DefaultFree {
				if locked {
					break
				}
				status, _, _, body := lockoutCall(t, c, "POST", g.inbound+"/oauth/token", form, "grant_type=client_credentials", wrong)
				switch status {
				case http.StatusUnauthorized:
					checked++
				case http.StatusTooManyRequests:
					locked = true
				default:
					t.Fatalf("%s: a wrong guess: %d %s", s.name, status, body)
				}
			}
			if checked > lockout.DefaultFree+1 {
				t.Fatalf("%s: %d wrong guesses checked from one address, none of its requests served between them: each request its client's rate limit refused cleared the address", s.name, checked)
			}
		}
		if !locked {
			t.Fatalf("%s: the guesser was not locked out", s.name)
		}
	}
}
