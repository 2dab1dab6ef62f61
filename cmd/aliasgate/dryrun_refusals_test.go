package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/aliasgate/aliasgate/proxy"
	"github.com/aliasgate/aliasgate/routes"
)

// TestRoutesTestAgreesWithTheGatewayOnEarlyRefusals runs each request
// through the real inbound gateway (proxy.Inbound, a recording upstream)
// and through `aliasgate routes test` with the same route file, and
// asserts they agree: forwarded, or refused with the same status and
// code. The dry run said "forwarded" (exit 0, the request on stdout) for
// requests the gateway refuses before forwarding: Content-Type fields that
// differ on a redacting route (400 malformed_body), UTF-16/UTF-32 bodies
// (415 unsupported_charset), a charset the gateway cannot read as the app
// does (proxy.UnreadableBody, 415), an undecodable Content-Encoding (415),
// such bodies under a leak guard that refuses what it cannot read, and,
// before any route is matched, an encoded slash in the path (400
// unsafe_path) and CONNECT (405); and it matched a path with dot segments
// as written, where the gateway matches its canonical form.
func TestRoutesTestAgreesWithTheGatewayOnEarlyRefusals(t *testing.T) {
	var mu sync.Mutex
	got := 0
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		got++
		mu.Unlock()
		w.WriteHeader(http.StatusOK)
	}))
	defer up.Close()
	doc := `routes:
  - id: pay
    direction: inbound
    host: "*"
    path_prefix: /pay
    upstream: ` + up.URL + `
    leak_guard: log
    filters:
      - id: form
        operation: redact
        match: {content_type: form}
        targets: [{form: card_number, format: FPE_SIX_T_FOUR}]
      - id: multipart
        operation: redact
        match: {content_type: multipart}
        targets: [{form: card_number, format: FPE_SIX_T_FOUR}]
      - id: json
        operation: redact
        match: {content_type: json}
        targets: [{json: card.number, format: FPE_SIX_T_FOUR}]
  - id: loose
    direction: inbound
    host: "*"
    path_prefix: /loose
    upstream: ` + up.URL + `
    unmatched_body: pass
    leak_guard: redact
    filters:
      - id: json
        operation: redact
        match: {content_type: json, path: "^/loose/json$"}
        targets: [{json: card.number, format: FPE_SIX_T_FOUR}]
`
	dir, routesFile, set, tok := dryRunRoutes(t, doc)
	in, err := proxy.NewInbound(proxy.InboundOptions{Table: routes.NewTable(set), Tokenizer: tok})
	if err != nil {
		t.Fatal(err)
	}
	const pan = "4111111111111111"
	utf16 := func(s string) string {
		b := []byte{0xff, 0xfe}
		for _, c := range []byte(s) {
			b = append(b, c, 0)
		}
		return string(b)
	}
	mp := "--B\r\nContent-Disposition: form-data; name=\"card_number\"\r\n\r\n" + pan + "\r\n--B--\r\n"
	js := `{"card":{"number":"` + pan + `"}}`
	for _, c := range []struct {
		name, path string
		header     []string
		body       string
	}{
		{"one JSON body", "/pay", []string{"Content-Type: application/json"}, js},
		{"the same Content-Type twice", "/pay", []string{"Content-Type: multipart/form-data; boundary=B", "Content-Type: multipart/form-data; boundary=B"}, mp},
		{"Content-Types that differ", "/pay", []string{"Content-Type: application/x-www-form-urlencoded", "Content-Type: multipart/form-data; boundary=B"}, mp},
		{"Content-Types that differ, no body filter", "/pay", []string{"Content-Type: text/plain", "Content-Type: multipart/form-data; boundary=B"}, mp},
		{"boundaries that differ", "/pay", []string{"Content-Type: multipart/form-data; boundary=A", "Content-Type: multipart/form-data; boundary=B"}, mp},
		{"UTF-16 with a BOM", "/pay", []string{"Content-Type: application/json"}, utf16(js)},
		{"a UTF-16 charset", "/pay", []string{"Content-Type: application/json; charset=utf-16"}, js},
		{"an EBCDIC charset", "/pay", []string{"Content-Type: application/json; charset=ibm037"}, js},
		{"an undecodable Content-Encoding", "/pay", []string{"Content-Type: application/json", "Content-Encoding: br"}, "not brotli at all"},
		{"UTF-16 where no filter applies, guard redact", "/loose/other", []string{"Content-Type: application/json"}, utf16(js)},
		{"Content-Types that differ, guard redact", "/loose/other", []string{"Content-Type: text/plain", "Content-Type: application/json"}, `{"a":1}`},
		{"plain text, guard redact", "/loose/other", []string{"Content-Type: text/plain"}, `hello`},
		{"an encoded slash in the path", "/pay/a%2Fb", []string{"Content-Type: application/json"}, js},
		{"dot segments to another route", "/pay/../loose/other", []string{"Content-Type: text/plain"}, `hello`},
		{"dot segments to a redacting route", "/loose/../pay", []string{"Content-Type: text/plain"}, `hello`},
		{"CONNECT", "", nil, ""},
		{"a WebSocket upgrade on a redacting route", "/pay", []string{"Connection: Upgrade", "Upgrade: websocket", "Content-Type: application/json"}, ""},
		{"an h2c upgrade on a redacting route", "/pay", []string{"Connection: Upgrade", "Upgrade: h2c", "Content-Type: application/json"}, js},
	} {
		raw := "POST " + c.path + " HTTP/1.1\r\nHost: shop.example\r\n" + strings.Join(c.header, "\r\n") +
			"\r\nContent-Length: " + strconv.Itoa(len(c.body)) + "\r\n\r\n" + c.body
		if c.name == "CONNECT" {
			raw = "CONNECT shop.example:443 HTTP/1.1\r\nHost: shop.example:443\r\n\r\n"
		}
		req, err := http.ReadRequest(bufio.NewReader(strings.NewReader(raw)))
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		req.RemoteAddr = "127.0.0.1:40000"
		mu.Lock()
		before := got
		mu.Unlock()
		rec := httptest.NewRecorder()
		in.ServeHTTP(rec, req)
		mu.Lock()
		forwarded := got > before
		mu.Unlock()
		var answer struct {
			Errors []struct{ Code string } `json:"errors"`
		}
		code := ""
		if !forwarded {
			if err := json.Unmarshal(rec.Body.Bytes(), &answer); err != nil || len(answer.Errors) == 0 {
				t.Fatalf("%s: gateway answered %d %q", c.name, rec.Code, rec.Body.Bytes())
			}
			code = answer.Errors[0].Code
		}

		reqFile := writeIn(t, dir, "request.http", []byte(raw))
		out, stderr, err := runCmd(t, testEnv(nil), "routes", "test", "--routes", routesFile, "--request", reqFile)
		switch {
		case forwarded && err != nil:
			t.Errorf("%s: the gateway forwards it, the dry run refuses it: %v\n%s", c.name, err, stderr)
		case !forwarded && err == nil:
			t.Errorf("%s: the gateway refuses it (%d %s), the dry run forwards it:\n%s", c.name, rec.Code, code, stderr)
		case !forwarded:
			want := strconv.Itoa(rec.Code) + " " + code
			if !strings.Contains(err.Error(), want) || out != "" {
				t.Errorf("%s: the gateway answers %s; the dry run says %v\nstderr: %s\nstdout: %q", c.name, want, err, stderr, out)
			}
		}
		if bytes.Contains([]byte(out+stderr), []byte(pan)) {
			t.Errorf("%s: the dry run shows the card number", c.name)
		}
	}
}
