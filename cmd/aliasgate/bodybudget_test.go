package main

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// budgetMaxBody is limits.max_body of the tests of the body budget.
const budgetMaxBody = 64 << 10

// startBudgetGateway starts a gateway whose inbound listener serves TLS
// (HTTP/2 and HTTP/1.1), with limits.max_body 64KiB, a budget of 1MiB of
// bodies in memory of which one sender may hold half, and two routes to
// upstream: /guarded, whose leak guard reads every request body whole, and
// /stream, whose bodies stream through unread.
func startBudgetGateway(t *testing.T, upstream string) (*gatewayProc, *x509.CertPool) {
	t.Helper()
	dir := t.TempDir()
	certFile, keyFile, pool := selfSigned(t, dir)
	routesFile := filepath.Join(dir, "routes.yaml")
	limWrite(t, routesFile, `routes:
  - id: guarded
    direction: inbound
    host: "*"
    path_prefix: /guarded
    upstream: `+upstream+`
    leak_guard: log
  - id: stream
    direction: inbound
    host: "*"
    path_prefix: /stream
    upstream: `+upstream+`
    leak_guard: "off"
`)
	g := startGateway(t, testEnv(map[string]string{
		"ALIASGATE_ROUTES_FILE":                  routesFile,
		"ALIASGATE_LISTEN_INBOUND_CERT":          certFile,
		"ALIASGATE_LISTEN_INBOUND_KEY":           keyFile,
		"ALIASGATE_LIMITS_MAX_BODY":              "64KiB",
		"ALIASGATE_LIMITS_MAX_HEADER_BYTES":      "4KiB",
		"ALIASGATE_LIMITS_MAX_BUFFERED_BYTES":    "1MiB",
		"ALIASGATE_LIMITS_SOURCE_BUFFERED_SHARE": "50",
		"ALIASGATE_VAULT_API_ENABLED":            "true",
		// The vault API's documents (at most 256 KiB) within one
		// sender's share (newBodyBudget never gives less).
		"ALIASGATE_VAULT_MAX_VALUE_SIZE": "64KiB",
	}), "--data-dir", filepath.Join(dir, "data"))
	return g, pool
}

// TestAShareHoldsTheLargestDocument: the share of one sender was never
// less than limits.max_body, but the vault API reads documents of up to
// 2 × vault.max_value_size + 64 KiB, more than max_body may be: with
// max_body 64 KiB and the default value size (1 MiB), a 1.5 MiB document
// under a 1 MiB share was refused 429 source_busy with nothing else in
// flight, whenever it was sent again as Retry-After asked. The share is
// now never less than the largest document the gateway's own endpoints
// read either: such a request is read (and here refused for want of a
// token, as any).
func TestAShareHoldsTheLargestDocument(t *testing.T) {
	dir := t.TempDir()
	g := startGateway(t, testEnv(map[string]string{
		"ALIASGATE_LIMITS_MAX_BODY":              "64KiB",
		"ALIASGATE_LIMITS_MAX_BUFFERED_BYTES":    "4MiB",
		"ALIASGATE_LIMITS_SOURCE_BUFFERED_SHARE": "25",
		"ALIASGATE_VAULT_API_ENABLED":            "true",
	}), "--data-dir", filepath.Join(dir, "data"))
	doc := `{"data":{"type":"aliases","attributes":{"value":"` + strings.Repeat("a", 1536<<10) + `"}}}`
	status, body := call(t, "POST", g.inbound+"/aliases", "application/vnd.api+json", doc, nil)
	if status == http.StatusTooManyRequests || status == http.StatusServiceUnavailable {
		t.Errorf("a %d-byte vault API document with nothing else in flight: %d %s", len(doc), status, body)
	}
	waitBudget(t, g, "the document to be given back", func(used, _ int64) bool { return used == 0 })
}

// budgetMetrics reads the body budget's metrics from the admin listener:
// the bytes held now, the most held at once, and the bodies refused.
func budgetMetrics(t *testing.T, g *gatewayProc) (used, peak, refused int64) {
	t.Helper()
	_, text := call(t, "GET", g.admin+"/metrics", "", "", nil)
	value := func(series string) int64 {
		for _, l := range strings.Split(string(text), "\n") {
			if v, ok := strings.CutPrefix(l, series+" "); ok {
				f, err := strconv.ParseFloat(v, 64)
				if err != nil {
					t.Fatalf("metric %s: %v", series, err)
				}
				return int64(f)
			}
		}
		t.Fatalf("no metric %s in /metrics", series)
		return 0
	}
	return value("aliasgate_buffered_body_bytes"), value("aliasgate_buffered_body_bytes_peak"),
		value(`aliasgate_buffered_body_refused_total{scope="gateway"}`) + value(`aliasgate_buffered_body_refused_total{scope="source"}`)
}

