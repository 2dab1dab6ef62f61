package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aliasgate/aliasgate/proxy"
	"github.com/aliasgate/aliasgate/routes"
	"github.com/aliasgate/aliasgate/routes/dryrun"
)

// TestRoutesTestAgreesWithTheServingGateway sends each request to a real
// inbound gateway (proxy.Inbound on a 127.0.0.1 listener, limits.max_body
// of 4 KiB, a recording upstream), to `aliasgate routes test` with the
// same route file and --max-body, and to the dry-run engine the inspector's
// preview runs (dryrun.Run with proxy.GatewayRules), and asserts the three
// agree on the answer (forwarded, or refused with the same status and
// code: Result.Status and Result.Code for the engine) and, when it is
// forwarded, on what the upstream receives: the body (aliases compared by
// their kept digits, each vault making its own) and the headers the
// gateway adds for the route (Aliasgate-Reveal-Route,
// Aliasgate-Route-Account). The dry run forwarded a body over max_body
// (the gateway: 413 body_too_large), left a leak guard's refusal (block:
// 422 card_data_leak) out of Result.Status, forwarded a request carrying
// Aliasgate-Reveal-Route to /cards (the gateway: 403
// forwarded_by_reveal_route) and did not show the headers a revealing
// route adds; and the gateway forwarded a body its filters made longer
// than max_body.
func TestRoutesTestAgreesWithTheServingGateway(t *testing.T) {
	type seen struct {
		header http.Header
		body   []byte
	}
	var mu sync.Mutex
	var last *seen
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		last = &seen{header: r.Header.Clone(), body: b}
		mu.Unlock()
		w.WriteHeader(http.StatusOK)
	}))
	defer up.Close()
	const maxBody = 4096
	doc := `routes:
  - id: pay
    direction: inbound
    host: "*"
    path_prefix: /pay
    upstream: ` + up.URL + `
    leak_guard: block
    filters:
      - id: json
        operation: redact
        match: {content_type: json}
        targets: [{json: card.number, format: FPE_SIX_T_FOUR}]
  - id: grow
    direction: inbound
    host: "*"
    path_prefix: /grow
    upstream: ` + up.URL + `
    leak_guard: "off"
    filters:
      - id: json
        operation: redact
        match: {content_type: json}
        targets: [{json: card.number, format: UUID}]
  - id: lenient
    direction: inbound
    host: "*"
    path_prefix: /lenient
    upstream: ` + up.URL + `
    leak_guard: log
    filters:
      - id: json
        operation: redact
        on_error: pass
        match: {content_type: json}
        targets: [{json: card.number, format: FPE_SIX_T_FOUR}]
  - id: wallet
    direction: inbound
    host: "*"
    path_prefix: /cards
    forward_reserved: [/cards]
    upstream: ` + up.URL + `
    filters:
      - {id: show, phase: response, operation: reveal, on_error: pass, targets: [{json: data.attributes.pan_alias}]}
`
	dir := t.TempDir()
	routesFile := writeIn(t, dir, "routes.yaml", []byte(doc))
	set, err := routes.LoadFile(routesFile, routeOptions())
	if err != nil {
		t.Fatal(err)
	}
	tok, closeVault, err := dryRunTokenizer(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer closeVault()
	in, err := proxy.NewInbound(proxy.InboundOptions{Table: routes.NewTable(set), Tokenizer: tok, MaxBody: maxBody, DefaultAccount: "default"})
	if err != nil {
		t.Fatal(err)
	}
	gw := httptest.NewServer(in)
	defer gw.Close()

	const pan = "4111111111111111"
	card := func(pad int) string {
		return `{"card":{"number":"` + pan + `"},"pad":"` + strings.Repeat("x", pad) + `"}`
	}
	small := card(10)
	for _, c := range []struct {
		name, path string
		header     []string
		body       string
		early      bool
	}{
		{"a card number redacted", "/pay/charge", nil, small, false},
		{"a body at max_body", "/pay/charge", nil, card(maxBody - len(card(0))), false},
		{"a body over max_body", "/pay/charge", nil, card(maxBody + 1 - len(card(0))), false},
		{"a body over max_body, on_error pass, guard log", "/lenient", nil, card(maxBody + 100), false},
		{"a card number no filter redacts, guard block", "/pay/charge", nil, `{"card":{"number":"` + pan + `"},"note":"4000056655665556"}`, false},
		{"a card number in a header, guard block", "/pay/charge", []string{"X-Card: 4000056655665556"}, small, false},
		{"a body its alias makes longer than max_body", "/grow", nil, card(maxBody - len(card(0)) - 4), false},
		{"a body its alias keeps under max_body", "/grow", nil, small, false},
		{"a request to a route that reveals in its answers", "/cards/c1", nil, `{"a":1}`, false},
		{"Aliasgate-Reveal-Route to /cards", "/cards/c1", []string{"Aliasgate-Reveal-Route: elsewhere"}, `{"a":1}`, true},
	} {
		raw := "POST " + c.path + " HTTP/1.1\r\nHost: shop.example\r\nContent-Type: application/json\r\n" +
			strings.Join(append(c.header, ""), "\r\n") + "Content-Length: " + strconv.Itoa(len(c.body)) + "\r\n\r\n" + c.body

		// The gateway.
		mu.Lock()
		last = nil
		mu.Unlock()
		status, code := sendRaw(t, gw.Listener.Addr().String(), raw)
		mu.Lock()
		got := last
		mu.Unlock()
		if (got != nil) != (status == http.StatusOK) {
			t.Fatalf("%s: the gateway answered %d %s, the upstream got %v", c.name, status, code, got != nil)
		}

		// routes test.
		reqFile := writeIn(t, dir, "request.http", []byte(raw))
		out, stderr, err := runCmd(t, testEnv(nil), "routes", "test", "--routes", routesFile, "--request", reqFile, "--max-body", strconv.Itoa(maxBody))
		switch {
		case got != nil && err != nil:
			t.Errorf("%s: the gateway forwards it, routes test refuses it: %v\n%s", c.name, err, stderr)
		case got == nil && err == nil:
			t.Errorf("%s: the gateway refuses it (%d %s), routes test forwards it:\n%s", c.name, status, code, stderr)
		case got == nil:
			if want := strconv.Itoa(status) + " " + code; !strings.Contains(err.Error(), want) || out != "" {
				t.Errorf("%s: the gateway answers %s; routes test says %v\nstderr: %s", c.name, want, err, stderr)
			}
		default:
			req, err := http.ReadRequest(bufio.NewReader(strings.NewReader(out)))
			if err != nil {
				t.Fatalf("%s: routes test's request: %v\n%s", c.name, err, out)
			}
			body, _ := io.ReadAll(req.Body)
			if keptDigits(body) != keptDigits(got.body) {
				t.Errorf("%s: the upstream gets\n%.300s\nroutes test shows\n%.300s", c.name, got.body, body)
			}
			for _, h := range []string{proxy.RevealRouteHeader, proxy.RouteAccountHeader} {
				if g, w := strings.Join(req.Header.Values(h), ","), strings.Join(got.header.Values(h), ","); g != w {
					t.Errorf("%s: the upstream gets %s %q, routes test shows %q", c.name, h, w, g)
				}
			}
		}
		if strings.Contains(out, pan) && (got == nil || !strings.Contains(string(got.body), pan)) {
			t.Errorf("%s: routes test shows the card number the upstream does not get", c.name)
		}
		if c.early {
			continue // refused before any route: the callers of dryrun.Run check it first
		}

		// The engine of the inspector's preview.
		req, err := http.ReadRequest(bufio.NewReader(strings.NewReader(raw)))
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(req.Body)
		m := &dryrun.Message{Direction: routes.Inbound, Phase: routes.Request, Method: req.Method, Host: req.Host,
			Path: req.URL.Path, Query: req.URL.RawQuery, Header: req.Header, Body: body, Rules: proxy.GatewayRules{MaxBody: maxBody}}
		res := dryrun.Run(context.Background(), set, m, tok)
		wantStatus, wantCode := status, code
		if got != nil {
			wantStatus, wantCode = 0, ""
		}
		if res.Status != wantStatus || res.Code != wantCode {
			t.Errorf("%s: the gateway answers %d %s; dryrun.Run says %d %q", c.name, status, code, res.Status, res.Code)
		}
	}
}

// sendRaw writes raw to addr and returns the answer's status and error
// code ("" for a 200).
func sendRaw(t *testing.T, addr, raw string) (int, string) {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(conn, raw); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode == http.StatusOK {
		return resp.StatusCode, ""
	}
	var answer struct {
		Errors []struct{ Code string } `json:"errors"`
	}
	if err := json.Unmarshal(b, &answer); err != nil || len(answer.Errors) == 0 {
		t.Fatalf("the gateway answered %d %q", resp.StatusCode, b)
	}
	return resp.StatusCode, answer.Errors[0].Code
}

// keptDigits returns b with what differs between two vaults' aliases
// blanked: an FPE_SIX_T_FOUR alias's middle digits, a UUID alias after its prefix.
func keptDigits(b []byte) string {
	b = regexp.MustCompile(`\b(\d{6})\d{6}(\d{4})\b`).ReplaceAll(b, []byte("$1......$2"))
	b = regexp.MustCompile(`tok_[a-z]+_[A-Za-z0-9]+`).ReplaceAll(b, []byte("uuid"))
	return string(bytes.TrimSpace(b))
}
