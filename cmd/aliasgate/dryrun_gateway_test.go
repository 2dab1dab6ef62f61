package main

import (
	"bufio"
	"bytes"
	"compress/gzip"
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
	"github.com/aliasgate/aliasgate/routes/rewrite"
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
// than max_body. The bodies span content encodings (gzip, one that is
// not, one the gateway cannot decode, twice, decoded past max_body),
// multipart, forms, XML and charsets; a body the gateway forwards gzipped
// is compared decoded, with its Content-Encoding.
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
  - id: formats
    direction: inbound
    host: "*"
    path_prefix: /formats
    upstream: ` + up.URL + `
    leak_guard: block
    filters:
      - {id: json, operation: redact, match: {content_type: json}, targets: [{json: card.number, format: FPE_SIX_T_FOUR}]}
      - {id: form, operation: redact, match: {content_type: form}, targets: [{form: card_number, format: FPE_SIX_T_FOUR}]}
      - {id: parts, operation: redact, match: {content_type: multipart}, targets: [{form: card_number, format: FPE_SIX_T_FOUR}]}
      - {id: xml, operation: redact, match: {content_type: xml}, targets: [{xml: /payment/card/pan, format: FPE_SIX_T_FOUR}]}
`
	dir, routesFile, set, tok := dryRunRoutes(t, doc)
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
	gz := func(s string) string {
		var b bytes.Buffer
		w := gzip.NewWriter(&b)
		_, _ = io.WriteString(w, s)
		_ = w.Close()
		return b.String()
	}
	const multipartType = "Content-Type: multipart/form-data; boundary=XyZ"
	parts := "--XyZ\r\nContent-Disposition: form-data; name=\"card_number\"\r\n\r\n" + pan + "\r\n--XyZ--\r\n"
	for _, c := range []struct {
		name, path string
		header     []string // a Content-Type among them replaces application/json
		body       string
		early      bool
	}{
		{"a gzip body redacted", "/pay/charge", []string{"Content-Encoding: gzip"}, gz(small), false},
		{"a gzip body its alias makes longer", "/grow", []string{"Content-Encoding: gzip"}, gz(small), false},
		{"a gzip body decoded over max_body", "/pay/charge", []string{"Content-Encoding: gzip"}, gz(card(2 * maxBody)), false},
		{"a gzip body decoded over max_body, its alias makes longer", "/grow", []string{"Content-Encoding: gzip"}, gz(card(maxBody - len(card(0)) - 4)), false},
		{"a body in an encoding the gateway cannot decode", "/pay/charge", []string{"Content-Encoding: br"}, small, false},
		{"a gzip body that is not gzip", "/pay/charge", []string{"Content-Encoding: gzip"}, small, false},
		{"a multipart part redacted", "/formats", []string{multipartType}, parts, false},
		{"a form field redacted", "/formats", []string{"Content-Type: application/x-www-form-urlencoded"}, "card_number=" + pan + "&x=1", false},
		{"an XML element redacted", "/formats", []string{"Content-Type: application/xml"}, "<payment><card><pan>" + pan + "</pan></card></payment>", false},
		{"JSON in a charset that is a superset of ASCII", "/formats", []string{"Content-Type: application/json; charset=iso-8859-1"}, small, false},
		{"JSON declared UTF-16", "/formats", []string{"Content-Type: application/json; charset=utf-16"}, small, false},
		{"JSON in an unknown charset", "/formats", []string{"Content-Type: application/json; charset=x-nothing"}, small, false},
		{"a body no filter of the route matches", "/formats", []string{"Content-Type: text/plain"}, "card " + pan, false},
		{"a multipart body without its boundary", "/formats", []string{"Content-Type: multipart/form-data"}, parts, false},
		{"a deflate body that is not deflate", "/pay/charge", []string{"Content-Encoding: deflate"}, small, false},
		{"a body gzipped twice", "/pay/charge", []string{"Content-Encoding: gzip, gzip"}, gz(gz(small)), false},
		{"Content-Encoding identity", "/pay/charge", []string{"Content-Encoding: identity"}, small, false},
		{"an empty gzip body", "/pay/charge", []string{"Content-Encoding: gzip"}, "", false},
		{"JSON after a byte order mark", "/pay/charge", nil, "\ufeff" + small, false},
		{"JSON sent as text/plain", "/formats", []string{"Content-Type: text/plain"}, small, false},
		{"XML with an entity declaring the number", "/formats", []string{"Content-Type: application/xml"}, `<?xml version="1.0"?><!DOCTYPE payment [<!ENTITY x "` + pan + `">]><payment><card><pan>&x;</pan></card></payment>`, false},
		{"XML declaring UTF-16", "/formats", []string{"Content-Type: application/xml"}, `<?xml version="1.0" encoding="UTF-16"?><payment><card><pan>` + pan + `</pan></card></payment>`, false},
		{"XML with the number in CDATA", "/formats", []string{"Content-Type: text/xml; charset=utf-8"}, `<payment><card><pan><![CDATA[` + pan + `]]></pan></card></payment>`, false},
		{"a multipart part in base64", "/formats", []string{multipartType}, "--XyZ\r\nContent-Disposition: form-data; name=\"card_number\"\r\nContent-Transfer-Encoding: base64\r\n\r\nNDExMTExMTExMTExMTExMQ==\r\n--XyZ--\r\n", false},
		{"a multipart part gzipped", "/formats", []string{multipartType}, "--XyZ\r\nContent-Disposition: form-data; name=\"card_number\"\r\nContent-Encoding: gzip\r\n\r\n" + gz(pan) + "\r\n--XyZ--\r\n", false},
		{"a card number in a part no target names, guard block", "/formats", []string{multipartType}, "--XyZ\r\nContent-Disposition: form-data; name=\"note\"\r\n\r\n4000056655665556\r\n--XyZ--\r\n", false},
		{"a JSON part, guard block", "/formats", []string{multipartType}, "--XyZ\r\nContent-Disposition: form-data; name=\"doc\"\r\nContent-Type: application/json\r\n\r\n" + small + "\r\n--XyZ--\r\n", false},
		{"a form in ISO-8859-1", "/formats", []string{"Content-Type: application/x-www-form-urlencoded; charset=iso-8859-1"}, "card_number=" + pan + "&n=%E9", false},
		{"a form declared UTF-16", "/formats", []string{"Content-Type: application/x-www-form-urlencoded; charset=utf-16"}, "card_number=" + pan, false},
		{"JSON declared EBCDIC", "/formats", []string{"Content-Type: application/json; charset=ibm037"}, small, false},
		{"a card number as a JSON number", "/formats", nil, `{"card":{"number":` + pan + `}}`, false},
		{"a card number in exponent notation", "/formats", nil, `{"card":{"number":4.111111111111111e15}}`, false},
		{"a duplicate key", "/formats", nil, `{"card":{"number":"` + pan + `","number":"1"}}`, false},
		{"a gzip body at max_body decoded, its alias makes longer", "/grow", []string{"Content-Encoding: gzip"}, gz(`{"card":{"number":"` + pan + `"},"pad":"` + strings.Repeat("x", maxBody-60) + `"}`), false},
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
		ctype := "Content-Type: application/json\r\n"
		for _, h := range c.header {
			if strings.HasPrefix(h, "Content-Type:") {
				ctype = ""
			}
		}
		raw := "POST " + c.path + " HTTP/1.1\r\nHost: shop.example\r\n" + ctype +
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
			if g, w := req.Header.Get("Content-Encoding"), got.header.Get("Content-Encoding"); g != w {
				t.Errorf("%s: the upstream gets Content-Encoding %q, routes test shows %q", c.name, w, g)
			}
			body, got.body = gunzipped(t, req.Header, body), gunzipped(t, got.header, got.body)
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
		if ce := req.Header.Values("Content-Encoding"); len(ce) > 0 {
			// The preview runs on the capture's view, decoded (one it
			// cannot decode, or decoded past max_body, is not previewed).
			_, plain, err := proxy.DecodeContent(ce, body, maxBody)
			if err != nil {
				continue
			}
			body = plain
			req.Header.Del("Content-Encoding")
		}
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

// gunzipped is body decoded when h says it is gzip.
func gunzipped(t *testing.T, h http.Header, body []byte) []byte {
	t.Helper()
	if h.Get("Content-Encoding") != "gzip" || len(body) == 0 {
		return body
	}
	zr, err := gzip.NewReader(bytes.NewReader(body))
	if err != nil {
		t.Fatalf("a body said gzip that is not: %v", err)
	}
	b, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	return b
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

// dryRunRoutes writes doc as the routes file of a new directory, loads it,
// and opens the dry run's throw-away vault (closed when the test ends), as
// `aliasgate routes test` does: the gateway a parity test builds beside the
// command serves the same routes with the same kind of vault.
func dryRunRoutes(t *testing.T, doc string) (dir, routesFile string, set *routes.Set, tok rewrite.Tokenizer) {
	t.Helper()
	dir = t.TempDir()
	routesFile = writeIn(t, dir, "routes.yaml", []byte(doc))
	set, err := routes.LoadFile(routesFile, routeOptions())
	if err != nil {
		t.Fatal(err)
	}
	tok, closeVault, err := dryRunTokenizer(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(closeVault)
	return dir, routesFile, set, tok
}