// waitBudget polls the budget's metrics until done says they are what is
// awaited (a generous bound on the wait, not a timed assertion).
func waitBudget(t *testing.T, g *gatewayProc, what string, done func(used, refused int64) bool) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		used, _, refused := budgetMetrics(t, g)
		if done(used, refused) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("waiting for %s: %d bytes held, %d bodies refused", what, used, refused)
		}
	}
}

// stalled is an attacker's request whose body stopped one byte short of
// its Content-Length: finish sends the last byte, abort goes away.
type stalled struct {
	finish, abort func()
	done          chan stalledResult
}

type stalledResult struct {
	status     int
	retryAfter string
	proto      int
	body       string // the answer's first KiB
	err        error
}

// stallH2 sends, on one HTTP/2 connection from the loopback address ip,
// n requests to url each declaring max_body bytes and sending all but one.
func stallH2(t *testing.T, ip, url string, pool *x509.CertPool, n int) []*stalled {
	t.Helper()
	tr := &http.Transport{DialContext: loopbackDialer(ip).DialContext, TLSClientConfig: &tls.Config{RootCAs: pool},
		ForceAttemptHTTP2: true}
	t.Cleanup(tr.CloseIdleConnections)
	var out []*stalled
	for range n {
		pr, pw := io.Pipe()
		req, err := http.NewRequest("POST", url, pr)
		if err != nil {
			t.Fatal(err)
		}
		req.ContentLength = budgetMaxBody
		req.Header.Set("Content-Type", "text/plain")
		s := &stalled{done: make(chan stalledResult, 1),
			finish: func() { _, _ = pw.Write([]byte("a")); _ = pw.Close() },
			abort:  func() { _ = pw.CloseWithError(errors.New("client gone")) }}
		go func() { _, _ = pw.Write([]byte(strings.Repeat("a", budgetMaxBody-1))) }()
		go func() {
			res, err := tr.RoundTrip(req)
			if err != nil {
				s.done <- stalledResult{err: err}
				return
			}
			body, _ := io.ReadAll(io.LimitReader(res.Body, 1<<10))
			_, _ = io.Copy(io.Discard, res.Body)
			res.Body.Close()
			s.done <- stalledResult{status: res.StatusCode, retryAfter: res.Header.Get("Retry-After"), proto: res.ProtoMajor, body: string(body)}
		}()
		out = append(out, s)
	}
	return out
}

// stallH1 opens n HTTP/1.1 connections over TLS from the loopback address
// ip, each sending a request to path that declares max_body bytes and
// sends all but one.
func stallH1(t *testing.T, ip, addr, path string, pool *x509.CertPool, n int) []*stalled {
	t.Helper()
	var out []*stalled
	for range n {
		c := tls.Client(dialFrom(t, ip, addr), &tls.Config{RootCAs: pool, ServerName: "127.0.0.1", NextProtos: []string{"http/1.1"}})
		s := &stalled{done: make(chan stalledResult, 1),
			finish: func() { _, _ = c.Write([]byte("a")) },
			abort:  func() { _ = c.Close() }}
		go func() {
			fmt.Fprintf(c, "POST %s HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n\r\n%s",
				path, budgetMaxBody, strings.Repeat("a", budgetMaxBody-1))
		}()
		go func() {
			res, err := http.ReadResponse(bufio.NewReader(c), nil)
			if err != nil {
				s.done <- stalledResult{err: err}
				return
			}
			body, _ := io.ReadAll(io.LimitReader(res.Body, 1<<10))
			_, _ = io.Copy(io.Discard, res.Body)
			res.Body.Close()
			s.done <- stalledResult{status: res.StatusCode, retryAfter: res.Header.Get("Retry-After"), proto: res.ProtoMajor, body: string(body)}
		}()
		out = append(out, s)
	}
	return out
}

