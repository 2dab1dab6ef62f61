package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aliasgate/aliasgate/config"
)

// TestEveryListenerHasTheConfiguredLimits: the inbound, outbound and admin
// listeners are all built by httpServer with every timeout and the header
// limit from the configuration.
func TestEveryListenerHasTheConfiguredLimits(t *testing.T) {
	cfg := config.Default()
	cfg.Limits.ReadHeaderTimeout = config.Duration(3 * time.Second)
	cfg.Limits.ReadTimeout = config.Duration(4 * time.Second)
	cfg.Limits.WriteTimeout = config.Duration(5 * time.Second)
	cfg.Limits.IdleTimeout = config.Duration(6 * time.Second)
	cfg.Limits.MaxHeaderBytes = 7 * config.KiB
	gw := &gateway{cfg: cfg, logger: slog.New(slog.DiscardHandler)}
	for _, name := range []string{"inbound", "outbound", "admin"} {
		srv := gw.httpServer(listener{name: name, handler: http.NotFoundHandler()})
		if srv.ReadHeaderTimeout != 3*time.Second || srv.ReadTimeout != 4*time.Second ||
			srv.WriteTimeout != 5*time.Second || srv.IdleTimeout != 6*time.Second || srv.MaxHeaderBytes != 7<<10 {
			t.Errorf("%s listener: read-header %s, read %s, write %s, idle %s, max header bytes %d", name,
				srv.ReadHeaderTimeout, srv.ReadTimeout, srv.WriteTimeout, srv.IdleTimeout, srv.MaxHeaderBytes)
		}
		if srv.ErrorLog == nil {
			t.Errorf("%s listener: net/http's own messages bypass the logger", name)
		}
	}
}

// limitsEnv is a gateway environment with short limits for these tests.
func limitsEnv(extra map[string]string) func(string) string {
	m := map[string]string{
		"ALIASGATE_LIMITS_READ_HEADER_TIMEOUT": "1s",
		"ALIASGATE_LIMITS_READ_TIMEOUT":        "2s",
		"ALIASGATE_LIMITS_IDLE_TIMEOUT":        "1s",
		"ALIASGATE_LIMITS_MAX_HEADER_BYTES":    "4KiB",
		"ALIASGATE_LIMITS_SHUTDOWN_TIMEOUT":    "2s",
	}
	for k, v := range extra {
		m[k] = v
	}
	return testEnv(m)
}

// closedAfter writes head to a new connection to addr, then trickles the
// rest one byte every interval, and returns how long the server took to
// close the connection (or 0 when it kept it open until the whole trickle
// was sent and then some).
func trickle(t *testing.T, addr, head, rest string, interval time.Duration) time.Duration {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	start := time.Now()
	closed := make(chan time.Duration, 1)
	go func() {
		io.Copy(io.Discard, c) // until the server closes (or answers and closes)
		closed <- time.Since(start)
	}()
	if _, err := io.WriteString(c, head); err != nil {
		return time.Since(start)
	}
	for i := 0; i < len(rest); i++ {
		select {
		case d := <-closed:
			return d
		case <-time.After(interval):
		}
		if _, err := c.Write([]byte{rest[i]}); err != nil {
			return time.Since(start)
		}
	}
	select {
	case d := <-closed:
		return d
	case <-time.After(2 * time.Second):
		return 0
	}
}

// TestSlowlorisIsCutOffOnEveryListener: a client that sends its request
// headers one byte every 200 ms is cut off by limits.read_header_timeout
// (1 s here) on the inbound, outbound and admin listeners, long before it
// could finish (the headers would take 8 s).
func TestSlowlorisIsCutOffOnEveryListener(t *testing.T) {
	g := startGateway(t, limitsEnv(nil), "--data-dir", filepath.Join(t.TempDir(), "data"))
	for name, base := range map[string]string{"inbound": g.inbound, "outbound": g.outbound, "admin": g.admin} {
		t.Run(name, func(t *testing.T) {
			addr := strings.TrimPrefix(base, "http://")
			d := trickle(t, addr, "GET /healthz HTTP/1.1\r\nHost: x\r\n", "X-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n\r\n", 200*time.Millisecond)
			if d == 0 || d > 3*time.Second {
				t.Fatalf("slowloris client kept the connection %s (0: never cut)", d)
			}
		})
	}
}

// TestSlowBodyIsCutOffByReadTimeout: a body trickled slower than
// limits.read_timeout allows ends the request (the connection closes), and
// nothing reaches the upstream.
func TestSlowBodyIsCutOffByReadTimeout(t *testing.T) {
	up, got := limRecorder(t)
	g := startGateway(t, limitsEnv(map[string]string{"ALIASGATE_ROUTES_FILE": limRoutes(t, up.URL)}),
		"--data-dir", filepath.Join(t.TempDir(), "data"))
	addr := strings.TrimPrefix(g.inbound, "http://")
	body := `{"card":{"number":"4111111111111111"}}`
	head := fmt.Sprintf("POST /pay HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n", len(body))
	d := trickle(t, addr, head, body, 300*time.Millisecond) // 38 bytes: 11 s
	if d == 0 || d > 4*time.Second {
		t.Fatalf("slow body kept the connection %s (0: never cut)", d)
	}
	if n := len(got()); n != 0 {
		t.Fatalf("the upstream got %d requests", n)
	}
}

// TestIdleKeepAliveIsClosed: a keep-alive connection with no request for
// limits.idle_timeout is closed.
func TestIdleKeepAliveIsClosed(t *testing.T) {
	g := startGateway(t, limitsEnv(nil), "--data-dir", filepath.Join(t.TempDir(), "data"))
	c, err := net.Dial("tcp", strings.TrimPrefix(g.admin, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	io.WriteString(c, "GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n") // a name of the admin listener (hostguard)
	br := bufio.NewReader(c)
	res, err := http.ReadResponse(br, nil)
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("healthz: %v %v", res, err)
	}
	io.Copy(io.Discard, res.Body)
	start := time.Now()
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := br.ReadByte(); err != io.EOF {
		t.Fatalf("idle connection: %v, want EOF", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("idle connection closed after %s", d)
	}
}

// TestHeaderFloodGets431: a request whose headers exceed
// limits.max_header_bytes (one huge header, or thousands of small ones) is
// refused with 431 on every listener and reaches no handler.
func TestHeaderFloodGets431(t *testing.T) {
	up, got := limRecorder(t)
	g := startGateway(t, limitsEnv(map[string]string{"ALIASGATE_ROUTES_FILE": limRoutes(t, up.URL)}),
		"--data-dir", filepath.Join(t.TempDir(), "data"))
	var many strings.Builder
	for i := range 3000 {
		fmt.Fprintf(&many, "X-H%d: v\r\n", i)
	}
	floods := map[string]string{
		"one large header": "X-Big: " + strings.Repeat("a", 64<<10) + "\r\n",
		"many headers":     many.String(),
	}
	for name, base := range map[string]string{"inbound": g.inbound, "outbound": g.outbound, "admin": g.admin} {
		for fname, flood := range floods {
			t.Run(name+"/"+fname, func(t *testing.T) {
				c, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
				if err != nil {
					t.Fatal(err)
				}
				defer c.Close()
				go io.WriteString(c, "POST /pay HTTP/1.1\r\nHost: x\r\n"+flood+"Content-Length: 0\r\n\r\n")
				c.SetReadDeadline(time.Now().Add(5 * time.Second))
				res, err := http.ReadResponse(bufio.NewReader(c), nil)
				if err != nil {
					t.Fatal(err)
				}
				if res.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
					t.Fatalf("status %d, want 431", res.StatusCode)
				}
			})
		}
	}
	if n := len(got()); n != 0 {
		t.Fatalf("the upstream got %d requests", n)
	}
}

// TestRequestSmuggling sends ambiguous framings to the inbound listener on
// a raw connection. A double Content-Length is refused (400) and a
// Transfer-Encoding other than chunked gets 501, with nothing forwarded. A
// request with both Content-Length and Transfer-Encoding is read by its
// Transfer-Encoding alone (net/http drops the Content-Length); the
// upstream gets it re-framed, and the connection is closed after the
// answer, so the bytes a Content-Length framing would have left over are
// never read as a second request.
func TestRequestSmuggling(t *testing.T) {
	up, got := limRecorder(t)
	g := startGateway(t, limitsEnv(map[string]string{"ALIASGATE_ROUTES_FILE": limRoutes(t, up.URL)}),
		"--data-dir", filepath.Join(t.TempDir(), "data"))
	addr := strings.TrimPrefix(g.inbound, "http://")
	const card = `{"card":{"number":"4111111111111111"}}`
	smuggled := "GET /pay/smuggled HTTP/1.1\r\nHost: x\r\n\r\n"
	tests := []struct {
		name      string
		raw       string
		status    int
		forwarded int
	}{
		{"two different Content-Lengths", "POST /pay HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 38\r\nContent-Length: 10\r\n\r\n" + card, 400, 0},
		{"Content-Length list", "POST /pay HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 38, 10\r\n\r\n" + card, 400, 0},
		{"signed Content-Length", "POST /pay HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: +38\r\n\r\n" + card, 400, 0},
		{"unknown Transfer-Encoding", "POST /pay HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: xchunked\r\n\r\n0\r\n\r\n", 501, 0},
		{"chunked then identity", "POST /pay HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n", 501, 0},
		{"space before the colon", "POST /pay HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding : chunked\r\n\r\n0\r\n\r\n", 400, 0},
		{"Content-Length and chunked", "POST /pay HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: " +
			fmt.Sprint(len("26\r\n"+card+"\r\n0\r\n\r\n")) + "\r\nTransfer-Encoding: chunked\r\n\r\n" +
			fmt.Sprintf("%x\r\n%s\r\n0\r\n\r\n", len(card), card) + smuggled, 200, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := len(got())
			c, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			io.WriteString(c, tt.raw)
			c.SetReadDeadline(time.Now().Add(5 * time.Second))
			br := bufio.NewReader(c)
			res, err := http.ReadResponse(br, nil)
			if err != nil {
				t.Fatal(err)
			}
			io.Copy(io.Discard, res.Body)
			if res.StatusCode != tt.status {
				t.Fatalf("status %d, want %d", res.StatusCode, tt.status)
			}
			// Whatever the answer, the connection ends there: no second
			// answer (the smuggled GET) follows.
			if extra, err := br.ReadByte(); err != io.EOF {
				t.Fatalf("after the answer: %q %v, want EOF", extra, err)
			}
			reqs := got()[before:]
			if len(reqs) != tt.forwarded {
				t.Fatalf("the upstream got %d requests, want %d", len(reqs), tt.forwarded)
			}
			for _, r := range reqs {
				if strings.Contains(r.path, "smuggled") || strings.Contains(r.body, "4111111111111111") ||
					r.contentLength != "" && r.transferEncoding != "" {
					t.Fatalf("the upstream got %+v", r)
				}
			}
		})
	}
}