// TestBufferedBodiesAreBoundedGatewayWide: two senders, one with 40
// HTTP/2 streams on one TLS connection and one with 40 HTTP/1.1
// connections, each request declaring max_body bytes on a route whose
// leak guard reads bodies whole and sending all but the last byte, made
// the gateway hold 80 × max_body (5MiB) of bodies at once: nothing bounded
// the bodies in memory but the number of streams and connections (250 ×
// max_conns_per_source a sender). Now limits.max_buffered_bytes (1MiB
// here) bounds them, reserved before a body is read: what does not fit
// is refused at once, 429 source_busy past the sender's share
// (limits.source_buffered_share, half here) or 503 gateway_busy past the
// whole, with Retry-After and the reason in the access line, while a
// route that streams its bodies unread is served as before. The vault
// API, the Card Management API and the token endpoint, which read their request documents
// whole, count in the same budget. Every body's
// bytes are given back once its exchange is over, finished or abandoned.
func TestBufferedBodiesAreBoundedGatewayWide(t *testing.T) {
	up, _ := limRecorder(t)
	g, pool := startBudgetGateway(t, up.URL)
	base := strings.Replace(g.inbound, "http://", "https://", 1)
	addr := strings.TrimPrefix(g.inbound, "http://")
	const perSender = 40
	attackers := append(stallH2(t, "127.0.0.2", base+"/guarded/h2", pool, perSender),
		stallH1(t, "127.0.0.3", addr, "/guarded/h1", pool, perSender)...)

	// Every request is either holding its body's bytes or was refused.
	waitBudget(t, g, "every attacker's request to be read or refused", func(used, refused int64) bool {
		return used/budgetMaxBody+refused >= int64(len(attackers))
	})
	_, peak, _ := budgetMetrics(t, g)
	if peak > 1<<20 {
		t.Errorf("the gateway held %d bytes of bodies at once, more than limits.max_buffered_bytes (%d)", peak, 1<<20)
	}

	// A third sender: a body to read is refused while the budget is
	// full, a route's or the APIs' (which read their documents whole);
	// a streamed body is not read, and passes.
	third := loopbackClient(t, "127.0.0.4")
	third.Transport.(*http.Transport).TLSClientConfig = &tls.Config{RootCAs: pool}
	for _, c := range []struct {
		path, ctype, body string
		status            int
	}{{"/guarded/small", "text/plain", "hello", http.StatusServiceUnavailable},
		{"/aliases", "text/plain", "hello", http.StatusServiceUnavailable},
		{"/cards", "text/plain", "hello", http.StatusServiceUnavailable},
		{"/oauth/token", "application/x-www-form-urlencoded", "grant_type=client_credentials", http.StatusServiceUnavailable},
		{"/stream/small", "text/plain", "hello", http.StatusOK}} {
		res, err := third.Post(base+c.path, c.ctype, strings.NewReader(c.body))
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != c.status {
			t.Errorf("POST %s with the budget full: %d %s, want %d", c.path, res.StatusCode, body, c.status)
		}
		if c.status == http.StatusServiceUnavailable && (res.Header.Get("Retry-After") == "" || !strings.Contains(string(body), "gateway_busy")) {
			t.Errorf("POST %s refused without Retry-After or gateway_busy: %v %s", c.path, res.Header, body)
		}
	}

	// Half the bodies held are finished, half abandoned.
	for i, s := range attackers {
		if i%2 == 0 {
			s.finish()
		} else {
			s.abort()
		}
	}
	var ok, refused int
	for i, s := range attackers {
		r := <-s.done
		switch {
		case r.err != nil:
			// an abandoned body: its client went away
		case r.status == http.StatusOK:
			ok++
		case r.status == http.StatusTooManyRequests || r.status == http.StatusServiceUnavailable:
			refused++
			if r.retryAfter == "" {
				t.Errorf("attacker request %d refused with %d without Retry-After", i, r.status)
			}
		case r.status == http.StatusBadGateway && (strings.Contains(r.body, "source_busy") || strings.Contains(r.body, "gateway_busy")):
			// Its request was read and sent; its answer did not fit, the
			// sender's other bodies still holding its share while they
			// finish at once: refused, without Retry-After (the upstream
			// had the request: a retry could charge twice).
			refused++
			if r.retryAfter != "" {
				t.Errorf("attacker request %d: its answer refused with Retry-After %q", i, r.retryAfter)
			}
		default:
			t.Errorf("attacker request %d: status %d", i, r.status)
		}
		if i < perSender && r.err == nil && r.proto != 2 {
			t.Fatalf("attacker request %d went over HTTP/%d, want HTTP/2", i, r.proto)
		}
	}
	if ok == 0 || refused == 0 {
		t.Errorf("%d attacker requests served and %d refused; want some of each", ok, refused)
	}
	waitBudget(t, g, "every body to be given back", func(used, _ int64) bool { return used == 0 })

	g.stop(t)
	logs := g.stderr.String()
	for _, want := range []string{`"refused":"source_busy"`, `"refused":"gateway_busy"`} {
		if !strings.Contains(logs, want) {
			t.Errorf("no access line with %s", want)
		}
	}
}