// TestClientRateLimit: with limits.client_rate a client over its rate gets
// 429 with Retry-After and an error document (VGS's from the vault API,
// JSON:API's from the Card Management API), counted in aliasgate_rate_limited_total; another
// client is not affected.
func TestClientRateLimit(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	env := limitsEnv(map[string]string{"ALIASGATE_LIMITS_CLIENT_RATE": "1", "ALIASGATE_LIMITS_CLIENT_BURST": "2"})
	a := createClient(t, env, dir, "--name", "a", "--account", "acct_a", "--scopes", "aliases:write,aliases:reveal,cards:read")
	b := createClient(t, env, dir, "--name", "b", "--account", "acct_b", "--scopes", "aliases:reveal")
	g := startGateway(t, env, "--data-dir", dir, "--enable-vault-api")
	basic := func(c credential) func(*http.Request) {
		return func(r *http.Request) { r.SetBasicAuth(c.ID, c.Secret) }
	}
	// The token request is the first of the burst of 2 (it takes from the
	// client's bucket too: TestTokenRequestsCountAgainstTheClientsRate).
	bearerA := limToken(t, g.inbound, a)
	if status, body := call(t, "GET", g.inbound+"/aliases/tok_sandbox_nope", "", "", basic(a)); status != 404 {
		t.Fatalf("request within the burst: %d %s", status, body)
	}
	req, _ := http.NewRequest("GET", g.inbound+"/aliases/tok_sandbox_nope", nil)
	basic(a)(req)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	var doc struct { // the vault API's error document is VGS's: an integer status
		Errors []struct {
			Status int
			Code   string
		}
	}
	if res.StatusCode != 429 || res.Header.Get("Retry-After") != "1" || json.Unmarshal(body, &doc) != nil ||
		len(doc.Errors) != 1 || doc.Errors[0].Status != 429 || doc.Errors[0].Code != "rate_limited" {
		t.Fatalf("over the rate: %d Retry-After %q %s", res.StatusCode, res.Header.Get("Retry-After"), body)
	}
	// The Card Management API shares the client's bucket.
	if status, body := call(t, "GET", g.inbound+"/cards/CRD1111111111111111111111", "", "", func(r *http.Request) {
		r.Header.Set("Authorization", "Bearer "+bearerA)
	}); status != 429 {
		t.Fatalf("cards API over the rate: %d %s", status, body)
	}
	if status, _ := call(t, "GET", g.inbound+"/aliases/tok_sandbox_nope", "", "", basic(b)); status != 404 {
		t.Fatalf("another client: %d", status)
	}
	_, metrics := call(t, "GET", g.admin+"/metrics", "", "", nil)
	for _, want := range []string{`aliasgate_rate_limited_total{api="aliases"} 1`, `aliasgate_rate_limited_total{api="cards"} 1`} {
		if !strings.Contains(string(metrics), want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}

// limRecorded is one request as the test upstream saw it.
type limRecorded struct {
	path, body, contentLength, transferEncoding string
}

// recordingUpstream answers {"ok":true} and records every request.
func limRecorder(t *testing.T) (*httptest.Server, func() []limRecorded) {
	t.Helper()
	var mu sync.Mutex
	var got []limRecorded
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		got = append(got, limRecorded{r.URL.Path, string(b), r.Header.Get("Content-Length"), strings.Join(r.TransferEncoding, ",")})
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"ok":true}`)
	}))
	t.Cleanup(srv.Close)
	return srv, func() []limRecorded {
		mu.Lock()
		defer mu.Unlock()
		return append([]limRecorded(nil), got...)
	}
}

// redactRoutes writes a routes file: /pay redacts card.number (JSON) in
// front of upstream, leak guard blocking.
func limRoutes(t *testing.T, upstream string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "routes.yaml")
	limWrite(t, p, `routes:
  - id: pay
    direction: inbound
    host: "*"
    path_prefix: /pay
    upstream: `+upstream+`
    leak_guard: block
    filters:
      - id: card
        match: {content_type: json}
        operation: redact
        targets:
          - {json: card.number, classifiers: [pan]}
          - {json: card.cvc, storage: volatile}
`)
	return p
}

func limWrite(t *testing.T, p, s string) {
	t.Helper()
	if err := os.WriteFile(p, []byte(s), 0o600); err != nil {
		t.Fatal(err)
	}
}

// limToken gets a bearer token for c from /oauth/token.
func limToken(t *testing.T, base string, c credential) string {
	t.Helper()
	status, body := call(t, "POST", base+"/oauth/token", "application/x-www-form-urlencoded", "grant_type=client_credentials",
		func(r *http.Request) { r.SetBasicAuth(c.ID, c.Secret) })
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	if status != 200 || json.Unmarshal(body, &tok) != nil || tok.AccessToken == "" {
		t.Fatalf("token: %d %s", status, body)
	}
	return tok.AccessToken
}

// TestTokenRequestsCountAgainstTheClientsRate: POST /oauth/token takes
// from the authenticated client's bucket (limits.client_rate), as the APIs
// do: a client over its rate could go on asking for tokens without limit
// (a client-store read, an HMAC, an Ed25519 signature and its check each),
// the one thing it could still make the gateway do. Over the rate the
// answer is 429 with Retry-After in the OAuth error shape; other clients,
// and requests whose credentials fail, are not counted.
func TestTokenRequestsCountAgainstTheClientsRate(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	env := limitsEnv(map[string]string{"ALIASGATE_LIMITS_CLIENT_RATE": "1", "ALIASGATE_LIMITS_CLIENT_BURST": "2"})
	a := createClient(t, env, dir, "--name", "a", "--account", "acct_a", "--scopes", "aliases:reveal")
	b := createClient(t, env, dir, "--name", "b", "--account", "acct_b", "--scopes", "aliases:reveal")
	g := startGateway(t, env, "--data-dir", dir, "--enable-vault-api")
	token := func(c credential, secret string) *http.Response {
		t.Helper()
		req, _ := http.NewRequest("POST", g.inbound+"/oauth/token", strings.NewReader("grant_type=client_credentials"))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth(c.ID, secret)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	for range 3 { // wrong secrets are not the client's requests
		if res := token(a, "wrong"+a.Secret); res.StatusCode != 401 || res.Header.Get("X-RateLimit-Remaining") != "" {
			t.Fatalf("wrong secret: %d, X-RateLimit-Remaining %q", res.StatusCode, res.Header.Get("X-RateLimit-Remaining"))
		}
	}
	// Each answer to the authenticated client carries what is left of its
	// bucket, as config/README says of every answer of the limited APIs.
	for i, left := range []string{"1", "0"} {
		if res := token(a, a.Secret); res.StatusCode != 200 || res.Header.Get("X-RateLimit-Remaining") != left {
			t.Fatalf("token %d within the burst: %d, X-RateLimit-Remaining %q, want %s", i+1, res.StatusCode, res.Header.Get("X-RateLimit-Remaining"), left)
		}
	}
	res := token(a, a.Secret)
	if got := res.Header.Get("X-RateLimit-Remaining"); got != "0" {
		t.Errorf("token over the rate: X-RateLimit-Remaining %q, want 0", got)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	var oe struct {
		Error       string `json:"error"`
		Description string `json:"error_description"`
	}
	if res.StatusCode != 429 || res.Header.Get("Retry-After") != "1" || res.Header.Get("Cache-Control") != "no-store" ||
		json.Unmarshal(body, &oe) != nil || oe.Error != "temporarily_unavailable" || oe.Description == "" {
		t.Fatalf("token over the rate: %d Retry-After %q %s", res.StatusCode, res.Header.Get("Retry-After"), body)
	}
	// The bucket is the client's: its API requests wait too, another
	// client's do not.
	if status, _ := call(t, "GET", g.inbound+"/aliases/tok_sandbox_nope", "", "", func(r *http.Request) { r.SetBasicAuth(a.ID, a.Secret) }); status != 429 {
		t.Fatalf("API request of the throttled client: %d", status)
	}
	if res := token(b, b.Secret); res.StatusCode != 200 {
		t.Fatalf("another client's token: %d", res.StatusCode)
	}
	_, metrics := call(t, "GET", g.admin+"/metrics", "", "", nil)
	if !strings.Contains(string(metrics), `aliasgate_rate_limited_total{api="oauth"} 1`) {
		t.Errorf("metrics lack the refused token request")
	}
}

// TestScopeRefusalsCountAgainstTheClientsRate: a request of an
// authenticated client that lacks the scope is one of its requests, as a
// token request asking for a scope it lacks is: it takes from the client's
// bucket and its 403 carries X-RateLimit-Remaining, as the docs say of
// every authenticated answer; over the rate it is 429. Before, the scope
// check answered before the limit was asked: a client (or a token narrowed
// in scope) over its rate could go on making the gateway check its
// credentials (with Basic, a client-store read and an HMAC each) without
// limit, and its 403s carried no X-RateLimit-Remaining.
func TestScopeRefusalsCountAgainstTheClientsRate(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	env := limitsEnv(map[string]string{"ALIASGATE_LIMITS_CLIENT_RATE": "1", "ALIASGATE_LIMITS_CLIENT_BURST": "2"})
	r := createClient(t, env, dir, "--name", "r", "--account", "acct_a", "--scopes", "aliases:reveal")
	g := startGateway(t, env, "--data-dir", dir, "--enable-vault-api")
	write := func() *http.Response {
		t.Helper()
		req, _ := http.NewRequest("POST", g.inbound+"/aliases", strings.NewReader(`{"data":[{"value":"x","format":"UUID"}]}`))
		req.Header.Set("Content-Type", "application/json")
		req.SetBasicAuth(r.ID, r.Secret)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, res.Body)
		res.Body.Close()
		return res
	}
	for i, left := range []string{"1", "0"} {
		if res := write(); res.StatusCode != 403 || res.Header.Get("X-RateLimit-Remaining") != left {
			t.Fatalf("request %d without the scope: %d, X-RateLimit-Remaining %q, want 403 and %s", i+1, res.StatusCode,
				res.Header.Get("X-RateLimit-Remaining"), left)
		}
	}
	if res := write(); res.StatusCode != 429 || res.Header.Get("Retry-After") != "1" {
		t.Fatalf("request without the scope over the rate: %d, Retry-After %q, want 429", res.StatusCode, res.Header.Get("Retry-After"))
	}
	// The same bucket as its other requests: the reveal it may make waits.
	if status, _ := call(t, "GET", g.inbound+"/aliases/tok_sandbox_nope", "", "", func(req *http.Request) { req.SetBasicAuth(r.ID, r.Secret) }); status != 429 {
		t.Fatalf("the client's reveal after its scope refusals spent its bucket: %d, want 429", status)
	}
	_, metrics := call(t, "GET", g.admin+"/metrics", "", "", nil)
	if !strings.Contains(string(metrics), `aliasgate_rate_limited_total{api="aliases"} 2`) {
		t.Errorf("metrics lack the two refused requests")
	}
}

// TestSlowlorisInsideATunnelIsCutOff: a CONNECT hijacks the outbound
// listener's connection, so its limits.read_header_timeout ended there and
// only idle_timeout held inside an intercepted tunnel: a client that opened
// one and sent no request (or trickled it, a byte under idle_timeout) kept
// it, up to for ever. The tunnel's requests are held to
// read_header_timeout too.
func TestSlowlorisInsideATunnelIsCutOff(t *testing.T) {
	routesFile := filepath.Join(t.TempDir(), "routes.yaml")
	limWrite(t, routesFile, `routes:
  - id: psp
    direction: outbound
    host: 127.0.0.1
    filters:
      - {id: reveal, operation: reveal, targets: [{json: card.number}]}
`)
	g := startGateway(t, limitsEnv(map[string]string{"ALIASGATE_LIMITS_IDLE_TIMEOUT": "60s",
		"ALIASGATE_OUTBOUND_REQUIRE_AUTH": "false", "ALIASGATE_ROUTES_FILE": routesFile,
		"ALIASGATE_OUTBOUND_ALLOW_PRIVATE_DESTINATIONS": "true"}),
		"--data-dir", filepath.Join(t.TempDir(), "data"))
	c, err := net.Dial("tcp", strings.TrimPrefix(g.outbound, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fmt.Fprintf(c, "CONNECT 127.0.0.1:443 HTTP/1.1\r\nHost: 127.0.0.1:443\r\n\r\n")
	br := bufio.NewReader(c)
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	res, err := http.ReadResponse(br, &http.Request{Method: "CONNECT"})
	if err != nil || res.StatusCode != http.StatusOK {
		t.Fatalf("CONNECT: %v %v", res, err)
	}
	if _, err := br.ReadByte(); err == nil {
		t.Fatal("the tunnel sent a byte unasked")
	} else if ne, ok := err.(net.Error); ok && ne.Timeout() {
		t.Fatal("a tunnel that sent nothing for 10 read-header timeouts is still open")
	}
}

// TestSlowBodyInsideATunnelIsCutOff: inside an intercepted tunnel a
// request's body was bounded by idle_timeout only; it is held to
// limits.read_timeout as the listener's are, and the upstream never gets
// it whole.
func TestSlowBodyInsideATunnelIsCutOff(t *testing.T) {
	var mu sync.Mutex
	var got []int
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		got = append(got, len(b))
		mu.Unlock()
	}))
	defer up.Close()
	routesFile := filepath.Join(t.TempDir(), "routes.yaml")
	limWrite(t, routesFile, `routes:
  - id: plain
    direction: outbound
    host: 127.0.0.1
    leak_guard: log
`)
	g := startGateway(t, limitsEnv(map[string]string{"ALIASGATE_LIMITS_IDLE_TIMEOUT": "60s",
		"ALIASGATE_OUTBOUND_REQUIRE_AUTH": "false", "ALIASGATE_ROUTES_FILE": routesFile,
		"ALIASGATE_OUTBOUND_ALLOW_PRIVATE_DESTINATIONS": "true"}),
		"--data-dir", filepath.Join(t.TempDir(), "data"))
	target := strings.TrimPrefix(up.URL, "http://")
	body := strings.Repeat("a", 40)
	head := fmt.Sprintf("CONNECT %s HTTP/1.1\r\nHost: %s\r\n\r\n"+
		"POST /pay HTTP/1.1\r\nHost: %s\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n\r\n",
		target, target, target, len(body))
	d := trickle(t, strings.TrimPrefix(g.outbound, "http://"), head, body, 200*time.Millisecond) // 8 s
	if d == 0 || d > 5*time.Second {
		t.Fatalf("a slow body inside a tunnel kept it %s (0: never cut)", d)
	}
	mu.Lock()
	defer mu.Unlock()
	for _, n := range got {
		if n == len(body) {
			t.Fatal("the upstream got the whole body")
		}
	}
}
